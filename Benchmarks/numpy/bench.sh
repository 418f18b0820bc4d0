#!/usr/bin/env bash
# NumPy reader/writer measurements (release build, not part of `swift test`):
#   Benchmarks/numpy/bench.sh [/path/to/venv/bin/python]
# Builds TensorFormats with -O (swiftc, like Tests/Fuzz/build.sh), writes ~1.7 GiB of inputs with numpy into
# Benchmarks/work/numpy, and prints connkit's wall time and peak RSS next to numpy's and `cp`'s.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${1:-python3}
work="$root/Benchmarks/work/numpy"
build="$work/build"
mkdir -p "$build/cconnkit"
cat > "$build/cconnkit/module.modulemap" <<MAP
module CConnkit {
    header "$root/Sources/CConnkit/include/CConnkit.h"
    export *
}
MAP
objects=()
for c in "$root"/Sources/CConnkit/*.c; do
  clang -O2 -I "$root/Sources/CConnkit/include" -c "$c" -o "$build/$(basename "$c" .c).o"
  objects+=("$build/$(basename "$c" .c).o")
done
mapfile -t sources < <(find "$root/Sources/TensorFormats" -name '*.swift' | sort)
swiftc -O -parse-as-library -I "$build/cconnkit" -I "$root/Sources/CZlib" -module-name TensorFormats \
  -emit-module -emit-module-path "$build/TensorFormats.swiftmodule" -emit-library -static \
  -o "$build/libTensorFormats.a" "${sources[@]}"
swiftc -O -I "$build" -I "$build/cconnkit" -I "$root/Sources/CZlib" -L "$build" -lTensorFormats "${objects[@]}" -lz \
  "$root/Benchmarks/numpy/main.swift" -o "$build/numpy-bench"

"$python" "$root/Benchmarks/numpy/make_inputs.py" "$work"
cd "$work"
bench="$build/numpy-bench"
cat big.npz small_c.npz be.npy fortran.npy > /dev/null   # warm page cache for everyone
"$bench" list big.npz
"$bench" list small_c.npz
"$bench" read big.npz
"$bench" read small_c.npz
"$bench" read be.npy
"$bench" read fortran.npy
"$bench" rewrite big.npz rewritten.npz
cmp -s big.npz rewritten.npz && echo "connkit: rewritten.npz is byte-identical to numpy's big.npz"
start=$(date +%s.%N); cp big.npz copied.npz; end=$(date +%s.%N)
echo "cp big.npz: $(echo "($end - $start) * 1000 / 1" | bc) ms"
rm -f rewritten.npz copied.npz
