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
"""

import io
import os
import struct
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
