#!/usr/bin/env python3
"""Generates the safetensors fixtures with the reference writer (PyPI `safetensors`, its Rust core),
plus expected values computed by numpy and ml_dtypes. Run from anywhere:

    /path/to/venv/bin/python Tests/Fixtures/safetensors/generate.py

Writes into this folder: dtypes.safetensors (every dtype the reference knows), special.safetensors
(scalar, empty, metadata), numpy_writer.safetensors (safetensors.numpy with metadata), a two-shard
checkpoint under sharded/, casts.json (reference results of float casts) and expected.json.
"""
import hashlib
import json
import os
import struct

import ml_dtypes
import numpy as np
import safetensors
from safetensors import TensorSpec, deserialize, serialize_file
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


KEEP_ALIVE = []

# The binding's TensorSpec takes torch-style dtype names; F6 has none there (see write_f6).
BINDING_NAMES = {
    "BOOL": "bool", "F4": "float4_e2m1fn_x2", "U8": "uint8", "I8": "int8", "F8_E5M2": "float8_e5m2",
    "F8_E4M3": "float8_e4m3fn", "F8_E8M0": "float8_e8m0fnu", "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz", "I16": "int16", "U16": "uint16", "F16": "float16", "BF16": "bfloat16",
    "I32": "int32", "U32": "uint32", "F32": "float32", "C64": "complex64", "F64": "float64", "I64": "int64",
    "U64": "uint64",
}


def raw(dtype, shape, data):
    buffer = np.frombuffer(bytes(data) or b"\0", dtype=np.uint8).copy()
    KEEP_ALIVE.append(buffer)
    shape = list(shape)
    if dtype == "F4":  # the binding counts float4_e2m1fn_x2 pairs in the last dimension
        shape[-1] //= 2
    return TensorSpec(dtype=BINDING_NAMES[dtype], shape=shape, data_ptr=buffer.ctypes.data, data_len=len(data))


def write_f6(path, entries, metadata):
    """The Python binding has no F6 dtype: write the header as the Rust writer does (compact JSON,
    metadata first, space padding to 8 bytes) and check the Rust reader accepts it."""
    header = {"__metadata__": metadata}
    order = list(BITS)  # the reference Dtype enum order; its writer sorts descending, then by name
    entries = sorted(entries, key=lambda e: (-order.index(e[1]), e[0].encode()))
    offset = 0
    body = b""
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        body += data
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    blob = struct.pack("<Q", len(text)) + text + body
    assert sorted(name for name, _ in deserialize(blob)) == sorted(e[0] for e in entries)
    with open(path, "wb") as f:
        f.write(blob)


def random_bytes(n):
    return rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


# Every dtype of the reference `Dtype` enum, with (bits per element).
BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}


def dtypes_file():
    tensors = {}
    expected = []
    f6_entries = []
    for index, (name, bits) in enumerate(BITS.items()):
        shape = (2, 4, 3) if bits >= 8 else (2, 8)  # sub-byte: whole bytes (16 elements)
        count = int(np.prod(shape))
        nbytes = count * bits // 8
        if name == "BOOL":
            data = rng.integers(0, 2, size=count, dtype=np.uint8).tobytes()
        elif name == "F32":
            data = rng.standard_normal(count).astype("<f4").tobytes()
        elif name == "F16":
            data = rng.standard_normal(count).astype("<f2").tobytes()
        elif name == "BF16":
            data = rng.standard_normal(count).astype(np.float32).astype(ml_dtypes.bfloat16).tobytes()
        elif name == "F64":
            data = rng.standard_normal(count).astype("<f8").tobytes()
        else:
            data = random_bytes(nbytes)
        tensor_name = f"t{index:02d}.{name.lower()}"
        if name in ("F6_E2M3", "F6_E3M2"):
            f6_entries.append((tensor_name, name, list(shape), data))
        else:
            tensors[tensor_name] = raw(name, shape, data)
        expected.append({"name": tensor_name, "dtype": name.lower(), "shape": list(shape),
                         "nbytes": nbytes, "sha256": hashlib.sha256(data).hexdigest()})
    serialize_file(tensors, os.path.join(HERE, "dtypes.safetensors"), metadata={"made_by": "safetensors " + safetensors.__version__})
    write_f6(os.path.join(HERE, "f6.safetensors"), f6_entries, {"made_by": "generate.py (F6 header by hand)"})
    return expected


def special_file():
    tensors = {
        "scalar": raw("F32", [], struct.pack("<f", 1.5)),
        "empty": raw("F16", [0, 4], b""),
        "vector": raw("I64", [3], struct.pack("<3q", -1, 2**62, 7)),
    }
    serialize_file(tensors, os.path.join(HERE, "special.safetensors"),
                   metadata={"format": "pt", "note": "unicode ✓ and \"quotes\""})


def numpy_file():
    arrays = {
        "model.mm_projector.0.weight": rng.standard_normal((8, 4)).astype(np.float16),
        "model.mm_projector.0.bias": rng.standard_normal(8).astype(np.float16),
        "model.mm_projector.2.weight": rng.standard_normal((8, 8)).astype(np.float16),
        "model.mm_projector.2.bias": rng.standard_normal(8).astype(np.float16),
    }
    save_file(arrays, os.path.join(HERE, "numpy_writer.safetensors"), metadata={"format": "np"})
    return {name: array.astype(np.float64).ravel().tolist() for name, array in arrays.items()}


def sharded():
    folder = os.path.join(HERE, "sharded")
    os.makedirs(folder, exist_ok=True)
    first = {"a.weight": rng.standard_normal((4, 4)).astype(np.float32), "a.bias": np.arange(4, dtype=np.float32)}
    second = {"b.weight": rng.standard_normal((2, 4)).astype(np.float32)}
    save_file(first, os.path.join(folder, "model-00001-of-00002.safetensors"), metadata={"format": "pt"})
    save_file(second, os.path.join(folder, "model-00002-of-00002.safetensors"), metadata={"format": "pt"})
    weight_map = {name: "model-00001-of-00002.safetensors" for name in first}
    weight_map.update({name: "model-00002-of-00002.safetensors" for name in second})
    total = sum(a.nbytes for a in list(first.values()) + list(second.values()))
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def bits_u16(array):
    return [int(v) for v in np.asarray(array).view(np.uint16).ravel()]


def casts():
    """Reference results of the float casts connkit performs, for values that exercise rounding."""
    f32_bits = [0x00000000, 0x80000000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x477FEFFF,
                0x477FF000, 0x47800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x33000000,
                0x33000001, 0x33400000, 0x387FC000, 0x38800000, 0x00000001, 0x00800000, 0x3DCCCCCD,
                0x7FC00000, 0xFFC00000, 0x7FC12345, 0x33800000, 0x38000000, 0x387FE000, 0x3F7FFFFF]
    f32_bits += [int(v) for v in rng.integers(0, 2**32, size=600, dtype=np.uint64)]
    values = np.array(f32_bits, dtype=np.uint32).view(np.float32)
    with np.errstate(all="ignore"):
        f16 = values.astype(np.float16)
        bf16 = values.astype(ml_dtypes.bfloat16)
    doubles = np.concatenate([rng.standard_normal(500) * 1e3, rng.standard_normal(500) * 1e-6,
                              np.array([1 + 2**-11 + 2**-40, 1 + 2**-8 + 2**-40, 65519.99, 65520.0, 1e300, -1e-300,
                                        2**-25 + 2**-60, 1.0 + 2**-24])]).astype(np.float64)
    with np.errstate(all="ignore"):
        d_f16 = doubles.astype(np.float16)
        d_bf16 = doubles.astype(ml_dtypes.bfloat16)
        d_f32 = doubles.astype(np.float32)
    f8 = {}
    for name, dtype in [("f8_e4m3", ml_dtypes.float8_e4m3fn), ("f8_e5m2", ml_dtypes.float8_e5m2),
                        ("f8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz), ("f8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz),
                        ("f8_e8m0", ml_dtypes.float8_e8m0fnu)]:
        decoded = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
        f8[name] = [int(v) for v in decoded.view(np.uint32)]
    # The bits of each f32 value after a round trip through f16/bf16 (NaN payloads differ between
    # libraries; tests compare NaN-ness only).
    return {
        "f32_bits": [int(v) for v in values.view(np.uint32)],
        "f32_to_f16": bits_u16(f16),
        "f32_to_bf16": bits_u16(bf16),
        "f64": [float(v).hex() for v in doubles],
        "f64_to_f16": bits_u16(d_f16),
        "f64_to_bf16": bits_u16(d_bf16),
        "f64_to_f32": [int(v) for v in d_f32.view(np.uint32)],
        "f8_to_f32": f8,
    }


def main():
    expected = {"dtypes": dtypes_file(), "numpy_values": numpy_file()}
    special_file()
    sharded()
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    with open(os.path.join(HERE, "casts.json"), "w") as f:
        json.dump(casts(), f)


if __name__ == "__main__":
    main()
