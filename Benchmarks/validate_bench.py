#!/usr/bin/env python3
"""`connkit validate` benchmark (issue 4), release build.

1. Header-only work: a whole LLaVA-NeXT-7B checkpoint at its real dimensions (every tensor of
   transformers' LlavaNextForConditionalGeneration, ~15 GB of f16) in 4 safetensors shards with an index,
   the data regions left as holes. `connkit validate DIR --no-values` finds the connector among the
   tensors and checks every shape; it must take milliseconds and touch nothing but the headers.
2. Value checks: a Qwen2-VL-7B merger (44.6 M parameters) with real values, in f16 and in bf16, scanned
   for NaN/Inf, zero/constant weights and f16 overflow; next to numpy doing the same statistics on the
   same file (safetensors.numpy.load_file + isnan/isinf/abs().max()).

Wall time and peak RSS of each process, best of N runs, page cache warm.

    swift build -c release
    /path/to/venv/bin/python Benchmarks/validate_bench.py [--runs 5]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "validate")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")

REFERENCE_SCAN = r"""
import sys
import numpy as np
import ml_dtypes
from safetensors.numpy import load_file
stats = {}
for name, array in load_file(sys.argv[1]).items():
    values = array.astype(np.float32)
    finite = values[np.isfinite(values)]
    stats[name] = (int(np.isnan(values).sum()), int(np.isinf(values).sum()), int((values == 0).sum()),
                   float(np.abs(finite).max()) if finite.size else 0.0)
print(len(stats))
"""


def timed(command):
    # Peak RSS from GNU time: a forked child's ru_maxrss would include this (large) Python process's
    # pages from before the exec.
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    stderr = result.stderr.decode().strip().splitlines()
    if result.returncode not in (0, 1):
        raise SystemExit(f"{command} failed ({result.returncode}): {stderr}")
    return elapsed, int(stderr[-1]) / 1024  # KiB -> MiB


def best(command, runs):
    results = [timed(command) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def sharded_checkpoint():
    import torch
    import transformers
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration
    transformers.logging.set_verbosity_error()
    folder = os.path.join(WORK, "llava-next-7b-sharded")
    if os.path.exists(os.path.join(folder, "model.safetensors.index.json")):
        return folder
    os.makedirs(folder, exist_ok=True)
    config = LlavaNextConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                           num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
        text_config=dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, vocab_size=32064))
    config.save_pretrained(folder)
    with torch.device("meta"):
        model = LlavaNextForConditionalGeneration(config)
    tensors = [(name, list(t.shape)) for name, t in model.state_dict().items()]
    shards = 4
    per = (len(tensors) + shards - 1) // shards
    weight_map = {}
    for s in range(shards):
        part = tensors[s * per:(s + 1) * per]
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        header, offset = {}, 0
        for tensor, shape in part:
            size = int(np.prod(shape)) * 2
            header[tensor] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
            offset += size
            weight_map[tensor] = name
        text = json.dumps(header).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            f.truncate(8 + len(text) + offset)  # the data: a hole of the right length
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return folder


def merger(dtype):
    import ml_dtypes
    from safetensors.numpy import save_file
    path = os.path.join(WORK, f"qwen2-vl-7b-merger-{dtype}.safetensors")
    if os.path.exists(path):
        return path
    os.makedirs(WORK, exist_ok=True)
    rng = np.random.default_rng(0)
    np_dtype = np.float16 if dtype == "f16" else ml_dtypes.bfloat16
    shapes = {"model.visual.merger.ln_q.weight": [1280], "model.visual.merger.ln_q.bias": [1280],
              "model.visual.merger.mlp.0.weight": [5120, 5120], "model.visual.merger.mlp.0.bias": [5120],
              "model.visual.merger.mlp.2.weight": [3584, 5120], "model.visual.merger.mlp.2.bias": [3584]}
    save_file({name: (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np_dtype) for name, shape in shapes.items()}, path)
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(CONNKIT):
        raise SystemExit("build first: swift build -c release")
    folder = sharded_checkpoint()
    logical = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    on_disk = sum(os.stat(os.path.join(folder, f)).st_blocks * 512 for f in os.listdir(folder))
    wall, rss = best([CONNKIT, "validate", folder, "--no-values"], args.runs)
    print(f"validate --no-values, LLaVA-NeXT-7B sharded ({logical / 2**30:.1f} GiB logical, {on_disk / 2**20:.1f} MiB on disk): "
          f"{wall * 1000:.0f} ms, peak RSS {rss:.0f} MiB")
    for dtype in ["f16", "bf16"]:
        path = merger(dtype)
        size = os.path.getsize(path)
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL)  # warm the page cache
        wall, rss = best([CONNKIT, "validate", path], args.runs)
        ref_wall, ref_rss = best([sys.executable, "-c", REFERENCE_SCAN, path], args.runs)
        print(f"validate with value checks, Qwen2-VL-7B merger {dtype} ({size / 2**20:.0f} MiB): connkit {wall * 1000:.0f} ms "
              f"(peak RSS {rss:.0f} MiB); numpy statistics {ref_wall * 1000:.0f} ms (peak RSS {ref_rss:.0f} MiB)")


if __name__ == "__main__":
    main()
