#!/usr/bin/env bash
# Regenerates the protobuf-c code of this target from schemas/onnx-subset.proto3:
#
#   Sources/CONNXProto/generate.sh
#
# Needs protoc-c (Debian: protobuf-c-compiler). The committed files were made by protoc-c 1.4.1; the test
# ONNXSchemaTests runs this script into a temporary folder and compares byte for byte when that version is
# installed. The header goes to include/ (SwiftPM's public headers), the source beside this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="${1:-$root/Sources/CONNXProto}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
protoc-c --proto_path="$root/schemas" --c_out="$work" "$root/schemas/onnx-subset.proto3"
mkdir -p "$out/include"
mv "$work/onnx-subset.proto3.pb-c.h" "$out/include/"
mv "$work/onnx-subset.proto3.pb-c.c" "$out/"
