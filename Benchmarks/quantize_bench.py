#!/usr/bin/env python3
"""Quantization throughput: connkit vs ggml vs gguf-py, measured in the same run.

  venv/bin/python Benchmarks/quantize_bench.py [--types q8_0,q4_0,q4_k,q6_k] [--shapes 4096x4096] [--end-to-end]
  venv/bin/python Benchmarks/quantize_bench.py --no-build --baseline OTHER/.build/release/QuantizeBench

* connkit: the QuantizeBench executable (Benchmarks/QuantizeBench, release build) times the in-process
  kernels (`GGMLBlocks.quantize`, NaN/inf scan included) with 1 thread and with all cores.
* ggml: one `ggml_quantize_chunk` call over the whole matrix (libggml-base.so from llama-cpp-python,
  single-threaded: ggml_quantize_chunk has no threads of its own), timed twice: by QuantizeBench in its
  own process right after connkit's kernel (dlopen; the column the ratio uses, as both are measured
  under the same machine load), and through ctypes from this script.
* gguf-py: `gguf.quants.quantize` (numpy; legacy types only: gguf-py has no k-quant quantizer).
* casts: connkit's f32 -> f16/bf16 (CConnkit) vs numpy's astype (f16) and gguf-py's BF16 quantizer.

All sides quantize the same float32 matrices (sum of four uniforms minus 2, times 0.02, from a
counter-based splitmix64 that QuantizeBench reproduces), shapes 4096x4096 and the LLaVA-1.5-7B
projector (fc1 4096x1024, fc2 4096x4096). Each figure is the best of repeated runs (million elements
per second); connkit's timings and ggml's alternate in bursts inside QuantizeBench. Prints a Markdown
table and the machine's own multi-core ceiling measured in the same run (memory read bandwidth on 1 and
all cores, speed-up of a register-only vector loop).

With --baseline OTHER/QuantizeBench it only compares this checkout's kernels with another build's (an A/B
in the same rounds, one thread, fast and portable kernels, thread CPU time); e.g. main's, built from
`git archive main` in a scratch folder.

With --end-to-end it also times whole files (release `connkit` from the repository root): a 4096x4096
f32 safetensors file and a LLaVA-1.5-7B-shaped f16 projector (mm_projector.0/2 weights and biases),
`connkit quantize IN OUT.gguf --type T` (the accuracy report included) next to the Python pipeline
safetensors.numpy.load_file + quantizer + gguf.GGUFWriter, with gguf-py's quantizer (legacy types) and
with ggml_quantize_chunk through ctypes; wall time, best of --runs.

With --mlx 2,3,4,6,8 it adds MLX affine rows (mlx_quantize.py; mlx[cpu] installed): connkit's MLX kernel
(QuantizeBench --mlx) against `mx.quantize` on the same matrices and the same thread count, and with
--end-to-end `connkit quantize IN OUT.safetensors --type mlx-qB` against the mlx script mlx_quantize.py on the
same two files (--mlx-e2e-bits, default 4,8), --rounds rounds alternating the sides, medians and ranges.
--no-ggml leaves out the ggml rows.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_PACKAGE = os.path.join(HERE, "QuantizeBench")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def ggml_type(name):
    """The type's ggml id and (block elements, block bytes), from gguf-py's tables."""
    import gguf
    qtype = gguf.GGMLQuantizationType[name.upper()]
    return int(qtype), gguf.GGML_QUANT_SIZES[qtype]


def weights(rows, columns):
    count = rows * columns
    with np.errstate(over="ignore"):
        z = np.uint64(0x5EED) + np.arange(1, 4 * count + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    u = u.reshape(4, count)
    x = ((((u[0] + u[1]) + u[2]) + u[3]) - np.float32(2.0)) * np.float32(0.02)
    return x.reshape(rows, columns)


def best_time(fn, min_seconds):
    best = float("inf")
    start = time.perf_counter()
    runs = 0
    while runs < 2 or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        runs += 1
    return best


def load_ggml():
    import llama_cpp
    lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", help="comma-separated (default: every type connkit quantizes to)")
    parser.add_argument("--shapes", default="4096x4096,4096x1024")
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--end-to-end", action="store_true", help="also time whole-file quantization")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlx", help="comma-separated MLX widths: add MLX affine rows (see mlx_quantize.py)")
    parser.add_argument("--mlx-e2e-bits", default="4,8", help="MLX widths of the whole-process rows")
    parser.add_argument("--group-size", type=int, default=64, help="MLX group size")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the MLX rows")
    parser.add_argument("--no-ggml", action="store_true", help="only the MLX rows")
    parser.add_argument("--baseline", help="another QuantizeBench binary (say, a release build of the main "
                        "branch's Benchmarks/QuantizeBench): only an A/B of the kernels, see ab_kernels")
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]

    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release"], cwd=BENCH_PACKAGE, check=True,
                       stdout=subprocess.DEVNULL)
    import llama_cpp
    ggml_path = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so")
    bench = os.path.join(BENCH_PACKAGE, ".build", "release", "QuantizeBench")
    type_option = ["--types", args.types] if args.types else []
    if args.baseline:
        ab_kernels(bench, args.baseline, type_option, args)
        return
    if args.mlx:
        mlx_rows(bench, shapes, args)
    if args.no_ggml:
        return
    out = subprocess.run([bench, *type_option, "--shapes", args.shapes, "--min-seconds",
                          str(args.min_seconds), "--casts", "--machine", "--ggml", ggml_path], check=True,
                         capture_output=True, text=True)
    connkit = {}
    in_process_ggml = {}
    machine = {}
    for r in json.loads(out.stdout)["results"]:
        if r["op"].startswith("machine-"):
            machine[(r["op"], r["threads"])] = r
        elif "blocks_differing_from_ggml" in r:  # QuantizeBench's byte comparison with ggml
            assert r["blocks_differing_from_ggml"] == 0, r
        elif r["kernel"] == "ggml":
            in_process_ggml[(r["op"], tuple(r["shape"]))] = r["melem_per_s"]
        else:
            connkit[(r["op"], tuple(r["shape"]), r["threads"])] = r["melem_per_s"]
    cores = max(t for (_, _, t) in connkit)
    # The types in QuantizeBench's order (by default every type connkit quantizes to).
    types = list(dict.fromkeys(op[len("quantize-"):] for (op, _, _) in connkit if op.startswith("quantize-")))

    import gguf
    from gguf.quants import quantize as gguf_quantize
    lib = load_ggml()
    rows_out = []
    raw = []
    for shape in shapes:
        x = np.ascontiguousarray(weights(*shape))
        n = x.size
        for name in types:
            type_id, (block_elements, block_bytes) = ggml_type(name)
            dst = np.empty(n // block_elements * block_bytes, np.uint8)
            t = best_time(lambda: lib.ggml_quantize_chunk(type_id, x.ctypes.data, dst.ctypes.data, 0,
                                                          shape[0], shape[1], None), args.min_seconds)
            ggml_rate = n / t / 1e6
            qtype = getattr(gguf.GGMLQuantizationType, name.upper())
            try:
                t = best_time(lambda: gguf_quantize(x, qtype), args.min_seconds)
                gguf_rate = n / t / 1e6
            except NotImplementedError:
                gguf_rate = None
            one = connkit[("quantize-" + name, shape, 1)]
            many = connkit[("quantize-" + name, shape, cores)]
            same_process = in_process_ggml[("quantize-" + name, shape)]
            rows_out.append((f"{shape[0]}x{shape[1]}", name, one, many, same_process, ggml_rate, gguf_rate))
            raw.append({"shape": shape, "type": name, "connkit_1": one, f"connkit_{cores}": many,
                        "ggml_in_process": same_process, "ggml_ctypes": ggml_rate, "gguf_py": gguf_rate})
        # casts
        t = best_time(lambda: x.astype(np.float16), args.min_seconds)
        numpy_f16 = n / t / 1e6
        t = best_time(lambda: gguf_quantize(x, gguf.GGMLQuantizationType.BF16), args.min_seconds)
        gguf_bf16 = n / t / 1e6
        rows_out.append((f"{shape[0]}x{shape[1]}", "cast f32->f16", connkit[("cast-f32-f16", shape, 1)], None,
                         None, None, numpy_f16))
        rows_out.append((f"{shape[0]}x{shape[1]}", "cast f32->bf16", connkit[("cast-f32-bf16", shape, 1)], None,
                         None, None, gguf_bf16))

    def fmt(v):
        return "-" if v is None else f"{v:.0f}"

    print(f"| shape | type | connkit, 1 thread | connkit, {cores} threads | speed-up | ggml, 1 thread | connkit ÷ ggml | "
          f"ggml via ctypes | gguf-py / numpy | connkit ÷ gguf-py |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for shape, name, one, many, same_process, ctypes_rate, py in rows_out:
        ratio_ggml = f"{one / same_process:.2f}×" if same_process else "-"
        ratio_py = f"{one / py:.1f}×" if py else "-"
        speedup = f"{many / one:.2f}×" if many else "-"
        print(f"| {shape} | {name} | {fmt(one)} | {fmt(many)} | {speedup} | {fmt(same_process)} | {ratio_ggml} | "
              f"{fmt(ctypes_rate)} | {fmt(py)} | {ratio_py} |")
    read_1, read_n = machine.get(("machine-read", 1)), machine.get(("machine-read", cores))
    vector_n = machine.get(("machine-vector", cores))
    if read_1 and read_n and vector_n:
        print(f"\nThe machine in the same run (`QuantizeBench --machine`): memory reads {read_1['gb_per_s']:.1f} GB/s on "
              f"1 core and {read_n['gb_per_s']:.1f} GB/s on {cores} ({read_n['speed_up']:.2f}×); a register-only "
              f"AVX2 loop runs {vector_n['speed_up']:.2f}× faster on {cores} cores than on one.")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"kernels": raw, "machine": list(machine.values())}, fh, indent=1)
    if args.end_to_end:
        end_to_end(types, args, lib)


def ab_kernels(bench, baseline, type_option, args):
    """This checkout's kernels against another build's in the same rounds: one thread, the fast and the
    portable kernels, timed in thread CPU time (`--cpu-time`, so the other work of a shared machine costs
    less), the two binaries alternating and their order reversed every other round; best of --runs rounds,
    then this ÷ baseline per type, shape and kernel."""
    best = {}
    for round in range(args.runs):
        sides = [("baseline", baseline), ("connkit", bench)]
        for side, binary in (sides if round % 2 == 0 else sides[::-1]):
            out = subprocess.run([binary, *type_option, "--shapes", args.shapes, "--threads", "1", "--kernels",
                                  "fast,portable", "--min-seconds", str(args.min_seconds), "--cpu-time"],
                                 check=True, capture_output=True, text=True)
            for r in json.loads(out.stdout)["results"]:
                key = (side, r["op"][len("quantize-"):], "x".join(map(str, r["shape"])), r["kernel"])
                best[key] = max(best.get(key, 0), r["melem_per_s"])
    print("| shape | type | kernel | baseline M/s | connkit M/s | connkit ÷ baseline |")
    print("|---|---|---|---:|---:|---:|")
    for (side, name, shape, kernel), rate in best.items():
        if side == "connkit":
            base = best[("baseline", name, shape, kernel)]
            print(f"| {shape} | {name} | {kernel} | {base:.0f} | {rate:.0f} | {rate / base:.2f}× |")


def mlx_rows(bench, shapes, args):
    """MLX affine rows: the kernel against mx.quantize and, with --end-to-end, the whole processes."""
    import mlx_quantize
    bits = [int(b) for b in args.mlx.split(",")]
    mlx_quantize.kernel_rows(bench, shapes, bits, args.group_size, args.rounds, args.min_seconds / 4, weights)
    if args.end_to_end:
        connkit, work, inputs = end_to_end_inputs(args)
        mlx_quantize.end_to_end_rows(connkit, {label: path for label, (path, _) in inputs.items()},
                                     [int(b) for b in args.mlx_e2e_bits.split(",")], args.group_size, args.rounds, work)


def end_to_end_inputs(args):
    """The release connkit (built unless --no-build), the work folder, and the whole-file inputs (written once):
    label -> (path, tensors)."""
    import safetensors.numpy as st
    root = os.path.dirname(HERE)
    work = os.path.join(HERE, "work")
    os.makedirs(work, exist_ok=True)
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "connkit"], cwd=root, check=True,
                       stdout=subprocess.DEVNULL)
    connkit = os.path.join(root, ".build", "release", "connkit")
    inputs = {
        "4096x4096 f32": (os.path.join(work, "square-f32.safetensors"),
                          {"weight": weights(4096, 4096)}),
        "LLaVA-1.5-7B projector f16": (os.path.join(work, "llava-projector-f16.safetensors"), {
            "model.mm_projector.0.weight": weights(4096, 1024).astype(np.float16),
            "model.mm_projector.0.bias": weights(1, 4096).reshape(4096).astype(np.float16),
            "model.mm_projector.2.weight": weights(4096, 4096).astype(np.float16),
            "model.mm_projector.2.bias": weights(1, 4096).reshape(4096).astype(np.float16),
        }),
    }
    for path, tensors in inputs.values():
        if not os.path.exists(path):
            st.save_file(tensors, path)
    return connkit, work, inputs


def end_to_end(types, args, lib):
    import gguf
    import safetensors.numpy as st
    from gguf.quants import quantize as gguf_quantize
    connkit, work, inputs = end_to_end_inputs(args)

    def python_pipeline(path, out, name, use_ggml):
        qtype = getattr(gguf.GGMLQuantizationType, name.upper())
        type_id, (block_elements, block_bytes) = ggml_type(name)
        writer = gguf.GGUFWriter(out, "tensors")
        for key, array in st.load_file(path).items():
            x = np.ascontiguousarray(array, dtype=np.float32)
            if x.ndim < 2:
                writer.add_tensor(key, x)
                continue
            if use_ggml:
                q = np.empty((x.shape[0], x.shape[1] // block_elements * block_bytes), np.uint8)
                lib.ggml_quantize_chunk(type_id, x.ctypes.data, q.ctypes.data, 0, x.shape[0], x.shape[1], None)
            else:
                q = gguf_quantize(x, qtype)
            writer.add_tensor(key, q, raw_dtype=qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    def best(fn):
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    print()
    print("| input | type | connkit quantize (s) | Python + ggml (s) | Python + gguf-py (s) |")
    print("|---|---|---:|---:|---:|")
    for label, (path, _) in inputs.items():
        for name in types:
            out = os.path.join(work, "out.gguf")
            t_connkit = best(lambda: subprocess.run([connkit, "quantize", path, out, "--type", name, "--force", "--quiet"],
                                                    check=True, stdout=subprocess.DEVNULL))
            t_ggml = best(lambda: python_pipeline(path, os.path.join(work, "py.gguf"), name, True))
            try:
                t_py = f"{best(lambda: python_pipeline(path, os.path.join(work, 'py.gguf'), name, False)):.2f}"
            except NotImplementedError:
                t_py = "-"
            print(f"| {label} | {name} | {t_connkit:.2f} | {t_ggml:.2f} | {t_py} |")


if __name__ == "__main__":
    sys.exit(main())
