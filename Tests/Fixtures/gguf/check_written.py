#!/usr/bin/env python3
"""Checks GGUF files written by connkit with the two reference readers (a development tool, not run by `swift test`).

  CONNKIT_GGUF_WRITE_DIR=/tmp/connkit-gguf swift test --filter GGUFRoundTripTests/writeFilesForReferenceReaders
  /work/venv/bin/python Tests/Fixtures/gguf/check_written.py /tmp/connkit-gguf [--libggml PATH]

The Swift test writes `<name>.gguf` and `<name>.gguf.expected.json` (metadata with GGUF type ids, tensors with
ggml type id, ne, byte size and FNV-1a 64 of the bytes). Each file is then read
  - by gguf-py's GGUFReader (files marked "gguf_py": false hold Q8_1/Q2_0, which gguf-py 0.19.0 cannot read), and
  - by ggml's gguf_init_from_file with no_alloc = false (it parses the header, checks every offset and loads the
    whole data blob, padding after the last tensor included), via ctypes from libggml-base.so,
and every key, type, value, tensor name, type, ne and data hash is compared. Prints one line per file and check;
exits 1 if anything fails.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import sys
from pathlib import Path

import numpy as np

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
CTYPES = {UINT8: ctypes.c_uint8, INT8: ctypes.c_int8, UINT16: ctypes.c_uint16, INT16: ctypes.c_int16,
          UINT32: ctypes.c_uint32, INT32: ctypes.c_int32, FLOAT32: ctypes.c_float, BOOL: ctypes.c_bool,
          UINT64: ctypes.c_uint64, INT64: ctypes.c_int64, FLOAT64: ctypes.c_double}
GETTERS = {UINT8: "u8", INT8: "i8", UINT16: "u16", INT16: "i16", UINT32: "u32", INT32: "i32", FLOAT32: "f32",
           BOOL: "bool", UINT64: "u64", INT64: "i64", FLOAT64: "f64"}


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def same_value(vtype: int, got, want) -> bool:
    """Compares a value read back with the JSON connkit wrote (f32 compared as f32, NaN never written)."""
    if vtype == FLOAT32:
        return np.float32(got) == np.float32(want)
    return got == want


# ---------------------------------------------------------------------------------------------

def check_gguf_py(path: Path, expected: dict) -> list[str]:
    import gguf
    problems = []
    reader = gguf.GGUFReader(str(path))
    fields = [(name, field) for name, field in reader.fields.items() if not name.startswith("GGUF.")]
    if [name for name, _ in fields] != [m["key"] for m in expected["metadata"]]:
        problems.append(f"keys {[n for n, _ in fields]} != {[m['key'] for m in expected['metadata']]}")
    for (name, field), want in zip(fields, expected["metadata"]):
        if int(field.types[0]) != want["type"]:
            problems.append(f"{name}: type {field.types[0]} != {want['type']}")
            continue
        if want["type"] == ARRAY:
            element_type = int(field.types[1]) if len(field.types) > 1 else None
            # gguf-py learns an array's element type from its first element, so an empty one has none.
            if want["value"] and element_type != want["element_type"]:
                problems.append(f"{name}: element type {element_type} != {want['element_type']}")
            got = field.contents()
            if len(got) != len(want["value"]) or not all(
                    same_value(want["element_type"], g, w) for g, w in zip(got, want["value"])):
                problems.append(f"{name}: {got!r} != {want['value']!r}")
        elif not same_value(want["type"], field.contents(), want["value"]):
            problems.append(f"{name}: {field.contents()!r} != {want['value']!r}")
    if [t.name for t in reader.tensors] != [t["name"] for t in expected["tensors"]]:
        problems.append("tensor names differ")
    for tensor, want in zip(reader.tensors, expected["tensors"]):
        if int(tensor.tensor_type) != want["ggml_type"]:
            problems.append(f"{tensor.name}: type {int(tensor.tensor_type)} != {want['ggml_type']}")
        if [int(d) for d in tensor.shape] != want["ne"]:
            problems.append(f"{tensor.name}: ne {tensor.shape.tolist()} != {want['ne']}")
        if int(tensor.n_bytes) != want["nbytes"]:
            problems.append(f"{tensor.name}: {tensor.n_bytes} bytes != {want['nbytes']}")
        data = np.ascontiguousarray(tensor.data).tobytes()
        if fnv1a64(data) != want["fnv1a64"]:
            problems.append(f"{tensor.name}: data differs")
    return problems


# ---------------------------------------------------------------------------------------------

class GGUFInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


def load_libggml(path: str):
    lib = ctypes.CDLL(path)
    signatures = {
        "gguf_init_from_file": (ctypes.c_void_p, [ctypes.c_char_p, GGUFInitParams]),
        "gguf_free": (None, [ctypes.c_void_p]),
        "ggml_free": (None, [ctypes.c_void_p]),
        "gguf_get_version": (ctypes.c_uint32, [ctypes.c_void_p]),
        "gguf_get_n_kv": (ctypes.c_int64, [ctypes.c_void_p]),
        "gguf_get_key": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_kv_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_arr_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_arr_n": (ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_arr_data": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_arr_str": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t]),
        "gguf_get_val_str": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_n_tensors": (ctypes.c_int64, [ctypes.c_void_p]),
        "gguf_get_tensor_name": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_tensor_type": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_tensor_size": (ctypes.c_size_t, [ctypes.c_void_p, ctypes.c_int64]),
        "gguf_get_tensor_ne": (ctypes.POINTER(ctypes.c_int64), [ctypes.c_void_p, ctypes.c_int64]),
        "ggml_get_tensor": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]),
        "ggml_get_data": (ctypes.c_void_p, [ctypes.c_void_p]),
    }
    for vtype, suffix in GETTERS.items():
        signatures[f"gguf_get_val_{suffix}"] = (CTYPES[vtype], [ctypes.c_void_p, ctypes.c_int64])
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def ggml_value(lib, ctx, index: int, vtype: int):
    if vtype == STRING:
        return lib.gguf_get_val_str(ctx, index).decode("utf-8")
    return getattr(lib, f"gguf_get_val_{GETTERS[vtype]}")(ctx, index)


def check_ggml(lib, path: Path, expected: dict) -> list[str]:
    problems = []
    data_ctx = ctypes.c_void_p()
    ctx = lib.gguf_init_from_file(str(path).encode(), GGUFInitParams(False, ctypes.pointer(data_ctx)))
    if not ctx:
        return ["gguf_init_from_file refused the file (see ggml's message above)"]
    try:
        if lib.gguf_get_version(ctx) != 3:
            problems.append(f"version {lib.gguf_get_version(ctx)}")
        n_kv = lib.gguf_get_n_kv(ctx)
        keys = [lib.gguf_get_key(ctx, i).decode("utf-8") for i in range(n_kv)]
        if keys != [m["key"] for m in expected["metadata"]]:
            problems.append(f"keys {keys} != {[m['key'] for m in expected['metadata']]}")
        for index, want in enumerate(expected["metadata"][:n_kv]):
            vtype = lib.gguf_get_kv_type(ctx, index)
            if vtype != want["type"]:
                problems.append(f"{want['key']}: type {vtype} != {want['type']}")
                continue
            if vtype == ARRAY:
                element_type = lib.gguf_get_arr_type(ctx, index)
                count = lib.gguf_get_arr_n(ctx, index)
                if element_type != want["element_type"]:
                    problems.append(f"{want['key']}: element type {element_type} != {want['element_type']}")
                    continue
                if element_type == STRING:
                    got = [lib.gguf_get_arr_str(ctx, index, i).decode("utf-8") for i in range(count)]
                else:
                    array = (CTYPES[element_type] * count).from_address(lib.gguf_get_arr_data(ctx, index)) \
                        if count else []
                    got = list(array)
                if len(got) != len(want["value"]) or not all(
                        same_value(element_type, g, w) for g, w in zip(got, want["value"])):
                    problems.append(f"{want['key']}: {got!r} != {want['value']!r}")
            else:
                got = ggml_value(lib, ctx, index, vtype)
                if not same_value(vtype, got, want["value"]):
                    problems.append(f"{want['key']}: {got!r} != {want['value']!r}")
        n_tensors = lib.gguf_get_n_tensors(ctx)
        names = [lib.gguf_get_tensor_name(ctx, i).decode("utf-8") for i in range(n_tensors)]
        if names != [t["name"] for t in expected["tensors"]]:
            problems.append(f"tensor names {names} differ")
        for index, want in enumerate(expected["tensors"][:n_tensors]):
            name = want["name"]
            if lib.gguf_get_tensor_type(ctx, index) != want["ggml_type"]:
                problems.append(f"{name}: type {lib.gguf_get_tensor_type(ctx, index)} != {want['ggml_type']}")
            ne = lib.gguf_get_tensor_ne(ctx, index)
            expected_ne = want["ne"] + [1] * (4 - len(want["ne"]))
            if [ne[i] for i in range(4)] != expected_ne:
                problems.append(f"{name}: ne {[ne[i] for i in range(4)]} != {expected_ne}")
            size = lib.gguf_get_tensor_size(ctx, index)
            if size != want["nbytes"]:
                problems.append(f"{name}: {size} bytes != {want['nbytes']}")
            tensor = lib.ggml_get_tensor(data_ctx, name.encode())
            address = lib.ggml_get_data(tensor) if tensor else None
            data = ctypes.string_at(address, size) if address and size else b""
            if fnv1a64(data) != want["fnv1a64"]:
                problems.append(f"{name}: data loaded by ggml differs")
    finally:
        lib.gguf_free(ctx)
        if data_ctx.value:
            lib.ggml_free(data_ctx)
    return problems


def find_libggml(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for pattern in ["/work/venv/lib/python3*/site-packages/llama_cpp/lib/libggml-base.so",
                    "/work/venv/lib/python3*/site-packages/llama_cpp/lib/libggml.so"]:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--libggml", help="path to libggml-base.so (default: llama-cpp-python's in /work/venv)")
    args = parser.parse_args()

    lib_path = find_libggml(args.libggml)
    lib = load_libggml(lib_path) if lib_path else None
    files = sorted(args.directory.glob("*.gguf"))
    if not files:
        print(f"no .gguf files in {args.directory}")
        return 1
    failures = 0
    for path in files:
        expected = json.loads(Path(str(path) + ".expected.json").read_text())
        checks = []
        if expected["gguf_py"]:
            checks.append(("gguf-py GGUFReader", lambda: check_gguf_py(path, expected)))
        if lib is not None:
            checks.append(("ggml gguf_init_from_file", lambda: check_ggml(lib, path, expected)))
        for label, check in checks:
            try:
                problems = check()
            except Exception as error:  # noqa: BLE001 - a reader that raises fails the check
                problems = [f"{type(error).__name__}: {error}"]
            status = "PASS" if not problems else "FAIL"
            failures += bool(problems)
            print(f"{status}  {path.name:28} {label}")
            for problem in problems:
                print(f"        {problem}")
    print(f"ggml library: {lib_path or 'not found (only gguf-py checked)'}")
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 and lib is not None else 1


if __name__ == "__main__":
    sys.exit(main())
