#!/usr/bin/env python3
"""Connectors saved on their own, as users save them, for connkit's detection tests.

Run with the project venv (torch, transformers, safetensors, numpy):

    /work/main/venv/bin/python Tests/Fixtures/graph/saved/generate.py

Writes, next to this script (small widths, seeded values):
  llava-mm_projector.bin        torch.save(model.mm_projector.state_dict()) of LLaVA's mlp2x_gelu projector
                                (builder.py's nn.Sequential: `0.weight`, `0.bias`, `2.weight`, `2.bias`), f16
  llava-mlp3x.bin               the same for mlp3x_gelu (`0`, `2`, `4`), f32
  hf-projector.safetensors      transformers' `model.multi_modal_projector.state_dict()` (LlavaMultiModalProjector:
                                `linear_1.*`, `linear_2.*`) saved with safetensors, f32
  projector-prefixed.safetensors  the LLaVA projector under a user's own prefix (`projector.0.weight`, ...)
  connector-merger.safetensors  transformers' Qwen2-VL PatchMerger state dict under `connector.` (`connector.ln_q.*`,
                                `connector.mlp.0.*`, `connector.mlp.2.*`): the `mlp.*` roles inside it are the
                                merger's, not an MLP projector's
  linear-bare.safetensors       a LLaVA-1.0 `linear` projector (nn.Linear) saved on its own: `weight`, `bias`
  weight-only.safetensors       an Idefics3 connector's modality projection (nn.Linear without bias) on its own:
                                `weight` alone, which fits no family without --family
  nonfinite.safetensors         the transformers projector with NaN and infinite values planted in linear_1.weight
  expected.json                 per file: the names and shapes torch wrote, the expected detection, and for
                                nonfinite.safetensors the non-finite positions numpy finds (flat index and
                                np.unravel_index), in storage order
"""

import collections
import json
import os

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file
import transformers
from transformers import LlavaConfig
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector
from transformers.models.qwen2_vl.modeling_qwen2_vl import PatchMerger

HERE = os.path.dirname(os.path.abspath(__file__))
transformers.logging.set_verbosity_error()
ENCODER, LLM = 32, 64


def llava_projector(depth):
    """haotian-liu/LLaVA llava/model/multimodal_projector/builder.py, mlp{depth}x_gelu."""
    modules = [nn.Linear(ENCODER, LLM)]
    for _ in range(1, depth):
        modules += [nn.GELU(), nn.Linear(LLM, LLM)]
    return nn.Sequential(*modules)


def hf_projector():
    config = LlavaConfig(vision_config={"model_type": "clip_vision_model", "hidden_size": ENCODER, "num_attention_heads": 4},
                         text_config={"model_type": "llama", "hidden_size": LLM, "num_attention_heads": 4})
    return LlavaMultiModalProjector(config)


def contiguous(state):
    return collections.OrderedDict((k, v.detach().contiguous().clone()) for k, v in state.items())


def describe(state):
    return [[k, list(v.shape)] for k, v in state.items()]


def main():
    torch.manual_seed(0)
    expected = {}

    def record(name, state, **expect):
        expected[name] = {"tensors": describe(state), "expect": expect}

    sd = contiguous(llava_projector(2).half().state_dict())
    torch.save(sd, os.path.join(HERE, "llava-mm_projector.bin"))
    record("llava-mm_projector.bin", sd, family="mlp", variant="mlp2x_gelu", scheme="llava", prefix="")

    sd = contiguous(llava_projector(3).state_dict())
    torch.save(sd, os.path.join(HERE, "llava-mlp3x.bin"))
    record("llava-mlp3x.bin", sd, family="mlp", variant="mlp3x_gelu", scheme="llava", prefix="")

    sd = contiguous(hf_projector().state_dict())
    save_file(sd, os.path.join(HERE, "hf-projector.safetensors"))
    record("hf-projector.safetensors", sd, family="mlp", variant="mlp2x_gelu", scheme="hf", prefix="")

    sd = contiguous(collections.OrderedDict(("projector." + k, v) for k, v in llava_projector(2).state_dict().items()))
    save_file(sd, os.path.join(HERE, "projector-prefixed.safetensors"))
    record("projector-prefixed.safetensors", sd, family="mlp", variant="mlp2x_gelu", scheme="llava", prefix="projector.")

    merger = PatchMerger(dim=LLM, context_dim=16, spatial_merge_size=2)
    sd = contiguous(collections.OrderedDict(("connector." + k, v) for k, v in merger.state_dict().items()))
    save_file(sd, os.path.join(HERE, "connector-merger.safetensors"))
    record("connector-merger.safetensors", sd, family="patch-merger", variant="qwen2-vl", scheme="hf", prefix="connector.")

    sd = contiguous(nn.Linear(ENCODER, LLM).state_dict())
    save_file(sd, os.path.join(HERE, "linear-bare.safetensors"))
    record("linear-bare.safetensors", sd, family="linear", variant="linear", scheme="llava", prefix="")

    sd = contiguous(nn.Linear(ENCODER * 4, LLM, bias=False).state_dict())
    save_file(sd, os.path.join(HERE, "weight-only.safetensors"))
    record("weight-only.safetensors", sd, family="pixel-shuffle-mlp", variant="idefics3", scheme="hf", prefix="",
           needs_family="pixel-shuffle-mlp")

    sd = contiguous(hf_projector().state_dict())
    weight = sd["linear_1.weight"]
    for (row, column), value in [((3, 17), float("nan")), ((10, 5), float("inf")), ((10, 6), float("-inf")),
                                 ((63, 31), float("nan"))]:
        weight[row, column] = value
    save_file(sd, os.path.join(HERE, "nonfinite.safetensors"))
    values = weight.numpy()
    flat = np.flatnonzero(~np.isfinite(values))
    record("nonfinite.safetensors", sd, family="mlp", variant="mlp2x_gelu", scheme="hf", prefix="",
           nonfinite={"tensor": "linear_1.weight", "nan": int(np.isnan(values).sum()), "infinite": int(np.isinf(values).sum()),
                      "positions": [{"flat": int(f), "index": [int(i) for i in np.unravel_index(f, values.shape)]} for f in flat]})

    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()
