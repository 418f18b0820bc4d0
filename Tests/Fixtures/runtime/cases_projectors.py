"""Fixture cases: linear and MLP projectors, Q-Formers and Perceiver Resamplers."""
import torch
import transformers
from torch import nn
from transformers.models.blip_2.configuration_blip_2 import Blip2QFormerConfig
from transformers.models.blip_2.modeling_blip_2 import Blip2QFormerModel
from transformers.models.idefics.configuration_idefics import IdeficsConfig
from transformers.models.idefics.perceiver import IdeficsPerceiverResampler
from transformers.models.idefics2.configuration_idefics2 import Idefics2Config
from transformers.models.idefics2.modeling_idefics2 import Idefics2Connector
from transformers.models.instructblip.configuration_instructblip import InstructBlipQFormerConfig
from transformers.models.instructblip.modeling_instructblip import InstructBlipQFormerModel
from transformers.models.llava.configuration_llava import LlavaConfig
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector
from transformers.models.llava_next.configuration_llava_next import LlavaNextConfig
from transformers.models.llava_next.modeling_llava_next import LlavaNextModel, LlavaNextMultiModalProjector

import transcriptions as tr
from casekit import Built, Spec, randomize, state_of
from schemes import Checkpoint, llava_vision_metadata, prefixed, renamed

TF = f"transformers {transformers.__version__}"


def per_image(function):
    """Applies a module that takes one image [1, T, D] to each image of a batch."""
    return lambda x: torch.cat([function(x[i:i + 1]) for i in range(x.shape[0])], dim=0)


# Sub-configs of the composite configs only need to construct (their towers are not built): any head
# count that divides the small widths.
HEADS = {"num_attention_heads": 4, "num_key_value_heads": 4}


def heads_for(width):
    """A head count for a sub-config written to config.json, so that transformers can construct it."""
    return next(h for h in (32, 16, 8, 4, 2, 1) if width % h == 0 and width // h >= 8 or h == 1)


def side(tokens):
    return int(round(tokens ** 0.5))


# ---------------------------------------------------------------------------------------------- linear / mlp

def llava_config(d, projector_type, extra=None):
    config = {"architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava", "hidden_size": d["llm"],
              "mm_hidden_size": d["encoder"], "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
              "num_hidden_layers": 2, "intermediate_size": 2 * d["llm"]}
    if projector_type is not None:
        config["mm_projector_type"] = projector_type
    config.update(extra or {})
    return config


def hf_llava_config(d, model_type="llava", tokens=None):
    grid = side(tokens)
    return {"architectures": ["LlavaForConditionalGeneration" if model_type == "llava" else "LlavaNextForConditionalGeneration"],
            "model_type": model_type, "projector_hidden_act": "gelu", "vision_feature_select_strategy": "default",
            "vision_feature_layer": -2,
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": d["encoder"], "image_size": 14 * grid, "patch_size": 14,
                              "num_attention_heads": heads_for(d["encoder"])},
            "text_config": {"model_type": "llama", "hidden_size": d["llm"], "num_hidden_layers": 2, "intermediate_size": 2 * d["llm"],
                            "num_attention_heads": heads_for(d["llm"]), "num_key_value_heads": heads_for(d["llm"])}}


def build_llava_builder(projector_type, reference):
    def build(d):
        module = tr.build_vision_projector(d["encoder"], d["llm"], projector_type)
        randomize(module, projector_type + str(d))
        eps = {"layer_norm": 1e-5} if "_Norm" in projector_type else {}
        return Built(module, module, state_of(module), f"transcription of {reference}", eps)
    return build


def sequential_schemes(projector_type):
    """LLaVA / Yi-VL `model.mm_projector` (Sequential indices) and the mmproj `mm.N` names."""
    def schemes(state, d):
        if projector_type == "linear":
            return [Checkpoint("llava", prefixed(state, "model.mm_projector."), config=llava_config(d, "linear"))]
        grid = side(d["tokens"])
        mmproj_type = "mlp"
        return [Checkpoint("llava", prefixed(state, "model.mm_projector."), config=llava_config(d, projector_type)),
                Checkpoint("mmproj", prefixed(state, "mm."), fmt="gguf",
                           metadata=llava_vision_metadata(d["encoder"], grid, mmproj_type) if "_Norm" not in projector_type
                           else {"clip.has_llava_projector": True, "clip.vision.embedding_length": d["encoder"]})]
    return schemes


def build_llava15(d):
    config = LlavaConfig(vision_config={"model_type": "clip_vision_model", "hidden_size": d["encoder"], **HEADS},
                         text_config={"model_type": "llama", "hidden_size": d["llm"], **HEADS}, projector_hidden_act="gelu")
    module = LlavaMultiModalProjector(config)
    randomize(module, "llava15" + str(d))
    return Built(module, module, state_of(module), f"{TF} LlavaMultiModalProjector")


def llava15_schemes():
    def schemes(state, d):
        tokens = d["tokens"]
        seq = renamed(state, [(r"linear_1\.(.*)", r"0.\1"), (r"linear_2\.(.*)", r"2.\1")])
        return [Checkpoint("hf", prefixed(state, "model.multi_modal_projector."), config=hf_llava_config(d, tokens=tokens)),
                Checkpoint("hf-legacy", prefixed(state, "multi_modal_projector."), config=hf_llava_config(d, tokens=tokens)),
                Checkpoint("llava", prefixed(seq, "model.mm_projector."), config=llava_config(d, "mlp2x_gelu")),
                Checkpoint("mmproj", prefixed(seq, "mm."), fmt="gguf", metadata=llava_vision_metadata(d["encoder"], side(tokens), "mlp"))]
    return schemes


class LlavaNextUntiled(nn.Module):
    """LLaVA-NeXT's projector and image_newline as LlavaNextModel holds them; an untiled image goes
    through `pack_image_features` (one patch: the newline is appended once, after the image tokens)."""

    def __init__(self, config):
        super().__init__()
        self.multi_modal_projector = LlavaNextMultiModalProjector(config)
        self.image_newline = nn.Parameter(torch.zeros(config.text_config.hidden_size))

    def forward(self, features):
        projected = self.multi_modal_projector(features)
        packed, _ = LlavaNextModel.pack_image_features(
            None, [projected[i:i + 1] for i in range(projected.shape[0])], image_sizes=None,
            vision_feature_select_strategy="default", image_newline=self.image_newline)
        return torch.stack(packed, dim=0)


def build_llava_next(d):
    config = LlavaNextConfig(vision_config={"model_type": "clip_vision_model", "hidden_size": d["encoder"], **HEADS},
                             text_config={"model_type": "llama", "hidden_size": d["llm"], **HEADS}, projector_hidden_act="gelu")
    module = LlavaNextUntiled(config)
    randomize(module, "llava-next" + str(d))
    return Built(module, module, state_of(module),
                 f"{TF} LlavaNextMultiModalProjector + image_newline through LlavaNextModel.pack_image_features (one untiled image)")


def llava_next_schemes():
    def schemes(state, d):
        tokens = d["tokens"]
        proj = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("multi_modal_projector.")}
        newline = state["image_newline"]
        seq = renamed(proj, [(r"linear_1\.(.*)", r"0.\1"), (r"linear_2\.(.*)", r"2.\1")])
        hf_config = hf_llava_config(d, "llava_next", tokens)
        return [Checkpoint("hf", {**prefixed(proj, "model.multi_modal_projector."), "model.image_newline": newline}, config=hf_config),
                Checkpoint("hf-legacy", {**prefixed(proj, "multi_modal_projector."), "image_newline": newline}, config=hf_config),
                Checkpoint("llava", {**prefixed(seq, "model.mm_projector."), "model.image_newline": newline},
                           config=llava_config(d, "mlp2x_gelu", {"mm_patch_merge_type": "spatial_unpad"})),
                Checkpoint("mmproj", {**prefixed(seq, "mm."), "model.image_newline": newline}, fmt="gguf",
                           metadata={**llava_vision_metadata(d["encoder"], side(tokens), "mlp"), "clip.vision.mm_patch_merge_type": "spatial_unpad"})]
    return schemes


# ---------------------------------------------------------------------------------------------- Q-Former

class QFormerConnector(nn.Module):
    """query_tokens -> Q-Former (query path, encoder attention mask all ones) -> language_projection, as
    Blip2ForConditionalGeneration / InstructBlipForConditionalGeneration call them (InstructBLIP without
    an instruction: input_ids None, so the text path is not run)."""

    def __init__(self, qformer, queries, llm, instruct):
        super().__init__()
        hidden = qformer.config.hidden_size
        self.query_tokens = nn.Parameter(torch.zeros(1, queries, hidden))
        self.qformer = qformer
        self.language_projection = nn.Linear(hidden, llm)
        self.instruct = instruct

    def forward(self, image_embeds):
        image_attention_mask = torch.ones(image_embeds.size()[:-1], dtype=torch.long)
        query_tokens = self.query_tokens.expand(image_embeds.shape[0], -1, -1)
        if self.instruct:
            query_attention_mask = torch.ones(query_tokens.size()[:-1], dtype=torch.long)
            outputs = self.qformer(input_ids=None, attention_mask=query_attention_mask, query_embeds=query_tokens,
                                   encoder_hidden_states=image_embeds, encoder_attention_mask=image_attention_mask, return_dict=True)
            query_output = outputs[0][:, :query_tokens.size(1), :]
        else:
            outputs = self.qformer(query_embeds=query_tokens, encoder_hidden_states=image_embeds,
                                   encoder_attention_mask=image_attention_mask, return_dict=True)
            query_output = outputs[0]
        return self.language_projection(query_output)


def qformer_config_dict(d, instruct):
    config = {"hidden_size": d["hidden"], "num_hidden_layers": d["layers"], "num_attention_heads": d["heads"],
              "intermediate_size": d["ffn"], "cross_attention_frequency": d["cross_every"], "encoder_hidden_size": d["encoder"],
              "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    if instruct:
        config.update(vocab_size=d["vocab"], max_position_embeddings=d["positions"])
    return config


def build_qformer(instruct):
    def build(d):
        cls_config, cls_model = (InstructBlipQFormerConfig, InstructBlipQFormerModel) if instruct else (Blip2QFormerConfig, Blip2QFormerModel)
        config = cls_config(**qformer_config_dict(d, instruct))
        config._attn_implementation = "eager"
        module = QFormerConnector(cls_model(config), d["queries"], d["llm"], instruct)
        randomize(module, ("instructblip" if instruct else "blip2") + str(d))
        name = "InstructBlipQFormerModel" if instruct else "Blip2QFormerModel"
        return Built(module, module, state_of(module), f"{TF} {name} + query_tokens + language_projection"
                     + (" (query path, no instruction)" if instruct else ""), {"layer_norm": 1e-12})
    return build


LAVIS_RULES = [
    (r"query_tokens", r"query_tokens"),
    (r"qformer\.layernorm\.(.*)", r"Qformer.bert.embeddings.LayerNorm.\1"),
    (r"qformer\.embeddings\.layernorm\.(.*)", r"Qformer.bert.embeddings.LayerNorm.\1"),
    (r"qformer\.embeddings\.(word|position)_embeddings\.(.*)", r"Qformer.bert.embeddings.\1_embeddings.\2"),
    (r"qformer\.encoder\.layer\.(\d+)\.(attention|crossattention)\.attention\.(.*)", r"Qformer.bert.encoder.layer.\1.\2.self.\3"),
    (r"qformer\.encoder\.layer\.(.*)", r"Qformer.bert.encoder.layer.\1"),
]


def qformer_schemes(instruct):
    def schemes(state, d):
        tokens = d["tokens"]
        proj_name = "llm_proj" if instruct else "opt_proj"
        lavis = renamed(state, LAVIS_RULES + [(r"language_projection\.(.*)", proj_name + r".\1")])
        grid = side(tokens - 1)
        model_type = "instructblip" if instruct else "blip-2"
        config = {"architectures": ["InstructBlipForConditionalGeneration" if instruct else "Blip2ForConditionalGeneration"],
                  "model_type": model_type, "num_query_tokens": d["queries"],
                  "vision_config": {"model_type": "instructblip_vision_model" if instruct else "blip_2_vision_model",
                                    "hidden_size": d["encoder"], "image_size": 14 * grid, "patch_size": 14,
                                    "num_attention_heads": heads_for(d["encoder"])},
                  "qformer_config": {"model_type": "instructblip_qformer" if instruct else "blip_2_qformer",
                                     **qformer_config_dict(d, instruct)},
                  "text_config": {"model_type": "llama" if instruct else "opt", "hidden_size": d["llm"],
                                  "num_attention_heads": heads_for(d["llm"]), "num_key_value_heads": heads_for(d["llm"])}}
        return [Checkpoint("hf", dict(state), config=config), Checkpoint("lavis", lavis)]
    return schemes


# ---------------------------------------------------------------------------------------------- Perceivers

def build_flamingo(d):
    module = tr.PerceiverResampler(dim=d["encoder"], depth=d["layers"], dim_head=d["head_dim"], heads=d["heads"], num_latents=d["queries"])
    randomize(module, "openflamingo" + str(d))
    # Flamingo._encode_vision_x: vision_x (b, T_img, F, v, d) -> perceiver -> (b, T_img, n, d); one image, one frame.
    run = lambda x: module(x[:, None, None])[:, 0]
    return Built(module, run, state_of(module), f"transcription of {tr.FLAMINGO_HELPERS}", {"layer_norm": 1e-5})


def flamingo_schemes(state, d):
    rules = [(r"latents", r"perceiver.latents"), (r"(.*)", r"perceiver.\1")]
    return [Checkpoint("open_flamingo", renamed(state, rules))]


def idefics_config(d, qk_norms, tokens):
    grid = side(tokens - 1)
    return {"architectures": ["IdeficsForVisionText2Text"], "model_type": "idefics", "hidden_size": d["llm"],
            "num_hidden_layers": 4, "intermediate_size": 2 * d["llm"], "cross_layer_interval": 4, "use_resampler": True,
            "vision_config": {"embed_dim": d["encoder"], "image_size": 14 * grid, "patch_size": 14},
            "perceiver_config": {"use_resampler": True, "resampler_n_latents": d["queries"], "resampler_depth": d["layers"],
                                 "resampler_n_heads": d["heads"], "resampler_head_dim": d["head_dim"],
                                 "qk_layer_norms_perceiver": qk_norms}}


def build_idefics(qk_norms):
    def build(d):
        tokens = d["tokens"]
        config = IdeficsConfig(**{k: v for k, v in idefics_config(d, qk_norms, tokens).items() if k not in ("architectures", "model_type")})
        module = IdeficsPerceiverResampler(config, d["encoder"], d["layers"], d["heads"], d["head_dim"], d["queries"])
        randomize(module, f"idefics-{qk_norms}" + str(d))
        return Built(module, module, state_of(module), f"{TF} IdeficsPerceiverResampler (qk_layer_norms_perceiver={qk_norms})",
                     {"layer_norm": 1e-5})
    return build


def idefics_schemes(qk_norms):
    def schemes(state, d):
        return [Checkpoint("hf", prefixed(state, "model.perceiver_resampler."), config=idefics_config(d, qk_norms, d["tokens"]))]
    return schemes


def idefics2_config(d, tokens):
    grid = side(tokens)
    return {"architectures": ["Idefics2ForConditionalGeneration"], "model_type": "idefics2",
            "vision_config": {"model_type": "idefics2_vision", "hidden_size": d["encoder"], "image_size": 14 * grid, "patch_size": 14,
                              "num_attention_heads": heads_for(d["encoder"])},
            "perceiver_config": {"model_type": "idefics2_perceiver", "hidden_size": d["llm"], "hidden_act": "silu",
                                 "rms_norm_eps": 1e-5, "resampler_n_latents": d["queries"], "resampler_depth": d["layers"],
                                 "resampler_n_heads": d["heads"], "resampler_head_dim": d["head_dim"],
                                 "num_key_value_heads": d["kv_heads"]},
            "text_config": {"model_type": "mistral", "hidden_size": d["llm"], "intermediate_size": d["llm_ffn"],
                            "rms_norm_eps": 1e-5, "hidden_act": "silu", "num_attention_heads": heads_for(d["llm"]),
                            "num_key_value_heads": heads_for(d["llm"])}}


def build_idefics2():
    def build(d):
        raw = idefics2_config(d, d["tokens"])
        perceiver = {k: v for k, v in raw["perceiver_config"].items() if k != "model_type"}
        config = Idefics2Config(vision_config=raw["vision_config"], perceiver_config=perceiver, text_config=raw["text_config"])
        config.perceiver_config._attn_implementation = "eager"
        module = Idefics2Connector(config)
        randomize(module, "idefics2" + str(d))
        run = lambda x: module(x, attention_mask=torch.ones(x.shape[:2], dtype=torch.long))
        return Built(module, run, state_of(module), f"{TF} Idefics2Connector",
                     {"rms_norm": 1e-5, "note": "perceiver_config.rms_norm_eps; idefics2-8b's config omits it and takes text_config's 1e-5"})
    return build


def idefics2_schemes():
    def schemes(state, d):
        return [Checkpoint("hf", prefixed(state, "model.connector."), config=idefics2_config(d, d["tokens"]))]
    return schemes


def specs():
    small = dict(encoder=32, llm=48)
    result = [
        Spec("linear", "linear", "linear", dict(small, tokens=36), 36, build_llava_builder("linear", tr.LLAVA_BUILDER),
             sequential_schemes("linear"),
             real={"release": "LLaVA-LLaMA-2-7B (CLIP ViT-L/14)", "dims": dict(encoder=1024, llm=4096), "tokens": 256}),
        Spec("mlp2x_gelu", "mlp", "mlp2x_gelu", dict(small, tokens=36, depth=2), 36, build_llava15, llava15_schemes(), batch=2,
             notes=["batch of 2 images: input [2, T, D_enc], output [2, T, D_llm]"],
             real={"release": "LLaVA-1.5-7B", "dims": dict(encoder=1024, llm=4096, depth=2), "tokens": 576}),
        Spec("mlp3x_gelu", "mlp", "mlp3x_gelu", dict(small, tokens=25, depth=3), 25, build_llava_builder("mlp3x_gelu", tr.LLAVA_BUILDER),
             sequential_schemes("mlp3x_gelu"),
             real={"release": "LLaVA builder mlp3x_gelu at LLaVA-1.5-7B widths", "dims": dict(encoder=1024, llm=4096, depth=3), "tokens": 576}),
        Spec("mlp_norm", "mlp", "mlp_norm", dict(small, tokens=36), 36, build_llava_builder("mlp2x_gelu_Norm", tr.YI_BUILDER),
             sequential_schemes("mlp2x_gelu_Norm"),
             expect_warnings={"mmproj": {"projector-type-missing": "Yi-VL's mmproj files carry no clip.projector_type "
                                                                  "(llama.cpp infers MLP_NORM from mm.3.weight); written the same way"}},
             real={"release": "Yi-VL-6B", "dims": dict(encoder=1280, llm=4096), "tokens": 1024}),
        Spec("llava-next", "mlp", "mlp2x_gelu", dict(small, tokens=36, depth=2), 36, build_llava_next, llava_next_schemes(),
             notes=["LLaVA-NeXT without anyres tiling: image_newline appended once after the image tokens (T_out = T + 1)",
                    "the mmproj names image_newline model.image_newline (legacy converter); newer files say v.image_newline"],
             real={"release": "LLaVA-v1.6-Mistral-7B", "dims": dict(encoder=1024, llm=4096, depth=2), "tokens": 576}),
    ]
    qf = dict(encoder=40, llm=48, hidden=32, layers=3, heads=4, ffn=64, queries=8, cross_every=2)
    result += [
        Spec("blip2", "qformer", "blip2", dict(qf, tokens=17), 17, build_qformer(False), qformer_schemes(False),
             cli_dims={"lavis": {"heads": 4}},
             notes=["input includes the class token (16 patches + CLS)", "3 layers: cross-attention on layers 0 and 2 (cross_attention_frequency 2)",
                    "BERT post-norm layers (LayerNorm eps 1e-12): LN(q + self-attn), LN(q + cross-attn to the image), "
                    "LN(q + down(gelu(up(q)))); the query tokens go through qformer.layernorm first; output language_projection"],
             real={"release": "BLIP-2 OPT-2.7B", "dims": dict(encoder=1408, llm=2560, hidden=768, layers=12, heads=12, ffn=3072, queries=32, cross_every=2), "tokens": 257}),
        Spec("instructblip", "qformer", "instructblip", dict(qf, tokens=17, vocab=40, positions=24), 17, build_qformer(True),
             qformer_schemes(True), cli_dims={"lavis": {"heads": 4}},
             notes=["query path only: no instruction (input_ids None); the text-path weights are in the checkpoint and unused"],
             real={"release": "InstructBLIP Vicuna-7B", "dims": dict(encoder=1408, llm=4096, hidden=768, layers=12, heads=12, ffn=3072, queries=32, cross_every=2, vocab=30523, positions=512), "tokens": 257}),
        Spec("openflamingo", "perceiver-resampler", "openflamingo", dict(encoder=32, tokens=36, queries=8, layers=2, heads=4, head_dim=8), 36,
             build_flamingo, flamingo_schemes, cli_dims={"open_flamingo": {"heads": 4, "head_dim": 8}},
             notes=["output is the latents in the vision width [Q, D_enc]; the LLM-side gated blocks are not in the fixture",
                    "keys and values from concat(norm_media(x), norm_latents(latents)) (media first); to_kv output split in half: "
                    "k first, v second; q scaled by head_dim^-0.5; exact GELU; final LayerNorm"],
             real={"release": "OpenFlamingo-3B (ViT-L/14)", "dims": dict(encoder=1024, queries=64, layers=6, heads=8, head_dim=64), "tokens": 256}),
    ]
    ide = dict(encoder=32, llm=48, queries=8, layers=2, heads=4, head_dim=8)
    result += [
        Spec("idefics", "perceiver-resampler", "idefics", dict(ide, tokens=17), 17, build_idefics(True), idefics_schemes(True),
             notes=["qk_layer_norms_perceiver true: LayerNorm(head_dim, eps 1e-5) on each head of q and k, before q is scaled",
                    "input includes the class token", "keys/values from concat(context, latents) (context first); ReLU MLP"],
             real={"release": "IDEFICS-9B dims with qk_layer_norms_perceiver true", "dims": dict(encoder=1280, llm=4096, queries=64, layers=6, heads=16, head_dim=96), "tokens": 257}),
        Spec("idefics-noqk", "perceiver-resampler", "idefics", dict(ide, tokens=17), 17, build_idefics(False), idefics_schemes(False),
             notes=["qk_layer_norms_perceiver false: transformers' default and idefics-9b's public config",
                    "input includes the class token", "keys/values from concat(context, latents) (context first); ReLU MLP"],
             expect_invalid={"hf": "issue 12: validate must accept the perceiver without q/k LayerNorms (rejected as incomplete before)"},
             real={"release": "IDEFICS-9B", "dims": dict(encoder=1280, llm=4096, queries=64, layers=6, heads=16, head_dim=96), "tokens": 257}),
        Spec("idefics2", "perceiver-resampler", "idefics2",
             dict(encoder=32, llm=48, tokens=36, llm_ffn=96, queries=8, layers=2, heads=4, kv_heads=2, head_dim=12), 36,
             build_idefics2(), idefics2_schemes(),
             notes=["grouped-query attention (4 query heads, 2 key/value heads): query head h uses key/value head h // 2",
                    "RMSNorm eps 1e-5 from perceiver_config.rms_norm_eps (the real idefics2-8b config omits it and gets text_config's 1e-5)",
                    "modality_projection = down(silu(gate(x)) * up(x)); keys/values from concat(context_norm(ctx), latents_norm(lat)) "
                    "(context first); SwiGLU MLP; final RMSNorm"],
             real={"release": "Idefics2-8B", "dims": dict(encoder=1152, llm=4096, llm_ffn=14336, queries=64, layers=3, heads=16, kv_heads=4, head_dim=96), "tokens": 729}),
    ]
    return result
