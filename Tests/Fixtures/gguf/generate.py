#!/usr/bin/env python3
"""Writes the GGUF fixtures of connkit's tests with the reference `gguf` package (gguf-py 0.19.0).

Run from anywhere:  /work/venv/bin/python Tests/Fixtures/gguf/generate.py
Writes next to this script:
  metadata.gguf    every metadata value type, arrays of each, nested arrays, u64 > 2^53, negative i64
  dtypes.gguf      every tensor type gguf-py can write (plain and block types), shapes 0-d and 1-D..4-D,
                   an empty tensor; quantized data from gguf.quants.quantize where gguf-py can quantize,
                   random bytes of the right geometry where it cannot
  align64.gguf     general.alignment = 64, tensors of odd sizes
  align1.gguf      general.alignment = 1
  bigendian.gguf   written with endianess=BIG (plain tensors, metadata, one q8_0 tensor)
  v2.gguf          metadata.gguf's bytes with the version field set to 2 (v2 and v3 share the layout)
  v1.gguf          hand-packed GGUF v1 (u32 counts, lengths and dims); no reference reader reads v1
  expected.json    what gguf-py's GGUFReader reports for each file (v1: what this script packed)

Deliberately absent from the gguf-py files: Q8_1 (gguf-py 0.19.0 says 40 bytes per block, ggml's C struct
is 36, so gguf-py would write a file ggml reads differently) and Q2_0 (not in gguf-py 0.19.0). The Swift
round-trip tests cover both.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(20260221)

# Lower-case connkit dtype names of ggml types (connkit's DType raw values).
def dtype_name(qtype: Q) -> str:
    return qtype.name.lower()


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# ---------------------------------------------------------------------------------------------
# Files written with gguf-py

def write_metadata(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="connkit-test")
    w.add_uint8("test.u8", 250)
    w.add_int8("test.i8", -120)
    w.add_uint16("test.u16", 65000)
    w.add_int16("test.i16", -32000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 0.1)
    w.add_uint64("test.u64", 2**64 - 1)
    w.add_uint64("test.u64_above_2_53", 2**53 + 1)
    w.add_int64("test.i64", -(2**63))
    w.add_int64("test.i64_negative", -1234567890123456789)
    w.add_float64("test.f64", 2.718281828459045)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "héllo wörld ✓ 𝄞")
    for name, vtype, values in [
        ("u8", V.UINT8, [0, 1, 255]),
        ("i8", V.INT8, [-128, 0, 127]),
        ("u16", V.UINT16, [0, 65535]),
        ("i16", V.INT16, [-32768, 32767]),
        ("u32", V.UINT32, [0, 4294967295]),
        ("i32", V.INT32, [-2147483648, 2147483647]),
        ("f32", V.FLOAT32, [1.5, -0.25, 3.4028234663852886e38]),
        ("u64", V.UINT64, [0, 2**53 + 1, 2**64 - 1]),
        ("i64", V.INT64, [-(2**63), 2**63 - 1]),
        ("f64", V.FLOAT64, [1e-300, -2.5]),
        ("bool", V.BOOL, [True, False, True]),
        ("string", V.STRING, ["a", "", "ünïcode"]),
    ]:
        w.add_key_value(f"test.array.{name}", values, V.ARRAY, sub_type=vtype)
    # Nested arrays: gguf-py writes them (ggml's reader refuses them).
    w.add_key_value("test.nested.i32", [[1, 2, 3], [4, 5]], V.ARRAY)
    w.add_key_value("test.nested.string", [["x", "y"], ["z"]], V.ARRAY)
    w.add_key_value("test.nested.depth3", [[[1], [2, 3]], [[4]]], V.ARRAY)
    w.add_tensor("weight", np.arange(6, dtype=np.float32).reshape(2, 3))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


QUANTIZABLE = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.TQ1_0, Q.TQ2_0, Q.MXFP4]
RANDOM_BYTES = [Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K, Q.IQ2_XXS, Q.IQ2_XS, Q.IQ3_XXS, Q.IQ1_S,
                Q.IQ4_NL, Q.IQ3_S, Q.IQ2_S, Q.IQ4_XS, Q.IQ1_M, Q.NVFP4, Q.Q1_0]


def write_dtypes(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="connkit-test")
    w.add_quantization_version(2)
    w.add_tensor("f32.4d", RNG.standard_normal((2, 3, 2, 5)).astype(np.float32))
    w.add_tensor("f16.3d", RNG.standard_normal((3, 2, 4)).astype(np.float16))
    w.add_tensor("f64.2d", RNG.standard_normal((2, 3)))
    w.add_tensor("i8.1d", RNG.integers(-128, 128, 7).astype(np.int8))
    w.add_tensor("i16.2d", RNG.integers(-32768, 32768, (3, 3)).astype(np.int16))
    w.add_tensor("i32.1d", RNG.integers(-(2**31), 2**31, 5).astype(np.int32))
    w.add_tensor("i64.2d", RNG.integers(-(2**63), 2**63, (2, 2), dtype=np.int64))
    bf16_bits = (RNG.standard_normal((2, 5)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16.2d", bf16_bits, raw_dtype=Q.BF16)
    w.add_tensor("f32.scalar", np.array(3.5, dtype=np.float32))  # gguf-py writes n_dims = 0
    w.add_tensor("f32.empty", np.zeros((0, 4), dtype=np.float32))
    for qtype in QUANTIZABLE:
        block, _ = gguf.GGML_QUANT_SIZES[qtype]
        rows = RNG.standard_normal((2, block * 2)).astype(np.float32)
        w.add_tensor(f"{dtype_name(qtype)}.2d", gguf.quants.quantize(rows, qtype), raw_dtype=qtype)
    for index, qtype in enumerate(RANDOM_BYTES):
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        # Alternate 1-D and 3-D shapes; the byte shape's last axis is blocks × bytes per block.
        byte_shape = (size,) if index % 2 == 0 else (2, 1, size)
        raw = RNG.integers(0, 256, byte_shape, dtype=np.uint8)
        w.add_tensor(f"{dtype_name(qtype)}.raw", raw, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_aligned(path: Path, alignment: int) -> None:
    w = gguf.GGUFWriter(str(path), arch="connkit-test")
    w.add_custom_alignment(alignment)
    w.add_string("general.name", f"alignment {alignment}")
    w.add_tensor("a", RNG.standard_normal(3).astype(np.float32))
    w.add_tensor("b", RNG.integers(-100, 100, (5,)).astype(np.int8))
    w.add_tensor("c", RNG.standard_normal((7, 3)).astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_big_endian(path: Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="connkit-test", endianess=gguf.GGUFEndian.BIG)
    w.add_uint16("test.u16", 0x1234)
    w.add_int32("test.i32", -5)
    w.add_float32("test.f32", 1.25)
    w.add_uint64("test.u64", 2**60 + 3)
    w.add_string("test.string", "big")
    w.add_key_value("test.array.u32", [1, 2, 0xDEADBEEF], V.ARRAY, sub_type=V.UINT32)
    w.add_tensor("f32", RNG.standard_normal((2, 3)).astype(np.float32))
    w.add_tensor("f16", RNG.standard_normal(4).astype(np.float16))
    w.add_tensor("f64", RNG.standard_normal(2))
    w.add_tensor("i8", np.array([-1, 2, -3], dtype=np.int8))
    w.add_tensor("i16", np.array([[1, -2], [300, -400]], dtype=np.int16))
    w.add_tensor("i32", np.array([70000, -70000], dtype=np.int32))
    w.add_tensor("i64", np.array([2**40, -(2**40)], dtype=np.int64))
    bf16_bits = (RNG.standard_normal(3).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16", bf16_bits, raw_dtype=Q.BF16)
    q = gguf.quants.quantize(RNG.standard_normal((1, 32)).astype(np.float32), Q.Q8_0)
    w.add_tensor("q8_0", q, raw_dtype=Q.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------------------------------------
# A hand-packed GGUF v1 file (no reference writer or reader exists any more)

def write_v1(path: Path) -> dict:
    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<I", len(data)) + data

    kvs = [
        ("general.architecture", V.STRING, string("connkit-test"), "connkit-test"),
        ("test.u32", V.UINT32, struct.pack("<I", 7), 7),
        ("test.array", V.ARRAY, struct.pack("<II", V.STRING, 2) + string("p") + string("qr"), ["p", "qr"]),
    ]
    data_a = np.arange(5, dtype=np.float32)
    data_b = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16)
    tensors = [("a", [5], Q.F32, data_a), ("b", [3, 2], Q.I16, data_b)]
    out = bytearray(b"GGUF" + struct.pack("<III", 1, len(tensors), len(kvs)))
    for key, vtype, payload, _ in kvs:
        out += string(key) + struct.pack("<I", vtype) + payload
    offset = 0
    for name, ne, qtype, data in tensors:
        out += string(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<I", d) for d in ne)
        out += struct.pack("<IQ", qtype, offset)
        offset += (data.nbytes + 31) // 32 * 32
    out += bytes(-len(out) % 32)
    data_start = len(out)
    entries = []
    for name, ne, qtype, data in tensors:
        entries.append({
            "name": name, "dtype": dtype_name(qtype), "shape": list(reversed(ne)), "nbytes": data.nbytes,
            "offset": len(out), "fnv1a64": fnv1a64(data.tobytes()), "values": data.reshape(-1).tolist(),
        })
        out += data.tobytes() + bytes(-data.nbytes % 32)
    path.write_bytes(bytes(out))
    assert data_start % 32 == 0
    return {
        "version": 1, "byte_order": "little", "alignment": 32, "reader": "packed by generate.py",
        "metadata": [
            {"key": key, "types": [int(vtype)] + ([int(V.STRING)] if vtype == V.ARRAY else []), "value": value}
            for key, vtype, _, value in kvs
        ],
        "tensors": entries,
    }


# ---------------------------------------------------------------------------------------------
# Expected values, as gguf-py's reader reports them

def plain_values(tensor, big_endian: bool) -> tuple[list | None, bytes]:
    """Row-major values and little-endian bytes of a reader tensor (values None for block types)."""
    qtype = tensor.tensor_type
    data = np.asarray(tensor.data)
    if qtype == Q.BF16:
        bits = data.reshape(-1).view(">u2" if big_endian else "<u2").astype("<u2")
        values = (bits.astype(np.uint32) << 16).view(np.float32)
        return values.astype(np.float64).tolist(), bits.tobytes()
    if data.dtype == np.uint8 and qtype not in (Q.I8,):
        return None, data.tobytes()
    little = data.astype(data.dtype.newbyteorder("<"))
    return little.reshape(-1).tolist(), little.tobytes()


def field_value(field) -> object:
    """A metadata value from gguf-py's parts, keeping nesting (gguf-py's contents() flattens it)."""
    def decode(parts, types, index):
        vtype = types[0]
        if vtype == V.STRING:
            return str(bytes(parts[index + 1]), "utf-8"), index + 2
        if vtype == V.ARRAY:
            count = int(parts[index + 1][0])
            index += 2
            items = []
            for _ in range(count):
                item, index = decode(parts, types[1:], index)
                items.append(item)
            return items, index
        value = parts[index].tolist()[0]
        return value, index + 1

    # parts: key length, key bytes, value type, then the value's parts.
    value, end = decode(field.parts, field.types, 3)
    assert end == len(field.parts), field.name
    return value


def describe(path: Path) -> dict:
    reader = gguf.GGUFReader(str(path))
    big_endian = reader.byte_order == "S"  # the host is little-endian
    version = int(reader.fields["GGUF.version"].parts[0][0])
    metadata = []
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        entry = {"key": name, "types": [int(t) for t in field.types], "value": field_value(field)}
        if len(field.types) > 2:
            entry["gguf_py_contents"] = field.contents()  # gguf-py flattens nested arrays
        metadata.append(entry)
    tensors = []
    for tensor in reader.tensors:
        values, little = plain_values(tensor, big_endian)
        entry = {
            "name": tensor.name,
            "dtype": dtype_name(tensor.tensor_type),
            "shape": [int(d) for d in reversed(tensor.shape.tolist())],
            "nbytes": int(tensor.n_bytes),
            "offset": int(tensor.data_offset),
        }
        if big_endian and values is None:
            entry["readable"] = False
        else:
            entry["fnv1a64"] = fnv1a64(little)
        if values is not None:
            entry["values"] = values
        tensors.append(entry)
    return {
        "version": version, "byte_order": "big" if big_endian else "little", "alignment": int(reader.alignment),
        "reader": f"gguf-py {gguf_version()}", "metadata": metadata, "tensors": tensors,
    }


def type_geometry() -> dict:
    """Block size, bytes per block and name of every ggml type: gguf-py's table and, when llama-cpp-python
    (libggml-base.so and its ggml.h) is installed, ggml's own for ids 0..GGML_TYPE_COUNT-1 (removed ids: null)."""
    import ctypes
    import re
    geometry = {"gguf_py": {str(int(q)): list(gguf.GGML_QUANT_SIZES[q]) for q in Q}}
    site = Path(np.__file__).parents[1]
    library, header = site / "llama_cpp" / "lib" / "libggml-base.so", site / "include" / "ggml.h"
    if library.exists() and header.exists():
        count = int(re.search(r"GGML_TYPE_COUNT\s*=\s*(\d+)", header.read_text()).group(1))
        lib = ctypes.CDLL(str(library))
        lib.ggml_blck_size.restype = ctypes.c_int64
        lib.ggml_type_size.restype = ctypes.c_size_t
        lib.ggml_type_name.restype = ctypes.c_char_p
        ggml = {}
        for type_id in range(count):
            block = lib.ggml_blck_size(type_id)
            ggml[str(type_id)] = ([block, lib.ggml_type_size(type_id), lib.ggml_type_name(type_id).decode()]
                                  if block else None)
        geometry["ggml"] = ggml
        geometry["ggml_library"] = "llama-cpp-python " + version_of("llama_cpp_python")
    return geometry


def version_of(package: str) -> str:
    from importlib.metadata import version
    return version(package)


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


def main() -> None:
    if sys.byteorder != "little":
        sys.exit("run on a little-endian host")
    write_metadata(HERE / "metadata.gguf")
    write_dtypes(HERE / "dtypes.gguf")
    write_aligned(HERE / "align64.gguf", 64)
    write_aligned(HERE / "align1.gguf", 1)
    write_big_endian(HERE / "bigendian.gguf")
    v2 = bytearray((HERE / "metadata.gguf").read_bytes())
    v2[4:8] = struct.pack("<I", 2)
    (HERE / "v2.gguf").write_bytes(bytes(v2))

    expected = {}
    for name in ["metadata.gguf", "dtypes.gguf", "align64.gguf", "align1.gguf", "bigendian.gguf", "v2.gguf"]:
        expected[name] = describe(HERE / name)
    expected["v1.gguf"] = write_v1(HERE / "v1.gguf")
    (HERE / "type_geometry.json").write_text(json.dumps(type_geometry(), indent=1) + "\n")
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"wrote {len(expected)} fixtures and expected.json into {HERE} ({total} bytes in the folder)")


if __name__ == "__main__":
    main()
