"""Writing one set of connector weights under the names of a checkpoint naming scheme.

A scheme's checkpoint is a list of files relative to the fixture folder: `model.safetensors` (+
`config.json` when the scheme's dimensions need it) or an mmproj `mmproj.gguf` written with gguf-py the
way llama.cpp's converters write them (2-D `*.weight` tensors in f16, everything else in f32; the
legacy converter squeezes size-1 axes). Every weight of the fixtures is exactly representable in f16
(generate.py rounds them), so an f16 tensor in an mmproj holds the same values as the f32 safetensors
of the other schemes and every scheme must give the same output bits.
"""
import json
import os
import re

import gguf
import numpy as np
import torch
from safetensors.numpy import save_file


def numpy_f32(tensor):
    return tensor.detach().to(torch.float32).contiguous().numpy()


def renamed(state, rules):
    """`state` with every name rewritten by the first matching (regex, replacement) rule; a name no rule
    matches is an error (so a module change cannot silently drop a tensor)."""
    result = {}
    for name, value in state.items():
        for pattern, replacement in rules:
            match = re.fullmatch(pattern, name)
            if match:
                result[match.expand(replacement)] = value
                break
        else:
            raise KeyError(f"no naming rule for {name}")
    return result


def prefixed(state, prefix):
    return {prefix + name: value for name, value in state.items()}


class Checkpoint:
    """One scheme's files: tensors (torch, PyTorch shapes), format, optional config and GGUF metadata."""

    def __init__(self, scheme, tensors, fmt="safetensors", config=None, metadata=None, squeeze=False,
                 f16_names=None):
        self.scheme = scheme
        self.tensors = tensors
        self.fmt = fmt
        self.config = config
        self.metadata = metadata or {}
        self.squeeze = squeeze
        self.f16_names = f16_names

    def write(self, root, folder):
        """Writes the files under root/folder; returns (relative files, relative config or None)."""
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        config_rel = None
        if self.config is not None:
            config_rel = os.path.join(folder, "config.json")
            with open(os.path.join(root, config_rel), "w") as f:
                json.dump(self.config, f, indent=1, sort_keys=True)
                f.write("\n")
        if self.fmt == "safetensors":
            rel = os.path.join(folder, "model.safetensors")
            arrays = {name: numpy_f32(t) for name, t in self.tensors.items()}
            save_file(arrays, os.path.join(root, rel), metadata={"format": "pt"})
        else:
            rel = os.path.join(folder, "mmproj.gguf")
            write_mmproj(os.path.join(root, rel), self.tensors, self.metadata, squeeze=self.squeeze, f16_names=self.f16_names)
        return [rel], config_rel


def write_mmproj(path, tensors, metadata, squeeze=False, f16_names=None):
    """An mmproj GGUF as llama.cpp's converters write it (ftype 1: 2-D `.weight` tensors f16, others f32)."""
    writer = gguf.GGUFWriter(path, arch="clip")
    for key, value in metadata.items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        elif key == "clip.minicpmv_version":
            writer.add_int32(key, value)
        else:
            writer.add_uint32(key, value)
    writer.add_file_type(1)
    for name, tensor in tensors.items():
        data = numpy_f32(tensor)
        if squeeze:
            data = data.squeeze()
        to_f16 = name.endswith(".weight") and data.ndim == 2 if f16_names is None else name in f16_names
        if to_f16:
            half = data.astype(np.float16)
            assert np.array_equal(half.astype(np.float32), data), f"{name} is not f16-representable"
            data = half
        writer.add_tensor(name, np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llava_vision_metadata(d_enc, grid, projector_type):
    """The legacy convert_image_encoder_to_gguf.py keys for a LLaVA-style mmproj (vision tower not
    included in the fixture; image and patch size chosen so the patch grid matches the fixture)."""
    return {
        "clip.has_text_encoder": False, "clip.has_vision_encoder": True, "clip.has_llava_projector": True,
        "clip.projector_type": projector_type, "clip.vision.embedding_length": d_enc,
        "clip.vision.image_size": 14 * grid, "clip.vision.patch_size": 14,
    }
