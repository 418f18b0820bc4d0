#!/usr/bin/env python3
"""Writes the hostile GGUF corpus: byte-level corruptions of one small valid file, one per rejection class.

Run from anywhere:  /work/venv/bin/python Tests/Fixtures/hostile/gguf/generate.py [--libggml PATH]
Writes next to this script `base.gguf` (valid), one `<class>.gguf` per corruption and `manifest.json`
recording, for each file, what it breaks and whether the reference readers refuse it: gguf-py's
`GGUFReader` always, and ggml's `gguf_init_from_file` when a libggml-base.so / libggml.so is given or found
in llama-cpp-python. The Swift test (GGUFHostileTests) holds the FormatError kind expected for each file.

The base file is packed here (not by gguf-py) so every field sits at an offset this script knows:
  v3, 3 metadata entries (general.architecture, general.alignment = 32 as u32, test.flag bool),
  2 tensors: "a" f32 ne=[4] at offset 0, "b" q8_0 ne=[32, 2] at offset 32.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

STRING, ARRAY, UINT8, UINT32, UINT64, BOOL = 8, 9, 0, 4, 10, 7
F32, Q8_0 = 0, 8


def gstr(text: bytes | str) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def kv(key: bytes | str, vtype: int, payload: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + payload


def tinfo(name: bytes | str, ne: list[int], ggml_type: int, offset: int) -> bytes:
    return (gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
            + struct.pack("<IQ", ggml_type, offset))


def pack(kvs: list[bytes], infos: list[bytes], data: list[bytes], alignment: int = 32, version: int = 3,
         tensor_count: int | None = None, kv_count: int | None = None) -> bytes:
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(infos) if tensor_count is None else tensor_count,
                                          len(kvs) if kv_count is None else kv_count))
    for item in kvs:
        out += item
    for item in infos:
        out += item
    out += bytes(-len(out) % alignment)
    for blob in data:
        out += blob + bytes(-len(blob) % alignment)
    return bytes(out)


ARCH = kv("general.architecture", STRING, gstr("connkit-test"))
ALIGN = kv("general.alignment", UINT32, struct.pack("<I", 32))
FLAG = kv("test.flag", BOOL, b"\x01")
A_DATA = np.arange(4, dtype=np.float32).tobytes()                     # 16 bytes, padded to 32
B_DATA = bytes(range(68))                                              # 2 q8_0 blocks of 34 bytes
BASE_KVS = [ARCH, ALIGN, FLAG]
BASE_INFOS = [tinfo("a", [4], F32, 0), tinfo("b", [32, 2], Q8_0, 32)]
BASE_DATA = [A_DATA, B_DATA]


def variant(kvs=None, infos=None, data=None, **options) -> bytes:
    return pack(BASE_KVS if kvs is None else kvs, BASE_INFOS if infos is None else infos,
                BASE_DATA if data is None else data, **options)


def replace_once(blob: bytes, old: bytes, new: bytes) -> bytes:
    assert blob.count(old) == 1, old
    return blob.replace(old, new)


def corpus() -> dict[str, tuple[bytes, str]]:
    base = variant()
    last_key_at = 24 + len(ARCH) + len(ALIGN)                  # where test.flag's entry starts
    infos_end = 24 + sum(map(len, BASE_KVS)) + sum(map(len, BASE_INFOS))
    data_start = infos_end + (-infos_end % 32)
    assert len(base) == data_start + 32 + 96                   # data: a (16 → 32) + b (68 → 96)
    cases: dict[str, tuple[bytes, str]] = {}

    def add(name: str, blob: bytes, what: str) -> None:
        cases[name] = (blob, what)

    add("bad_magic", b"GGUG" + base[4:], "magic is GGUG")
    add("empty_file", b"", "zero bytes")
    add("magic_only", base[:4], "file ends after the magic")
    add("version_0", base[:4] + struct.pack("<I", 0) + base[8:], "version 0")
    add("version_4", base[:4] + struct.pack("<I", 4) + base[8:], "version 4")
    add("version_65536", base[:4] + struct.pack("<I", 0x10000) + base[8:],
        "version 0x00010000: low 16 bits zero, so read as big-endian version 256")
    add("version_big_endian_rest_little", base[:4] + struct.pack(">I", 3) + base[8:],
        "big-endian version 3 on a little-endian file: the counts then read as huge")
    add("truncated_in_counts", base[:20], "file ends inside the kv count")
    add("truncated_in_key", base[:last_key_at + 8 + 4], "file ends inside the last key")
    add("truncated_in_tensor_info", base[:infos_end - 10], "file ends inside the last tensor info")
    add("truncated_in_padding", base[:infos_end + 1], "file ends before the data section starts")
    add("truncated_in_data", base[:data_start + 32 + 40], "file ends inside tensor b's data")
    add("kv_count_huge", variant(kv_count=1 << 40), "kv count 2^40 in a small file")
    add("kv_count_above_int64", variant(kv_count=(1 << 64) - 1), "kv count 2^64-1")
    add("tensor_count_huge", variant(tensor_count=1 << 40), "tensor count 2^40 in a small file")
    add("string_length_huge", replace_once(base, gstr("test.flag"), struct.pack("<Q", 1 << 62) + b"test.flag"),
        "key length 2^62 (above the 1 GiB string limit)")
    add("string_length_past_eof", replace_once(base, gstr("test.flag"), struct.pack("<Q", 100000) + b"test.flag"),
        "key length 100000 in a small file")
    add("array_count_huge", variant(kvs=[ARCH, kv("test.array", ARRAY, struct.pack("<IQ", UINT32, 1 << 40))]),
        "u32 array of 2^40 elements")
    bomb = struct.pack("<IQ", ARRAY, 1) * 200 + struct.pack("<IQ", UINT8, 0)
    add("nested_array_depth_bomb", variant(kvs=[ARCH, kv("test.bomb", ARRAY, bomb)]), "arrays nested 200 deep")
    add("alignment_0", variant(kvs=[ARCH, kv("general.alignment", UINT32, struct.pack("<I", 0)), FLAG]),
        "general.alignment = 0")
    add("alignment_3", variant(kvs=[ARCH, kv("general.alignment", UINT32, struct.pack("<I", 3)), FLAG]),
        "general.alignment = 3")
    add("alignment_u64", variant(kvs=[ARCH, kv("general.alignment", UINT64, struct.pack("<Q", 32)), FLAG]),
        "general.alignment stored as u64")
    add("alignment_string", variant(kvs=[ARCH, kv("general.alignment", STRING, gstr("32")), FLAG]),
        "general.alignment stored as a string")
    add("unknown_value_type", variant(kvs=[ARCH, kv("test.x", 13, b"\x00")]), "metadata value type 13")
    add("bool_value_2", variant(kvs=[ARCH, ALIGN, kv("test.flag", BOOL, b"\x02")]), "bool byte 2")
    add("empty_key", variant(kvs=[ARCH, kv("", UINT8, b"\x01")]), "a key of zero bytes")
    add("duplicate_key", variant(kvs=[ARCH, FLAG, FLAG]), "test.flag twice")
    add("invalid_utf8_key", variant(kvs=[ARCH, kv(b"test.\xff\xfe", UINT8, b"\x01")]), "key bytes ff fe")
    add("invalid_utf8_value", variant(kvs=[ARCH, kv("test.s", STRING, gstr(b"\xc3\x28"))]), "string value c3 28")
    add("invalid_utf8_name", variant(infos=[tinfo(b"\xe2\x82", [4], F32, 0), BASE_INFOS[1]]),
        "tensor name bytes e2 82 (cut multi-byte sequence)")
    add("unknown_ggml_type", variant(infos=[tinfo("a", [4], 99, 0), BASE_INFOS[1]]), "ggml type 99")
    add("removed_ggml_type_4", variant(infos=[tinfo("a", [32], 4, 0), BASE_INFOS[1]]), "ggml type 4 (Q4_2, removed)")
    add("ggml_type_count", variant(infos=[tinfo("a", [4], 43, 0), BASE_INFOS[1]]), "ggml type 43 = GGML_TYPE_COUNT")
    add("n_dims_5", variant(infos=[tinfo("a", [4, 1, 1, 1, 1], F32, 0), BASE_INFOS[1]]), "5 dimensions")
    add("dim_negative", variant(infos=[tinfo("a", [1 << 63], F32, 0), BASE_INFOS[1]]),
        "ne[0] = 2^63, negative as ggml's int64")
    add("dim_product_overflow", variant(infos=[tinfo("a", [1 << 32, 1 << 32], F32, 0), BASE_INFOS[1]]),
        "ne = [2^32, 2^32]: 2^64 elements")
    add("byte_size_overflow", variant(infos=[tinfo("a", [1 << 62], F32, 0), BASE_INFOS[1]]),
        "2^62 f32 elements: 2^64 bytes")
    add("ne0_not_block_multiple", variant(infos=[BASE_INFOS[0], tinfo("b", [16, 4], Q8_0, 32)]),
        "q8_0 with ne[0] = 16 (block size 32; 64 elements in all)")
    add("offset_not_sequential", variant(infos=[BASE_INFOS[0], tinfo("b", [32, 2], Q8_0, 64)]),
        "tensor b at offset 64, expected 32 (a hole)")
    add("offset_overlap", variant(infos=[BASE_INFOS[0], tinfo("b", [32, 2], Q8_0, 0)]),
        "tensor b at offset 0, on top of a")
    add("offset_first_not_zero", variant(infos=[tinfo("a", [4], F32, 32), tinfo("b", [32, 2], Q8_0, 64)]),
        "tensor a at offset 32, expected 0")
    add("offset_u64_near_max", variant(infos=[BASE_INFOS[0], tinfo("b", [32, 2], Q8_0, (1 << 64) - 32)]),
        "tensor b at offset 2^64-32 (aligned; the message must print it, not a clamped int64)")
    add("offset_misaligned", variant(infos=[BASE_INFOS[0], tinfo("b", [32, 2], Q8_0, 33)]),
        "tensor b at offset 33 with alignment 32")
    add("data_past_eof", variant(infos=[BASE_INFOS[0], tinfo("b", [32, 4], Q8_0, 32)]),
        "tensor b declares 4 rows (136 bytes) where the file holds 96")
    add("duplicate_tensor_name", variant(infos=[tinfo("a", [4], F32, 0), tinfo("a", [32, 2], Q8_0, 32)]),
        "two tensors named a")
    add("name_64_bytes", variant(infos=[tinfo("n" * 64, [4], F32, 0), BASE_INFOS[1]]),
        "a 64-byte tensor name (ggml allows 63)")
    return cases


# ---------------------------------------------------------------------------------------------
# Reference verdicts

def gguf_py_verdict(path: Path) -> str:
    import gguf
    try:
        reader = gguf.GGUFReader(str(path))
        for tensor in reader.tensors:  # gguf-py maps tensors lazily only when touched
            np.asarray(tensor.data).sum()
        return "accepts"
    except Exception as error:  # noqa: BLE001 - any refusal counts
        return f"refuses ({type(error).__name__})"


def find_libggml(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for pattern in ["/work/venv/lib/python3*/site-packages/llama_cpp/lib/libggml-base.so",
                    "/work/venv/lib/python3*/site-packages/llama_cpp/lib/libggml.so",
                    "/work/main/venv/lib/python3*/site-packages/llama_cpp/lib/libggml-base.so",
                    "/work/main/venv/lib/python3*/site-packages/llama_cpp/lib/libggml.so"]:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class GGUFInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


def ggml_verdict(lib, path: Path) -> str:
    """gguf_init_from_file with no_alloc = false: ggml parses the header and loads the whole data blob."""
    data_ctx = ctypes.c_void_p()
    ctx = lib.gguf_init_from_file(str(path).encode(), GGUFInitParams(False, ctypes.pointer(data_ctx)))
    if not ctx:
        return "refuses"
    lib.gguf_free(ctx)
    if data_ctx.value:
        lib.ggml_free(data_ctx)
    return "accepts"


def load_libggml(path: str):
    lib = ctypes.CDLL(path)
    lib.gguf_init_from_file.restype = ctypes.c_void_p
    lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, GGUFInitParams]
    lib.gguf_free.argtypes = [ctypes.c_void_p]
    lib.ggml_free.argtypes = [ctypes.c_void_p]
    return lib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--libggml", help="path to libggml-base.so or libggml.so")
    args = parser.parse_args()

    lib = None
    lib_path = find_libggml(args.libggml)
    if lib_path:
        lib = load_libggml(lib_path)

    # Without libggml, keep ggml's verdicts from the last run that had it (the files are packed
    # deterministically, so an unchanged name is an unchanged file).
    previous = {}
    if lib is None and (HERE / "manifest.json").exists():
        previous = json.loads((HERE / "manifest.json").read_text())
    previous_lib = previous.get("_references", {}).get("ggml", "not found")

    def ggml_of(path: Path) -> str:
        if lib is not None:
            return ggml_verdict(lib, path)
        return previous.get(path.name, {}).get("ggml", "not run")

    for old in HERE.glob("*.gguf"):
        old.unlink()
    base_path = HERE / "base.gguf"
    base_path.write_bytes(variant())
    assert gguf_py_verdict(base_path) == "accepts", "the base file must be valid"
    if lib is not None:
        assert ggml_verdict(lib, base_path) == "accepts", "the base file must be valid for ggml"

    manifest = {"base.gguf": {"breaks": "nothing (valid)", "gguf_py": "accepts", "ggml": ggml_of(base_path)}}
    for name, (blob, what) in corpus().items():
        path = HERE / f"{name}.gguf"
        path.write_bytes(blob)
        manifest[path.name] = {
            "breaks": what,
            "gguf_py": gguf_py_verdict(path),
            "ggml": ggml_of(path),
        }
    manifest["_references"] = {"gguf_py": "gguf 0.19.0 GGUFReader", "ggml": lib_path or previous_lib}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in HERE.glob("*.gguf"))
    print(f"wrote {len(manifest) - 1} files ({total} bytes); ggml: {lib_path or 'not found'}")
    for name, entry in manifest.items():
        if name.startswith("_"):
            continue
        print(f"  {name:40} gguf-py {entry['gguf_py']:28} ggml {entry['ggml']}")


if __name__ == "__main__":
    sys.exit(main())
