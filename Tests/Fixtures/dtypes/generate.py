#!/usr/bin/env python3
"""Records ggml's own type table (name, block size, bytes per block for every id below GGML_TYPE_COUNT)
from the libggml-base.so that llama-cpp-python builds, next to gguf-py's GGML_QUANT_SIZES, so the
Swift DType table is checked against both without Python at test time."""
import ctypes
import glob
import json
import os

import gguf
import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))[0]
lib = ctypes.CDLL(LIB)
lib.ggml_type_name.restype = ctypes.c_char_p
lib.ggml_type_name.argtypes = [ctypes.c_int]
lib.ggml_blck_size.restype = ctypes.c_int64
lib.ggml_blck_size.argtypes = [ctypes.c_int]
lib.ggml_type_size.restype = ctypes.c_size_t
lib.ggml_type_size.argtypes = [ctypes.c_int]

COUNT = 43  # GGML_TYPE_COUNT of the vendored ggml (q2_0 = 42 is the last type)
types = []
for type_id in range(COUNT):
    block = lib.ggml_blck_size(type_id)
    entry = {"id": type_id, "ggml_name": lib.ggml_type_name(type_id).decode(), "block_size": block,
             "type_size": lib.ggml_type_size(type_id)}
    try:
        member = gguf.GGMLQuantizationType(type_id)
        entry["gguf_py_name"] = member.name
        entry["gguf_py_sizes"] = list(gguf.GGML_QUANT_SIZES[member])
    except (ValueError, KeyError):
        pass
    if block == 0:
        entry["removed"] = True
    types.append(entry)

with open(os.path.join(HERE, "ggml_types.json"), "w") as f:
    json.dump({"llama_cpp_python": llama_cpp.__version__, "gguf_py": "0.19.0", "types": types}, f, indent=1)
