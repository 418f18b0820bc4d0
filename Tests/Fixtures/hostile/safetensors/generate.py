#!/usr/bin/env python3
"""Writes the hostile safetensors corpus: one small file per rejection class. Each file name is the
class; the Swift test table (HostileSafetensorsTests) maps it to the expected FormatError kind.
Plain Python only (byte-level construction)."""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def header(obj, pad=True):
    text = json.dumps(obj, separators=(",", ":")).encode() if not isinstance(obj, bytes) else obj
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return text


def file(name, blob):
    with open(os.path.join(HERE, name + ".safetensors"), "wb") as f:
        f.write(blob)


def st(obj, data=b"", declared=None, pad=True):
    text = header(obj, pad)
    length = len(text) if declared is None else declared
    return struct.pack("<Q", length) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    for entry in os.listdir(HERE):
        if entry.endswith(".safetensors"):
            os.remove(os.path.join(HERE, entry))
    file("too_small", b"\x10\x00\x00")
    file("header_too_large", struct.pack("<Q", 200_000_000) + b"{}")
    file("header_length_u64_max", struct.pack("<Q", 2**64 - 1) + b"{}")
    file("header_past_eof", struct.pack("<Q", 1000) + b'{"a":1}')
    file("invalid_utf8", st(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    file("invalid_json", st(b'{"a":{"dtype":"F32",', b""))
    file("nul_padding", struct.pack("<Q", 10) + b"{}\0\0\0\0\0\0\0\0")
    file("not_an_object", st([1, 2, 3]))
    file("entry_not_object", st({"a": 5}))
    file("duplicate_key", st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                             b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8))
    file("unknown_dtype", st({"a": t("F128", [1], 0, 16)}, b"\0" * 16))
    file("lowercase_dtype", st({"a": t("f32", [1], 0, 4)}, b"\0" * 4))
    file("shape_overflow", st({"a": t("F32", [2**31, 2**31, 4], 0, 4)}, b"\0" * 4))
    file("bytes_overflow", st({"a": t("F64", [2**61], 0, 8)}, b"\0" * 8))
    file("dim_beyond_int64", st({"a": t("U8", [2**64 - 1], 0, 1)}, b"\0"))
    file("negative_dim", st({"a": t("F32", [-1], 0, 4)}, b"\0" * 4))
    file("float_dim", st(b'{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', b"\0" * 4))
    file("too_many_dims", st({"a": t("U8", [1] * 65, 0, 1)}, b"\0"))
    file("offsets_hole", st({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, b"\0" * 12))
    file("offsets_overlap", st({"a": t("F32", [2], 0, 8), "b": t("F32", [1], 4, 8)}, b"\0" * 8))
    file("offsets_not_from_zero", st({"a": t("F32", [1], 4, 8)}, b"\0" * 8))
    file("end_before_begin", st({"a": t("F32", [0], 0, 0), "b": t("F32", [1], 0, 4), "c": t("F32", [0], 4, 2)}, b"\0" * 4))
    file("size_mismatch", st({"a": t("F32", [2], 0, 4)}, b"\0" * 4))
    file("trailing_bytes", st({"a": t("F32", [1], 0, 4)}, b"\0" * 5))
    file("data_past_eof", st({"a": t("F32", [4], 0, 16)}, b"\0" * 8))
    file("offset_beyond_int64", st({"a": t("F32", [1], 0, 2**64 - 1)}, b"\0" * 4))
    file("missing_offsets", st({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4))
    file("metadata_not_string", st({"__metadata__": {"x": 1}}))
    file("metadata_not_object", st({"__metadata__": [1]}))
    file("f4_odd_count", st({"a": t("F4", [3], 0, 2)}, b"\0" * 2))
    file("deep_nesting", st(("{\"a\":" + "[" * 1000 + "]" * 1000 + "}").encode()))

    # Sharded checkpoints with a broken index.
    shards = os.path.join(HERE, "sharded")
    shutil.rmtree(shards, ignore_errors=True)
    def shard_case(case, weight_map, files, index_text=None):
        folder = os.path.join(shards, case)
        os.makedirs(folder)
        for name, tensors in files.items():
            offset = 0
            entries = {}
            for tname in tensors:
                entries[tname] = t("F32", [1], offset, offset + 4)
                offset += 4
            with open(os.path.join(folder, name), "wb") as f:
                f.write(st(entries, b"\0" * offset))
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            f.write(index_text if index_text is not None else json.dumps({"metadata": {}, "weight_map": weight_map}))
    shard_case("missing_from_shard", {"a": "s1.safetensors", "b": "s1.safetensors"}, {"s1.safetensors": ["a"]})
    shard_case("missing_from_index", {"a": "s1.safetensors"}, {"s1.safetensors": ["a", "b"]})
    shard_case("wrong_shard", {"a": "s1.safetensors", "b": "s1.safetensors"},
               {"s1.safetensors": ["a"], "s2.safetensors": ["b"]})
    shard_case("path_traversal", {"a": "../s1.safetensors"}, {"s1.safetensors": ["a"]})
    shard_case("absolute_path", {"a": "/etc/passwd.safetensors"}, {"s1.safetensors": ["a"]})
    shard_case("shard_file_missing", {"a": "s9.safetensors"}, {"s1.safetensors": ["a"]})
    shard_case("index_invalid_json", {}, {"s1.safetensors": ["a"]}, index_text='{"weight_map": {"a": ')
    shard_case("index_no_weight_map", {}, {"s1.safetensors": ["a"]}, index_text='{"metadata": {}}')
    shard_case("index_duplicate_key", {}, {"s1.safetensors": ["a"]},
               index_text='{"weight_map": {"a": "s1.safetensors", "a": "s1.safetensors"}}')


if __name__ == "__main__":
    main()
