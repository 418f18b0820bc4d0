#!/usr/bin/env python3
"""Dump tensor names and shapes of real connector implementations, for connkit's graph tests.

Run with the project venv (torch, transformers, gguf installed):

    /work/venv/bin/python Tests/Fixtures/graph/dump_meta_models.py

Writes, next to this script:
  meta/<release>__<scheme>.json  one per release and naming scheme: every tensor name with its shape
                                 (row-major), the expected detection (family, variant, scheme, dims)
                                 and, for mmproj files, the GGUF metadata.
  configs/<release>/config.json  configs written by transformers' save_pretrained for each key variant.
  class_defaults.json            transformers' __init__ defaults for the keys connkit's config reader
                                 falls back to when a (transformers 4.x) config leaves them out.

Where the names come from:
  * transformers models are instantiated on the meta device at the published dimensions of each
    release, so names and shapes are exactly what `save_pretrained` would write (no weights needed).
  * "hf-legacy" names (checkpoints saved before transformers 4.52) are the new names with the renames
    of transformers' own `conversion_mapping.py` undone (e.g. `^multi_modal_projector` ->
    `model.multi_modal_projector`, `^visual` -> `model.visual`).
  * LAVIS names undo the renames of transformers' `convert_blip_2_original_to_pytorch.py` /
    `convert_instructblip_original_to_pytorch.py` (`Qformer.bert` -> `qformer`, `attention.self` ->
    `attention.attention`, `{opt,t5,llm}_proj` -> `language_projection`).
  * Original LLaVA names undo `convert_llava_weights_to_hf.py` (`model.mm_projector.0/2` ->
    `multi_modal_projector.linear_1/2`).
  * llama.cpp mmproj names: gguf-py's `TensorNameMap` (MODEL_ARCH.MMPROJ) where it covers the
    tensor; the legacy LLaVA / MobileVLM rules of `convert_image_encoder_to_gguf.py` otherwise
    (`model.mm_projector` -> `mm`, HF `linear_1`/`linear_2` -> `mm.0`/`mm.2`, `image_newline` ->
    `model.image_newline`, every tensor squeezed); MiniCPM-V's `minicpmv-convert-image-encoder-to-gguf.py`
    split of `attn.in_proj_*` into `attn.{q,k,v}` and transpose of `proj`.
  * Modules whose code lives outside transformers (OpenFlamingo helpers.py, MiniCPM-V / Qwen-VL
    resamplers, MobileVLM vision_projector.py, Yi-VL builder.py) are rebuilt here module-for-module
    from those files (attribute names and constructor arguments only) and instantiated on the meta
    device, so their state_dict names are PyTorch's own.
"""

import json
import os
import re
import sys

import torch
import torch.nn as nn
import transformers
from transformers import (
    Blip2Config, Blip2ForConditionalGeneration, IdeficsConfig, IdeficsForVisionText2Text, Idefics2Config,
    Idefics2ForConditionalGeneration, Idefics3Config, Idefics3ForConditionalGeneration, InstructBlipConfig,
    InstructBlipForConditionalGeneration, InternVLConfig, InternVLForConditionalGeneration, LlamaConfig, LlamaForCausalLM,
    LlavaConfig, LlavaForConditionalGeneration, LlavaNextConfig, LlavaNextForConditionalGeneration, Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration, Qwen2VLConfig, Qwen2VLForConditionalGeneration, SmolVLMConfig,
    SmolVLMForConditionalGeneration, CLIPVisionConfig, CLIPVisionModel,
)
import gguf
from gguf import MODEL_ARCH, get_tensor_name_map

HERE = os.path.dirname(os.path.abspath(__file__))
META = os.path.join(HERE, "meta")
CONFIGS = os.path.join(HERE, "configs")
transformers.logging.set_verbosity_error()


def shapes_of(module):
    return [(name, list(t.shape)) for name, t in module.state_dict().items()]


# Encoder and LLM layers beyond the first two are dropped from the fixtures to keep them small; the
# connector's own layers are always kept whole.
CONNECTOR = re.compile(r"perceiver|qformer|Qformer|gated_cross|resampler|merger|mm_projector|multi_modal_projector|connector|attn_pool|mlp1")
DEEP_LAYER = re.compile(r"\.(layers|blocks|layer|h|blk)\.([2-9]|\d\d+)\.")


def write(release, scheme, tensors, expect, source, metadata=None, fmt="safetensors"):
    os.makedirs(META, exist_ok=True)
    total = len(tensors)
    tensors = [(n, s) for n, s in tensors if CONNECTOR.search(n) or not DEEP_LAYER.search(n)]
    doc = {
        "release": release,
        "scheme": scheme,
        "format": fmt,
        "source": source,
        "transformers": transformers.__version__,
        "expect": expect,
        "metadata": metadata or {},
        "dropped_deep_layer_tensors": total - len(tensors),
        "tensors": tensors,
    }
    path = os.path.join(META, f"{release}__{scheme}.json")
    with open(path, "w") as f:
        # One tensor per line keeps diffs readable.
        f.write("{\n")
        for key in ["release", "scheme", "format", "source", "transformers", "expect", "metadata", "dropped_deep_layer_tensors"]:
            f.write(f"  {json.dumps(key)}: {json.dumps(doc[key], sort_keys=True)},\n")
        f.write('  "tensors": [\n')
        f.write(",\n".join(f"    [{json.dumps(n)}, {json.dumps(s)}]" for n, s in tensors))
        f.write("\n  ]\n}\n")
    print(f"{path}: {len(tensors)} of {total} tensors")


def save_config(release, config):
    path = os.path.join(CONFIGS, release)
    os.makedirs(path, exist_ok=True)
    config.save_pretrained(path)
    # transformers also writes a generation_config.json for some classes; keep only config.json.
    for extra in os.listdir(path):
        if extra != "config.json":
            os.remove(os.path.join(path, extra))


def meta(cls, config):
    with torch.device("meta"):
        return cls(config)


def rename(tensors, rules):
    """Applies (regex, replacement) rules, the first that matches per name."""
    out = []
    for name, shape in tensors:
        for pattern, replacement in rules:
            if re.search(pattern, name):
                name = re.sub(pattern, replacement, name, count=1)
                break
        out.append((name, shape))
    return out


def keep(tensors, pattern):
    return [(n, s) for n, s in tensors if re.search(pattern, n)]


# --- CLIP vision towers, for mmproj files (which hold the ViT next to the connector) -------------------

def legacy_gguf_vision_name(name):
    # convert_image_encoder_to_gguf.py get_tensor_name(), for vision-model tensors.
    return (name.replace("text_model", "t").replace("vision_model", "v").replace("encoder.layers", "blk")
            .replace("embeddings.", "").replace("_proj", "").replace("self_attn.", "attn_").replace("layer_norm", "ln")
            .replace("layernorm", "ln").replace("mlp.fc1", "ffn_down").replace("mlp.fc2", "ffn_up").replace("embedding", "embd")
            .replace("final", "post").replace("layrnorm", "ln"))


def squeeze(shape):
    return [d for d in shape if d != 1]


def clip_l_336_mmproj_vision():
    config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                              image_size=336, patch_size=14, projection_dim=768)
    model = meta(CLIPVisionModel, config)
    out = []
    for name, shape in shapes_of(model):
        # transformers 5 keys CLIPVisionModel without its `vision_model.` prefix; the converter saw it with one.
        if not name.startswith("vision_model."):
            name = "vision_model." + name
        if name in ("vision_model.embeddings.position_ids", "vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias"):
            continue
        # llava_surgery keeps 23 of 24 layers in the mmproj (block_count = num_hidden_layers - 1).
        if re.search(r"encoder\.layers\.23\.", name):
            continue
        out.append((legacy_gguf_vision_name(name), squeeze(shape)))
    return out


MMPROJ_LLAVA_META = {
    "general.architecture": "clip", "clip.has_text_encoder": False, "clip.has_vision_encoder": True,
    "clip.has_llava_projector": True, "clip.projector_type": "mlp", "clip.vision.image_size": 336,
    "clip.vision.patch_size": 14, "clip.vision.embedding_length": 1024, "clip.vision.feed_forward_length": 4096,
    "clip.vision.projection_dim": 768, "clip.vision.attention.head_count": 16, "clip.vision.block_count": 23,
}


# --- LLaVA family -------------------------------------------------------------------------------------

def llava_1_5(release, hidden, layers, ffn, vocab, heads):
    vision = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                  num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
    text = dict(model_type="llama", hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                num_attention_heads=heads, vocab_size=vocab)
    config = LlavaConfig(vision_config=vision, text_config=text)
    save_config(release, config)
    tensors = shapes_of(meta(LlavaForConditionalGeneration, config))
    dims = {"encoder": 1024, "llm": hidden, "depth": 2}
    expect = {"family": "mlp", "variant": "mlp2x_gelu", "dims": dims}
    source = "transformers LlavaForConditionalGeneration on the meta device"
    write(release, "hf", tensors, dict(expect, scheme="hf"), source)
    # conversion_mapping.py "llava": ^language_model.lm_head -> lm_head, ^language_model -> model.language_model,
    # ^vision_tower -> model.vision_tower, ^multi_modal_projector -> model.multi_modal_projector; undone:
    legacy = rename(tensors, [(r"^lm_head", "language_model.lm_head"), (r"^model\.language_model", "language_model.model"),
                              (r"^model\.vision_tower", "vision_tower"), (r"^model\.multi_modal_projector", "multi_modal_projector")])
    write(release, "hf-legacy", legacy, dict(expect, scheme="hf-legacy"), source + ", pre-4.52 names per conversion_mapping.py")
    # Original LLaVA checkpoints: the LLM under model.*, the projector as model.mm_projector.{0,2}; the CLIP tower
    # is not stored (convert_llava_weights_to_hf.py maps these back to the HF names).
    original = rename(keep(tensors, r"^(model\.language_model|model\.multi_modal_projector|lm_head)"), [
        (r"^model\.multi_modal_projector\.linear_1", "model.mm_projector.0"), (r"^model\.multi_modal_projector\.linear_2", "model.mm_projector.2"),
        (r"^model\.language_model\.", "model.")])
    write(release, "llava", original, dict(expect, scheme="llava"), source + ", original LLaVA names per convert_llava_weights_to_hf.py")
    return tensors


def llava_mmproj(release, hidden, newline):
    vision = clip_l_336_mmproj_vision()
    projector = [("mm.0.weight", [hidden, 1024]), ("mm.0.bias", [hidden]), ("mm.2.weight", [hidden, hidden]), ("mm.2.bias", [hidden])]
    if newline:
        projector.append(("model.image_newline", [hidden]))
    metadata = dict(MMPROJ_LLAVA_META)
    write(release, "mmproj", projector + vision,
          {"family": "mlp", "variant": "mlp2x_gelu", "scheme": "mmproj", "dims": {"encoder": 1024, "llm": hidden}},
          "convert_image_encoder_to_gguf.py names (mm.N, model.image_newline, v.*) applied to the HF model", metadata, fmt="gguf")


def llava_next(release):
    vision = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                  num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
    text = dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=8, vocab_size=32064)
    config = LlavaNextConfig(vision_config=vision, text_config=text)
    save_config(release, config)
    tensors = shapes_of(meta(LlavaNextForConditionalGeneration, config))
    expect = {"family": "mlp", "variant": "mlp2x_gelu", "dims": {"encoder": 1024, "llm": 4096}}
    source = "transformers LlavaNextForConditionalGeneration on the meta device"
    write(release, "hf", tensors, dict(expect, scheme="hf"), source)
    legacy = rename(tensors, [(r"^lm_head", "language_model.lm_head"), (r"^model\.language_model", "language_model.model"),
                              (r"^model\.vision_tower", "vision_tower"), (r"^model\.multi_modal_projector", "multi_modal_projector"),
                              (r"^model\.image_newline", "image_newline")])
    write(release, "hf-legacy", legacy, dict(expect, scheme="hf-legacy"), source + ", pre-4.52 names per conversion_mapping.py")
    # LLaVA-1.6 original checkpoints also carry the fine-tuned tower under model.vision_tower.vision_tower.
    original = rename(tensors, [
        (r"^model\.multi_modal_projector\.linear_1", "model.mm_projector.0"), (r"^model\.multi_modal_projector\.linear_2", "model.mm_projector.2"),
        (r"^model\.language_model\.", "model."), (r"^model\.vision_tower\.", "model.vision_tower.vision_tower.")])
    write(release, "llava", original, dict(expect, scheme="llava"), source + ", original LLaVA-1.6 names")
    llava_mmproj(release, 4096, newline=True)


def llava_linear():
    # LLaVA-LLaMA-2-7B (lightning): builder.py `linear` = nn.Linear(mm_hidden_size, hidden_size) at model.mm_projector.
    text = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000)
    llm = shapes_of(meta(LlamaForCausalLM, text))
    with torch.device("meta"):
        projector = nn.Linear(1024, 4096)
    tensors = llm + [("model.mm_projector." + n, s) for n, s in shapes_of(projector)]
    write("llava-llama-2-7b", "llava", tensors,
          {"family": "linear", "variant": "linear", "scheme": "llava", "dims": {"encoder": 1024, "llm": 4096}},
          "transformers LlamaForCausalLM + LLaVA builder.py `linear` projector on the meta device")


def yi_vl():
    # 01-ai/Yi VL/llava/model/multimodal_projector/builder.py, mm_projector_type "mlp2x_gelu_Norm":
    # Sequential(Linear, LayerNorm, GELU, Linear, LayerNorm) at model.mm_projector (LLM: Yi-34B, ViT-H/14 width 1280).
    with torch.device("meta"):
        projector = nn.Sequential(nn.Linear(1280, 7168), nn.LayerNorm(7168), nn.GELU(), nn.Linear(7168, 7168), nn.LayerNorm(7168))
    names = shapes_of(projector)
    text = LlamaConfig(hidden_size=7168, intermediate_size=20480, num_hidden_layers=60, num_attention_heads=56,
                       num_key_value_heads=8, vocab_size=64000)
    llm = shapes_of(meta(LlamaForCausalLM, text))
    expect = {"family": "mlp", "variant": "mlp_norm", "dims": {"encoder": 1280, "llm": 7168}}
    write("yi-vl-34b", "llava", llm + [("model.mm_projector." + n, s) for n, s in names], dict(expect, scheme="llava"),
          "transformers LlamaForCausalLM (Yi-34B) + Yi-VL builder.py mlp2x_gelu_Norm on the meta device")
    # Yi-VL mmproj files carry no clip.projector_type (llama.cpp #17138): connkit warns and infers "mlp".
    write("yi-vl-34b", "mmproj", [("mm." + n, s) for n, s in names], dict(expect, scheme="mmproj", warnings=["projector-type-missing"]),
          "Yi-VL projector with llama.cpp's model.mm_projector -> mm rename",
          {"general.architecture": "clip", "clip.has_llava_projector": True, "clip.vision.embedding_length": 1280}, fmt="gguf")


# --- Q-Former -------------------------------------------------------------------------------------------

def lavis_names(tensors, proj):
    """HF Q-Former names -> LAVIS (inverse of the HF converters' renames); vision tower and LLM dropped."""
    out = []
    for name, shape in tensors:
        if name == "qformer.layernorm.weight" or name == "qformer.layernorm.bias":
            name = name.replace("qformer.layernorm", "Qformer.bert.embeddings.LayerNorm")
        elif name.startswith("qformer.embeddings.layernorm"):
            name = name.replace("qformer.embeddings.layernorm", "Qformer.bert.embeddings.LayerNorm")
        elif name.startswith("qformer."):
            name = "Qformer.bert." + name[len("qformer."):]
            name = name.replace("attention.attention", "attention.self").replace("crossattention.attention", "crossattention.self")
        elif name.startswith("language_projection"):
            name = name.replace("language_projection", proj)
        elif name == "query_tokens":
            pass
        elif name.startswith("vision_model.post_layernorm"):
            name = name.replace("vision_model.post_layernorm", "ln_vision")
        else:
            continue
        out.append((name, shape))
    # LAVIS keeps BertEmbeddings' position_ids buffer (HF's BLIP-2 converter expects it as the one unexpected key).
    out.append(("Qformer.bert.embeddings.position_ids", [1, 512]))
    return out


def blip2(release, text, proj, llm_width, variant_cls=Blip2ForConditionalGeneration, config_cls=Blip2Config, variant="blip2", vocab=None):
    qformer = dict(vocab_size=vocab) if vocab else dict()
    config = config_cls(vision_config=dict(), qformer_config=qformer, text_config=text, num_query_tokens=32)
    save_config(release, config)
    tensors = shapes_of(meta(variant_cls, config))
    expect = {"family": "qformer", "variant": variant,
              "dims": {"encoder": 1408, "llm": llm_width, "hidden": 768, "layers": 12, "queries": 32, "cross_every": 2}}
    write(release, "hf", tensors, dict(expect, scheme="hf"), f"transformers {variant_cls.__name__} on the meta device")
    write(release, "lavis", lavis_names(tensors, proj), dict(expect, scheme="lavis"),
          f"LAVIS names from the inverse of transformers' BLIP-2/InstructBLIP converter renames ({proj})")


# --- Perceiver resamplers ------------------------------------------------------------------------------

class PerceiverAttention(nn.Module):  # open_flamingo/src/helpers.py
    def __init__(self, dim, dim_head=64, heads=8):
        super().__init__()
        inner = dim_head * heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)


def FeedForward(dim, mult=4):  # open_flamingo/src/helpers.py
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, int(dim * mult), bias=False), nn.GELU(), nn.Linear(int(dim * mult), dim, bias=False))


class PerceiverResampler(nn.Module):  # open_flamingo/src/helpers.py (max_num_media/frames None)
    def __init__(self, dim, depth=6, dim_head=64, heads=8, num_latents=64, ff_mult=4):
        super().__init__()
        self.latents = nn.Parameter(torch.empty(num_latents, dim))
        self.layers = nn.ModuleList([nn.ModuleList([PerceiverAttention(dim, dim_head, heads), FeedForward(dim, ff_mult)]) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)


class MaskedCrossAttention(nn.Module):  # open_flamingo/src/helpers.py
    def __init__(self, dim, dim_visual, dim_head=64, heads=8):
        super().__init__()
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)


class GatedCrossAttentionBlock(nn.Module):  # open_flamingo/src/helpers.py
    def __init__(self, dim, dim_visual):
        super().__init__()
        self.attn = MaskedCrossAttention(dim, dim_visual)
        self.attn_gate = nn.Parameter(torch.empty(1))
        self.ff = FeedForward(dim)
        self.ff_gate = nn.Parameter(torch.empty(1))


def openflamingo(release, vis, lm, lm_layers, every):
    with torch.device("meta"):
        perceiver = PerceiverResampler(vis)
        # flamingo_lm.py init_flamingo: a block where (layer_idx + 1) % cross_attn_every_n_layers == 0, else None.
        gated = nn.ModuleList([GatedCrossAttentionBlock(lm, vis) if (i + 1) % every == 0 else None for i in range(lm_layers)])
    tensors = [("perceiver." + n, s) for n, s in shapes_of(perceiver)]
    tensors += [("lang_encoder.gated_cross_attn_layers." + n, s) for n, s in shapes_of(gated)]
    write(release, "open_flamingo", tensors,
          {"family": "perceiver-resampler", "variant": "openflamingo", "scheme": "open_flamingo",
           "dims": {"encoder": vis, "llm": lm, "queries": 64, "layers": 6, "cross_every": every, "llm_layers": lm_layers}},
          "open_flamingo helpers.py / flamingo_lm.py module structure on the meta device")


def idefics():
    config = IdeficsConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                           cross_layer_interval=4, qk_layer_norms=True, vocab_size=32000, additional_vocab_size=2,
                           vision_config=dict(embed_dim=1280, image_size=224, intermediate_size=5120, patch_size=14,
                                              num_attention_heads=16, num_hidden_layers=32),
                           perceiver_config=dict(use_resampler=True, resampler_n_latents=64, resampler_depth=6, resampler_n_heads=16,
                                                 resampler_head_dim=96, qk_layer_norms_perceiver=True),
                           use_resampler=True)
    save_config("idefics-9b", config)
    tensors = shapes_of(meta(IdeficsForVisionText2Text, config))
    write("idefics-9b", "hf", tensors,
          {"family": "perceiver-resampler", "variant": "idefics", "scheme": "hf",
           "dims": {"encoder": 1280, "llm": 4096, "queries": 64, "layers": 6, "heads": 16, "head_dim": 96, "cross_layers": 8,
                    "cross_every": 4}},
          "transformers IdeficsForVisionText2Text on the meta device")


def idefics2():
    config = Idefics2Config(vision_config=dict(hidden_size=1152, image_size=980, patch_size=14, intermediate_size=4304,
                                               num_hidden_layers=27, num_attention_heads=16),
                            perceiver_config=dict(hidden_size=4096, resampler_n_latents=64, resampler_depth=3, resampler_n_heads=16,
                                                  resampler_head_dim=96, num_key_value_heads=4),
                            text_config=dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                             num_attention_heads=32, num_key_value_heads=8, vocab_size=32003))
    save_config("idefics2-8b", config)
    tensors = shapes_of(meta(Idefics2ForConditionalGeneration, config))
    write("idefics2-8b", "hf", tensors,
          {"family": "perceiver-resampler", "variant": "idefics2", "scheme": "hf",
           "dims": {"encoder": 1152, "llm": 4096, "llm_ffn": 14336, "queries": 64, "layers": 3, "heads": 16, "kv_heads": 4, "head_dim": 96}},
          "transformers Idefics2ForConditionalGeneration on the meta device")


# --- Attention resamplers --------------------------------------------------------------------------------

class Resampler(nn.Module):
    """MiniCPM-V / Qwen-VL resampler parameters (vLLM resampler.py BaseResampler, Qwen-VL visual.py Resampler):
    query, kv_proj (no bias), nn.MultiheadAttention, ln_q, ln_kv, ln_post, proj (raw parameter, x @ proj)."""

    def __init__(self, queries, embed, kv_dim, pos_embed=False, post=True):
        super().__init__()
        self.query = nn.Parameter(torch.empty(queries, embed))
        if pos_embed:
            self.pos_embed = nn.Parameter(torch.empty(queries, embed))
        self.kv_proj = nn.Linear(kv_dim, embed, bias=False)
        self.attn = nn.MultiheadAttention(embed, embed // 128)
        self.ln_q = nn.LayerNorm(embed)
        self.ln_kv = nn.LayerNorm(embed)
        if post:
            self.ln_post = nn.LayerNorm(embed)
            self.proj = nn.Parameter(torch.empty(embed, embed))


def minicpmv(release, embed, queries, version, pos_embed):
    with torch.device("meta"):
        resampler = Resampler(queries, embed, 1152, pos_embed=pos_embed)
    names = shapes_of(resampler)
    variant = {1: "minicpmv-2.0", 2: "minicpmv-2.5", 3: "minicpmv-2.6"}[version]
    expect = {"family": "attention-resampler", "variant": variant, "dims": {"encoder": 1152, "llm": embed, "queries": queries}}
    write(release, "minicpmv", [("resampler." + n, s) for n, s in names], dict(expect, scheme="minicpmv"),
          "MiniCPM-V resampler module structure (nn.MultiheadAttention) on the meta device")
    # minicpmv-convert-image-encoder-to-gguf.py: in_proj split into attn.{q,k,v}, kv_proj -> kv, out_proj -> out,
    # proj transposed to proj.weight, pos_embed dropped, a 70x70 sin-cos table as pos_embed_k.
    mmproj = []
    for name, shape in names:
        if name == "attn.in_proj_weight":
            mmproj += [(f"resampler.attn.{p}.weight", [embed, embed]) for p in "qkv"]
        elif name == "attn.in_proj_bias":
            mmproj += [(f"resampler.attn.{p}.bias", [embed]) for p in "qkv"]
        elif name == "pos_embed":
            continue
        elif name == "proj":
            mmproj.append(("resampler.proj.weight", shape[::-1]))
        else:
            mmproj.append(("resampler." + name.replace("kv_proj", "kv").replace("out_proj", "out"), shape))
    mmproj.append(("resampler.pos_embed_k", [4900, embed]))
    write(release, "mmproj", mmproj, dict(expect, scheme="mmproj"), "llama.cpp minicpmv converter names for the resampler",
          {"general.architecture": "clip", "clip.projector_type": "resampler", "clip.minicpmv_version": version,
           "clip.vision.embedding_length": 1152, "clip.has_minicpmv_projector": True}, fmt="gguf")


def qwen_vl():
    # Qwen-VL visual.py: attn_pool = Resampler(grid 16 -> 256 queries, embed 4096, kv_dim 1664, no post projection);
    # the visual tower then applies ln_post and proj (x @ proj).
    with torch.device("meta"):
        pool = Resampler(256, 4096, 1664, pos_embed=True, post=False)
        ln_post = nn.LayerNorm(4096)
    tensors = [("transformer.visual.attn_pool." + n, s) for n, s in shapes_of(pool)]
    tensors += [("transformer.visual.ln_post." + n, s) for n, s in shapes_of(ln_post)]
    tensors += [("transformer.visual.proj", [4096, 4096]), ("transformer.wte.weight", [151936, 4096])]
    write("qwen-vl", "qwen-vl", tensors,
          {"family": "attention-resampler", "variant": "qwen-vl", "scheme": "qwen-vl", "dims": {"encoder": 1664, "llm": 4096, "queries": 256}},
          "Qwen-VL attn_pool module structure on the meta device")


# --- Qwen2-VL mergers ------------------------------------------------------------------------------------

def qwen2_vl(release, cls, config, variant, encoder, llm, rms):
    save_config(release, config)
    tensors = shapes_of(meta(cls, config))
    expect = {"family": "patch-merger", "variant": variant, "dims": {"encoder": encoder, "llm": llm, "merge": 2}}
    source = f"transformers {cls.__name__} on the meta device"
    write(release, "hf", tensors, dict(expect, scheme="hf"), source)
    # conversion_mapping.py Qwen2VLForConditionalGeneration: ^visual -> model.visual, ^model -> model.language_model; undone:
    legacy = rename(tensors, [(r"^model\.visual", "visual"), (r"^model\.language_model", "model")])
    write(release, "hf-legacy", legacy, dict(expect, scheme="hf-legacy"), source + ", pre-4.52 names per conversion_mapping.py")
    names = get_tensor_name_map(MODEL_ARCH.MMPROJ, 32)
    mmproj = []
    for name, shape in legacy:
        if not name.startswith("visual.merger."):
            continue
        base, suffix = name.rsplit(".", 1)
        mmproj.append((names.get_name(base) + "." + suffix, shape))
    metadata = {"general.architecture": "clip", "clip.projector_type": "qwen2vl_merger" if not rms else "qwen2.5vl_merger",
                "clip.vision.embedding_length": encoder, "clip.vision.projection_dim": llm, "clip.vision.spatial_merge_size": 2}
    write(release, "mmproj", mmproj, dict(expect, scheme="mmproj"), "gguf-py TensorNameMap (MMPROJ) applied to the merger", metadata, fmt="gguf")


# --- Pixel shuffle -------------------------------------------------------------------------------------

def internvl():
    config = InternVLConfig(vision_config=dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                                               image_size=[448, 448], patch_size=[14, 14]),
                            text_config=dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                             num_attention_heads=14, num_key_value_heads=2, vocab_size=151674),
                            downsample_ratio=0.5)
    save_config("internvl2-1b", config)
    tensors = shapes_of(meta(InternVLForConditionalGeneration, config))
    expect = {"family": "pixel-shuffle-mlp", "variant": "internvl", "dims": {"encoder": 1024, "llm": 896, "merge": 2}}
    source = "transformers InternVLForConditionalGeneration on the meta device"
    write("internvl2-1b", "hf", tensors, dict(expect, scheme="hf"), source)
    legacy = rename(tensors, [(r"^lm_head", "language_model.lm_head"), (r"^model\.language_model", "language_model.model"),
                              (r"^model\.vision_tower", "vision_tower"), (r"^model\.multi_modal_projector", "multi_modal_projector")])
    write("internvl2-1b", "hf-legacy", legacy, dict(expect, scheme="hf-legacy"), source + ", pre-4.52 names per conversion_mapping.py")
    # conversion_mapping.py internvl: ^mlp1.0 -> multi_modal_projector.layer_norm, mlp1.1 -> linear_1, mlp1.3 -> linear_2; undone:
    projector = rename(keep(tensors, r"^model\.multi_modal_projector"), [
        (r"^model\.multi_modal_projector\.layer_norm", "mlp1.0"), (r"^model\.multi_modal_projector\.linear_1", "mlp1.1"),
        (r"^model\.multi_modal_projector\.linear_2", "mlp1.3")])
    llm = rename(keep(tensors, r"^(model\.language_model|lm_head)"), [(r"^model\.language_model\.", "language_model.model."),
                                                                        (r"^lm_head", "language_model.lm_head")])
    write("internvl2-1b", "internvl", projector + llm, dict(expect, scheme="internvl"), source + ", original mlp1 names per conversion_mapping.py")
    gnames = get_tensor_name_map(MODEL_ARCH.MMPROJ, 32)
    mmproj = []
    for name, shape in projector:
        base, suffix = name.rsplit(".", 1)
        mmproj.append((gnames.get_name(base) + "." + suffix, shape))
    write("internvl2-1b", "mmproj", mmproj, dict(expect, scheme="mmproj"), "gguf-py TensorNameMap (MMPROJ) applied to mlp1",
          {"general.architecture": "clip", "clip.projector_type": "internvl", "clip.vision.embedding_length": 1024,
           "clip.vision.projector.scale_factor": 2}, fmt="gguf")


def idefics3(release, cls, config_cls, encoder, image, llm, ffn, layers, vocab, scale):
    config = config_cls(vision_config=dict(hidden_size=encoder, image_size=image, patch_size=14, intermediate_size=4304,
                                           num_hidden_layers=27, num_attention_heads=16),
                        text_config=dict(model_type="llama", hidden_size=llm, intermediate_size=ffn, num_hidden_layers=layers,
                                         num_attention_heads=32, num_key_value_heads=8 if llm == 4096 else 32, vocab_size=vocab),
                        scale_factor=scale)
    save_config(release, config)
    tensors = shapes_of(meta(cls, config))
    expect = {"family": "pixel-shuffle-mlp", "variant": "idefics3", "dims": {"encoder": encoder, "llm": llm, "merge": scale}}
    write(release, "hf", tensors, dict(expect, scheme="hf"), f"transformers {cls.__name__} on the meta device")
    gnames = get_tensor_name_map(MODEL_ARCH.MMPROJ, 32)
    mmproj = [(gnames.get_name(n.rsplit(".", 1)[0]) + ".weight", s) for n, s in tensors if "modality_projection" in n]
    write(release, "mmproj", mmproj, dict(expect, scheme="mmproj"), "gguf-py TensorNameMap (MMPROJ) applied to the connector",
          {"general.architecture": "clip", "clip.projector_type": "idefics3", "clip.vision.embedding_length": encoder,
           "clip.vision.projector.scale_factor": scale}, fmt="gguf")


# --- MobileVLM ---------------------------------------------------------------------------------------------

def make_divisible(v, divisor=8):  # torchvision _make_divisible, used by SqueezeExcitation's caller
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class LayerNorm2d(nn.LayerNorm):
    pass


class InvertedResidual(nn.Module):
    """torchvision InvertedResidual with expand ratio 1 (expanded == input channels), as MobileVLM builds it:
    block = [Conv2dNormActivation(dw 3x3, LayerNormAct2d, hardswish), SqueezeExcitation(fc1, fc2),
             Conv2dNormActivation(1x1 project, LayerNormAct2d, no activation)]."""

    def __init__(self, channels, stride):
        super().__init__()
        squeeze_channels = make_divisible(channels // 4, 8)
        se = nn.Module()
        se.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        se.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.block = nn.Sequential(
            nn.Sequential(nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False), LayerNorm2d(channels)),
            se,
            nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), LayerNorm2d(channels)),
        )


def mobilevlm(release, llm, variant):
    with torch.device("meta"):
        if variant == "ldp":
            # vision_projector.py LDPNetProjector: model = LDPBlock(mlp = [Identity, Linear, GELU, Linear],
            # mb_block = [Identity, InvertedResidual(stride 1), InvertedResidual(stride 2)]).
            block = nn.Module()
            block.mlp = nn.Sequential(nn.Identity(), nn.Linear(1024, llm), nn.GELU(), nn.Linear(llm, llm))
            block.mb_block = nn.Sequential(nn.Identity(), InvertedResidual(llm, 1), InvertedResidual(llm, 2))
            projector = nn.Module()
            projector.model = block
        else:
            # LDPNetV2Projector: mlp = FeatureIRLayer (mlp = [Linear, GELU, Linear]), dwn (pooling, no parameters),
            # peg = PosInjectLayer (peg = [depthwise Conv2d with bias]).
            projector = nn.Module()
            projector.mlp = nn.Module()
            projector.mlp.mlp = nn.Sequential(nn.Linear(1024, llm), nn.GELU(), nn.Linear(llm, llm))
            projector.peg = nn.Module()
            projector.peg.peg = nn.Sequential(nn.Conv2d(llm, llm, 3, 1, 1, bias=True, groups=llm))
    names = [("model.mm_projector." + n, s) for n, s in shapes_of(projector)]
    text = LlamaConfig(hidden_size=llm, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16, vocab_size=32000)
    llm_tensors = shapes_of(meta(LlamaForCausalLM, text))
    expect = {"family": "ldp", "variant": variant, "dims": {"encoder": 1024, "llm": llm}}
    write(release, "mobilevlm", llm_tensors + names, dict(expect, scheme="mobilevlm"),
          "MobileVLM vision_projector.py module structure + LlamaForCausalLM (MobileLLaMA-1.4B) on the meta device")
    # convert_image_encoder_to_gguf.py: model.mm_projector -> mm, mm.mlp.mlp -> mm.model.mlp, mm.peg.peg -> mm.model.peg,
    # every projector tensor squeezed.
    mmproj = []
    for name, shape in names:
        name = name.replace("model.mm_projector", "mm")
        name = re.sub(r"mm\.mlp\.mlp", "mm.model.mlp", name, count=1)
        name = re.sub(r"mm\.peg\.peg", "mm.model.peg", name, count=1)
        mmproj.append((name, squeeze(shape)))
    write(release, "mmproj", mmproj + clip_l_336_mmproj_vision(), dict(expect, scheme="mmproj"),
          "convert_image_encoder_to_gguf.py names for the MobileVLM projector (squeezed) and CLIP ViT-L/14-336",
          dict(MMPROJ_LLAVA_META, **{"clip.projector_type": variant}), fmt="gguf")


# --- transformers class defaults ------------------------------------------------------------------------------

def class_defaults():
    from transformers import (MistralConfig, Qwen2Config, OPTConfig, T5Config, SiglipVisionConfig, Blip2VisionConfig,
                              Blip2QFormerConfig, InstructBlipVisionConfig, InstructBlipQFormerConfig)
    table = {
        "llama": (LlamaConfig, ["hidden_size", "num_hidden_layers", "intermediate_size"]),
        "mistral": (MistralConfig, ["hidden_size", "num_hidden_layers", "intermediate_size"]),
        "qwen2": (Qwen2Config, ["hidden_size", "num_hidden_layers", "intermediate_size"]),
        "opt": (OPTConfig, ["hidden_size", "num_hidden_layers", "ffn_dim"]),
        "t5": (T5Config, ["d_model", "num_layers", "d_ff"]),
        "clip_vision_model": (CLIPVisionConfig, ["hidden_size", "image_size", "patch_size"]),
        "siglip_vision_model": (SiglipVisionConfig, ["hidden_size", "image_size", "patch_size"]),
        "blip_2_vision_model": (Blip2VisionConfig, ["hidden_size", "image_size", "patch_size"]),
        "instructblip_vision_model": (InstructBlipVisionConfig, ["hidden_size", "image_size", "patch_size"]),
        "blip_2_qformer": (Blip2QFormerConfig, ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                                "cross_attention_frequency", "encoder_hidden_size", "vocab_size"]),
        "instructblip_qformer": (InstructBlipQFormerConfig, ["hidden_size", "num_hidden_layers", "num_attention_heads",
                                                             "intermediate_size", "cross_attention_frequency", "encoder_hidden_size",
                                                             "vocab_size"]),
    }
    from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
    from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
    from transformers.models.idefics.configuration_idefics import IdeficsPerceiverConfig, IdeficsVisionConfig
    table["qwen2_vl_vision"] = (Qwen2VLVisionConfig, ["embed_dim", "hidden_size", "spatial_merge_size"])
    table["qwen2_5_vl_vision"] = (Qwen2_5_VLVisionConfig, ["hidden_size", "out_hidden_size", "spatial_merge_size"])
    out = {}
    for model_type, (cls, keys) in table.items():
        config = cls()
        assert config.model_type == model_type, (config.model_type, model_type)
        out[model_type] = {key: getattr(config, key) for key in keys}
    # Sub-configs that (in transformers 4.x hub files) carry their parent's model_type: keyed type@path.
    out["qwen2_vl@vision_config"] = out["qwen2_vl_vision"]
    out["qwen2_5_vl@vision_config"] = out["qwen2_5_vl_vision"]
    perceiver = IdeficsPerceiverConfig()
    out["idefics@perceiver_config"] = {k: getattr(perceiver, k) for k in ["resampler_n_latents", "resampler_depth", "resampler_n_heads", "resampler_head_dim"]}
    vision = IdeficsVisionConfig()
    out["idefics@vision_config"] = {k: getattr(vision, k) for k in ["embed_dim", "image_size", "patch_size"]}
    with open(os.path.join(HERE, "class_defaults.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    llava_linear()
    llava_1_5("llava-1.5-7b", 4096, 32, 11008, 32064, 32)
    llava_mmproj("llava-1.5-7b", 4096, newline=False)
    llava_1_5("llava-1.5-13b", 5120, 40, 13824, 32064, 40)
    llava_next("llava-v1.6-mistral-7b")
    yi_vl()
    blip2("blip2-opt-2.7b", dict(model_type="opt", hidden_size=2560, ffn_dim=10240, num_hidden_layers=32, num_attention_heads=32,
                                 word_embed_proj_dim=2560, vocab_size=50272), "opt_proj", 2560)
    blip2("blip2-flan-t5-xl", dict(model_type="t5", d_model=2048, d_ff=5120, num_layers=24, num_decoder_layers=24, num_heads=32,
                                   d_kv=64, vocab_size=32128, feed_forward_proj="gated-gelu"), "t5_proj", 2048)
    blip2("instructblip-vicuna-7b", dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                         num_attention_heads=32, vocab_size=32001), "llm_proj", 4096,
          InstructBlipForConditionalGeneration, InstructBlipConfig, "instructblip", vocab=30523)
    openflamingo("openflamingo-9b-vitl-mpt7b", 1024, 4096, 32, 4)
    openflamingo("openflamingo-3b-vitl-mpt1b", 1024, 2048, 24, 1)
    idefics()
    idefics2()
    minicpmv("minicpm-v-2", 2304, 64, 1, True)
    minicpmv("minicpm-llama3-v-2_5", 4096, 96, 2, False)
    minicpmv("minicpm-v-2_6", 3584, 64, 3, False)
    qwen_vl()
    qwen2_vl("qwen2-vl-7b", Qwen2VLForConditionalGeneration,
             Qwen2VLConfig(vision_config=dict(embed_dim=1280, depth=32, num_heads=16, hidden_size=3584, spatial_merge_size=2,
                                              patch_size=14, temporal_patch_size=2),
                           text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                                            num_key_value_heads=4, vocab_size=152064)),
             "qwen2-vl", 1280, 3584, False)
    qwen2_vl("qwen2.5-vl-7b", Qwen2_5_VLForConditionalGeneration,
             Qwen2_5_VLConfig(vision_config=dict(hidden_size=1280, depth=32, num_heads=16, out_hidden_size=3584, intermediate_size=3420,
                                                 spatial_merge_size=2),
                              text_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                                               num_key_value_heads=4, vocab_size=152064)),
             "qwen2.5-vl", 1280, 3584, True)
    internvl()
    idefics3("idefics3-8b", Idefics3ForConditionalGeneration, Idefics3Config, 1152, 364, 4096, 14336, 32, 128259, 2)
    idefics3("smolvlm-instruct", SmolVLMForConditionalGeneration, SmolVLMConfig, 1152, 384, 2048, 8192, 24, 49155, 3)
    mobilevlm("mobilevlm-1.7b", 2048, "ldp")
    mobilevlm("mobilevlm-v2-1.7b", 2048, "ldpv2")
    class_defaults()


if __name__ == "__main__":
    sys.exit(main())
