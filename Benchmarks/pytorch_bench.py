#!/usr/bin/env python3
"""PyTorch reading benchmark (issue 5): the same ~1 GiB of f16 tensors (~200) as safetensors, as a torch.save
zip `.bin`, as a legacy `.bin`, and as a `.bin` whose tensors are all transposed views (strided, gathered
on read). For each: reading every tensor's bytes through connkit's readers (`read_tensors.swift`, built
here with `swiftc -O`; the byte checksums must agree across formats), `connkit inspect`, `connkit convert`
to safetensors and to f32 safetensors (release build), and torch.load / safetensors' loader for
reference. Wall time (best of N runs) and peak RSS, warm page cache.

    swift build -c release
    /path/to/venv/bin/python Benchmarks/pytorch_bench.py [--gib 1.0] [--tensors 200] [--runs 3]
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")

TORCH_LOAD = "import sys, torch; sd = torch.load(sys.argv[1], weights_only=True); sum(t.sum().item() for t in sd.values())"
SAFETENSORS_LOAD = ("import sys, safetensors.torch as st; sd = st.load_file(sys.argv[1]); "
                    "sum(t.sum().item() for t in sd.values())")


def make_inputs(gib, count):
    import torch
    import safetensors.torch as st
    paths = {name: os.path.join(WORK, name) for name in
             ("input.safetensors", "input.bin", "input-legacy.bin", "input-views.bin")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    total = int(gib * (1 << 30)) // 2  # f16 elements
    rows = 1024
    cols = max(32, (total // count // rows) // 32 * 32)
    tensors = {f"model.layers.{i}.weight": torch.from_numpy(
        rng.standard_normal((rows, cols), dtype=np.float32).astype(np.float16)) for i in range(count)}
    st.save_file(tensors, paths["input.safetensors"])
    torch.save(tensors, paths["input.bin"])
    torch.save(tensors, paths["input-legacy.bin"], _use_new_zipfile_serialization=False)
    # Same logical tensors, each stored as the transpose of a contiguous (cols, rows) tensor.
    views = {name: t.t().contiguous().t() for name, t in tensors.items()}
    assert not next(iter(views.values())).is_contiguous()
    torch.save(views, paths["input-views.bin"])
    return paths


def build_reader():
    """Compiles Benchmarks/read_tensors.swift against TensorFormats (like Tests/Fuzz/build.sh, with -O)."""
    import glob
    work = os.path.join(WORK, "bin")
    binary = os.path.join(work, "read_tensors")
    sources = sorted(glob.glob(os.path.join(ROOT, "Sources", "TensorFormats", "**", "*.swift"), recursive=True))
    main = os.path.join(ROOT, "Benchmarks", "read_tensors.swift")
    newest = max(os.path.getmtime(p) for p in sources + [main])
    if os.path.exists(binary) and os.path.getmtime(binary) > newest:
        return binary
    os.makedirs(os.path.join(work, "cconnkit"), exist_ok=True)
    with open(os.path.join(work, "cconnkit", "module.modulemap"), "w") as f:
        f.write(f'module CConnkit {{\n    header "{ROOT}/Sources/CConnkit/include/CConnkit.h"\n    export *\n}}\n')
    flags = ["-O", "-I", os.path.join(work, "cconnkit"), "-I", os.path.join(ROOT, "Sources", "CZlib")]
    objects = []
    for c in glob.glob(os.path.join(ROOT, "Sources", "CConnkit", "*.c")):
        o = os.path.join(work, os.path.basename(c)[:-2] + ".o")
        subprocess.run(["clang", "-O2", "-I", os.path.join(ROOT, "Sources", "CConnkit", "include"), "-c", c, "-o", o],
                       check=True)
        objects.append(o)
    subprocess.run(["swiftc"] + flags + ["-parse-as-library", "-module-name", "TensorFormats", "-emit-module",
                    "-emit-module-path", os.path.join(work, "TensorFormats.swiftmodule"), "-emit-library", "-static",
                    "-o", os.path.join(work, "libTensorFormats.a")] + sources, check=True)
    subprocess.run(["swiftc"] + flags + ["-parse-as-library", "-I", work, "-L", work, "-lTensorFormats"] + objects
                   + ["-lz", main, "-o", binary], check=True)
    return binary


def read_all(reader, source, runs):
    """Best in-process time to read every tensor, the byte count and checksum, and peak RSS."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", reader, source, str(runs)], capture_output=True, text=True,
                          check=True)
    seconds, count, checksum = proc.stdout.split()
    return float(seconds), int(count), checksum, int(proc.stderr.strip().splitlines()[-1]) * 1024


def measure(argv, runs):
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
        best = min(best, elapsed)
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss = int(proc.stderr.decode().strip().splitlines()[-1]) * 1024
    return best, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--tensors", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-python", action="store_true", help="skip the torch/safetensors reference loads")
    args = parser.parse_args()
    if not os.path.exists(CONNKIT):
        sys.exit("build connkit first: swift build -c release")
    os.makedirs(WORK, exist_ok=True)
    paths = make_inputs(args.gib, args.tensors)
    for path in paths.values():  # warm the page cache
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    reader = build_reader()
    out = os.path.join(WORK, "out.safetensors")
    size = os.path.getsize(paths["input.safetensors"])
    print(f"input: {size / (1 << 30):.2f} GiB, {args.tensors} f16 tensors; best of {args.runs} runs, warm page cache")
    print(f"{'case':46s} {'wall s':>8s} {'peak RSS':>10s}")
    results = {}
    for label, key in [("safetensors", "input.safetensors"), ("torch zip .bin", "input.bin"),
                       ("legacy .bin", "input-legacy.bin"), ("zip .bin, transposed views", "input-views.bin")]:
        source = paths[key]
        seconds, count, checksum, rss = read_all(reader, source, args.runs)
        results[(label, "read every tensor")] = seconds
        checksums = results.setdefault("checksums", set())
        checksums.add((count, checksum))
        print(f"{label + ': read every tensor':46s} {seconds:8.2f} {rss / (1 << 20):8.0f} MiB")
        cases = [
            ("inspect", [CONNKIT, "inspect", source]),
            ("convert -> safetensors", [CONNKIT, "convert", source, out, "--force", "--quiet"]),
            ("convert -> f32 safetensors", [CONNKIT, "convert", source, out, "--dtype", "f32", "--force", "--quiet"]),
        ]
        if not args.no_python:
            reference = SAFETENSORS_LOAD if key.endswith(".safetensors") else TORCH_LOAD
            cases.append(("python load + sum (" + ("safetensors" if key.endswith(".safetensors") else "torch.load") + ")",
                          [sys.executable, "-c", reference, source]))
        for what, argv in cases:
            wall, rss = measure(argv, args.runs)
            results[(label, what)] = wall
            print(f"{label + ': ' + what:46s} {wall:8.2f} {rss / (1 << 20):8.0f} MiB")
    print()
    if len(results["checksums"]) != 1:
        sys.exit(f"the formats gave different bytes: {results['checksums']}")
    for what in ("read every tensor", "convert -> safetensors", "convert -> f32 safetensors"):
        base = results[("safetensors", what)]
        for label in ("torch zip .bin", "legacy .bin", "zip .bin, transposed views"):
            print(f"{what}: {label} / safetensors = {results[(label, what)] / base:.2f}x")
    if os.path.exists(out):
        os.remove(out)

    # Header-bound case: 50,000 small tensors (a big pickle, many storage records).
    import torch
    many = {f"layers.{i}.attn.w{j}": torch.zeros(2) for i in range(5000) for j in range(10)}
    print()
    for label, path, zip_format in [("50,000 tensors, zip", os.path.join(WORK, "many.pt"), True),
                                    ("50,000 tensors, legacy", os.path.join(WORK, "many-legacy.pt"), False)]:
        if not os.path.exists(path):
            torch.save(many, path, _use_new_zipfile_serialization=zip_format)
        wall, rss = measure([CONNKIT, "inspect", "--json", path], args.runs)
        print(f"{label + ': connkit inspect':46s} {wall:8.2f} {rss / (1 << 20):8.0f} MiB")
        if not args.no_python:
            wall, rss = measure([sys.executable, "-c", "import sys, torch; torch.load(sys.argv[1], weights_only=True)", path], 1)
            print(f"{label + ': torch.load':46s} {wall:8.2f} {rss / (1 << 20):8.0f} MiB")


if __name__ == "__main__":
    main()
