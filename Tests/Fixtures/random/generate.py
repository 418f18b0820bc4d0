#!/usr/bin/env python3
"""Reference values of `connkit run --random T --seed S` (README: "connkit run"), computed with numpy.

The generator: word i of seed s is splitmix64's finaliser of s + (i + 1) * 0x9E3779B97F4A7C15 (mod 2^64);
element k of the row-major [T, D] features takes words 2k and 2k+1 and is
sqrt(-2 ln u1) * cos(2 pi u2) in float64, rounded to float32, with u1 = ((w[2k] >> 11) + 1) * 2^-53 and
u2 = (w[2k+1] >> 11) * 2^-53.

    /work/main/venv/bin/python Tests/Fixtures/random/generate.py      # writes values.json beside this file
"""
import json
import os

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def random_features(seed, count, first=0):
    """Elements first ..< first + count of the features of `seed` (flat, row-major), as float32."""
    i = np.arange(2 * first, 2 * (first + count), dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (i + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    w = z ^ (z >> np.uint64(31))
    u1 = ((w[0::2] >> np.uint64(11)) + np.uint64(1)) * 2.0**-53
    u2 = (w[1::2] >> np.uint64(11)) * 2.0**-53
    return (np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)).astype(np.float32)


def main():
    cases = []
    for seed, first, count in [(0, 0, 16), (12345, 0, 16), (0, 1_000_000, 8), (2**64 - 1, 7, 8)]:
        values = random_features(seed, count, first)
        cases.append({"seed": seed, "first": first, "bits": [int(v) for v in values.view(np.uint32)],
                      "values": [float(v) for v in values]})
    # Moments of a larger draw: the generator is standard normal.
    big = random_features(0, 1 << 20).astype(np.float64)
    out = {"generator": "Tests/Fixtures/random/generate.py", "numpy": np.__version__, "cases": cases,
           "moments": {"seed": 0, "count": 1 << 20, "mean": float(big.mean()), "std": float(big.std())}}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "values.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
