#!/usr/bin/env python3
"""Writes the "odd but valid" corpus: files the reference readers accept that stress connkit in other ways.

Run with the project venv:  /work/main/venv/bin/python Tests/Fixtures/hostile/accepted/generate.py

Every file here must be read (inspect) and, once the writers are swept, converted and quantized without a
crash. The classes:
- empty tensors whose other dimensions are huge ([0, 2, 2^40], [2, 0, 2^62], ...): 0 elements, 0 bytes,
  valid in every format; nothing may be sized from their other dimensions (issue 11, class 1);
- names that differ only in Unicode normalisation ("café" NFC / "cafe\\u0301" NFD, "K" / the Kelvin sign
  U+212A): distinct tensors and keys in every format, since every reference compares bytes (class 10);
- tied and tail views in PyTorch (two names for one storage; an empty view at the very end of its storage)
  and a sharded PyTorch checkpoint whose shards each tie a tensor (the materialisation cap sums shards).

`expected.json` records, per file, what the reference reader reports for each tensor: its name as UTF-8
hex, dtype, row-major shape, byte count and data as hex (all tensors are tiny) — and per metadata key its
UTF-8 hex. Names are hex so that no tool normalises them on the way.
"""

import json
import os
import shutil
import struct

import numpy as np
import safetensors
import safetensors.numpy
import torch

import gguf
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
NFC, NFD = "caf\u00e9", "cafe\u0301"
KELVIN = "\u212a"
assert NFC.encode() != NFD.encode()


def out(name):
    return os.path.join(HERE, name)


def hexname(text):
    return text.encode().hex()


def entry(name, dtype, shape, data: bytes):
    return {"name": hexname(name), "dtype": dtype, "shape": [int(d) for d in shape], "nbytes": len(data),
            "data": data.hex()}


# --- safetensors -----------------------------------------------------------------------------------------

def safetensors_file(name, tensors, metadata=None):
    """Packs a safetensors file by hand (numpy cannot even create some of these arrays), in the reference
    writer's layout, then reads it back with the safetensors crate: what it reports is the expectation."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for tensor_name, dtype, shape, data in tensors:
        header[tensor_name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    with open(out(name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    names = {"F32": "f32", "F16": "f16", "BF16": "bf16", "I64": "i64"}
    result = []
    with safetensors.safe_open(out(name), framework="numpy") as f:
        for key in f.keys():
            sl = f.get_slice(key)
            shape = sl.get_shape()
            dtype = sl.get_dtype()
            # numpy cannot hold [2, 0, 2^62] f16 (it sizes arrays from their non-zero dimensions): the
            # crate's shape is the reference there, and an empty tensor has no bytes.
            data = b"" if 0 in shape else f.get_tensor(key).tobytes()
            result.append(entry(key, names[dtype], shape, data))
        meta = f.metadata() or {}
    return {"format": "safetensors", "tensors": result, "metadata": [hexname(k) for k in meta]}


def write_safetensors(expected):
    w = np.arange(4, dtype="<f4").tobytes()
    expected["empty_huge_dims.safetensors"] = safetensors_file("empty_huge_dims.safetensors", [
        ("a", "F32", [0, 2, 1 << 40], b""),
        ("b", "F16", [2, 0, 1 << 62], b""),
        ("c", "BF16", [1 << 40, 0], b""),
        ("d", "I64", [0], b""),
        ("w", "F32", [2, 2], w),
    ])
    one = np.array([1.0], dtype="<f4").tobytes()
    two = np.array([2.0], dtype="<f4").tobytes()
    expected["names_nfc_nfd.safetensors"] = safetensors_file("names_nfc_nfd.safetensors", [
        (NFC, "F32", [1], one), (NFD, "F32", [1], two), ("K", "F32", [1], one), (KELVIN, "F32", [1], two),
    ], metadata={NFC: "nfc", NFD: "nfd"})


# --- GGUF ------------------------------------------------------------------------------------------------

def gguf_file(name, tensors, kvs):
    """Packs a GGUF v3 file by hand (gguf-py's writer takes numpy arrays, which cannot have these shapes),
    then reads it with gguf-py's GGUFReader. ggml's gguf_init_from_file is not a reference here: its element
    count check computes INT64_MAX / ne[1], / ne[2] and / ne[3], a division by zero for an empty tensor whose
    zero is not ne[0] (gguf.cpp, current master)."""
    def gstr(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    blob = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for key, value in kvs:
        blob += gstr(key) + struct.pack("<I", 8) + gstr(value)
    offset, datas = 0, []
    for tensor_name, ggml_type, ne, data in tensors:
        blob += gstr(tensor_name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        blob += struct.pack("<IQ", ggml_type, offset)
        datas.append(data + bytes(-len(data) % 32))
        offset += len(datas[-1])
    blob += bytes(-len(blob) % 32)
    blob += b"".join(datas)
    with open(out(name), "wb") as f:
        f.write(blob)
    types = {0: "f32", 1: "f16", 8: "q8_0"}
    try:
        reader = gguf.GGUFReader(out(name))
    except ValueError as error:
        # gguf-py shapes every tensor as a numpy array, and numpy refuses shapes whose non-zero dimensions
        # multiply past 2^63 bytes, empty or not: not a GGUF rule. The file as packed is the expectation.
        result = [entry(n, types[t], list(reversed(ne)), d) for n, t, ne, d in tensors]
        return {"format": "gguf", "tensors": result, "metadata": [hexname(k) for k, _ in kvs],
                "gguf_py": f"refuses ({error})"}
    result = []
    for tensor in reader.tensors:
        ne = [int(d) for d in tensor.shape]
        data = next(d for n, _, _, d in tensors if n == tensor.name)
        assert int(tensor.n_bytes) == len(data), (tensor.name, tensor.n_bytes)
        result.append(entry(tensor.name, types[int(tensor.tensor_type)], list(reversed(ne)), data))
    keys = [hexname(field.name) for field in reader.fields.values() if not field.name.startswith("GGUF.")]
    return {"format": "gguf", "tensors": result, "metadata": keys, "gguf_py": "accepts"}


def write_gguf(expected):
    w = np.arange(4, dtype="<f4").tobytes()
    expected["empty_huge_dims.gguf"] = gguf_file("empty_huge_dims.gguf", [
        ("a", 0, [1 << 40, 2, 0], b""),    # row-major [0, 2, 2^40]
        ("c", 8, [1 << 40, 0], b""),       # q8_0 [0, 2^40]: rows of 2^40 values, no rows
        ("w", 0, [4], w),
    ], [("general.architecture", "tensors")])
    expected["empty_row_2p62.gguf"] = gguf_file("empty_row_2p62.gguf", [
        ("b", 1, [1 << 62, 0, 2], b""),    # row-major [2, 0, 2^62] f16
        ("w", 0, [4], w),
    ], [("general.architecture", "tensors")])
    one = np.array([1.0], dtype="<f4").tobytes()
    two = np.array([2.0], dtype="<f4").tobytes()
    expected["names_nfc_nfd.gguf"] = gguf_file("names_nfc_nfd.gguf", [
        (NFC, 0, [1], one), (NFD, 0, [1], two), ("K", 0, [1], one), (KELVIN, 0, [1], two),
    ], [("general.architecture", "tensors"), ("test." + NFC, "nfc"), ("test." + NFD, "nfd")])


# --- numpy -----------------------------------------------------------------------------------------------

def npy_entry(name, array):
    names = {"<f4": "f32", "<f2": "f16", "<i8": "i64"}
    return entry(name, names[array.dtype.str], array.shape, np.ascontiguousarray(array).tobytes())


def write_numpy(expected):
    # np.save never marks an empty array Fortran-ordered (it is C-contiguous too), so those headers are
    # written with numpy's own header writer; np.load reads all four.
    cases = {
        "empty_huge_dims.npy": ((0, 2, 1 << 40), False),
        "empty_huge_dims_fortran.npy": ((0, 2, 1 << 40), True),
        "empty_long_row.npy": ((0, 1 << 60), False),
        "empty_long_row_fortran.npy": ((0, 1 << 60), True),
    }
    for name, (shape, fortran) in cases.items():
        with open(out(name), "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": fortran, "shape": shape})
        with open(out(name), "rb") as f:
            np.lib.format.read_magic(f)
            assert np.lib.format.read_array_header_1_0(f)[1] == fortran
        loaded = np.load(out(name))
        assert loaded.shape == shape and loaded.size == 0
        expected[name] = {"format": "npy", "tensors": [npy_entry(name[:-4], loaded)], "metadata": []}
    arrays = {NFC: np.array([1.0], dtype="<f4"), NFD: np.array([2.0], dtype="<f4"),
              "K": np.array([1.0], dtype="<f4"), KELVIN: np.array([2.0], dtype="<f4"),
              "empty": np.empty((0, 2, 1 << 40), dtype="<f4")}
    np.savez(out("names_nfc_nfd.npz"), **arrays)
    with np.load(out("names_nfc_nfd.npz")) as loaded:
        expected["names_nfc_nfd.npz"] = {"format": "npz", "tensors": [npy_entry(k, loaded[k]) for k in loaded.files],
                                         "metadata": []}


# --- ONNX ------------------------------------------------------------------------------------------------

def write_onnx(expected):
    empty = onnx.TensorProto(name="a", data_type=onnx.TensorProto.FLOAT, dims=[0, 2, 1 << 40], raw_data=b"")
    tensors = [empty] + [helper.make_tensor(name, onnx.TensorProto.FLOAT, [1], [value])
                         for name, value in ((NFC, 1.0), (NFD, 2.0), ("K", 1.0), (KELVIN, 2.0))]
    model = helper.make_model(helper.make_graph([], "g", [], [], initializer=tensors))
    onnx.save(model, out("empty_dims_names.onnx"))
    loaded = onnx.load(out("empty_dims_names.onnx"))
    onnx.checker.check_model(loaded)
    result = []
    for tensor in loaded.graph.initializer:
        array = numpy_helper.to_array(tensor)
        result.append(entry(tensor.name, "f32", list(tensor.dims), array.tobytes()))
    expected["empty_dims_names.onnx"] = {"format": "onnx", "tensors": result, "metadata": []}


# --- PyTorch ---------------------------------------------------------------------------------------------

def torch_entry(name, tensor):
    names = {torch.float32: "f32", torch.float16: "f16", torch.int64: "i64"}
    data = b"" if tensor.numel() == 0 else tensor.contiguous().numpy().tobytes()  # numpy cannot shape [2, 0, 2^62]
    return entry(name, names[tensor.dtype], tensor.shape, data)


def write_torch_file(name, state, legacy=False):
    torch.save(state, out(name), _use_new_zipfile_serialization=not legacy)
    loaded = torch.load(out(name), weights_only=True)
    return {"format": "pytorch", "tensors": [torch_entry(k, v) for k, v in loaded.items()], "metadata": []}


def write_torch(expected):
    base = torch.arange(10, dtype=torch.float32)
    tied = torch.arange(4, dtype=torch.float32)
    state = {
        "a": torch.empty(0, 2, 1 << 40),
        "b": torch.empty(2, 0, 1 << 62, dtype=torch.float16),
        "c": torch.empty(1 << 40, 0, dtype=torch.int64),
        "tail": base[10:],            # empty view at the very end of its storage (offset 10 of 10)
        "w": tied,
        "w_tied": tied,               # the same storage and view under a second name
    }
    expected["empty_huge_dims.pt"] = write_torch_file("empty_huge_dims.pt", state)
    expected["empty_huge_dims_legacy.pt"] = write_torch_file("empty_huge_dims_legacy.pt", state, legacy=True)
    names = {NFC: torch.tensor([1.0]), NFD: torch.tensor([2.0]), "K": torch.tensor([1.0]), KELVIN: torch.tensor([2.0])}
    expected["names_nfc_nfd.pt"] = write_torch_file("names_nfc_nfd.pt", names)

    # Two shards, each tying a 16-byte tensor to a second name: 16 bytes of excess per shard, 32 in all.
    folder = out("tied_sharded")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    weight_map, tensors = {}, []
    for index in (1, 2):
        shard = f"pytorch_model-0000{index}-of-00002.bin"
        t = torch.arange(4, dtype=torch.float32) * index
        shard_state = {f"s{index}.w": t, f"s{index}.w_tied": t}
        torch.save(shard_state, os.path.join(folder, shard))
        for key, value in torch.load(os.path.join(folder, shard), weights_only=True).items():
            weight_map[key] = shard
            tensors.append(torch_entry(key, value))
    with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 64}, "weight_map": weight_map}, f, indent=1)
    expected["tied_sharded"] = {"format": "pytorch", "tensors": tensors, "metadata": [hexname("total_size")]}


def main():
    for name in os.listdir(HERE):
        if name not in ("generate.py",) and not name.startswith("."):
            path = out(name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    expected = {}
    write_safetensors(expected)
    write_gguf(expected)
    write_numpy(expected)
    write_onnx(expected)
    write_torch(expected)
    with open(out("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", len(expected), "accepted files")


if __name__ == "__main__":
    main()
