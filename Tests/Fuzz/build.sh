#!/usr/bin/env bash
# Builds the libFuzzer targets of connkit (not part of `swift build`).
#
#   Tests/Fuzz/build.sh NAME...      # e.g. Safetensors GGUF Writers; no NAME = every Tests/Fuzz/*Fuzz.swift
#   SWIFT_BACKTRACE=enable=no Tests/Fuzz/bin/NAMEFuzz -max_total_time=600 Tests/Fuzz/corpus-NAME Tests/Fixtures
#
# The libraries (TensorFormats, Quantization, ConnectorGraph) and the entries' bodies (FuzzEntries,
# Tests/Fuzz/Entries) are compiled as static libraries with ASan + coverage instrumentation; each entry file
# (Tests/Fuzz/NAMEFuzz.swift, a few lines calling FuzzEntries) is linked against them with libFuzzer's main.
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

# Whether $1 is missing or older than any of the other files (so a second run rebuilds only what changed).
stale() {
  local target=$1; shift
  [ -e "$target" ] || return 0
  for f in "$@"; do [ "$f" -nt "$target" ] && return 0; done
  return 1
}

objects=()
for c in "$root"/Sources/CConnkit/*.c "$root"/Sources/CONNXProto/*.c; do
  o="$work/$(basename "$c" .c).o"
  include="$(dirname "$c")/include"
  if stale "$o" "$c" "$include"/*.h; then
    clang -O2 -g -fsanitize=fuzzer-no-link,address -I "$include" -c "$c" -o "$o"
  fi
  objects+=("$o")
done

# Each module in dependency order, from its folder (rebuilt when a source or a module before it changed).
built=("${objects[@]}")
for module in TensorFormats:Sources/TensorFormats Quantization:Sources/Quantization ConnectorGraph:Sources/ConnectorGraph \
              FuzzEntries:Tests/Fuzz/Entries; do
  name=${module%%:*}
  mapfile -t sources < <(find "$root/${module#*:}" -name '*.swift' | sort)
  if stale "$work/lib$name.a" "${sources[@]}" "${built[@]}"; then
    swiftc "${flags[@]}" -I "$work" -module-name "$name" -emit-module -emit-module-path "$work/$name.swiftmodule" \
      -emit-library -static -o "$work/lib$name.a" "${sources[@]}"
  fi
  built+=("$work/lib$name.a")
done

for name in "${names[@]}"; do
  entry="$root/Tests/Fuzz/${name}Fuzz.swift"
  [ -f "$entry" ] || { echo "no $entry" >&2; exit 2; }
  swiftc "${flags[@]}" -I "$work" -L "$work" -lFuzzEntries -lConnectorGraph -lQuantization -lTensorFormats "${objects[@]}" \
    -lz -lprotobuf-c "$entry" "$root/Tests/Fuzz/Support/Initialize.swift" -o "$out/${name}Fuzz" 2>&1 \
    | { grep -v "Cannot export local symbol '__asan" || true; } >&2  # gold's notes on ASan's own symbols, ~200 a binary
  echo "built $out/${name}Fuzz"
done
