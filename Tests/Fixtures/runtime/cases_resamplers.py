"""Fixture cases: attention resamplers (MiniCPM-V, Qwen-VL), patch mergers (Qwen2-VL, Qwen2.5-VL), pixel
shuffles (InternVL, Idefics3/SmolVLM) and MobileVLM's LDP/LDPv2."""
import torch
import transformers
from torch import nn
from transformers.models.idefics3.configuration_idefics3 import Idefics3Config
from transformers.models.idefics3.modeling_idefics3 import Idefics3Connector
from transformers.models.internvl.configuration_internvl import InternVLConfig
from transformers.models.internvl.modeling_internvl import InternVLModel, InternVLMultiModalProjector
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLPatchMerger
from transformers.models.qwen2_vl.modeling_qwen2_vl import PatchMerger

import transcriptions as tr
from casekit import Built, Spec, randomize, state_of
from cases_projectors import HEADS, TF, heads_for, per_image, side
from schemes import Checkpoint, llava_vision_metadata, prefixed, renamed

# ---------------------------------------------------------------------------------------------- MiniCPM-V

MINICPMV_VERSION = {"minicpmv-2.0": (2.0, 1), "minicpmv-2.5": (2.5, 2), "minicpmv-2.6": (2.6, 3)}


def build_minicpmv(variant):
    def build(d):
        heads = d["llm"] // d["head_dim"]
        grid = d["grid"]
        if variant == "minicpmv-2.0":
            module = tr.Resampler2(grid_size=int(d["queries"] ** 0.5), embed_dim=d["llm"], num_heads=heads, kv_dim=d["encoder"], adaptive=True)
            run = lambda x: module(x, tgt_sizes=tuple(grid))
            source = tr.RESAMPLER2_SOURCE + " (Resampler2, adaptive=True: MiniCPM-V 2.0)"
        else:
            module = tr.Resampler25(num_queries=d["queries"], embed_dim=d["llm"], num_heads=heads, kv_dim=d["encoder"], adaptive=True)
            run = lambda x: module(x, tgt_sizes=torch.tensor([grid] * x.shape[0]))
            source = tr.RESAMPLER25_SOURCE
        randomize(module, variant + str(d))
        return Built(module, run, state_of(module), f"transcription of {source}", {"layer_norm": 1e-6})
    return build


def minicpmv_schemes(variant, with_mmproj):
    version, gguf_version = MINICPMV_VERSION[variant]

    def schemes(state, d):
        config = {"architectures": ["MiniCPMV"], "model_type": "minicpmv", "hidden_size": d["llm"], "query_num": d["queries"],
                  "version": version, "num_hidden_layers": 2,
                  "vision_config": {"model_type": "siglip_vision_model", "hidden_size": d["encoder"], "patch_size": 14}}
        result = [Checkpoint("minicpmv", prefixed(state, "resampler."), config=config)]
        if with_mmproj:
            # llama.cpp tools/mtmd/legacy-models/minicpmv-convert-image-encoder-to-gguf.py (_replace_name_resampler,
            # get_tensor_name): pos_embed kept, pos_embed_k = the 70x70 sin-cos table, proj transposed back to
            # [out, in], in_proj split in q, k, v, `_proj` dropped from names.
            table = torch.from_numpy(tr.get_2d_sincos_pos_embed(d["llm"], (70, 70))).float()
            tensors = {}
            for name, value in state.items():
                if name == "pos_embed":
                    tensors["resampler.pos_embed"] = value
                    tensors["resampler.pos_embed_k"] = table
                elif name == "proj":
                    tensors["resampler.pos_embed_k"] = table
                    tensors["resampler.proj.weight"] = value.t().contiguous()
                elif name.startswith("attn.in_proj_"):
                    kind = name.rsplit("_", 1)[1]
                    for part, chunk in zip("qkv", value.chunk(3, dim=0)):
                        tensors[f"resampler.attn.{part}.{kind}"] = chunk
                else:
                    tensors["resampler." + name.replace("_proj", "")] = value
            metadata = {"clip.has_text_encoder": False, "clip.has_vision_encoder": True, "clip.has_minicpmv_projector": True,
                        "clip.projector_type": "resampler", "clip.minicpmv_version": gguf_version,
                        "clip.minicpmv_query_num": d["queries"], "clip.vision.embedding_length": d["encoder"], "clip.use_gelu": True}
            result.append(Checkpoint("mmproj", tensors, fmt="gguf", metadata=metadata))
        return result
    return schemes


# ---------------------------------------------------------------------------------------------- Qwen-VL

def build_qwen_vl(d):
    module = tr.QwenVLPool(d["queries"], d["llm"], d["encoder"], d["llm"] // d["head_dim"])
    randomize(module, "qwen-vl" + str(d))
    return Built(module, module, state_of(module), f"transcription of {tr.RESAMPLER2_SOURCE} (Resampler2, adaptive=False, "
                 "no post projection) + Qwen-VL VisionTransformer's ln_post and x @ proj", {"layer_norm": 1e-6})


def qwen_vl_schemes(state, d):
    config = {"architectures": ["QWenLMHeadModel"], "model_type": "qwen", "hidden_size": d["llm"],
              "visual": {"width": d["encoder"], "output_dim": d["llm"], "n_queries": d["queries"],
                         "image_size": 14 * side(d["tokens"]), "patch_size": 14, "heads": 4, "layers": 2}}
    return [Checkpoint("qwen-vl", prefixed(state, "transformer.visual."), config=config)]


# ---------------------------------------------------------------------------------------------- Qwen2-VL / 2.5-VL

def build_merger(rms):
    def build(d):
        cls = Qwen2_5_VLPatchMerger if rms else PatchMerger
        module = cls(dim=d["llm"], context_dim=d["encoder"], spatial_merge_size=d["merge"])
        randomize(module, ("qwen2.5-vl" if rms else "qwen2-vl") + str(d))
        name = "Qwen2_5_VLPatchMerger" if rms else "PatchMerger (Qwen2-VL)"
        run = per_image(lambda x: module(x[0])[None])
        return Built(module, run, state_of(module), f"{TF} {name}", {"rms_norm" if rms else "layer_norm": 1e-6})
    return build


def merger_schemes(rms):
    def schemes(state, d):
        if rms:
            config = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": d["llm"],
                      "vision_config": {"model_type": "qwen2_5_vl", "hidden_size": d["encoder"], "out_hidden_size": d["llm"],
                                        "spatial_merge_size": d["merge"], "depth": 2, "num_heads": 2, "patch_size": 14}}
        else:
            config = {"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_size": d["llm"],
                      "vision_config": {"model_type": "qwen2_vl", "embed_dim": d["encoder"], "hidden_size": d["llm"],
                                        "spatial_merge_size": d["merge"], "depth": 2, "num_heads": 2, "patch_size": 14}}
        mm = renamed(state, [(r"ln_q\.(.*)", r"v.post_ln.\1"), (r"mlp\.(\d)\.(.*)", r"mm.\1.\2")])
        metadata = {"clip.has_vision_encoder": True, "clip.projector_type": "qwen2.5vl_merger" if rms else "qwen2vl_merger",
                    "clip.vision.embedding_length": d["encoder"], "clip.vision.projection_dim": d["llm"],
                    "clip.vision.spatial_merge_size": d["merge"], "clip.vision.attention.layer_norm_epsilon": 1e-6}
        return [Checkpoint("hf", prefixed(state, "model.visual.merger."), config=config),
                Checkpoint("hf-legacy", prefixed(state, "visual.merger."), config=config),
                Checkpoint("mmproj", mm, fmt="gguf", metadata=metadata)]
    return schemes


# ---------------------------------------------------------------------------------------------- InternVL / Idefics3

class InternVLHF(nn.Module):
    """transformers' InternVLModel.get_image_features after the vision tower: square grid, pixel_shuffle
    by downsample_ratio, InternVLMultiModalProjector."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.multi_modal_projector = InternVLMultiModalProjector(config)

    def forward(self, vision_features):
        channels = vision_features.shape[1]
        feature_size = int(channels**0.5)
        batch_size = vision_features.shape[0]
        vision_features = vision_features.reshape(batch_size, feature_size, feature_size, -1)
        vision_features = InternVLModel.pixel_shuffle(self, vision_features, scale_factor=self.config.downsample_ratio)
        vision_features = vision_features.reshape(batch_size, -1, vision_features.shape[-1])
        return self.multi_modal_projector(vision_features)


def build_internvl(ps_version):
    def build(d):
        if ps_version is None:
            config = InternVLConfig(vision_config={"hidden_size": d["encoder"], **HEADS},
                                    text_config={"model_type": "qwen2", "hidden_size": d["llm"], **HEADS},
                                    downsample_ratio=1 / d["merge"], projector_hidden_act="gelu")
            module = InternVLHF(config)
            reference = f"{TF} InternVLMultiModalProjector + InternVLModel.pixel_shuffle"
        else:
            module = tr.InternVLProjector(d["encoder"], d["llm"], downsample_ratio=1 / d["merge"], ps_version=ps_version)
            reference = f"transcription of {tr.INTERNVL_CHAT} (ps_version '{ps_version}')"
        randomize(module, f"internvl-{ps_version}" + str(d))
        return Built(module, module, state_of(module), reference, {"layer_norm": 1e-5})
    return build


def internvl_configs(d, ps_version):
    grid = side(d["tokens"])
    chat = {"architectures": ["InternVLChatModel"], "model_type": "internvl_chat", "downsample_ratio": 1 / d["merge"],
            "ps_version": ps_version, "select_layer": -1, "force_image_size": 14 * grid,
            "vision_config": {"model_type": "intern_vit_6b", "hidden_size": d["encoder"], "image_size": 14 * grid, "patch_size": 14},
            "llm_config": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": d["llm"]}}
    hf = {"architectures": ["InternVLForConditionalGeneration"], "model_type": "internvl", "downsample_ratio": 1 / d["merge"],
          "projector_hidden_act": "gelu", "vision_feature_select_strategy": "default",
          "vision_config": {"model_type": "internvl_vision", "hidden_size": d["encoder"], "image_size": [14 * grid, 14 * grid], "patch_size": [14, 14],
                            "num_attention_heads": heads_for(d["encoder"])},
          "text_config": {"model_type": "qwen2", "hidden_size": d["llm"], "num_attention_heads": heads_for(d["llm"]),
                          "num_key_value_heads": heads_for(d["llm"])}}
    return chat, hf


def internvl_schemes(ps_version):
    def schemes(state, d):
        chat, hf = internvl_configs(d, ps_version or "v2")
        if ps_version is not None:
            return [Checkpoint("internvl", dict(state), config=chat)]
        proj = {k.split(".", 1)[1]: v for k, v in state.items()}
        mlp1 = renamed(proj, [(r"layer_norm\.(.*)", r"mlp1.0.\1"), (r"linear_1\.(.*)", r"mlp1.1.\1"), (r"linear_2\.(.*)", r"mlp1.3.\1")])
        mm = renamed(proj, [(r"layer_norm\.(.*)", r"mm.model.mlp.0.\1"), (r"linear_1\.(.*)", r"mm.model.mlp.1.\1"), (r"linear_2\.(.*)", r"mm.model.mlp.3.\1")])
        metadata = {"clip.has_vision_encoder": True, "clip.projector_type": "internvl", "clip.vision.embedding_length": d["encoder"],
                    "clip.vision.projector.scale_factor": d["merge"]}
        return [Checkpoint("internvl", mlp1, config=chat),
                Checkpoint("hf", prefixed(proj, "model.multi_modal_projector."), config=hf),
                Checkpoint("hf-legacy", prefixed(proj, "multi_modal_projector."), config=hf),
                Checkpoint("mmproj", mm, fmt="gguf", metadata=metadata)]
    return schemes


def build_idefics3(d):
    config = Idefics3Config(vision_config={"hidden_size": d["encoder"], **HEADS}, text_config={"model_type": "llama", "hidden_size": d["llm"], **HEADS},
                            scale_factor=d["merge"])
    module = Idefics3Connector(config)
    randomize(module, "idefics3" + str(d))
    return Built(module, module, state_of(module), f"{TF} Idefics3Connector")


def idefics3_schemes(state, d):
    grid = side(d["tokens"])
    config = {"architectures": ["Idefics3ForConditionalGeneration"], "model_type": "idefics3", "scale_factor": d["merge"],
              "vision_config": {"model_type": "idefics3_vision", "hidden_size": d["encoder"], "image_size": 14 * grid, "patch_size": 14,
                                "num_attention_heads": heads_for(d["encoder"])},
              "text_config": {"model_type": "llama", "hidden_size": d["llm"], "num_attention_heads": heads_for(d["llm"]),
                              "num_key_value_heads": heads_for(d["llm"])}}
    metadata = {"clip.has_vision_encoder": True, "clip.projector_type": "idefics3", "clip.vision.embedding_length": d["encoder"],
                "clip.vision.projector.scale_factor": d["merge"]}
    return [Checkpoint("hf", prefixed(state, "model.connector."), config=config),
            Checkpoint("mmproj", {"mm.model.fc.weight": state["modality_projection.proj.weight"]}, fmt="gguf", metadata=metadata)]


# ---------------------------------------------------------------------------------------------- MobileVLM

def build_ldp(v2):
    def build(d):
        module = (tr.LDPNetV2Projector if v2 else tr.LDPNetProjector)(d["encoder"], d["llm"])
        randomize(module, ("ldpv2" if v2 else "ldp") + str(d))
        return Built(module, module, state_of(module), f"transcription of {tr.MOBILEVLM_PROJECTOR} "
                     f"({'LDPNetV2Projector' if v2 else 'LDPNetProjector'}; torchvision {__import__('torchvision').__version__} "
                     f"InvertedResidual/SqueezeExcitation, timm {__import__('timm').__version__} LayerNormAct2d)",
                     {} if v2 else {"layer_norm": 1e-5})
    return build


def ldp_schemes(v2):
    def schemes(state, d):
        config = {"architectures": ["MobileLlamaForCausalLM"], "model_type": "mobilevlm", "hidden_size": d["llm"],
                  "mm_hidden_size": d["encoder"], "mm_projector_type": "ldpnetv2" if v2 else "ldpnet",
                  "num_hidden_layers": 2, "intermediate_size": 2 * d["llm"]}
        full = prefixed(state, "model.mm_projector.")
        # convert_image_encoder_to_gguf.py get_tensor_name: model.mm_projector -> mm, mm.mlp.mlp -> mm.model.mlp,
        # mm.peg.peg -> mm.model.peg; every tensor squeezed.
        mm = renamed(full, [(r"model\.mm_projector\.mlp\.mlp\.(.*)", r"mm.model.mlp.\1"),
                            (r"model\.mm_projector\.peg\.peg\.(.*)", r"mm.model.peg.\1"),
                            (r"model\.mm_projector\.(.*)", r"mm.\1")])
        metadata = llava_vision_metadata(d["encoder"], side(d["tokens"]), "ldpv2" if v2 else "ldp")
        return [Checkpoint("mobilevlm", full, config=config), Checkpoint("mmproj", mm, fmt="gguf", metadata=metadata, squeeze=True)]
    return schemes


def specs():
    mcp = dict(encoder=32, llm=48, head_dim=16, grid_positions=4900)
    result = [
        Spec("minicpmv-2.0", "attention-resampler", "minicpmv-2.0", dict(mcp, tokens=36, queries=16), 36,
             build_minicpmv("minicpmv-2.0"), minicpmv_schemes("minicpmv-2.0", True), grid=[6, 6],
             cli_dims={"minicpmv": {"head_dim": 16}, "mmproj": {"head_dim": 16}},
             expect_warnings={"mmproj": {"unexpected-tensor": "connkit's mmproj scheme marks pos_embed absent, but "
                                         "minicpmv-convert-image-encoder-to-gguf.py copies resampler.pos_embed (2.0's query positions)"}},
             notes=["queries get the stored 2-D sin-cos pos_embed (4x4 grid); keys get a sin-cos table computed for the input grid",
                    "key positions: grid cell (r, c) gets [sin(c*w), cos(c*w), sin(r*w), cos(r*w)], w_k = 10000^(-k/(E/4)) for k < E/4 (float32, first half the column); mmproj pos_embed_k row r*70 + c holds the same values",
                    "attention: nn.MultiheadAttention (fused in_proj q, k, v; scale 1/sqrt(head_dim)); key = ln_kv(kv_proj(x)) + pos, "
                    "value = ln_kv(kv_proj(x)) without positions; output ln_post(.) @ proj",
                    "the mmproj keeps resampler.pos_embed (the converter copies it) beside the 70x70 pos_embed_k table: the "
                    "query positions must come from it for the mmproj to give the release's output",
                    "heads = E/128 in the release; the fixture's E = 48 uses head_dim 16 (3 heads)"],
             real={"release": "MiniCPM-V 2.0", "dims": dict(encoder=1152, llm=2304, head_dim=128, queries=64, grid_positions=4900), "tokens": 1024, "grid": [32, 32]}),
        Spec("minicpmv-2.5", "attention-resampler", "minicpmv-2.5", dict(mcp, tokens=24, queries=12), 24,
             build_minicpmv("minicpmv-2.5"), minicpmv_schemes("minicpmv-2.5", False), grid=[4, 6],
             cli_dims={"minicpmv": {"head_dim": 16}},
             notes=["non-square grid 4x6 (rows x columns): key positions are rows [0,4) x columns [0,6) of the 70x70 sin-cos cache",
                    "key positions: grid cell (r, c) gets [sin(c*w), cos(c*w), sin(r*w), cos(r*w)], w_k = 10000^(-k/(E/4)) for k < E/4 (float32, first half the column); mmproj pos_embed_k row r*70 + c holds the same values",
                    "no query positions; key = ln_kv(kv_proj(x)) + pos, value = ln_kv(kv_proj(x)); output ln_post(.) @ proj"],
             real={"release": "MiniCPM-Llama3-V 2.5", "dims": dict(encoder=1152, llm=4096, head_dim=128, queries=96, grid_positions=4900), "tokens": 1024, "grid": [32, 32]}),
        Spec("minicpmv-2.6", "attention-resampler", "minicpmv-2.6", dict(mcp, tokens=15, queries=8), 15,
             build_minicpmv("minicpmv-2.6"), minicpmv_schemes("minicpmv-2.6", True), grid=[3, 5], batch=2,
             cli_dims={"minicpmv": {"head_dim": 16}, "mmproj": {"head_dim": 16}},
             notes=["batch of 2 images on one non-square 3x5 grid"],
             real={"release": "MiniCPM-V 2.6", "dims": dict(encoder=1152, llm=3584, head_dim=128, queries=64, grid_positions=4900), "tokens": 1120, "grid": [28, 40]}),
        Spec("minicpmv-2.6-square", "attention-resampler", "minicpmv-2.6", dict(mcp, tokens=16, queries=8), 16,
             build_minicpmv("minicpmv-2.6"), minicpmv_schemes("minicpmv-2.6", True), grid=[4, 4], weights_from="minicpmv-2.6",
             cli_dims={"minicpmv": {"head_dim": 16}, "mmproj": {"head_dim": 16}}, notes=["minicpmv-2.6's weights on a square 4x4 grid"]),
        Spec("qwen-vl", "attention-resampler", "qwen-vl", dict(encoder=40, llm=48, head_dim=16, tokens=36, queries=16), 36,
             build_qwen_vl, qwen_vl_schemes, grid=[6, 6], cli_dims={"qwen-vl": {"head_dim": 16}},
             notes=["16 queries (4x4 grid); the stored pos_embed is resized bicubically to the 6x6 input grid for the keys: "
                    "F.interpolate(mode='bicubic', align_corners=False) on the [E, 4, 4] table, in float32: separable; output "
                    "index o reads source x = (o + 0.5) * 4/6 - 0.5 (not clamped), taps floor(x)-1 .. floor(x)+2 clamped to [0, 3], "
                    "cubic-convolution weights with a = -0.75 at distances x - tap",
                    "queries = ln_q(query) + pos_embed; key = ln_kv(kv_proj(x)) + resized pos_embed; value = ln_kv(kv_proj(x)); "
                    "output ln_post(.) @ proj (transformer.visual.ln_post / proj)"],
             real={"release": "Qwen-VL", "dims": dict(encoder=1664, llm=4096, head_dim=128, queries=256), "tokens": 1024, "grid": [32, 32]}),
        Spec("qwen-vl-native-grid", "attention-resampler", "qwen-vl", dict(encoder=40, llm=48, head_dim=16, tokens=16, queries=16), 16,
             build_qwen_vl, qwen_vl_schemes, grid=[4, 4], weights_from="qwen-vl", cli_dims={"qwen-vl": {"head_dim": 16}},
             notes=["qwen-vl's weights on a 4x4 grid: the stored pos_embed is used as it is (no interpolation)"]),
    ]
    mg = dict(encoder=32, llm=48, merge=2)
    result += [
        Spec("qwen2-vl", "patch-merger", "qwen2-vl", dict(mg, tokens=36), 36, build_merger(False), merger_schemes(False), batch=2,
             notes=["merges 4 consecutive tokens (the ViT emits them in 2x2-block order): output token k = "
                    "mlp(concat(ln_q(x[4k]), .., ln_q(x[4k+3]))); no grid needed", "batch of 2 images"],
             real={"release": "Qwen2-VL-7B", "dims": dict(encoder=1280, llm=3584, merge=2), "tokens": 1024}),
        Spec("qwen2.5-vl", "patch-merger", "qwen2.5-vl", dict(mg, tokens=36), 36, build_merger(True), merger_schemes(True),
             real={"release": "Qwen2.5-VL-7B", "dims": dict(encoder=1280, llm=3584, merge=2), "tokens": 1024}),
        Spec("internvl", "pixel-shuffle-mlp", "internvl", dict(mg, tokens=36), 36, build_internvl(None), internvl_schemes(None), grid=[6, 6],
             notes=["transformers' pixel shuffle (= the original's ps_version 'v2', = Idefics3's order): merged token (i, j) "
                    "concatenates tokens (2i + r, 2j + c) for r < 2 (outer), c < 2 (inner); tokens and grid cells row-major"],
             real={"release": "InternVL2-8B", "dims": dict(encoder=1024, llm=4096, merge=2), "tokens": 1024, "grid": [32, 32]}),
        Spec("internvl-ps-v1", "pixel-shuffle-mlp", "internvl", dict(mg, tokens=36), 36, build_internvl("v1"), internvl_schemes("v1"), grid=[6, 6],
             notes=["original InternVL ps_version 'v1' (config.json ps_version): height and width not swapped back: merged token "
                    "(i, j) concatenates tokens (2j + r, 2i + c), r outer, c inner (the merged grid transposed; order inside a token as v2)"],
             real={"release": "InternVL-Chat-V1-5 (ps_version v1)", "dims": dict(encoder=3200, llm=6144, merge=2), "tokens": 1024, "grid": [32, 32]}),
        Spec("idefics3", "pixel-shuffle-mlp", "idefics3", dict(mg, tokens=36), 36, build_idefics3, idefics3_schemes, grid=[6, 6],
             notes=["merged token (i, j) concatenates tokens (2i + r, 2j + c), r < 2 outer, c < 2 inner"],
             real={"release": "Idefics3-8B-Llama3", "dims": dict(encoder=1152, llm=4096, merge=2), "tokens": 676, "grid": [26, 26]}),
        Spec("smolvlm", "pixel-shuffle-mlp", "idefics3", dict(mg, tokens=36, merge=3), 36, build_idefics3, idefics3_schemes, grid=[6, 6],
             notes=["SmolVLM's scale_factor 3: merged token (i, j) concatenates tokens (3i + r, 3j + c), r < 3 outer, c < 3 inner"],
             real={"release": "SmolVLM-Instruct", "dims": dict(encoder=1152, llm=2048, merge=3), "tokens": 729, "grid": [27, 27]}),
        Spec("ldp", "ldp", "ldp", dict(encoder=32, llm=64, tokens=64), 64, build_ldp(False), ldp_schemes(False), grid=[8, 8],
             notes=["D_llm 64 so that torchvision's squeeze width _make_divisible(64 // 4, 8) = 16 = D_llm/4, as for the released 2048/2560",
                    "stride-2 second block: 8x8 -> 4x4 tokens",
                    "each block: depthwise 3x3 conv (padding 1, no bias), LayerNorm over channels (timm LayerNormAct2d, eps 1e-5), "
                    "hardswish, squeeze-excitation (mean over the grid, fc1 + ReLU, fc2 + hardsigmoid, scale), pointwise conv "
                    "(no bias), LayerNorm; block 1 (stride 1) adds its input back"],
             real={"release": "MobileVLM-1.7B", "dims": dict(encoder=1024, llm=2048), "tokens": 576, "grid": [24, 24]}),
        Spec("ldpv2", "ldp", "ldpv2", dict(encoder=32, llm=48, tokens=576), 576, build_ldp(True), ldp_schemes(True), grid=[24, 24],
             notes=["AdaptiveAvgPool2d((12, 12)) on the 24x24 grid (2x2 average), then the depthwise-conv PEG added back"],
             real={"release": "MobileVLM V2 1.7B", "dims": dict(encoder=1024, llm=2048), "tokens": 576, "grid": [24, 24]}),
    ]
    return result
