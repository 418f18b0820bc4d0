#!/usr/bin/env python3
"""MLX's side of the quantization benchmark (quantize_bench.py --mlx), and the mlx script it times.

As a script: what `connkit quantize IN OUT --type mlx-qB --group-size G` does, done by mlx
(`pip install "mlx[cpu]"`): load the safetensors file (mx.load), `mx.quantize` every floating tensor with at least
two dimensions larger than 1 whose rows G divides, write `X.weight` (packed), `X.scales` and `X.biases` with the
other tensors and the format/quantization metadata (mx.save_safetensors).

  venv/bin/python Benchmarks/mlx_quantize.py IN.safetensors OUT.safetensors [--bits 4] [--group-size 64]

For quantize_bench.py: `kernel_rows` times connkit's kernel (QuantizeBench --mlx) against `mx.quantize` (mx.eval
inside the timing) on the same float32 matrices, and `end_to_end_rows` the whole processes (`connkit quantize`
against this script, wall time from /usr/bin/time). Rounds alternate the two sides (the order reversed every other
round) and every figure is reported as the median and range over rounds, with the ratio taken within each round.
mlx's CPU quantizer is one sequential loop (mlx/backend/cpu/quantized.cpp), so connkit's side is timed on one
thread for the ratio; the process CPU time / wall time of the mx.quantize runs is printed as a check.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FLOATS = ("float16", "bfloat16", "float32", "float64")


def quantize_file(source, destination, bits, group_size):
    import mlx.core as mx
    arrays = mx.load(source)
    out = {}
    for name, a in arrays.items():
        candidate = str(a.dtype).split(".")[-1] in FLOATS and sum(d > 1 for d in a.shape) >= 2
        if candidate and a.shape[-1] % group_size == 0:
            w, scales, biases = mx.quantize(a, group_size=group_size, bits=bits, mode="affine")
            base = name[: -len(".weight")] if name.endswith(".weight") else name
            out[name], out[base + ".scales"], out[base + ".biases"] = w, scales, biases
        else:
            out[name] = a
    metadata = {"format": "mlx", "quantization": json.dumps({"group_size": group_size, "bits": bits, "mode": "affine"})}
    mx.save_safetensors(destination, out, metadata=metadata)


def spread(values, digits=0):
    """median [min–max]"""
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def kernel_rows(bench, shapes, bits_list, group_size, rounds, min_seconds, weights):
    """connkit's MLX kernel (1 thread fast and portable, all cores fast) against mx.quantize, rounds alternating;
    wall time, and CPU time (connkit's thread, mlx's process) for a figure less sensitive to other load."""
    import mlx.core as mx
    import numpy as np
    matrices = {shape: mx.array(weights(*shape)) for shape in shapes}
    mx.eval(*matrices.values())
    spec = ",".join(f"{r}x{c}" for r, c in shapes)
    rates = {}  # (side, shape, bits) -> [rate per round]
    cpu_share = []
    with tempfile.TemporaryDirectory() as dump:
        def connkit_round(first):
            common = [bench, "--types", "", "--mlx", ",".join(map(str, bits_list)), "--group-size", str(group_size),
                      "--shapes", spec, "--min-seconds", str(min_seconds)]
            for options, side in (([*(["--dump", dump] if first else []), "--kernels", "fast,portable"], "connkit"),
                                  (["--threads", "1", "--cpu-time"], "connkit cpu")):
                out = subprocess.run(common + options, check=True, capture_output=True, text=True)
                for r in json.loads(out.stdout)["results"]:
                    key = (f"{side} {r['kernel']} {r['threads']}", tuple(r["shape"]), int(r["op"][len("quantize-mlx-q"):]))
                    rates.setdefault(key, []).append(r["melem_per_s"])

        def mlx_round():
            for shape, x in matrices.items():
                for bits in bits_list:
                    best, best_cpu, start, runs, wall, cpu = float("inf"), float("inf"), time.perf_counter(), 0, 0.0, 0.0
                    while runs < 3 or time.perf_counter() - start < min_seconds:
                        t0, c0 = time.perf_counter(), time.process_time()
                        w, s, b = mx.quantize(x, group_size=group_size, bits=bits, mode="affine")
                        mx.eval(w, s, b)
                        elapsed, used = time.perf_counter() - t0, time.process_time() - c0
                        wall, cpu = wall + elapsed, cpu + used
                        best, best_cpu, runs = min(best, elapsed), min(best_cpu, used), runs + 1
                    rates.setdefault(("mlx", shape, bits), []).append(x.size / best / 1e6)
                    rates.setdefault(("mlx cpu", shape, bits), []).append(x.size / best_cpu / 1e6)
                    cpu_share.append(cpu / wall)

        for round in range(rounds):
            if round % 2 == 0:
                connkit_round(round == 0)
                mlx_round()
            else:
                mlx_round()
                connkit_round(False)
        # The bytes: connkit's dump of the first round against mx.quantize on the same matrix.
        for shape, x in matrices.items():
            for bits in bits_list:
                w, s, b = mx.quantize(x, group_size=group_size, bits=bits, mode="affine")
                for suffix, array in (("words", w), ("scales", s), ("biases", b)):
                    with open(os.path.join(dump, f"mlx-q{bits}-{shape[0]}x{shape[1]}.{suffix}"), "rb") as fh:
                        assert fh.read() == np.array(array).tobytes(), f"{suffix} differ from mx.quantize: {shape} q{bits}"
    cores = max(int(side.split()[-1]) for side, _, _ in rates if side.startswith("connkit"))
    print(f"\nMLX affine quantization, group size {group_size}: connkit's kernel vs mx.quantize (mlx {mx.__version__}), "
          f"million elements per second, median [range] of {rounds} rounds; codes, scales and biases byte-identical. "
          f"Wall time, best run of each round; CPU: connkit's thread CPU time against mlx's process CPU time")
    print(f"\n| shape | type | connkit, 1 thread | mx.quantize | connkit ÷ mx.quantize | CPU: connkit ÷ mx.quantize | "
          f"connkit portable, 1 thread | connkit, {cores} threads |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for shape in shapes:
        for bits in bits_list:
            one, theirs = rates[("connkit fast 1", shape, bits)], rates[("mlx", shape, bits)]
            ratios = [a / b for a, b in zip(one, theirs)]
            cpu = [a / b for a, b in zip(rates[("connkit cpu fast 1", shape, bits)], rates[("mlx cpu", shape, bits)])]
            print(f"| {shape[0]}x{shape[1]} | mlx-q{bits} | {spread(one)} | {spread(theirs)} | {spread(ratios, 2)}× | "
                  f"{spread(cpu, 2)}× | {spread(rates[('connkit portable 1', shape, bits)])} | "
                  f"{spread(rates[(f'connkit fast {cores}', shape, bits)])} |")
    print(f"\nmx.quantize: process CPU time ÷ wall time {min(cpu_share):.2f}–{max(cpu_share):.2f} (at most one core busy).")


def end_to_end_rows(connkit, inputs, bits_list, group_size, rounds, work):
    """`connkit quantize IN OUT --type mlx-qB` against this script, wall time by /usr/bin/time, rounds alternating."""
    from safetensors.numpy import load_file
    script = os.path.abspath(__file__)

    def timed(command):
        report = os.path.join(work, "time.txt")
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S", "-o", report, *command], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall, user, system = (float(v) for v in open(report).read().split()[-3:])
        return wall, user + system

    print(f"\nWhole process, `connkit quantize IN OUT --type mlx-qB` (group size {group_size}, accuracy report included) "
          f"against `python {os.path.relpath(script)}` (mx.load, mx.quantize, mx.save_safetensors); wall and CPU seconds "
          f"from /usr/bin/time, median [range] of {rounds} rounds; outputs hold the same tensors, byte for byte")
    print("\n| input | type | connkit wall (s) | mlx script wall (s) | mlx ÷ connkit (wall) | connkit CPU (s) | mlx CPU (s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, path in inputs.items():
        for bits in bits_list:
            ours, theirs = os.path.join(work, "connkit-mlx.safetensors"), os.path.join(work, "mlx.safetensors")
            sides = {
                "connkit": [connkit, "quantize", path, ours, "--type", f"mlx-q{bits}", "--group-size", str(group_size),
                            "--force", "--quiet"],
                "mlx": [sys.executable, script, path, theirs, "--bits", str(bits), "--group-size", str(group_size)],
            }
            times = {"connkit": [], "mlx": []}
            for round in range(rounds):
                for side in (("connkit", "mlx") if round % 2 == 0 else ("mlx", "connkit")):
                    times[side].append(timed(sides[side]))
            a, b = load_file(ours), load_file(theirs)
            assert sorted(a) == sorted(b) and all(a[k].tobytes() == b[k].tobytes() for k in a), f"outputs differ: {label}"
            walls = {side: [t[0] for t in v] for side, v in times.items()}
            ratios = [m / c for c, m in zip(walls["connkit"], walls["mlx"])]
            print(f"| {label} | mlx-q{bits} | {spread(walls['connkit'], 2)} | {spread(walls['mlx'], 2)} | {spread(ratios, 2)}× | "
                  f"{spread([t[1] for t in times['connkit']], 2)} | {spread([t[1] for t in times['mlx']], 2)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source")
    parser.add_argument("destination")
    parser.add_argument("--bits", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=64)
    args = parser.parse_args()
    quantize_file(args.source, args.destination, args.bits, args.group_size)


if __name__ == "__main__":
    sys.exit(main())
