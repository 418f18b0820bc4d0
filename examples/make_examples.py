#!/usr/bin/env python3
"""Writes the small example checkpoints in examples/ (scaled-down dimensions, seeded random values).

    /work/venv/bin/python examples/make_examples.py

Each checkpoint uses the names of a real naming scheme; dimensions are shrunk so the files stay a few
kilobytes. `broken-llava-tiny` is deliberately wrong (README.md, "Examples", says how).
The graph descriptions in examples/graphs/ are exported by connkit itself
(`connkit describe FAMILY --variant V --graph-json`).
"""

import json
import os

import gguf
import numpy as np
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240601)


def w(*shape, dtype=np.float16):
    return (rng.standard_normal(shape) * 0.02).astype(dtype)


def ones(n, dtype=np.float16):
    return (1.0 + rng.standard_normal(n) * 0.01).astype(dtype)


def folder(name):
    path = os.path.join(HERE, name)
    os.makedirs(path, exist_ok=True)
    return path


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def llava(name, broken=False):
    """LLaVA-1.5 in the original repository's layout: mlp2x_gelu projector + a (tiny) LLM embedding."""
    d_enc, d_llm = 64, 128
    tensors = {
        "model.embed_tokens.weight": w(64, d_llm),
        "model.mm_projector.0.weight": w(d_llm, d_enc),
        "model.mm_projector.0.bias": w(d_llm),
        "model.mm_projector.2.weight": w(d_llm, d_llm),
        "model.mm_projector.2.bias": w(d_llm),
    }
    if broken:
        # A projector trained for a 96-wide LLM, a NaN from a diverged step, and a stray tensor.
        tensors["model.mm_projector.2.weight"] = w(96, 96)
        tensors["model.mm_projector.0.weight"][3, 5] = np.nan
        tensors["model.mm_projector.3.weight"] = w(d_llm)
    path = folder(name)
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(path, "config.json"), {
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava", "hidden_size": d_llm, "intermediate_size": 344,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 64, "mm_hidden_size": d_enc,
        "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
        "mm_patch_merge_type": "flat", "torch_dtype": "float16"})


def qwen2_vl_merger():
    """Qwen2-VL merger in transformers' >= 4.52 layout, bf16, with its config (vision_config.hidden_size is the LLM width)."""
    import ml_dtypes  # noqa: F401  (numpy bfloat16)
    d_enc, d_llm = 32, 96
    bf16 = ml_dtypes.bfloat16
    merged = d_enc * 4
    tensors = {
        "model.visual.merger.ln_q.weight": ones(d_enc, bf16),
        "model.visual.merger.ln_q.bias": w(d_enc, dtype=bf16),
        "model.visual.merger.mlp.0.weight": w(merged, merged, dtype=bf16),
        "model.visual.merger.mlp.0.bias": w(merged, dtype=bf16),
        "model.visual.merger.mlp.2.weight": w(d_llm, merged, dtype=bf16),
        "model.visual.merger.mlp.2.bias": w(d_llm, dtype=bf16),
    }
    path = folder("qwen2-vl-merger-tiny")
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(path, "config.json"), {
        "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
        "vision_config": {"model_type": "qwen2_vl", "embed_dim": d_enc, "hidden_size": d_llm, "depth": 2, "num_heads": 2,
                          "spatial_merge_size": 2, "patch_size": 14, "temporal_patch_size": 2},
        "text_config": {"model_type": "qwen2_vl_text", "hidden_size": d_llm, "num_hidden_layers": 2}})


def blip2_lavis():
    """A two-layer BLIP-2 Q-Former in LAVIS names (cross-attention on layer 0, projection `opt_proj`)."""
    d_enc, h, ffn, q, d_llm = 40, 24, 48, 8, 64
    t = {"query_tokens": w(1, q, h), "Qformer.bert.embeddings.LayerNorm.weight": ones(h, np.float32),
         "Qformer.bert.embeddings.LayerNorm.bias": w(h, dtype=np.float32),
         "Qformer.bert.embeddings.position_ids": np.arange(512, dtype=np.int64).reshape(1, 512)}
    for i in range(2):
        p = f"Qformer.bert.encoder.layer.{i}."
        for part in ["attention"] + (["crossattention"] if i % 2 == 0 else []):
            kv = d_enc if part == "crossattention" else h
            t[p + part + ".self.query.weight"] = w(h, h, dtype=np.float32)
            t[p + part + ".self.query.bias"] = w(h, dtype=np.float32)
            t[p + part + ".self.key.weight"] = w(h, kv, dtype=np.float32)
            t[p + part + ".self.key.bias"] = w(h, dtype=np.float32)
            t[p + part + ".self.value.weight"] = w(h, kv, dtype=np.float32)
            t[p + part + ".self.value.bias"] = w(h, dtype=np.float32)
            t[p + part + ".output.dense.weight"] = w(h, h, dtype=np.float32)
            t[p + part + ".output.dense.bias"] = w(h, dtype=np.float32)
            t[p + part + ".output.LayerNorm.weight"] = ones(h, np.float32)
            t[p + part + ".output.LayerNorm.bias"] = w(h, dtype=np.float32)
        t[p + "intermediate_query.dense.weight"] = w(ffn, h, dtype=np.float32)
        t[p + "intermediate_query.dense.bias"] = w(ffn, dtype=np.float32)
        t[p + "output_query.dense.weight"] = w(h, ffn, dtype=np.float32)
        t[p + "output_query.dense.bias"] = w(h, dtype=np.float32)
        t[p + "output_query.LayerNorm.weight"] = ones(h, np.float32)
        t[p + "output_query.LayerNorm.bias"] = w(h, dtype=np.float32)
    t["opt_proj.weight"] = w(d_llm, h, dtype=np.float32)
    t["opt_proj.bias"] = w(d_llm, dtype=np.float32)
    save_file(t, os.path.join(HERE, "blip2-tiny-lavis.safetensors"))


def minicpmv_mmproj():
    """A MiniCPM-V-2.6-style resampler as llama.cpp's mmproj stores it (q/k/v split, proj as [out, in])."""
    d_enc, e, q = 48, 128, 16
    path = os.path.join(HERE, "minicpmv-tiny-mmproj.gguf")
    writer = gguf.GGUFWriter(path, arch="clip")
    writer.add_type("mmproj")
    writer.add_string("clip.projector_type", "resampler")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_int32("clip.minicpmv_version", 3)
    writer.add_uint32("clip.minicpmv_query_num", q)
    writer.add_uint32("clip.vision.embedding_length", d_enc)
    tensors = [("resampler.query", w(q, e, dtype=np.float32)), ("resampler.kv.weight", w(e, d_enc)),
               ("resampler.pos_embed_k", w(16, e, dtype=np.float32))]
    for part in "qkv":
        tensors += [(f"resampler.attn.{part}.weight", w(e, e)), (f"resampler.attn.{part}.bias", w(e, dtype=np.float32))]
    tensors += [("resampler.attn.out.weight", w(e, e)), ("resampler.attn.out.bias", w(e, dtype=np.float32))]
    for ln in ["q", "kv", "post"]:
        tensors += [(f"resampler.ln_{ln}.weight", ones(e, np.float32)), (f"resampler.ln_{ln}.bias", w(e, dtype=np.float32))]
    tensors.append(("resampler.proj.weight", w(e, e)))
    for name, data in tensors:
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def idefics3():
    """Idefics3 connector (pixel shuffle 2, one Linear) in transformers names, with its config."""
    d_enc, d_llm, s = 32, 64, 2
    path = folder("idefics3-tiny")
    save_file({"model.connector.modality_projection.proj.weight": w(d_llm, d_enc * s * s)}, os.path.join(path, "model.safetensors"))
    write_json(os.path.join(path, "config.json"), {
        "architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "scale_factor": s,
        "vision_config": {"model_type": "idefics3_vision", "hidden_size": d_enc, "image_size": 112, "patch_size": 14},
        "text_config": {"model_type": "llama", "hidden_size": d_llm, "num_hidden_layers": 2}})


def make_readable():
    for root, _, files in os.walk(HERE):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


if __name__ == "__main__":
    llava("llava-1.5-tiny")
    llava("broken-llava-tiny", broken=True)
    qwen2_vl_merger()
    blip2_lavis()
    minicpmv_mmproj()
    idefics3()
    make_readable()
