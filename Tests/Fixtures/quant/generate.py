#!/usr/bin/env python3
"""Fixtures for connkit's ggml block quantizers and dequantizers.

References (not written by connkit):
  * quantization: ggml's `ggml_quantize_chunk` (without and, for weighted-*.bin, with an importance matrix) from the `libggml-base.so` that the
    PyPI package llama-cpp-python builds, built for strict float32 evaluation:
        CMAKE_ARGS="-DGGML_NATIVE=OFF -DCMAKE_C_FLAGS=-ffp-contract=off -DCMAKE_CXX_FLAGS=-ffp-contract=off" \
            pip install --no-cache-dir llama-cpp-python
  * dequantization: gguf-py's `gguf.quants.dequantize` (gguf 0.19.0); for the types gguf-py does not
    dequantize, ggml's own `to_float` (q1_0, q2_0) or the ggml formula `d * qs` in numpy (q8_1, q8_k).

Inputs are not stored: they are regenerated bit for bit by the Swift tests from the recipe below
(`fixture_inputs`), which uses only a counter-based splitmix64 generator and float32 operations whose
results are fully determined by IEEE 754 (integer-to-float conversions of 24-bit values, exact scalings,
elementwise sums in a fixed order, bit patterns). The FNV-1a-64 digest of the inputs is stored so the
tests prove they rebuilt the same floats.

Written files (all little-endian):
  ggml-<type>.bin    ggml_quantize_chunk output for the fixture inputs (ROWS x N_PER_ROW)
  weighted-<type>.bin  ggml_quantize_chunk output with an importance vector (`imatrix`, one float per element
                     of a row, the same for every row) for WEIGHTED_ROWS x WEIGHTED_N_PER_ROW inputs (rows
                     0..31 of the recipe at that length: one row of every kind), one chunk per entry of
                     IMPORTANCE in that order: a seeded positive vector spanning 2^-10..2^11, the same with
                     a quarter of its entries 0, all ones, and none (NULL: the unweighted path, kept beside the
                     others so the tests compare ggml's own bytes)
  random-<type>.bin  RANDOM_BLOCKS random blocks of each readable type (f16 scale fields kept finite)
  manifest.json      recipe parameters, digests of the inputs and of every reference dequantization
                     (one FNV-1a-64 digest of the float32 bytes per row, or per random block)

Run: /work/venv/bin/python Tests/Fixtures/quant/generate.py
"""
import ctypes
import glob
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize as gguf_dequantize

HERE = os.path.dirname(os.path.abspath(__file__))

ROWS = 128
N_PER_ROW = 1024
SEED = 0x636F6E6E6B6974  # "connkit"
RANDOM_BLOCKS = 64
RANDOM_SEED = 0x72616E646F6D  # "random"
WEIGHTED_ROWS = 32
WEIGHTED_N_PER_ROW = 512
IMPORTANCE_SEED = 0x696D6174726978  # "imatrix"
IMPORTANCE = ["seeded", "sparse", "ones", "none"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)

# ggml types connkit quantizes to (bit-exact with ggml_quantize_chunk).
QUANTIZED = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl"]

# Types connkit dequantizes: layout (block elements, block bytes), offsets of f16 scale fields to keep
# finite in random blocks, and the reference used.
DEQUANTIZED = {
    "q4_0": (32, 18, [0], "gguf"), "q4_1": (32, 20, [0, 2], "gguf"), "q5_0": (32, 22, [0], "gguf"),
    "q5_1": (32, 24, [0, 2], "gguf"), "q8_0": (32, 34, [0], "gguf"), "q8_1": (32, 36, [0, 2], "numpy"),
    "q2_k": (256, 84, [80, 82], "gguf"), "q3_k": (256, 110, [108], "gguf"), "q4_k": (256, 144, [0, 2], "gguf"),
    "q5_k": (256, 176, [0, 2], "gguf"), "q6_k": (256, 210, [208], "gguf"), "q8_k": (256, 292, [], "numpy"),
    "iq4_nl": (32, 18, [0], "gguf"), "iq4_xs": (256, 136, [0], "gguf"), "tq1_0": (256, 54, [52], "gguf"),
    "tq2_0": (256, 66, [64], "gguf"), "mxfp4": (32, 17, [], "gguf"), "nvfp4": (64, 36, [], "gguf"),
    "q1_0": (128, 18, [0], "ggml"), "q2_0": (64, 18, [0], "ggml"),
    "iq2_xxs": (256, 66, [0], "gguf"), "iq2_xs": (256, 74, [0], "gguf"), "iq2_s": (256, 82, [0], "gguf"),
    "iq3_xxs": (256, 98, [0], "gguf"), "iq3_s": (256, 110, [0], "gguf"), "iq1_s": (256, 50, [0], "gguf"),
    "iq1_m": (256, 56, [], "gguf"),
}
GGML_IDS = {"q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q8_1": 9, "q2_k": 10, "q3_k": 11,
            "q4_k": 12, "q5_k": 13, "q6_k": 14, "q8_k": 15, "iq4_nl": 20, "iq4_xs": 23, "tq1_0": 34,
            "tq2_0": 35, "mxfp4": 39, "nvfp4": 40, "q1_0": 41, "q2_0": 42, "iq2_xxs": 16, "iq2_xs": 17,
            "iq3_xxs": 18, "iq1_s": 19, "iq3_s": 21, "iq2_s": 22, "iq1_m": 29}


# ---------------------------------------------------------------- deterministic inputs (mirrored in Swift)

def splitmix(seed: int, count: int) -> np.ndarray:
    """Counter-based splitmix64: word i = mix(seed + (i + 1) * golden)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (np.arange(1, count + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        return z ^ (z >> np.uint64(31))


def unit(w):  # [0, 1), 24-bit grid: exact
    return (w >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)


def signed_unit(w):  # [-1, 1), exact
    return ((w >> np.uint64(40)).astype(np.float32) - np.float32(8388608.0)) * np.float32(2.0 ** -23)


def normal(w0, w1, w2, w3):  # Irwin-Hall(4) - 2, summed in this order in float32
    return (((unit(w0) + unit(w1)) + unit(w2)) + unit(w3)) - np.float32(2.0)


def from_bits(sign, exponent, mantissa):
    bits = (sign.astype(np.uint32) << np.uint32(31)) | (exponent.astype(np.uint32) << np.uint32(23)) \
        | mantissa.astype(np.uint32)
    return bits.view(np.float32)


def row_seed(row: int) -> int:
    return (SEED + row * 0x10001) & 0xFFFFFFFFFFFFFFFF


KIND_COUNT = 32


def fixture_row(row: int, n: int = N_PER_ROW) -> np.ndarray:
    words = splitmix(row_seed(row), 4 * n)
    w0, w1, w2, w3 = (words[k * n:(k + 1) * n] for k in range(4))
    i = np.arange(n, dtype=np.uint64)
    kind = row % KIND_COUNT
    f = np.float32
    g = normal(w0, w1, w2, w3)
    sign = (w0 & np.uint64(1)).astype(np.uint32)
    mant = (w2 & np.uint64(0x7FFFFF)).astype(np.uint32)
    if kind == 0:  # zeros
        x = np.zeros(n, np.float32)
    elif kind == 1:  # signed zeros
        x = from_bits(sign, np.zeros(n, np.uint32), np.zeros(n, np.uint32))
    elif kind == 2:  # one constant for the whole row
        x = np.full(n, signed_unit(w0[:1])[0] * f(8.0), np.float32)
    elif kind == 3:  # a constant per 32-element block
        starts = (i // np.uint64(32)) * np.uint64(32)
        x = signed_unit(w0[starts.astype(np.int64)]) * f(4.0)
    elif kind == 4:
        x = g
    elif kind == 5:  # typical weight scale
        x = g * f(0.02)
    elif kind == 6:
        x = signed_unit(w0)
    elif kind == 7:  # one sign, positive
        x = unit(w0)
    elif kind == 8:  # one sign, negative
        x = -unit(w0)
    elif kind == 9:
        x = np.abs(g)
    elif kind == 10:  # log-uniform magnitudes (heavy tails)
        x = from_bits(sign, (np.uint64(111) + w1 % np.uint64(24)).astype(np.uint32), mant)
    elif kind == 11:  # sparse
        x = np.where(w3 % np.uint64(8) == 0, g, f(0.0)).astype(np.float32)
    elif kind == 12:  # very sparse
        x = np.where(w3 % np.uint64(32) == 0, g, f(0.0)).astype(np.float32)
    elif kind == 13:  # subnormals
        x = from_bits(sign, np.zeros(n, np.uint32), mant)
    elif kind == 14:  # tiny normals
        x = from_bits(sign, (np.uint64(1) + w1 % np.uint64(16)).astype(np.uint32), mant)
    elif kind == 15:  # around the 1e-15 all-zero threshold of the k-quants
        x = from_bits(sign, (np.uint64(75) + w1 % np.uint64(4)).astype(np.uint32), mant)
    elif kind == 16:  # huge
        x = from_bits(sign, (np.uint64(200) + w1 % np.uint64(55)).astype(np.uint32), mant)
    elif kind == 17:  # around the f16 maximum
        x = (unit(w0) * f(10000.0) + f(60000.0)) * np.where(sign == 1, f(-1.0), f(1.0)).astype(np.float32)
    elif kind == 18:  # float32 extremes among normal values
        fmax = f(np.finfo(np.float32).max)
        x = np.where(w1 % np.uint64(16) == 0, np.where(sign == 1, -fmax, fmax), g).astype(np.float32)
    elif kind == 19:  # small integers
        x = (w0 % np.uint64(17)).astype(np.float32) - f(8.0)
    elif kind == 20:  # half-integer ties for q8_0 (the block maximum 127 makes d = 1)
        x = (w0 % np.uint64(254)).astype(np.float32) - f(126.5)
        x = np.where(i % np.uint64(32) == 7, f(127.0), x).astype(np.float32)
    elif kind == 21:  # q4_0/q5_0 boundaries (the block maximum -8 makes d = 1)
        x = ((w0 % np.uint64(16)).astype(np.float32) - f(8.0)) + f(0.5)
        x = np.where(i % np.uint64(32) == 3, f(-8.0), x).astype(np.float32)
    elif kind == 22:  # a power-of-two scale per 16-element group
        starts = ((i // np.uint64(16)) * np.uint64(16)).astype(np.int64)
        exponents = (w1[starts] % np.uint64(41)).astype(np.int64) - 20
        x = g * np.ldexp(np.ones(n, np.float32), exponents).astype(np.float32)
    elif kind == 23:  # outliers
        x = np.where(w2 % np.uint64(97) == 0, g * f(1000.0), g).astype(np.float32)
    elif kind == 24:  # huge and tiny interleaved
        x = np.where(i % np.uint64(2) == 0, g * f(1e20), g * f(1e-20)).astype(np.float32)
    elif kind == 25:  # tiny scale: f16 scales underflow
        x = g * f(1e-30)
    elif kind == 26:  # f16-subnormal scales
        x = g * f(1e-6)
    elif kind == 27:  # f16-overflowing scales
        x = g * f(1e7)
    elif kind == 28:  # one sign, far from zero
        x = unit(w0) + f(1000.0)
    elif kind == 29:  # ramp
        x = i.astype(np.float32) * f(0.01) - f(5.0)
    elif kind == 30:  # any finite float32 bit pattern
        bits = (w0 & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        bits = np.where((bits & np.uint32(0x7F800000)) == np.uint32(0x7F800000), bits & np.uint32(0xBFFFFFFF), bits)
        x = bits.astype(np.uint32).view(np.float32)
    else:  # kind 31: equal magnitudes of opposite signs (the first one wins the max search)
        x = np.where(i % np.uint64(16) == 5, f(3.0), np.where(i % np.uint64(16) == 9, f(-3.0), g)).astype(np.float32)
    assert x.dtype == np.float32 and x.shape == (n,)
    assert np.all(np.isfinite(x))
    return x


def fixture_inputs() -> np.ndarray:
    return np.stack([fixture_row(r) for r in range(ROWS)])


def weighted_inputs() -> np.ndarray:
    return np.stack([fixture_row(r, WEIGHTED_N_PER_ROW) for r in range(WEIGHTED_ROWS)])


def importance(name: str, n: int = WEIGHTED_N_PER_ROW):
    """The importance vector `name` (None: no imatrix). Exact: a 24-bit significand in [1, 2) times 2^e."""
    if name == "none":
        return None
    if name == "ones":
        return np.ones(n, np.float32)
    words = splitmix(IMPORTANCE_SEED, 3 * n)
    w0, w1, w2 = (words[k * n:(k + 1) * n] for k in range(3))
    significand = ((w0 >> np.uint64(41)).astype(np.float32) + np.float32(8388608.0)) * np.float32(2.0 ** -23)
    exponents = (w1 % np.uint64(21)).astype(np.int64) - 10
    q = (significand * np.ldexp(np.ones(n, np.float32), exponents).astype(np.float32)).astype(np.float32)
    if name == "sparse":
        q = np.where(w2 % np.uint64(4) == 0, np.float32(0.0), q).astype(np.float32)
    assert q.dtype == np.float32 and np.all(np.isfinite(q)) and np.all(q >= 0)
    return q


def random_blocks(name: str) -> np.ndarray:
    _, block_bytes, f16_fields, _ = DEQUANTIZED[name]
    seed = (RANDOM_SEED + GGML_IDS[name] * 0x1000193) & 0xFFFFFFFFFFFFFFFF
    words = splitmix(seed, RANDOM_BLOCKS * block_bytes)
    data = (words & np.uint64(0xFF)).astype(np.uint8).reshape(RANDOM_BLOCKS, block_bytes)
    for offset in f16_fields:  # keep f16 scales finite: clear the top exponent bit of an inf/NaN pattern
        h = data[:, offset:offset + 2].copy().view(np.uint16)
        h = np.where((h & np.uint16(0x7C00)) == np.uint16(0x7C00), h & np.uint16(0xBFFF), h).astype(np.uint16)
        data[:, offset:offset + 2] = h.view(np.uint8)
    if name == "iq1_m":  # the f16 scale is spread over the top nibbles of the four u16 scales (bytes 48..55)
        s3 = data[:, 54:56].copy().view(np.uint16)
        d = ((data[:, 48:50].copy().view(np.uint16) & 0xF000) >> 12) | ((data[:, 50:52].copy().view(np.uint16) & 0xF000) >> 8) \
            | ((data[:, 52:54].copy().view(np.uint16) & 0xF000) >> 4) | (s3 & 0xF000)
        s3 = np.where((d & np.uint16(0x7C00)) == np.uint16(0x7C00), s3 & np.uint16(0xBFFF), s3).astype(np.uint16)
        data[:, 54:56] = s3.view(np.uint8)
    if name == "q8_k":  # f32 scale: a finite value
        d = (signed_unit(words[:RANDOM_BLOCKS]) * np.float32(0.01)).astype(np.float32)
        data[:, 0:4] = d.view(np.uint8).reshape(RANDOM_BLOCKS, 4)
    return data


# ---------------------------------------------------------------- references

def load_ggml():
    import llama_cpp
    path = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so")
    lib = ctypes.CDLL(path)
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    class Traits(ctypes.Structure):
        _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                    ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                    ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                    ("from_float_ref", ctypes.c_void_p)]

    lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
    return lib


def ggml_quantize(lib, name: str, x: np.ndarray, imatrix=None) -> bytes:
    rows, n = x.shape
    block_elements, block_bytes, _, _ = DEQUANTIZED[name]
    out = np.full(rows * n // block_elements * block_bytes, 0xAA, np.uint8)  # garbage fill: every byte must be written
    src = np.ascontiguousarray(x, dtype=np.float32)
    weights = None
    if imatrix is not None:
        imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
        assert imatrix.shape == (n,)
        weights = imatrix.ctypes.data
    size = lib.ggml_quantize_chunk(GGML_IDS[name], src.ctypes.data, out.ctypes.data, 0, rows, n, weights)
    assert size == out.size, (name, size, out.size)
    return out.tobytes()


def ggml_to_float(lib, name: str, data: np.ndarray) -> np.ndarray:
    block_elements, _, _, _ = DEQUANTIZED[name]
    traits = lib.ggml_get_type_traits(GGML_IDS[name]).contents
    to_float = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(traits.to_float)
    blocks = data.shape[0]
    out = np.zeros(blocks * block_elements, np.float32)
    src = np.ascontiguousarray(data)
    to_float(src.ctypes.data, out.ctypes.data, out.size)
    return out.reshape(blocks, block_elements)


def reference_dequantize(lib, name: str, blocks: np.ndarray) -> np.ndarray:
    """Dequantized float32 values, shape (blocks, block_elements)."""
    block_elements, block_bytes, _, source = DEQUANTIZED[name]
    blocks = np.ascontiguousarray(blocks.reshape(-1, block_bytes))
    if source == "gguf":
        qtype = getattr(T, name.upper())
        return gguf_dequantize(blocks, qtype).reshape(-1, block_elements).astype(np.float32, copy=False)
    if source == "ggml":
        return ggml_to_float(lib, name, blocks)
    if name == "q8_1":  # ggml defines no dequantizer: qs * d as for q8_0
        d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
        return blocks[:, 4:].copy().view(np.int8).astype(np.float32) * d
    if name == "q8_k":  # dequantize_row_q8_K: d * qs
        d = blocks[:, 0:4].copy().view(np.float32)
        return d * blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    raise AssertionError(name)


FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv64(data: bytes) -> str:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    lib = load_ggml()
    for old in glob.glob(os.path.join(HERE, "*.bin")):
        os.remove(old)
    x = fixture_inputs()
    manifest = {
        "inputs": {"rows": ROWS, "n_per_row": N_PER_ROW, "seed": SEED, "kinds": KIND_COUNT,
                   "fnv64": fnv64(x.astype("<f4").tobytes())},
        "quantize": {},
        "dequantize": {},
        "references": {
            "ggml": "ggml_quantize_chunk from llama-cpp-python's libggml-base.so (built with -ffp-contract=off)",
            "gguf": f"gguf.quants.dequantize, gguf {gguf.__version__ if hasattr(gguf, '__version__') else '0.19.0'}",
            "numpy": "d * qs (ggml's dequantize_row_q8_K formula; q8_1 has no ggml dequantizer)",
        },
    }
    for name in QUANTIZED:
        data = ggml_quantize(lib, name, x)
        file = f"ggml-{name}.bin"
        with open(os.path.join(HERE, file), "wb") as fh:
            fh.write(data)
        block_elements, block_bytes, _, _ = DEQUANTIZED[name]
        values = reference_dequantize(lib, name, np.frombuffer(data, np.uint8).reshape(-1, block_bytes))
        values = values.reshape(ROWS, N_PER_ROW)
        manifest["quantize"][name] = {"file": file, "fnv64": fnv64(data)}
        manifest["dequantize"][name] = {
            "type": name, "file": file, "unit": "row", "elements": N_PER_ROW,
            "digests": [fnv64(values[r].astype("<f4").tobytes()) for r in range(ROWS)],
        }
        print(name, len(data), "bytes")
    xw = weighted_inputs()
    manifest["weighted"] = {
        "rows": WEIGHTED_ROWS, "n_per_row": WEIGHTED_N_PER_ROW, "seed": IMPORTANCE_SEED,
        "inputs_fnv64": fnv64(xw.astype("<f4").tobytes()),
        "importance": [{"name": imp, "fnv64": None if importance(imp) is None else fnv64(importance(imp).astype("<f4").tobytes())}
                       for imp in IMPORTANCE],
        "quantize": {},
    }
    for name in QUANTIZED:
        chunks = [ggml_quantize(lib, name, xw, importance(imp)) for imp in IMPORTANCE]
        file = f"weighted-{name}.bin"
        with open(os.path.join(HERE, file), "wb") as fh:
            fh.write(b"".join(chunks))
        manifest["weighted"]["quantize"][name] = {"file": file, "chunk_bytes": len(chunks[0]),
                                                  "fnv64": [fnv64(c) for c in chunks]}
        print("weighted", name, [fnv64(c) for c in chunks])
    for name in DEQUANTIZED:
        blocks = random_blocks(name)
        file = f"random-{name}.bin"
        with open(os.path.join(HERE, file), "wb") as fh:
            fh.write(blocks.tobytes())
        values = reference_dequantize(lib, name, blocks)
        block_elements = DEQUANTIZED[name][0]
        manifest["dequantize"]["random-" + name] = {
            "type": name, "file": file, "unit": "block", "elements": block_elements,
            "digests": [fnv64(values[b].astype("<f4").tobytes()) for b in range(RANDOM_BLOCKS)],
        }
    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    sys.exit(main())
