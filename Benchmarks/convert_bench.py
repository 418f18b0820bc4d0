#!/usr/bin/env python3
"""Conversion benchmark (issue 2): a ~1 GiB f16 safetensors file with ~200 tensors converted to GGUF and
to f32 safetensors by connkit (release build) and by the Python reference pipeline (safetensors +
gguf-py + numpy), next to `cp` of the input (the floor for a lossless conversion) and `cp` of a file
the size of the f32 output (the floor for a cast). Wall time and peak RSS of each process, measured in
the same run, in N rounds. Before every run the page cache is reset the same way for everyone: dirty
pages synced, clean ones dropped when permitted (root), then the inputs read once, so each case starts
with warm inputs and the same free memory (reclaiming a full page cache made write(2) times vary 5x).

    swift build -c release
    /path/to/venv/bin/python Benchmarks/convert_bench.py [--gib 1.0] [--tensors 200] [--runs 3]
                                                          [--baseline OTHER/connkit] [--no-python]

--baseline adds the same three conversions by another connkit binary (say, a release build of the main
branch) to every round and reports connkit / baseline within each round: an A/B on the same machine state.
--no-python leaves out the (slow) Python reference pipelines.
"""
import argparse
import os
import resource
import statistics
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")

REFERENCE_GGUF = r"""
import sys, gguf
from safetensors.numpy import load_file
tensors = load_file(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], "tensors")
for name, array in tensors.items():
    w.add_tensor(name, array)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
"""

REFERENCE_F32 = r"""
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
tensors = load_file(sys.argv[1])
save_file({name: array.astype(np.float32) for name, array in tensors.items()}, sys.argv[2])
"""


def make_input(path, gib, count):
    if os.path.exists(path):
        return
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    total = int(gib * (1 << 30)) // 2  # f16 elements
    rows = 1024
    cols = max(32, (total // count // rows) // 32 * 32)
    tensors = {f"model.layers.{i}.weight": rng.standard_normal((rows, cols), dtype=np.float32).astype(np.float16)
               for i in range(count)}
    save_file(tensors, path, metadata={"format": "pt"})


def reset_page_cache(warm):
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError:
        pass  # not root: rely on sync alone
    for path in warm:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


def median_ratio(times, case, floor):
    """The median over rounds of case's time over floor's in the same round (drift between rounds cancels)."""
    return statistics.median(a / b for a, b in zip(times[case], times[floor]))


def measure(argv, runs, warm=(), output=None):
    """Best wall time and the peak RSS of the child over `runs` runs. Every run writes a new file, as `cp`
    does: replacing an existing one (`--force`) makes ext4 start writeback of the new file at rename
    (its auto_da_alloc safeguard), which would measure the disk rather than the conversion."""
    best_time, best_rss = float("inf"), 0
    for _ in range(runs):
        if output and os.path.exists(output):
            os.remove(output)
        reset_page_cache(warm)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {proc.stderr.decode()}")
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, max over all children so far
        best_time = min(best_time, elapsed)
        best_rss = max(best_rss, rss if rss > before else 0)
    return best_time, best_rss


def peak_rss(argv):
    """Peak RSS of one run, via /usr/bin/time (ru_maxrss of RUSAGE_CHILDREN is a running maximum)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(proc.stderr.decode().strip().splitlines()[-1]) * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--tensors", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="another connkit binary to measure in the same rounds")
    parser.add_argument("--no-python", action="store_true", help="leave out the Python reference pipelines")
    args = parser.parse_args()
    if not os.path.exists(CONNKIT):
        sys.exit("build connkit first: swift build -c release")
    os.makedirs(WORK, exist_ok=True)
    source = os.path.join(WORK, "input-f16.safetensors")
    make_input(source, args.gib, args.tensors)
    size = os.path.getsize(source)
    f32_size = 2 * size
    floor_f32 = os.path.join(WORK, "floor-f32.bin")
    if not os.path.exists(floor_f32) or os.path.getsize(floor_f32) != f32_size:
        with open(floor_f32, "wb") as f:
            f.truncate(f32_size)
        with open(floor_f32, "r+b") as f:  # real blocks, not a sparse file
            chunk = os.urandom(1 << 20)
            for _ in range(f32_size >> 20):
                f.write(chunk)

    out = lambda name: os.path.join(WORK, name)

    python = sys.executable
    cases = [
        ("cp input (lossless floor)", ["cp", source, out("cp.safetensors")]),
        ("cp f32-sized file (cast floor)", ["cp", floor_f32, out("cp-f32.bin")]),
        ("connkit -> gguf", [CONNKIT, "convert", source, out("ck.gguf"), "--force", "--quiet"]),
        ("connkit -> safetensors (copy)", [CONNKIT, "convert", source, out("ck.safetensors"), "--force", "--quiet"]),
        ("connkit -> f32 safetensors", [CONNKIT, "convert", source, out("ck-f32.safetensors"), "--dtype", "f32", "--force", "--quiet"]),
    ]
    if args.baseline:
        cases += [
            ("baseline -> gguf", [args.baseline, "convert", source, out("base.gguf"), "--force", "--quiet"]),
            ("baseline -> safetensors (copy)", [args.baseline, "convert", source, out("base.safetensors"), "--force", "--quiet"]),
            ("baseline -> f32 safetensors", [args.baseline, "convert", source, out("base-f32.safetensors"), "--dtype", "f32",
                                             "--force", "--quiet"]),
        ]
    if not args.no_python:
        cases += [
            ("safetensors + gguf-py -> gguf", [python, "-c", REFERENCE_GGUF, source, out("py.gguf")]),
            ("safetensors + numpy -> f32 safetensors", [python, "-c", REFERENCE_F32, source, out("py-f32.safetensors")]),
        ]
    print(f"input: {size / (1 << 30):.2f} GiB, {args.tensors} f16 tensors; {args.runs} rounds, "
          "cases interleaved within each round")
    outputs = {label: (argv[-1] if argv[0] in ("cp", python) else argv[3]) for label, argv in cases}
    times = {label: [] for label, _ in cases}
    # Rounds outside, cases inside: this machine's disk and page-cache allocation speed drift by several
    # times over minutes, so each ratio is taken within a round (against the floor measured minutes
    # apart at most) and the median over rounds is reported, next to each case's best time.
    # Every other round runs the cases in reverse order: a run is slowed by the page cache its predecessor
    # left behind (seen as a steady 10% in favour of whichever binary ran second in an A/B).
    for round in range(args.runs):
        for label, argv in (cases if round % 2 == 0 else cases[::-1]):
            wall, _ = measure(argv, 1, warm=(source, floor_f32), output=outputs[label])
            times[label].append(wall)
            os.remove(outputs[label])
    print(f"{'case':42s} {'best s':>8s} {'median s':>9s} {'peak RSS':>10s} {'RSS/input':>10s}")
    for label, argv in cases:
        reset_page_cache((source, floor_f32))
        rss = peak_rss(argv)
        os.remove(outputs[label])
        print(f"{label:42s} {min(times[label]):8.2f} {statistics.median(times[label]):9.2f} "
              f"{rss / (1 << 20):8.0f} MiB {rss / size:9.1%}")

    def ratio(case, floor):
        return median_ratio(times, case, floor)
    print()
    print("median over rounds of the ratio within a round:")
    print(f"connkit -> gguf / cp input:               {ratio('connkit -> gguf', 'cp input (lossless floor)'):.2f}x")
    print(f"connkit copy / cp input:                  {ratio('connkit -> safetensors (copy)', 'cp input (lossless floor)'):.2f}x")
    print(f"connkit -> f32 / cp f32-sized file:       {ratio('connkit -> f32 safetensors', 'cp f32-sized file (cast floor)'):.2f}x")
    if not args.no_python:
        print(f"gguf-py pipeline / connkit -> gguf:       {ratio('safetensors + gguf-py -> gguf', 'connkit -> gguf'):.2f}x")
        print(f"numpy f32 pipeline / connkit -> f32:      {ratio('safetensors + numpy -> f32 safetensors', 'connkit -> f32 safetensors'):.2f}x")
    if args.baseline:
        for kind in ("-> gguf", "-> safetensors (copy)", "-> f32 safetensors"):
            print(f"connkit / baseline {kind:24s} {ratio('connkit ' + kind, 'baseline ' + kind):.2f}x")

if __name__ == "__main__":
    main()
