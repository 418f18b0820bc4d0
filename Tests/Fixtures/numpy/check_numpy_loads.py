#!/usr/bin/env python3
"""Dev check (not part of `swift test`): numpy loads what connkit's NpyWriter / NpzWriter / ZipWriter write.

    venv/bin/python Tests/Fixtures/numpy/check_numpy_loads.py

Runs the Swift round-trip tests with CONNKIT_NUMPY_EXPORT set, so they leave their outputs in a folder, then loads
every file with np.load (allow_pickle=False) and compares names, dtypes, shapes and bytes with what numpy itself read
from the original fixtures (expected.json). Also runs zipfile.testzip() (every CRC) on each archive."""
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def main():
    expected = json.load(open(os.path.join(HERE, "expected.json")))
    by_name = {}
    for filename, entry in expected["npy"].items():
        by_name[entry["name"]] = entry
    for filename, entries in expected["npz"].items():
        for entry in entries:
            by_name[filename[:-4] + "/" + entry["name"]] = entry

    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, CONNKIT_NUMPY_EXPORT=out)
        run = subprocess.run(["swift", "test", "--filter", "NumpyWriterTests"], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(run.stdout + run.stderr)
        checked = 0

        def compare(name, arr):
            nonlocal checked
            want = by_name[name]
            assert list(arr.shape) == want["shape"], (name, arr.shape, want["shape"])
            assert arr.dtype.byteorder in "<|=", (name, arr.dtype)
            got = np.ascontiguousarray(arr).tobytes().hex()
            assert got == want["hex"], name
            checked += 1

        with zipfile.ZipFile(os.path.join(out, "all.npz")) as z:
            assert z.testzip() is None
        with np.load(os.path.join(out, "all.npz"), allow_pickle=False) as z:
            for key in z.files:
                compare(key, z[key])
        for filename in sorted(os.listdir(out)):
            if filename.endswith(".npy"):
                compare(filename[:-4].replace("__", "/"), np.load(os.path.join(out, filename), allow_pickle=False))
        with zipfile.ZipFile(os.path.join(out, "many.zip")) as z:
            assert z.testzip() is None
            names = z.namelist()
            assert len(names) == 65537 and names[-1] == "m65536" and z.read("m65536") == b"\x01\x02\x03"
        print(f"numpy {np.__version__} loads all {checked} arrays connkit wrote (all.npz + one .npy each) with the "
              f"expected values; zipfile verifies every CRC, including a 65537-member Zip64 archive")


if __name__ == "__main__":
    sys.exit(main())
