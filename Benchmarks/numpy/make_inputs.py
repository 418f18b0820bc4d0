#!/usr/bin/env python3
"""Inputs of Benchmarks/numpy/bench.sh, written by numpy, plus numpy's own timings for the same work.
   make_inputs.py WORKDIR"""
import os
import sys
import time

import numpy as np

work = sys.argv[1]
os.chdir(work)
rng = np.random.default_rng(0)
arrays = {f"layer.{i}.weight": rng.standard_normal((1024, 2621), dtype=np.float32).astype(np.float16) for i in range(200)}
t = time.time(); np.savez("big.npz", **arrays); print(f"numpy: np.savez of 1 GiB / 200 tensors        {time.time() - t:.2f} s")
small = dict(list(arrays.items())[:25])
np.savez_compressed("small_c.npz", **small)
square = np.arange(8192 * 8192, dtype=np.float32).reshape(8192, 8192)
np.save("be.npy", square.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(square))
for name in ["big.npz", "small_c.npz"]:
    t = time.time()
    with np.load(name) as z:
        for key in z.files:
            z[key]
    print(f"numpy: np.load of every array of {name:12s}   {time.time() - t:.2f} s")
t = time.time(); np.ascontiguousarray(np.load("be.npy").astype("<f4")); print(f"numpy: load + byte-swap 256 MiB (be.npy)        {time.time() - t:.2f} s")
t = time.time(); np.ascontiguousarray(np.load("fortran.npy")); print(f"numpy: load + C-order copy 256 MiB (fortran)   {time.time() - t:.2f} s")
