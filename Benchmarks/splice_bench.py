#!/usr/bin/env python3
"""Splice benchmark (issue 14): `connkit splice` of a ~600 MiB mmproj — a CLIP ViT-L/14-336 encoder in f16
with a LLaVA-1.5-7B MLP projector, laid out as llama.cpp's legacy converter writes it — against `cp` of the
base (the floor: the base's tensors must be copied) and against the Python way of doing the same with
gguf-py (read the mmproj, swap the projector's tensors, write a new file). Wall time and peak RSS, measured
in the same run, in rounds with the cases interleaved; before every run the page cache is reset the same
way for everyone (dirty pages synced, clean ones dropped when permitted, the inputs read once), and each
ratio is taken within a round (this machine's write speed into the page cache drifts over minutes), the
median over rounds reported.

    swift build -c release
    /path/to/venv/bin/python Benchmarks/splice_bench.py [--runs 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
from convert_bench import median_ratio, reset_page_cache  # noqa: E402  (the same page-cache reset and ratios for every benchmark)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "splice")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")

REFERENCE = r"""
import sys
import numpy as np
import gguf
from safetensors.numpy import load_file
base, connector, out = sys.argv[1:4]
new = load_file(connector)
names = {"model.mm_projector.0.weight": "mm.0.weight", "model.mm_projector.0.bias": "mm.0.bias",
         "model.mm_projector.2.weight": "mm.2.weight", "model.mm_projector.2.bias": "mm.2.bias"}
replaced = {names[k]: v for k, v in new.items()}
reader = gguf.GGUFReader(base)
writer = gguf.GGUFWriter(out, arch="clip")
for key, field in reader.fields.items():
    if key.startswith("GGUF.") or key == "general.architecture":
        continue
    kind = field.types[0]
    writer.add_key_value(key, field.contents(), kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
for tensor in reader.tensors:
    data = replaced.get(tensor.name)
    if data is None:
        data = tensor.data
    elif data.ndim == 1:
        data = data.astype(np.float32)
    writer.add_tensor(tensor.name, np.asarray(data))
writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
"""


def make_inputs(base, connector):
    """The base as convert_image_encoder_to_gguf.py lays out CLIP ViT-L/14-336 + LLaVA-1.5-7B's projector
    (2-D and 4-D weights f16, the rest f32), and a different f16 projector in LLaVA's names."""
    import gguf
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    if not os.path.exists(base):
        width, ffn, layers, llm = 1024, 4096, 23, 4096  # the legacy converter drops the last of 24 layers
        writer = gguf.GGUFWriter(base, arch="clip")
        writer.add_bool("clip.has_text_encoder", False)
        writer.add_bool("clip.has_vision_encoder", True)
        writer.add_bool("clip.has_llava_projector", True)
        writer.add_file_type(1)
        writer.add_string("clip.projector_type", "mlp")
        for key, value in [("clip.vision.image_size", 336), ("clip.vision.patch_size", 14), ("clip.vision.embedding_length", width),
                           ("clip.vision.feed_forward_length", ffn), ("clip.vision.projection_dim", 768),
                           ("clip.vision.attention.head_count", 16), ("clip.vision.block_count", layers)]:
            writer.add_uint32(key, value)
        writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
        writer.add_array("clip.vision.image_mean", [0.48145466, 0.4578275, 0.40821073])
        writer.add_array("clip.vision.image_std", [0.26862954, 0.26130258, 0.27577711])
        writer.add_bool("clip.use_gelu", False)

        def f16(*shape):
            return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)

        def f32(*shape):
            return rng.standard_normal(shape, dtype=np.float32) * 0.02
        writer.add_tensor("mm.0.weight", f16(llm, width))
        writer.add_tensor("mm.0.bias", f32(llm))
        writer.add_tensor("mm.2.weight", f16(llm, llm))
        writer.add_tensor("mm.2.bias", f32(llm))
        writer.add_tensor("v.class_embd", f32(width))
        writer.add_tensor("v.patch_embd.weight", f16(width, 3, 14, 14))
        writer.add_tensor("v.position_embd.weight", f16(577, width))
        writer.add_tensor("v.pre_ln.weight", f32(width))
        writer.add_tensor("v.pre_ln.bias", f32(width))
        for i in range(layers):
            for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
                writer.add_tensor(f"v.blk.{i}.{name}.weight", f16(width, width))
                writer.add_tensor(f"v.blk.{i}.{name}.bias", f32(width))
            writer.add_tensor(f"v.blk.{i}.ffn_down.weight", f16(ffn, width))
            writer.add_tensor(f"v.blk.{i}.ffn_down.bias", f32(ffn))
            writer.add_tensor(f"v.blk.{i}.ffn_up.weight", f16(width, ffn))
            writer.add_tensor(f"v.blk.{i}.ffn_up.bias", f32(width))
            for norm in ("ln1", "ln2"):
                writer.add_tensor(f"v.blk.{i}.{norm}.weight", f32(width))
                writer.add_tensor(f"v.blk.{i}.{norm}.bias", f32(width))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    if not os.path.exists(connector):
        save_file({"model.mm_projector.0.weight": (rng.standard_normal((4096, 1024), dtype=np.float32) * 0.02).astype(np.float16),
                   "model.mm_projector.0.bias": (rng.standard_normal(4096, dtype=np.float32) * 0.02).astype(np.float16),
                   "model.mm_projector.2.weight": (rng.standard_normal((4096, 4096), dtype=np.float32) * 0.02).astype(np.float16),
                   "model.mm_projector.2.bias": (rng.standard_normal(4096, dtype=np.float32) * 0.02).astype(np.float16)},
                  connector, metadata={"format": "pt"})


def timed(argv, warm):
    reset_page_cache(warm)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-2000:]}")
    return elapsed


def peak_rss(argv, warm):
    reset_page_cache(warm)
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return int(proc.stderr.decode().strip().splitlines()[-1]) * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(CONNKIT):
        sys.exit("build connkit first: swift build -c release")
    os.makedirs(WORK, exist_ok=True)
    base, connector = os.path.join(WORK, "base-mmproj-f16.gguf"), os.path.join(WORK, "mm_projector.safetensors")
    make_inputs(base, connector)
    warm = (base, connector)
    out = lambda name: os.path.join(WORK, name)
    cases = [
        ("cp base (floor)", ["cp", base, out("cp.gguf")], out("cp.gguf")),
        ("connkit splice", [CONNKIT, "splice", base, connector, "-o", out("ck.gguf"), "--quiet"], out("ck.gguf")),
        ("connkit splice --type q4_k", [CONNKIT, "splice", base, connector, "-o", out("ck-q4k.gguf"), "--type", "q4_k", "--quiet"],
         out("ck-q4k.gguf")),
        ("gguf-py rewrite", [sys.executable, "-c", REFERENCE, base, connector, out("py.gguf")], out("py.gguf")),
    ]
    size = os.path.getsize(base)
    print(f"base: {size / (1 << 20):.0f} MiB, {args.runs} rounds, cases interleaved within each round")
    times = {label: [] for label, _, _ in cases}
    for _ in range(args.runs):
        for label, argv, output in cases:
            if os.path.exists(output):
                os.remove(output)
            times[label].append(timed(argv, warm))
            os.remove(output)
    print(f"{'case':30s} {'best s':>8s} {'median s':>9s} {'peak RSS':>10s}")
    for label, argv, output in cases:
        rss = peak_rss(argv, warm)
        os.remove(output)
        print(f"{label:30s} {min(times[label]):8.2f} {statistics.median(times[label]):9.2f} {rss / (1 << 20):8.0f} MiB")

    print()
    print("median over rounds of the ratio within a round:")
    print(f"connkit splice / cp base:              {median_ratio(times, 'connkit splice', 'cp base (floor)'):.2f}x")
    print(f"connkit splice --type q4_k / cp base:  {median_ratio(times, 'connkit splice --type q4_k', 'cp base (floor)'):.2f}x")
    print(f"gguf-py rewrite / connkit splice:      {median_ratio(times, 'gguf-py rewrite', 'connkit splice'):.2f}x")


if __name__ == "__main__":
    main()
