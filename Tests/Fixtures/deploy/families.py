"""The tiny models behind the llama.cpp fixtures: for each family that both transformers and llama.cpp
serve, a seeded transformers model (or, for LLaVA-1.5, the CLIP tower and the original repository's
projector), written as llama.cpp's converter expects it, and a second seeded connector of the same kind
(the one spliced in) with its transformers module for the reference.

Each family's `build(seed)` returns a `Model`:
  folder(dir)      writes what llama.cpp's converter reads (save_pretrained + preprocessor config, or the
                   CLIP tower + llava.projector) and returns the converter command's arguments;
  connector(path)  writes the connector in the family's own scheme (mm_projector.bin, transformers names);
  projector()      the transformers module that runs the connector (weights set);
  capture          what the probe takes from llama.cpp's graph: the tensor the connector reads.
"""
import json
import os
from dataclasses import dataclass
from typing import Callable

import torch
from safetensors.torch import save_file

from casekit import randomize

D_LLM = 48  # the text model's width (one tiny Llama serves every family)


@dataclass
class Model:
    folder: Callable
    connector: Callable
    projector: Callable
    capture: dict
    connector_file: str
    scheme: str


def state_of(module, prefix=""):
    return {prefix + k: v.detach().clone().contiguous() for k, v in module.state_dict().items() if v.is_floating_point()}


# LLaVA-1.5: a CLIP vision tower and the original repository's mlp2x_gelu projector (llava/model/
# multimodal_projector/builder.py: Sequential(Linear, GELU, Linear)), converted by
# tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py, which convert_hf_to_gguf.py --mmproj does not replace.
def llava(seed, d_enc=32, d_out=D_LLM, depth=2):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer, LlavaConfig
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    vision = dict(hidden_size=d_enc, intermediate_size=2 * d_enc, num_hidden_layers=3, num_attention_heads=4, image_size=56,
                  patch_size=14, hidden_act="quick_gelu")
    layers = [torch.nn.Linear(d_enc, d_out)]
    for _ in range(depth - 1):
        layers += [torch.nn.GELU(), torch.nn.Linear(d_out, d_out)]
    projector = randomize(torch.nn.Sequential(*layers), f"llava projector {seed}")
    state = state_of(projector, "model.mm_projector.")

    def folder(directory):
        # A whole CLIPModel, as openai/clip-vit-large-patch14-336 is: the legacy converter reads its
        # vision_model (transformers 5's CLIPVisionModel no longer nests one) and its processor.
        clip = directory + "/clip"
        config = CLIPConfig(vision_config=vision, text_config=dict(hidden_size=d_enc, intermediate_size=2 * d_enc, num_hidden_layers=1,
                                                                   num_attention_heads=4, vocab_size=8), projection_dim=40)
        randomize(CLIPModel(config), f"clip {seed}").save_pretrained(clip)
        CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}).save_pretrained(clip)
        os.makedirs(directory + "/vocab", exist_ok=True)
        with open(directory + "/vocab/vocab.json", "w") as f:
            json.dump({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "b</w>": 3, "c</w>": 4, "a": 5, "b": 6, "c": 7}, f)
        with open(directory + "/vocab/merges.txt", "w") as f:
            f.write("#version: 0.2\n")
        CLIPTokenizer(directory + "/vocab/vocab.json", directory + "/vocab/merges.txt").save_pretrained(clip)
        if os.path.exists(clip + "/vocab.json"):
            os.remove(clip + "/vocab.json")  # the converter reads a text vocabulary from it when present
        torch.save(state, directory + "/llava.projector")
        return ["tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py", "-m", clip, "--llava-projector",
                directory + "/llava.projector", "--output-dir", directory + "/out", "--projector-type", "mlp"]

    def connector(path):
        torch.save(state, path)

    def reference():
        if depth != 2:  # transformers' projector is mlp2x_gelu only; the repository's builder runs the rest
            return lambda features: projector(features.reshape(-1, features.shape[-1]))
        config = LlavaConfig(vision_config=dict(model_type="clip_vision_model", **vision), text_config={"model_type": "llama", "hidden_size": d_out, "num_attention_heads": 4, "num_key_value_heads": 4},
                             projector_hidden_act="gelu")
        module = LlavaMultiModalProjector(config)
        module.load_state_dict({"linear_1.weight": state["model.mm_projector.0.weight"], "linear_1.bias": state["model.mm_projector.0.bias"],
                                "linear_2.weight": state["model.mm_projector.2.weight"], "linear_2.bias": state["model.mm_projector.2.bias"]})
        return lambda features: module(features.reshape(-1, features.shape[-1]))

    return Model(folder, connector, reference, {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}, "mm_projector.bin", "llava")


def _hf_family(seed, make_model, save_processor, prefix, capture, reference):
    """A transformers model written with save_pretrained for `convert_hf_to_gguf.py --mmproj`; its connector
    is the submodule under `prefix`, written in transformers' names."""
    model = randomize(make_model(), f"{prefix} {seed}")
    submodule = model.get_submodule(prefix.rstrip("."))

    def folder(directory):
        model.save_pretrained(directory + "/model")
        save_processor(directory + "/model")
        return ["convert_hf_to_gguf.py", directory + "/model", "--mmproj", "--outtype", "f16", "--outfile", directory + "/out/mmproj.gguf"]

    def connector(path):
        save_file(state_of(submodule, prefix), path, metadata={"format": "pt"})

    return Model(folder, connector, lambda: reference(submodule), capture, "model.safetensors", "hf")


def qwen2_vl(seed, rms=False):
    if rms:
        from transformers import Qwen2_5_VLConfig as Config, Qwen2_5_VLForConditionalGeneration as Class
        vision = dict(depth=4, hidden_size=32, out_hidden_size=D_LLM, intermediate_size=64, num_heads=2, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1, 3])
    else:
        from transformers import Qwen2VLConfig as Config, Qwen2VLForConditionalGeneration as Class
        vision = dict(depth=3, embed_dim=32, hidden_size=D_LLM, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                      temporal_patch_size=2)
    from transformers import Qwen2VLImageProcessor
    text = dict(hidden_size=D_LLM, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4,
                vocab_size=290, rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]})
    return _hf_family(seed, lambda: Class(Config(vision_config=vision, text_config=text)),
                      lambda d: Qwen2VLImageProcessor().save_pretrained(d), "model.visual.merger.",
                      {"kind": "norm-input", "weight": "v.post_ln.weight"},
                      lambda merger: (lambda features: merger(features.reshape(-1, features.shape[-1]))))


def idefics3(seed):
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor

    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=56, patch_size=14)
    text = dict(model_type="llama", hidden_size=D_LLM, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
                num_key_value_heads=4, vocab_size=290)

    def processor(directory):
        Idefics3ImageProcessor(size={"longest_edge": 56}, max_image_size={"longest_edge": 56}).save_pretrained(directory)

    def reference(connector):
        return lambda features: connector(features.reshape(1, -1, features.shape[-1]))[0]

    return _hf_family(seed, lambda: Idefics3ForConditionalGeneration(Idefics3Config(vision_config=vision, text_config=text, scale_factor=2)),
                      processor, "model.connector.", {"kind": "output", "op": "ADD", "weight": "v.post_ln.bias"}, reference)


FAMILIES = {
    "llava-1.5": llava,
    "qwen2-vl": lambda seed: qwen2_vl(seed, rms=False),
    "qwen2.5-vl": lambda seed: qwen2_vl(seed, rms=True),
    "idefics3": idefics3,
}


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=False)
        f.write("\n")
