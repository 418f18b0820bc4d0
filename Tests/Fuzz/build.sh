#!/usr/bin/env bash
# Builds libFuzzer targets for connkit's parsers (not part of `swift build`).
#
#   Tests/Fuzz/build.sh NAME...      # e.g. Safetensors GGUF Npy Npz Unpickler ONNX; no NAME = every *Fuzz.swift
#   Tests/Fuzz/bin/NAMEFuzz -max_total_time=600 Tests/Fuzz/corpus-NAME Tests/Fixtures/...   # run one
#
# TensorFormats is compiled as a static library with ASan + coverage instrumentation, each entry file
# (Tests/Fuzz/NAMEFuzz.swift) is linked against it with libFuzzer's main. An entry that needs another
# library of the package says so in a line `// fuzz-modules: ConnectorGraph` (built the same way).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/Tests/Fuzz/bin"
work="$out/build"
mkdir -p "$work"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$root"/Tests/Fuzz/*Fuzz.swift; do b=$(basename "$f" .swift); names+=("${b%Fuzz}"); done
fi

# A module map for the C target (SwiftPM generates one; a bare swiftc needs it spelled out).
mkdir -p "$work/cconnkit"
cat > "$work/cconnkit/module.modulemap" <<MAP
module CConnkit {
    header "$root/Sources/CConnkit/include/CConnkit.h"
    export *
}
MAP
# The same for the protobuf-c code generated for ONNX (its own target; libprotobuf-c from the system).
mkdir -p "$work/connxproto"
cat > "$work/connxproto/module.modulemap" <<MAP
module CONNXProto {
    header "$root/Sources/CONNXProto/include/onnx-subset.proto3.pb-c.h"
    export *
}
MAP
flags=(-O -g -parse-as-library -package-name connkit -sanitize=fuzzer,address -I "$work/cconnkit" -I "$root/Sources/CZlib"
       -I "$work/connxproto" -I "$root/Sources/CProtobufC")

objects=()
for c in "$root"/Sources/CConnkit/*.c; do
  o="$work/$(basename "$c" .c).o"
  clang -O2 -g -fsanitize=fuzzer-no-link,address -I "$root/Sources/CConnkit/include" -c "$c" -o "$o"
  objects+=("$o")
done

for c in "$root"/Sources/CONNXProto/*.c; do
  o="$work/$(basename "$c" .c).o"
  clang -O2 -g -fsanitize=fuzzer-no-link,address -I "$root/Sources/CONNXProto/include" -c "$c" -o "$o"
  objects+=("$o")
done

mapfile -t sources < <(find "$root/Sources/TensorFormats" -name '*.swift' | sort)
swiftc "${flags[@]}" -module-name TensorFormats -emit-module -emit-module-path "$work/TensorFormats.swiftmodule" \
  -emit-library -static -o "$work/libTensorFormats.a" "${sources[@]}"

built_modules=" TensorFormats "
for name in "${names[@]}"; do
  entry="$root/Tests/Fuzz/${name}Fuzz.swift"
  [ -f "$entry" ] || { echo "no $entry" >&2; exit 2; }
  libs=()
  for module in $(sed -n 's|^// fuzz-modules: *||p' "$entry"); do
    if [[ "$built_modules" != *" $module "* ]]; then
      mapfile -t module_sources < <(find "$root/Sources/$module" -name '*.swift' | sort)
      swiftc "${flags[@]}" -I "$work" -module-name "$module" -emit-module -emit-module-path "$work/$module.swiftmodule" \
        -emit-library -static -o "$work/lib$module.a" "${module_sources[@]}"
      built_modules+="$module "
    fi
    libs+=("-l$module")
  done
  swiftc "${flags[@]}" -I "$work" -L "$work" "${libs[@]}" -lTensorFormats "${objects[@]}" -lz -lprotobuf-c "$entry" -o "$out/${name}Fuzz"
  echo "built $out/${name}Fuzz"
done
