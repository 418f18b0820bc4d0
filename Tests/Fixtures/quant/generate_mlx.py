#!/usr/bin/env python3
"""Fixtures for connkit's MLX affine quantization, made by mlx itself (`pip install "mlx[cpu]"`).

For each source dtype (float32, float16, bfloat16), bit width (2, 3, 4, 6, 8) and group size (32, 64,
128), `mx.quantize(w, group_size, bits, mode="affine")` runs on the rows of generate.py's recipe
(`fixture_row(row, 512)`, rows listed in MLX_ROWS; values cast to the source dtype with numpy /
ml_dtypes round-to-nearest-even, rows that would overflow a 16-bit dtype left out). The manifest
(mlx-manifest.json) records FNV-1a-64 digests of mlx's packed uint32 weights, scales and biases (raw
little-endian bytes in mlx's dtypes), and of `mx.dequantize`'s float32 output for float32 sources. The
Swift tests rebuild the inputs and compare digests, so no mlx output is stored.

Run: /work/venv/bin/python Tests/Fixtures/quant/generate_mlx.py
"""
import json
import os
import sys

import ml_dtypes
import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import KIND_COUNT, fixture_row, fnv64  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROW_LENGTH = 512
# Kinds (see generate.py) whose values overflow float16 / bfloat16 after the cast are left out there.
MLX_ROWS = {
    "f32": list(range(KIND_COUNT)),
    "f16": [k for k in range(KIND_COUNT) if k not in (16, 17, 18, 22, 24, 27, 30)],
    "bf16": [k for k in range(KIND_COUNT) if k not in (18, 30)],
}
BITS = [2, 3, 4, 6, 8]
GROUP_SIZES = [32, 64, 128]


def source(dtype: str) -> tuple[np.ndarray, mx.array]:
    rows = np.stack([fixture_row(r, ROW_LENGTH) for r in MLX_ROWS[dtype]])
    if dtype == "f32":
        return rows, mx.array(rows)
    if dtype == "f16":
        half = rows.astype(np.float16)
        assert np.all(np.isfinite(half))
        return half.astype(np.float32), mx.array(half)
    bf = rows.astype(ml_dtypes.bfloat16)
    assert np.all(np.isfinite(bf.astype(np.float32)))
    return bf.astype(np.float32), mx.array(rows).astype(mx.bfloat16)


def raw(a: mx.array) -> bytes:
    if a.dtype == mx.bfloat16:
        return np.array(a.view(mx.uint16)).astype("<u2").tobytes()
    return np.array(a).tobytes()


def main():
    manifest = {"row_length": ROW_LENGTH, "rows": MLX_ROWS, "mlx": mx.__version__, "cases": []}
    for dtype in ["f32", "f16", "bf16"]:
        widened, array = source(dtype)
        for bits in BITS:
            for group_size in GROUP_SIZES:
                w, scales, biases = mx.quantize(array, group_size=group_size, bits=bits, mode="affine")
                mx.eval(w, scales, biases)
                assert w.dtype == mx.uint32 and scales.dtype == array.dtype and biases.dtype == array.dtype
                case = {"dtype": dtype, "bits": bits, "group_size": group_size,
                        "words": fnv64(raw(w)), "scales": fnv64(raw(scales)), "biases": fnv64(raw(biases))}
                if dtype == "f32":
                    back = mx.dequantize(w, scales, biases, group_size=group_size, bits=bits, mode="affine")
                    case["dequantized"] = fnv64(np.array(back).astype("<f4").tobytes())
                manifest["cases"].append(case)
    with open(os.path.join(HERE, "mlx-manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    print(len(manifest["cases"]), "cases")


if __name__ == "__main__":
    sys.exit(main())
