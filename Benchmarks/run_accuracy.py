#!/usr/bin/env python3
"""`connkit run` against the releases' modules at their real dimensions (issue 12's accuracy figures).

Tests/Fixtures/runtime/generate.py --real writes, for every case with a release, the module's weights at
the release's dimensions (seeded), seeded features and the module's float32 output. This script runs
`connkit run` on each case's primary checkpoint with the same features and grid and reports the minimum
per-token cosine and max |Δ| / max |reference| against the issue's bounds (≥ 0.99999, ≤ 1e-4).

    swift build -c release
    /work/main/venv/bin/python Benchmarks/run_accuracy.py [--out DIR] [--only CASE...] [--connkit PATH]

The generated files (several GiB) go to --out (default Benchmarks/work/real, git-ignored); they are made
once and reused.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def per_token(reference, output):
    a = reference.reshape(-1, reference.shape[-1]).astype(np.float64)
    b = output.reshape(-1, output.shape[-1]).astype(np.float64)
    norms = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    cosine = np.where(norms > 0, (a * b).sum(-1) / np.where(norms > 0, norms, 1), 1.0)
    return float(cosine.min()), float(np.abs(a - b).max() / np.abs(a).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Benchmarks", "work", "real"))
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--connkit", default=os.path.join(ROOT, ".build", "release", "connkit"))
    args = parser.parse_args()
    manifest_path = os.path.join(args.out, "manifest.json")
    if not os.path.exists(manifest_path):
        command = [sys.executable, os.path.join(ROOT, "Tests", "Fixtures", "runtime", "generate.py"), "--real", "--out", args.out]
        subprocess.run(command, check=True)
    with open(manifest_path) as f:
        manifest = json.load(f)
    rows = []
    for case in manifest["cases"]:
        if args.only and case["name"] not in args.only:
            continue
        scheme, files = next(iter(case["checkpoints"].items()))
        out = os.path.join(args.out, case["name"], "output-connkit.npy")
        command = [args.connkit, "run", *[os.path.join(args.out, f) for f in files], "--input", os.path.join(args.out, case["input"]["file"]),
                   "--output", out, "--json"]
        if case.get("grid"):
            command += ["--grid", f"{case['grid'][0]}x{case['grid'][1]}"]
        for key, value in case.get("cli_dims", {}).get(scheme, {}).items():
            command += ["--dim", f"{key}={value}"]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            rows.append((case, scheme, None, None, f"exit {result.returncode}: {result.stderr.strip()[:200]}", seconds))
            continue
        reference = np.load(os.path.join(args.out, case["output"]["file"]))
        cosine, relative = per_token(reference, np.load(out))
        rows.append((case, scheme, cosine, relative, "", seconds))
        print(case["name"], scheme, cosine, relative, flush=True)
    print("\n| case | release | scheme | input | min per-token cosine | max abs diff / max abs ref | within bounds |")
    print("|---|---|---|---|---:|---:|---|")
    for case, scheme, cosine, relative, error, _ in rows:
        shape = "×".join(str(n) for n in case["input"]["shape"])
        if cosine is None:
            print(f"| {case['name']} | {case.get('release', '')} | {scheme} | {shape} | - | - | {error} |")
            continue
        ok = cosine >= 0.99999 and relative <= 1e-4
        print(f"| {case['name']} | {case.get('release', '')} | {scheme} | {shape} | {cosine:.9f} | {relative:.2e} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
