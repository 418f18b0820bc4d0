#!/usr/bin/env python3
"""Mixed precision by output error (issue 13): `connkit quantize --target-cosine X` at release dimensions.

Cases (seeded weights at the release's dimensions, built with the forward-pass fixtures' transformers modules,
Tests/Fixtures/runtime; f32 safetensors with config.json; the features are connkit's seeded generator,
`--random 256 --seed 0`, so 256 evaluation tokens enter the connector):
  llava-1.5-7b    LLaVA-1.5-7B projector (1024 -> 4096 -> 4096), 256 output tokens
  blip2-opt-2.7b  BLIP-2 OPT-2.7B Q-Former (12 layers, ~100 weight matrices) + projection, 32 output tokens
  qwen2-vl-7b     Qwen2-VL-7B merger (LayerNorm 1280, MLP 5120 -> 5120 -> 3584), 64 output tokens
  idefics2-8b     Idefics2-8B connector (SwiGLU 1152 -> 14336 -> 4096, 3-layer perceiver), MLX output
                  (its transformers names exceed GGUF's 63 bytes), 64 output tokens; --cases to include it

For every case it runs the release `connkit` (2 threads, this machine's cores):
  1. each uniform ladder type with --eval: its minimum output cosine and bits per weight;
  2. for X in --targets: --target-cosine X (the knapsack search) and --target-cosine X --search greedy
     (the plain baseline: raise the most sensitive tensor until a full run meets X), each with its wall
     time, the search's own time (the report's target.seconds), the process's wall and CPU time (user + system,
     from getrusage: other jobs share this machine's two cores, so wall times drift with the load), the
     runs it made, and the bits per weight.
It checks, and prints FAIL otherwise, that every assignment meets X (the report's eval, read back from the
written file), is no larger than the smallest uniform ladder type meeting X, and no larger than greedy's.

Bits per weight are over the candidate tensors (those the selection rule quantizes: matrices, not norms,
biases, queries): 8 x their bytes written / their elements. Sizes compared are tensor bytes.

    swift build -c release --product connkit
    /work/main/venv/bin/python Benchmarks/target_bench.py [--connkit .build/release/connkit] [--cases ...] [--targets 0.999 0.9999] [--imatrix]

With --imatrix (GGUF cases), the uniform types but f16 and the knapsack search run again with --imatrix: the importance
vectors collected from the same features the figures are taken on (so these rows are not held-out figures).
"""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "target")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "runtime")

# case -> (fixture spec, output extension, uniform ladder, README label)
CASES = {
    "llava-1.5-7b": ("mlp2x_gelu", "gguf", ["q4_k", "q5_k", "q6_k", "q8_0", "f16"], "LLaVA-1.5-7B projector"),
    "blip2-opt-2.7b": ("blip2", "gguf", ["q4_k", "q5_k", "q6_k", "q8_0", "f16"], "BLIP-2 OPT-2.7B Q-Former + projection"),
    "qwen2-vl-7b": ("qwen2-vl", "gguf", ["q4_k", "q5_k", "q6_k", "q8_0", "f16"], "Qwen2-VL-7B merger"),
    "idefics2-8b": ("idefics2", "safetensors", ["mlx-q4", "mlx-q6", "mlx-q8"], "Idefics2-8B connector (MLX)"),
}


def specs():
    sys.path.insert(0, FIXTURES)
    sys.dont_write_bytecode = True
    import cases_projectors
    import cases_resamplers
    return {s.name: s for s in cases_projectors.specs() + cases_resamplers.specs()}


def prepare(case, spec):
    """Writes the case's seeded weights at the release's dimensions once; returns its folder."""
    import torch
    dims = dict(spec.real["dims"], tokens=spec.real["tokens"], grid=None)
    folder = os.path.join(WORK, case)
    stamp = os.path.join(folder, "stamp.txt")
    torch.manual_seed(0)
    built = spec.build(dims)
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in built.state.values())).hexdigest()
    if not os.path.exists(stamp) or open(stamp).read() != digest:
        os.makedirs(folder, exist_ok=True)
        files, config = spec.schemes(built.state, dims)[0].write(WORK, case)
        assert files == [f"{case}/model.safetensors"], files
        with open(stamp, "w") as f:
            f.write(digest)
    return folder


def quantize(connkit, folder, out, options):
    command = [connkit, "quantize", folder, out, "--random", "256", "--seed", "0", "--json", "--force"] + options
    start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)}: exit {result.returncode}: {result.stderr}")
    return json.loads(result.stdout), (wall, cpu), result.returncode


def candidates(report):
    """(bytes written, elements) of the tensors the quantization re-encoded (f32 input: 4 bytes each)."""
    chosen = [t for t in report["tensors"] if not t["reason"].startswith("kept")]
    return sum(t["bytes_after"] for t in chosen), sum(t["bytes_before"] // 4 for t in chosen)


def bpw(report):
    written, elements = candidates(report)
    return 8 * written / elements


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connkit", default=os.path.join(ROOT, ".build", "release", "connkit"))
    parser.add_argument("--cases", nargs="*", default=["llava-1.5-7b", "blip2-opt-2.7b", "qwen2-vl-7b"])
    parser.add_argument("--targets", nargs="*", type=float, default=[0.999, 0.9999])
    parser.add_argument("--imatrix", action="store_true",
                        help="also with --imatrix (importance vectors from the same features): uniform types and the knapsack search")
    args = parser.parse_args()
    by_name = specs()
    failures = []
    rows = []
    imatrix_rows = []
    for case in args.cases:
        name, ext, ladder, label = CASES[case]
        folder = prepare(case, by_name[name])
        out = os.path.join(WORK, case, "out." + ext)
        extra = ["--group-size", "64"] if ext == "safetensors" else []
        uniform = {}
        for t in ladder:
            report, (wall, _), status = quantize(args.connkit, folder, out, ["--type", t, "--eval"] + extra)
            written, _ = candidates(report)
            uniform[t] = dict(min=report["eval"]["features"]["cosine"]["min"], bpw=bpw(report), bytes=written,
                              tokens=report["eval"]["features"]["tokens"], wall=wall)
            print(f"{case} uniform {t}: min cosine {uniform[t]['min']:.6f}, {uniform[t]['bpw']:.3f} bpw, {wall:.1f} s", flush=True)
        for x in args.targets:
            found = {}
            for search in ("knapsack", "greedy"):
                options = ["--target-cosine", repr(x)] + (["--search", "greedy"] if search == "greedy" else []) + extra
                report, (wall, cpu), status = quantize(args.connkit, folder, out, options)
                if status != 0:
                    found[search] = None
                    print(f"{case} X={x} {search}: exit {status}: {report.get('error')}", flush=True)
                    continue
                target = report["target"]
                written, _ = candidates(report)
                found[search] = dict(bpw=bpw(report), bytes=written, min=report["eval"]["features"]["cosine"]["min"],
                                     seconds=target["seconds"], wall=wall, cpu=cpu, measurements=target["measurements"],
                                     verifications=target["verifications"], chosen_by=target["chosen_by"],
                                     types=sorted({t["type"] for t in report["tensors"] if not t["reason"].startswith("kept")}))
                print(f"{case} X={x} {search}: {found[search]}", flush=True)
                if found[search]["min"] < x:
                    failures.append(f"{case} X={x} {search}: min cosine {found[search]['min']} < X")
            knapsack, greedy = found["knapsack"], found["greedy"]
            meeting = [u["bytes"] for u in uniform.values() if u["min"] >= x]
            if knapsack and meeting and knapsack["bytes"] > min(meeting):
                failures.append(f"{case} X={x}: {knapsack['bytes']} B > smallest uniform meeting X {min(meeting)} B")
            if knapsack and greedy and knapsack["bytes"] > greedy["bytes"]:
                failures.append(f"{case} X={x}: knapsack {knapsack['bytes']} B > greedy {greedy['bytes']} B")
            rows.append((label, x, uniform, knapsack, greedy, ladder))
        if args.imatrix and ext == "gguf":
            weighted = {}
            for t in ladder[:-1]:
                report, _, _ = quantize(args.connkit, folder, out, ["--type", t, "--eval", "--imatrix"])
                weighted[t] = dict(min=report["eval"]["features"]["cosine"]["min"], bpw=bpw(report))
            for x in args.targets:
                report, (wall, cpu), status = quantize(args.connkit, folder, out, ["--target-cosine", repr(x), "--imatrix"])
                chosen = None
                if status == 0:
                    chosen = dict(bpw=bpw(report), min=report["eval"]["features"]["cosine"]["min"], seconds=report["target"]["seconds"],
                                  types=sorted({t["type"] for t in report["tensors"] if not t["reason"].startswith("kept")}))
                    if chosen["min"] < x:
                        failures.append(f"{case} X={x} --imatrix: min cosine {chosen['min']} < X")
                imatrix_rows.append((label, x, weighted, chosen))
                print(f"{case} X={x} --imatrix: {chosen}", flush=True)
    print_table(rows)
    if imatrix_rows:
        print()
        print("| connector | X | uniform with --imatrix: min cosine (bpw) | `--target-cosine X --imatrix`: bpw, min cosine, types | search s |")
        print("|---|---:|---|---|---:|")
        for label, x, weighted, chosen in imatrix_rows:
            cells = ", ".join(f"{t} {u['min']:.5f} ({u['bpw']:.2f})" for t, u in weighted.items())
            found = f"**{chosen['bpw']:.2f}**, {chosen['min']:.5f}, {'+'.join(chosen['types'])}" if chosen else "unreachable"
            print(f"| {label} | {x} | {cells} | {found} | {chosen['seconds']:.1f} |" if chosen else f"| {label} | {x} | {cells} | {found} | - |")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


def print_table(rows):
    print()
    print("| connector | X | uniform: min cosine (bpw) | `--target-cosine X`: bpw, min cosine, types | search s (process wall s, CPU s) | runs: single / full | greedy: bpw, search s |")
    print("|---|---:|---|---|---:|---:|---:|")
    for label, x, uniform, knapsack, greedy, ladder in rows:
        cells = ", ".join(f"{t} {u['min']:.5f} ({u['bpw']:.2f})" for t, u in uniform.items())
        if knapsack:
            chosen = f"**{knapsack['bpw']:.2f}**, {knapsack['min']:.5f}, {'+'.join(knapsack['types'])}"
            timing = f"{knapsack['seconds']:.1f} ({knapsack['wall']:.1f}, {knapsack['cpu']:.1f})"
            runs = f"{knapsack['measurements']} / {knapsack['verifications']}"
        else:
            chosen, timing, runs = "unreachable", "-", "-"
        baseline = f"{greedy['bpw']:.2f}, {greedy['seconds']:.1f}" if greedy else "-"
        print(f"| {label} | {x} | {cells} | {chosen} | {timing} | {runs} | {baseline} |")


if __name__ == "__main__":
    sys.exit(main())
