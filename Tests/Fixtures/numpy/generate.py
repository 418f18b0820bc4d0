#!/usr/bin/env python3
"""Writes the .npy/.npz fixtures of connkit's tests with numpy itself, plus expected.json (what numpy reads
back from each file: tensor names, connkit dtype names, row-major shapes and the little-endian row-major bytes as
hex). Run from anywhere with the project venv: venv/bin/python Tests/Fixtures/numpy/generate.py
Deterministic: running it again gives the same bytes (numpy stamps zip members 1980-01-01)."""
import io
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NPY = os.path.join(HERE, "npy")
NPZ = os.path.join(HERE, "npz")

# numpy type code (without byte order) -> connkit dtype name (Sources/TensorFormats/Core/DType.swift numpyCode)
CONNKIT = {"f2": "f16", "f4": "f32", "f8": "f64", "c8": "c64", "i1": "i8", "i2": "i16", "i4": "i32", "i8": "i64",
           "u1": "u8", "u2": "u16", "u4": "u32", "u8": "u64", "b1": "bool"}


def values(code, shape):
    """Deterministic values exercising each type's range (extremes, NaN, inf, subnormals, negative zero)."""
    n = int(np.prod(shape))
    kind = code[0]
    if kind == "b":
        return (np.arange(n) % 3 == 0).reshape(shape)
    dt = np.dtype("<" + code)
    if kind in "iu":
        info = np.iinfo(dt)
        base = [info.min, info.max, 0, 1, info.max // 3, info.min // 5 if kind == "i" else 7]
        # Wrap into range (Python ints are unbounded) so later rounds differ from the first.
        span = int(info.max) - int(info.min) + 1
        items = [(int(base[i % len(base)]) + i // len(base) - int(info.min)) % span + int(info.min) for i in range(n)]
        return np.array(items, dtype=dt).reshape(shape)
    if kind == "f":
        info = np.finfo(dt)
        base = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, info.max, info.tiny / 4, -info.tiny, 3.14159]
        return np.array([base[i % len(base)] for i in range(n)], dtype=dt).reshape(shape)
    if kind == "c":
        real = np.linspace(-3, 3, n, dtype=np.float32)
        return (real + 1j * real[::-1]).astype(dt).reshape(shape)
    raise ValueError(code)


def expectation(name, arr):
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False) if arr.dtype.byteorder == ">" else arr
    code = le.dtype.str[1:]
    return {"name": name, "dtype": CONNKIT[code], "shape": list(arr.shape),
            "hex": np.ascontiguousarray(le).astype(le.dtype.newbyteorder("<")).tobytes(order="C").hex()}


def raw_npy(path, header_text, data, version=(1, 0), align=64):
    """An npy file with a hand-written header (for spellings numpy reads but no longer writes)."""
    body = header_text.encode("latin1" if version < (3, 0) else "utf8")
    prefix = 8 + (2 if version == (1, 0) else 4)
    total = prefix + len(body) + 1
    pad = (align - total % align) % align
    header = body + b" " * pad + b"\n"
    length = len(header).to_bytes(2 if version == (1, 0) else 4, "little")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY" + bytes(version) + length + header + data)


class NonSeekable(io.RawIOBase):
    """A write-only stream without seek/tell: zipfile then writes data descriptors (flag bit 3)."""

    def __init__(self, path):
        self.f = open(path, "wb")

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)

    def close(self):
        self.f.close()
        super().close()


def main():
    os.makedirs(NPY, exist_ok=True)
    os.makedirs(NPZ, exist_ok=True)
    expected = {"npy": {}, "npz": {}}

    def save(filename, arr, name=None, version=None):
        path = os.path.join(NPY, filename)
        if version is None:
            np.save(path, arr)
        else:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, version=version)
        back = np.load(path)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        expected["npy"][filename] = expectation(name or filename[:-4], back)

    # Every dtype, little-endian, C order.
    for code in CONNKIT:
        save(f"le_{code}.npy", values(code, (2, 3)))
    # Big-endian (multi-byte types only: numpy writes '|' for one-byte types).
    for code in CONNKIT:
        if int(code[1:]) > 1 or code[0] == "c":
            save(f"be_{code}.npy", values(code, (3, 2)).astype(">" + code))
    # Fortran order.
    save("fortran_2d_f4.npy", np.asfortranarray(values("f4", (3, 4))))
    save("fortran_3d_i2.npy", np.asfortranarray(values("i2", (2, 3, 4))))
    save("fortran_be_c8.npy", np.asfortranarray(values("c8", (3, 2, 2))).astype(">c8", order="F"))
    save("fortran_4d_u1.npy", np.asfortranarray(values("u1", (2, 1, 3, 2))))
    assert np.load(os.path.join(NPY, "fortran_be_c8.npy")).flags.f_contiguous
    # 0-d and empty arrays.
    save("scalar_f8.npy", np.float64(-2.5) * np.ones(()))
    save("scalar_b1.npy", np.array(True))
    save("empty_f4.npy", np.zeros((0,), np.float32))
    save("empty_i8_2x0x3.npy", np.zeros((2, 0, 3), np.int64))
    # Format versions 2.0 and 3.0 (numpy writes them only for huge or non-latin-1 headers; write_array can force them).
    save("v2_f4.npy", values("f4", (4, 5)), version=(2, 0))
    save("v3_i2.npy", values("i2", (3, 3)), version=(3, 0))
    # Header spellings numpy reads but no longer writes.
    arr = np.arange(6, dtype="<i4").reshape(2, 3)
    raw_npy(os.path.join(NPY, "py2_long_suffix.npy"),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }", arr.tobytes())
    raw_npy(os.path.join(NPY, "double_quotes_reordered.npy"),
            '{"shape": (2, 3), "fortran_order": False, "descr": "<i4"}', arr.tobytes())
    raw_npy(os.path.join(NPY, "align16.npy"),
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", arr.tobytes(), align=16)
    raw_npy(os.path.join(NPY, "fortran_1d.npy"),
            "{'descr': '<i4', 'fortran_order': True, 'shape': (6,), }", arr.tobytes())
    raw_npy(os.path.join(NPY, "fortran_unit_axes.npy"),
            "{'descr': '>i4', 'fortran_order': True, 'shape': (3, 1, 2), }",
            np.asfortranarray(arr.reshape(3, 1, 2)).astype(">i4").tobytes(order="F"))
    for filename in ["py2_long_suffix.npy", "double_quotes_reordered.npy", "align16.npy", "fortran_1d.npy",
                     "fortran_unit_axes.npy"]:
        expected["npy"][filename] = expectation(filename[:-4], np.load(os.path.join(NPY, filename)))

    # npz: stored, deflated, data descriptors, UTF-8 names, empty archive.
    members = {
        "enc/layer.0.weight": values("f2", (4, 8)),
        "proj": np.asfortranarray(values("f4", (3, 5))).astype(">f4", order="F"),
        "scalar": np.array(7, np.int32),
        "empty": np.zeros((0, 3), np.uint16),
        "mask": values("b1", (5,)),
    }
    positional = values("i8", (2, 2))

    def record(filename):
        with np.load(os.path.join(NPZ, filename)) as z:
            expected["npz"][filename] = [expectation(key, z[key]) for key in z.files]

    np.savez(os.path.join(NPZ, "savez.npz"), positional, **members)
    np.savez_compressed(os.path.join(NPZ, "savez_compressed.npz"), positional, **members)
    stream = NonSeekable(os.path.join(NPZ, "savez_streamed.npz"))
    np.savez(stream, positional, **members)
    stream.close()
    # Only little-endian C-ordered members: NpzWriter must reproduce this file byte for byte.
    np.savez(os.path.join(NPZ, "savez_plain.npz"), a=values("f4", (2, 3)), **{"b/c": values("u8", (4,)),
             "d": np.array(1.5, np.float64), "e": values("c8", (2,))})
    np.savez(os.path.join(NPZ, "savez_utf8_name.npz"), **{"é/π": values("i2", (3,))})
    np.savez(os.path.join(NPZ, "empty.npz"))
    for filename in ["savez.npz", "savez_compressed.npz", "savez_streamed.npz", "savez_plain.npz",
                     "savez_utf8_name.npz", "empty.npz"]:
        record(filename)

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"numpy {np.__version__}: {len(expected['npy'])} .npy and {len(expected['npz'])} .npz fixtures", file=sys.stderr)


if __name__ == "__main__":
    main()
