#!/usr/bin/env python3
"""ONNX reading benchmark (issue 15): the same ~1 GiB of f16 tensors (~200) as an ONNX model with the weights
embedded (raw_data), as an ONNX model with external data (save_model(save_as_external_data=True)), and as
safetensors. For each: `connkit inspect` and `connkit convert` to safetensors (release build), wall time
(best of N) and peak RSS (/usr/bin/time), warm page cache; and onnx.load of both models for reference.

protobuf-c unpacks the whole ModelProto and copies bytes fields, so embedded weights cost about twice the
file while it unpacks; the script checks connkit's peak RSS against 2 x the file + 64 MiB (and prints it).

    swift build -c release
    /path/to/venv/bin/python Benchmarks/onnx_bench.py [--gib 1.0] [--tensors 200] [--runs 3]
"""
import argparse
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "onnx")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")
ONNX_LOAD = ("import sys, onnx, onnx.numpy_helper as h; m = onnx.load(sys.argv[1]); "
             "sum(float(h.to_array(t).astype('float32').sum()) for t in m.graph.initializer)")


def make_inputs(gib, count):
    import onnx
    from onnx import helper, numpy_helper
    from safetensors.numpy import save_file
    paths = {"embedded": os.path.join(WORK, "embedded.onnx"),
             "external": os.path.join(WORK, "external", "model.onnx"),
             "safetensors": os.path.join(WORK, "input.safetensors")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    os.makedirs(os.path.dirname(paths["external"]), exist_ok=True)
    rng = np.random.default_rng(0)
    total = int(gib * (1 << 30)) // 2
    rows = 1024
    cols = max(32, (total // count // rows) // 32 * 32)
    arrays = {f"model.layers.{i}.weight": rng.standard_normal((rows, cols), dtype=np.float32).astype(np.float16)
              for i in range(count)}
    save_file(arrays, paths["safetensors"])
    initializers = [numpy_helper.from_array(a, name) for name, a in arrays.items()]
    graph = helper.make_graph([helper.make_node("Identity", [next(iter(arrays))], ["out"])], "bench", [], [],
                              initializer=initializers)
    model = helper.make_model(graph, producer_name="connkit bench")
    onnx.save_model(model, paths["embedded"])
    onnx.save_model(model, paths["external"], save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data")
    return paths


def measure(command, runs):
    """Best wall time and the peak RSS of that run (KiB), from /usr/bin/time."""
    best = None
    for _ in range(runs):
        result = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{command} failed: {result.stderr}")
        seconds, kib = result.stderr.strip().splitlines()[-1].split()
        if best is None or float(seconds) < best[0]:
            best = (float(seconds), int(kib))
    return best


def main():
    parser = argparse.ArgumentParser(description="ONNX reading: embedded and external weights vs safetensors")
    parser.add_argument("--gib", type=float, default=1.0, help="size of the weights")
    parser.add_argument("--tensors", type=int, default=200, help="how many f16 tensors")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (best wall time)")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    paths = make_inputs(args.gib, args.tensors)
    sizes = {name: os.path.getsize(p) for name, p in paths.items()}
    sizes["external"] += os.path.getsize(os.path.join(os.path.dirname(paths["external"]), "model.onnx.data"))
    out = os.path.join(WORK, "out.safetensors")
    print(f"{'input':12} {'file MiB':>9} {'inspect s':>10} {'RSS MiB':>8} {'convert s':>10} {'RSS MiB':>8} "
          f"{'onnx.load+sum s':>16} {'RSS MiB':>8}")
    limit_ok = True
    for name in ("embedded", "external", "safetensors"):
        path = paths[name]
        inspect = measure([CONNKIT, "inspect", path], args.runs)
        convert = measure([CONNKIT, "convert", path, out, "--force", "--quiet"], args.runs)
        reference = measure([sys.executable, "-c", ONNX_LOAD, path], 1) if name != "safetensors" else None
        mib = sizes[name] / (1 << 20)
        peak = max(inspect[1], convert[1]) / 1024
        line = (f"{name:12} {mib:9.0f} {inspect[0]:10.2f} {inspect[1] / 1024:8.0f} {convert[0]:10.2f} "
                f"{convert[1] / 1024:8.0f}")
        if reference:
            line += f" {reference[0]:16.2f} {reference[1] / 1024:8.0f}"
        print(line)
        if name == "embedded":
            bound = 2 * mib + 64
            print(f"  embedded: peak RSS {peak:.0f} MiB = {peak / mib:.2f} x the file; bound 2 x file + 64 MiB = {bound:.0f} MiB")
            limit_ok = peak <= bound
    os.remove(out)
    if not limit_ok:
        sys.exit("peak RSS above 2 x the file + 64 MiB")


if __name__ == "__main__":
    main()
