#!/usr/bin/env python3
"""Writes the writer-side hostile corpus (issue 11, classes 5, 6 and 7): files every reference reader accepts
whose content a writer must refuse, or whose names must never reach a terminal raw.

Run with the project venv:  /work/main/venv/bin/python Tests/Fixtures/hostile/writers/generate.py

- control_name.safetensors / control_name.bin: a tensor named ESC[2J ESC[H CR LF "connkit: all good" BEL NUL
  (a screen clear, a forged second line, a bell and a NUL), f32 [2, 64] holding 1e6 (beyond f16, so a cast
  warns about it), a tensor "w" [64, 64], and (safetensors) a metadata key and value with control bytes.
  Converting either to GGUF is refused: ggml would cut the name at the NUL (and connkit's GGUF reader
  refuses it), so the GGUF writer does too.
- nul_name.npz: an npz whose member is "a\\0b.npy" (Python's zipfile cuts names at a NUL, in making a ZipInfo
  and in reading, so numpy lists it as "a"; the zip holds the bytes, which connkit keeps): a GGUF of it is
  refused.
- long_name.safetensors: a tensor with a 70,000-byte name (the safetensors crate reads it; GGUF holds 63 bytes).
- arch_not_string.gguf: general.architecture is a u32 (gguf-py reads it; a GGUF written from it is refused).
- nested_array.gguf: an array of arrays of u8 (gguf-py reads it; ggml refuses nested arrays, so connkit's
  writer does).
Each must be refused by the writer with an error that names the input file, never the output.

- empty_beside_weights.{safetensors,gguf,npz,pt}: empty tensors whose other dimensions are huge ([0, 2, 2^40]
  f32, [2, 0, 2^62] f16, [2^40, 0] bf16 or q8_0, a Fortran-ordered [0, 2, 2^40] in the npz) beside a
  64 x 64 f32 "w" that every quantization type quantizes (class 1): quantize must copy each empty tensor
  unchanged with the reason "empty" and quantize "w".
- empty_name.gguf: a tensor named "" (found by the Writers fuzzer): converting it to npz is refused (its member
  would be ".npy", which connkit's npz reader refuses), naming the input. Packed with the accepted corpus's packers (they read
  each file back with the reference reader); expected_empty.json records what the references read (names as UTF-8 hex, dtypes, shapes).
"""

import io
import json
import os
import struct
import sys
import zipfile

import numpy as np
import safetensors.numpy
import torch

import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
CONTROL = "\x1b[2J\x1b[H\r\nconnkit: all good\x07\x00!"


def out(name):
    return os.path.join(HERE, name)


def save_safetensors(name, tensors, metadata=None):
    """Written by the reference writer (which takes any name), and read back by it."""
    safetensors.numpy.save_file(tensors, out(name), metadata=metadata)
    assert set(safetensors.numpy.load_file(out(name))) == set(tensors)


def control_arrays():
    hot = np.zeros((2, 64), dtype="<f4")
    hot[1, 7] = 1e6
    w = (np.arange(64 * 64, dtype="<f4").reshape(64, 64) - 2048) / 1024
    return hot, w


def write_control():
    hot, w = control_arrays()
    save_safetensors("control_name.safetensors", {CONTROL: hot, "w": w}, metadata={"k\x1b[31m": "v\r\nconnkit: all good\x07"})
    torch.save({CONTROL: torch.from_numpy(hot), "w": torch.from_numpy(w)}, out("control_name.bin"))
    back = torch.load(out("control_name.bin"), weights_only=True)
    assert set(back) == {CONTROL, "w"}


def write_nul_npz():
    path = out("nul_name.npz")
    array = np.arange(4, dtype="<f4")
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo("placeholder.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.filename = "a\x00b.npy"
        archive.writestr(info, buffer.getvalue())
    with open(path, "rb") as f:
        assert b"a\x00b.npy" in f.read()
    assert list(np.load(path).keys()) == ["a"]


def write_long_name():
    save_safetensors("long_name.safetensors", {"n" * 70000: np.ones((2,), dtype="<f4")})


def gguf_by_hand(name, kvs):
    """A GGUF v3 with the given raw key/value encodings and one f32 tensor "w" [4]; checked with gguf-py."""
    def gstr(text):
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    blob = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)))
    for key, encoded in kvs:
        blob += gstr(key) + encoded
    blob += gstr("w") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<IQ", 0, 0)
    blob += bytes(-len(blob) % 32)
    blob += np.arange(4, dtype="<f4").tobytes()
    with open(out(name), "wb") as f:
        f.write(blob)
    reader = gguf.GGUFReader(out(name))
    assert [t.name for t in reader.tensors] == ["w"]


def write_empty_beside_weights():
    """The accepted corpus's packers, writing here: they pack by hand (numpy cannot make some of these
    arrays) and read each file back with the reference reader, whose view is the expectation."""
    sys.path.insert(0, os.path.join(HERE, "..", "accepted"))
    import generate as accepted  # Tests/Fixtures/hostile/accepted/generate.py
    accepted.HERE = HERE
    w = ((np.arange(64 * 64, dtype="<f4").reshape(64, 64) % 17) - 8) / 8
    expected = {}
    expected["empty_beside_weights.safetensors"] = accepted.safetensors_file("empty_beside_weights.safetensors", [
        ("a", "F32", [0, 2, 1 << 40], b""),
        ("b", "F16", [2, 0, 1 << 62], b""),
        ("c", "BF16", [1 << 40, 0], b""),
        ("w", "F32", [64, 64], w.tobytes()),
    ])
    expected["empty_beside_weights.gguf"] = accepted.gguf_file("empty_beside_weights.gguf", [
        ("a", 0, [1 << 40, 2, 0], b""),   # row-major [0, 2, 2^40] f32
        ("c", 8, [1 << 40, 0], b""),      # q8_0 [0, 2^40]
        ("w", 0, [64, 64], w.tobytes()),
    ], [("general.architecture", "tensors")])
    # npz: a C-ordered and a Fortran-ordered empty member (headers by numpy's own writer) beside "w".
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, fortran in (("a", False), ("f", True)):
            member = io.BytesIO()
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": fortran,
                                                          "shape": (0, 2, 1 << 40)})
            archive.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
        member = io.BytesIO()
        np.lib.format.write_array(member, w)
        archive.writestr(zipfile.ZipInfo("w.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    with open(out("empty_beside_weights.npz"), "wb") as f:
        f.write(buffer.getvalue())
    with np.load(out("empty_beside_weights.npz")) as loaded:
        assert loaded["a"].shape == loaded["f"].shape == (0, 2, 1 << 40) and loaded["f"].size == 0
        expected["empty_beside_weights.npz"] = {"format": "npz", "metadata": [],
                                                "tensors": [accepted.npy_entry(k, loaded[k]) for k in loaded.files]}
    tensors = {"a": torch.empty((0, 2, 1 << 40)), "b": torch.empty((2, 0, 1 << 62), dtype=torch.float16),
               "c": torch.empty((1 << 40, 0), dtype=torch.bfloat16), "w": torch.from_numpy(w.copy())}
    torch.save(tensors, out("empty_beside_weights.pt"))
    back = torch.load(out("empty_beside_weights.pt"), weights_only=True)
    names = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
    expected["empty_beside_weights.pt"] = {"format": "pytorch", "metadata": [], "tensors": [
        {"name": k.encode().hex(), "dtype": names[v.dtype], "shape": list(v.shape), "nbytes": v.numel() * v.element_size()}
        for k, v in back.items()]}
    for file in expected.values():  # names, dtypes and shapes are what the test needs; the data is "w"'s
        for tensor in file["tensors"]:
            tensor.pop("data", None)
    # A tensor named "" (found by the Writers fuzzer): gguf-py and connkit read it; an npz member for it would
    # be ".npy", which connkit's npz reader refuses, so the npz writer refuses the name.
    expected["empty_name.gguf"] = accepted.gguf_file("empty_name.gguf", [("", 0, [4], np.arange(4, dtype="<f4").tobytes())],
                                                     [("general.architecture", "tensors")])
    with open(out("expected_empty.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


def write_gguf():
    gguf_by_hand("arch_not_string.gguf", [("general.architecture", struct.pack("<II", 4, 7))])
    inner = struct.pack("<IQ", 0, 2) + bytes([1, 2])
    gguf_by_hand("nested_array.gguf", [("general.architecture", struct.pack("<I", 8) + struct.pack("<Q", 4) + b"clip"),
                                       ("x", struct.pack("<IIQ", 9, 9, 2) + inner + inner)])


if __name__ == "__main__":
    write_control()
    write_nul_npz()
    write_long_name()
    write_gguf()
    write_empty_beside_weights()
