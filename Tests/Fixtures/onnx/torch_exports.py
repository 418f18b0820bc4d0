"""torch.onnx.export of transformers' connector modules at small dims (used by generate.py).

Each connector is exported wrapped in a module whose attribute path is the one the model gives it
(`multi_modal_projector`, `qformer` + `query_tokens` + `language_projection`, `model.connector`), so the
initializers carry the names of a transformers checkpoint, and bare (the module on its own: `linear_1.weight`).
Parameters get distinct random values first (a freshly initialised module has equal tensors — zero biases,
unit norm weights — which the TorchScript exporter merges into one initializer under one of the names).
Exporters: the TorchScript one with do_constant_folding=False, and the dynamo one with optimize=False —
both keep the parameter names. The dynamo exporter's default (optimize=True) is exported once too: it folds the
transposes of the Linear weights into new initializers named `val_N`, so the names are lost (what the README
warns about). Every export is run by onnxruntime and compared with the module's own output.
"""

import os
import warnings

import numpy as np
import onnxruntime
import torch
from transformers import (Blip2QFormerConfig, CLIPVisionConfig, Idefics2Config, LlamaConfig, LlavaConfig,
                          MistralConfig)
from transformers.models.blip_2.modeling_blip_2 import Blip2QFormerModel
from transformers.models.idefics2.modeling_idefics2 import Idefics2Connector
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

ENCODER, LLM, TOKENS = 32, 48, 6


class Named(torch.nn.Module):
    """Holds `module` under the attribute path the full model gives it."""

    def __init__(self, path, module, call=None):
        super().__init__()
        *parents, last = path.split(".")
        holder = self
        for part in parents:
            child = torch.nn.Module()
            holder.add_module(part, child)
            holder = child
        holder.add_module(last, module)
        self.path = path
        self.call = call

    def forward(self, features):
        module = self.get_submodule(self.path)
        return self.call(module, features) if self.call else module(features)


class Blip2Connector(torch.nn.Module):
    """BLIP-2's connector as Blip2ForConditionalGeneration holds it: query tokens, Q-Former, projection."""

    def __init__(self):
        super().__init__()
        config = Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    encoder_hidden_size=ENCODER, cross_attention_frequency=2)
        self.query_tokens = torch.nn.Parameter(torch.randn(1, 4, 32) * 0.02)
        self.qformer = Blip2QFormerModel(config).eval()
        self.language_projection = torch.nn.Linear(32, LLM)

    def forward(self, features):
        queries = self.query_tokens.expand(features.shape[0], -1, -1)
        out = self.qformer(query_embeds=queries, encoder_hidden_states=features, return_dict=False)[0]
        return self.language_projection(out)


def llava_projector():
    config = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=ENCODER, intermediate_size=64, num_hidden_layers=1,
                                                        num_attention_heads=2),
                         text_config=LlamaConfig(hidden_size=LLM, intermediate_size=64, num_hidden_layers=1,
                                                 num_attention_heads=2, vocab_size=64))
    return LlavaMultiModalProjector(config).eval()


def idefics2_connector():
    config = Idefics2Config(
        vision_config={"hidden_size": ENCODER, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2},
        perceiver_config={"hidden_act": "silu", "resampler_n_latents": 4, "resampler_depth": 1, "resampler_n_heads": 2,
                          "resampler_head_dim": 8, "num_key_value_heads": 1},
        text_config=MistralConfig(hidden_size=LLM, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  num_key_value_heads=1, vocab_size=64).to_dict())
    config._attn_implementation = "eager"
    config.perceiver_config._attn_implementation = "eager"
    connector = Idefics2Connector(config).eval()
    return connector


def export(module, path, exporter):
    torch.manual_seed(0)
    features = torch.randn(1, TOKENS, ENCODER)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(module, (features,), path, dynamo=False, do_constant_folding=False,
                              input_names=["image_features"], output_names=["connector_output"])
        else:
            program = torch.onnx.export(module, (features,), dynamo=True, optimize=(exporter == "dynamo-optimized"),
                                        input_names=["image_features"], output_names=["connector_output"], verbose=False)
            program.save(path)
        reference = module(features).numpy()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: features.numpy()})
    assert np.allclose(output, reference, atol=1e-5, rtol=1e-4), (path, np.abs(output - reference).max())


def trained(module):
    """Distinct values in every parameter, as after training: freshly initialised biases (zeros) and norm
    weights (ones) are equal tensors, which the TorchScript exporter would merge into one initializer."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.1 + (1.0 if parameter.dim() == 1 else 0.0))
    return module


def export_all(folder):
    """Writes every export under `folder`; yields (file name, facts for expected.json)."""
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(1)
    llava = trained(llava_projector())
    blip2 = trained(Blip2Connector().eval())
    idefics2 = trained(idefics2_connector())

    def with_mask(forward):
        def call(module, features):
            return forward(module, features, attention_mask=torch.ones(features.shape[:2], dtype=torch.long))
        return call

    cases = [
        ("llava_projector_torchscript.onnx", Named("multi_modal_projector", llava), "torchscript"),
        ("llava_projector_dynamo.onnx", Named("multi_modal_projector", llava), "dynamo"),
        ("llava_projector_dynamo_optimized.onnx", Named("multi_modal_projector", llava), "dynamo-optimized"),
        ("llava_projector_bare.onnx", llava, "torchscript"),
        ("blip2_qformer_torchscript.onnx", blip2, "torchscript"),
        ("blip2_projection_bare.onnx", blip2.language_projection, "torchscript"),
        ("idefics2_connector_torchscript.onnx",
         Named("model.connector", idefics2, with_mask(lambda m, x, **k: m(x, **k))), "torchscript"),
        ("idefics2_connector_bare.onnx", Bare(idefics2, with_mask(type(idefics2).forward)), "torchscript"),
    ]
    for name, module, exporter in cases:
        export(module.eval(), os.path.join(folder, name), exporter)
        yield name, {"exporter": exporter, "parameters": [n for n, _ in module.named_parameters()]}


class Bare(torch.nn.Module):
    """A connector exported on its own whose forward needs more than the features: its children and
    parameters sit directly on this module (names without any prefix) and its class's forward runs on it."""

    def __init__(self, module, call):
        super().__init__()
        for name, child in module.named_children():
            self.add_module(name, child)
        for name, parameter in module.named_parameters(recurse=False):
            self.register_parameter(name, parameter)
        self.call = call

    def forward(self, features):
        return self.call(self, features)
