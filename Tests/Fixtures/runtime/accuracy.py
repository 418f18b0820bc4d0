#!/usr/bin/env python3
"""`connkit run` against the reference outputs of a fixture folder (the committed one, or one written by
`generate.py --real --out DIR`): per case and naming scheme, the minimum per-token cosine similarity
(double precision), max |Δ| relative to max |reference|, and whether every scheme of a case gave the
same output bits. Prints a Markdown table (README figures) and exits 1 when a case misses the issue's
bounds (cosine >= 0.99999, max |Δ| <= 1e-4 * max |reference|).

    /work/main/venv/bin/python Tests/Fixtures/runtime/accuracy.py [--fixtures DIR] [--connkit PATH] [--primary-only]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_COSINE = 0.99999
MAX_RELATIVE = 1e-4


def per_token_cosine(reference, output):
    a = reference.reshape(-1, reference.shape[-1]).astype(np.float64)
    b = output.reshape(-1, output.shape[-1]).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    denominator = np.where(na * nb > 0, na * nb, 1.0)
    return np.where(both_zero, 1.0, np.where(na * nb > 0, (a * b).sum(1) / denominator, 0.0))


def run(connkit, root, entry, scheme, out):
    command = [connkit, "run", *[os.path.join(root, f) for f in entry["checkpoints"][scheme]],
               "--input", os.path.join(root, entry["input"]["file"]), "--output", out]
    if entry["grid"]:
        command += ["--grid", f"{entry['grid'][0]}x{entry['grid'][1]}"]
    for key, value in entry["cli_dims"].get(scheme, {}).items():
        command += ["--dim", f"{key}={value}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
    return np.load(out), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", default=HERE)
    parser.add_argument("--connkit", default=os.path.join(HERE, "../../../.build/release/connkit"))
    parser.add_argument("--primary-only", action="store_true", help="only the first scheme of each case")
    args = parser.parse_args()
    root = os.path.abspath(args.fixtures)
    connkit = os.path.abspath(args.connkit)
    help_text = subprocess.run([connkit, "--help"], capture_output=True, text=True).stdout
    if "run" not in help_text.split("SUBCOMMANDS:", 1)[-1].split():
        sys.exit(f"{connkit} has no `run` command")
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    failures = 0
    print("| case | release | scheme | tokens in → out | min cosine | max abs diff / max abs ref | schemes bit-identical |")
    print("|---|---|---|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for entry in manifest["cases"]:
            reference = np.load(os.path.join(root, entry["output"]["file"]))
            scale = float(np.abs(reference).max()) or 1.0
            outputs = {}
            schemes = list(entry["checkpoints"])[:1 if args.primary_only else None]
            for scheme in schemes:
                out = os.path.join(scratch, f"{entry['name']}-{scheme}.npy")
                output, error = run(connkit, root, entry, scheme, out)
                if error is not None:
                    expected = scheme in entry.get("expect_invalid", {})
                    failures += 0 if expected else 1
                    print(f"| {entry['name']} | {entry.get('release', '')} | {scheme} | | {'(expected) ' if expected else ''}{error} | | |")
                    continue
                if output.shape != reference.shape:
                    failures += 1
                    print(f"| {entry['name']} | | {scheme} | shape {list(output.shape)} ≠ {list(reference.shape)} | | | |")
                    continue
                outputs[scheme] = output
                cosine = float(per_token_cosine(reference, output).min())
                relative = float(np.abs(output.astype(np.float64) - reference).max()) / scale
                ok = cosine >= MIN_COSINE and relative <= MAX_RELATIVE
                failures += 0 if ok else 1
                first = next(iter(outputs.values()))
                same = "yes" if all(np.array_equal(o.view(np.uint32), first.view(np.uint32)) for o in outputs.values()) else "NO"
                failures += 1 if same == "NO" else 0
                tokens = f"{entry['input']['shape'][-2]} → {entry['output']['shape'][-2]}"
                print(f"| {entry['name']} | {entry.get('release', '')} | {scheme} | {tokens} | {cosine:.7f} | {relative:.1e}"
                      f"{'' if ok else ' FAIL'} | {same if len(outputs) > 1 else ''} |")
    print(f"\n{failures} case(s) outside cosine >= {MIN_COSINE}, max |Δ| <= {MAX_RELATIVE} × max |reference|")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
