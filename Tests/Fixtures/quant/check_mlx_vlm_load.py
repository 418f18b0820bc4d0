#!/usr/bin/env python3
"""Checks with the real loaders (mlx-vlm's and mlx-lm's `load_model`, not connkit) that a model folder whose
connector `connkit quantize --target-cosine X --mlx-config OUT/config.json` wrote loads with the bits connkit
chose, and computes what `connkit run` computes on the quantized file.

mlx-vlm (LLaVA): a tiny random `llava` model (CLIP vision tower, llama text model) is built with mlx-vlm's own
classes; its language model is quantized to 4 bits by mlx (`nn.quantize`), so the base config.json carries an
LLM `quantization` object that `--mlx-config` must keep. The projector (transformers' names,
`multi_modal_projector.linear_{1,2}`) is saved apart as f32, and connkit quantizes it under a target with the
ladder mlx-q4,mlx-q6,mlx-q8 (group size 32, not the LLM's 64) into the model folder. Checked: the choice is
mixed (two different bit widths); `mlx_vlm.utils.load_model` turns each projector Linear into a
QuantizedLinear with connkit's bits and group size and keeps the LLM's 4-bit layers; the loaded projector's
output on features equals `connkit run` of the file with each weight replaced by `mx.dequantize` of connkit's
codes (`connkit run` reads float weights only; max |difference| relative to max |output| below 1e-5). Control:
the same folder with the base config unchanged does not load (mlx-vlm applies the LLM's 4-bit group-64
parameters to the projector's codes).

mlx-lm (llama): a tiny random llama (mlx-lm's classes) with its attention quantized by mlx at 4 bits (group 64)
and its MLPs in f32; connkit re-encodes the MLPs at mlx-q8 with group size 32 (`--only`, no connector: mlx-lm
models have none connkit knows) and `--mlx-config` takes the config.json beside the input. Checked:
`mlx_lm.utils.load_model` makes every MLP projection an 8-bit group-32 QuantizedLinear and keeps attention
at 4 bits, and its logits equal those of the same model with the MLP weights replaced by
`mx.dequantize(connkit's codes)` (relative max |difference| below 1e-4).

    /work/main/venv/bin/python Tests/Fixtures/quant/check_mlx_vlm_load.py [path/to/connkit] [X]
(default `.build/release/connkit`, else `.build/debug/connkit`; X default 0.9997, where the choice is mixed.) Prints `ok` lines; any
failure raises.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

TEXT = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2, "intermediate_size": 512,
        "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 320,
        "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False}
VISION = {"model_type": "clip_vision_model", "hidden_size": 128, "num_hidden_layers": 2, "intermediate_size": 256,
          "num_attention_heads": 4, "image_size": 56, "patch_size": 14, "projection_dim": 128, "num_channels": 3,
          "layer_norm_eps": 1e-5}


def connkit_binary(argument):
    if argument:
        return argument
    for build in ("release", "debug"):
        path = Path(".build") / build / "connkit"
        if path.exists():
            return str(path)
    raise SystemExit("no connkit binary: swift build first, or give its path")


def connkit(binary, *arguments):
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"connkit {' '.join(arguments)} exited {result.returncode}: "
                         f"{(result.stderr + result.stdout).strip()}")
    return result.stdout


def save(path, weights, metadata=None):
    mx.save_safetensors(str(path), weights, metadata=metadata or {})


def check_mlx_vlm(binary, target, work):
    from mlx_vlm.models import llava
    from mlx_vlm.utils import load_model, update_module_configs

    mx.random.seed(0)
    config = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "text_config": TEXT,
              "vision_config": VISION, "image_token_index": 300, "vocab_size": TEXT["vocab_size"],
              "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "projector_hidden_act": "gelu"}
    model_config = update_module_configs(llava.ModelConfig.from_dict(config), llava, config,
                                         ["text", "vision", "projector"])
    model = llava.Model(model_config)
    # The LLM quantized by mlx, as mlx-vlm's convert would: the base config's top level.
    nn.quantize(model.language_model, group_size=64, bits=4)
    config["quantization"] = {"group_size": 64, "bits": 4, "mode": "affine"}
    config["quantization_config"] = dict(config["quantization"])
    weights = dict(tree_flatten(model.parameters()))
    projector = {k: v.astype(mx.float32) for k, v in weights.items() if k.startswith("multi_modal_projector.")}
    rest = {k: v for k, v in weights.items() if not k.startswith("multi_modal_projector.")}

    base, out = work / "llava-base", work / "llava-out"
    base.mkdir()
    out.mkdir()
    (base / "config.json").write_text(json.dumps(config, indent=2))
    save(base / "connector.safetensors", projector)
    save(out / "model.safetensors", rest, {"format": "mlx"})

    report = json.loads(connkit(binary, "quantize", str(base / "connector.safetensors"), str(out / "connector.safetensors"),
                                "--target-cosine", str(target), "--types", "mlx-q4,mlx-q6,mlx-q8", "--group-size", "32",
                                "--random", "256", "--seed", "0", "--mlx-config", str(out / "config.json"), "--json", "--quiet"))
    chosen = {entry["name"][: -len(".weight")]: int(entry["type"][len("mlx-q"):])
              for entry in report["tensors"] if entry["type"].startswith("mlx-q")}
    assert set(chosen) == {"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"}, chosen
    assert len(set(chosen.values())) > 1, f"not mixed at X = {target}: {chosen}"
    written = json.loads((out / "config.json").read_text())
    assert written["quantization"] == written["quantization_config"], "the two objects differ"
    assert {k: written["quantization"][k] for k in ("group_size", "bits", "mode")} == config["quantization"], written["quantization"]

    # Control: the same folder with the base config as it was (the LLM's object only) does not load.
    control = work / "llava-control"
    control.mkdir()
    for name in ("model.safetensors", "connector.safetensors"):
        os.link(out / name, control / name)
    (control / "config.json").write_text(json.dumps(config))
    try:
        load_model(control)
    except ValueError as error:
        refused = str(error).splitlines()[0]
    else:
        raise AssertionError("the folder loaded without connkit's config")

    loaded = load_model(out)
    for module, bits in chosen.items():
        layer = loaded
        for part in module.split("."):
            layer = getattr(layer, part)
        assert isinstance(layer, nn.QuantizedLinear), (module, type(layer))
        assert (layer.bits, layer.group_size) == (bits, 32), (module, layer.bits, layer.group_size)
    attention = loaded.language_model.model.layers[0].self_attn.q_proj
    assert isinstance(attention, nn.QuantizedLinear) and (attention.bits, attention.group_size) == (4, 64), attention
    assert not isinstance(loaded.vision_tower.vision_model.encoder.layers[0].self_attn.q_proj, nn.QuantizedLinear)

    # connkit's forward pass reads float weights: it runs the connector with each quantized weight replaced by
    # mx.dequantize of connkit's codes (mlx's own decoding of the file), beside the loaded QuantizedLinear layers.
    codes = mx.load(str(out / "connector.safetensors"))
    dequantized = {name: value for name, value in codes.items() if not name.endswith((".scales", ".biases"))}
    for module, bits in chosen.items():
        dequantized[module + ".weight"] = mx.dequantize(codes[module + ".weight"], codes[module + ".scales"],
                                                        codes[module + ".biases"], group_size=32, bits=bits)
    (work / "dequantized").mkdir()
    save(work / "dequantized" / "connector.safetensors", dequantized)
    features = np.random.default_rng(7).standard_normal((64, VISION["hidden_size"])).astype(np.float32)
    np.save(work / "features.npy", features)
    connkit(binary, "run", str(work / "dequantized" / "connector.safetensors"), "--input", str(work / "features.npy"),
            "--output", str(work / "connkit-run.npy"), "--config", str(base / "config.json"), "--quiet")
    expected = np.load(work / "connkit-run.npy")
    actual = np.array(loaded.multi_modal_projector(mx.array(features)))
    difference = float(np.abs(actual - expected).max() / np.abs(expected).max())
    assert difference < 1e-5, difference
    print(f"ok mlx-vlm llava: connkit chose {chosen} at X = {target} (achieved minimum cosine "
          f"{report['target']['achieved']['cosine']['min']:.6f}); load_model made QuantizedLinear with those bits (group 32), "
          f"kept the LLM at 4 bits (group 64); projector output vs `connkit run` of the dequantized file: relative max |diff| {difference:.2e}")
    print(f"ok control: with the base config unchanged, load_model refuses the folder: {refused}")


def check_mlx_lm(binary, work):
    from mlx_lm.models import llama
    from mlx_lm.utils import load_model

    mx.random.seed(1)
    config = dict(TEXT)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    nn.quantize(model, group_size=64, bits=4, class_predicate=lambda path, module: "self_attn" in path and isinstance(module, nn.Linear))
    config["quantization"] = {"group_size": 64, "bits": 4, "mode": "affine"}
    weights = {k: (v.astype(mx.float32) if v.dtype != mx.uint32 else v) for k, v in tree_flatten(model.parameters())}
    source, out = work / "llama-base", work / "llama-out"
    source.mkdir()
    out.mkdir()
    (source / "config.json").write_text(json.dumps(config, indent=2))
    save(source / "model.safetensors", weights, {"format": "mlx"})
    report = json.loads(connkit(binary, "quantize", str(source / "model.safetensors"), str(out / "model.safetensors"),
                                "--type", "mlx-q8", "--group-size", "32", "--only", "*.mlp.*",
                                "--mlx-config", str(out / "config.json"), "--json", "--quiet"))
    mlps = [entry["name"][: -len(".weight")] for entry in report["tensors"] if entry["type"] == "mlx-q8"]
    assert len(mlps) == 3 * TEXT["num_hidden_layers"], mlps

    loaded, _ = load_model(out)
    for layer in loaded.model.layers:
        for name in ("gate_proj", "up_proj", "down_proj"):
            projection = getattr(layer.mlp, name)
            assert isinstance(projection, nn.QuantizedLinear) and (projection.bits, projection.group_size) == (8, 32), name
        assert isinstance(layer.self_attn.q_proj, nn.QuantizedLinear) and layer.self_attn.q_proj.bits == 4

    # Reference: the original model with each MLP weight replaced by mx.dequantize of connkit's codes.
    written = mx.load(str(out / "model.safetensors"))
    for module in mlps:
        values = mx.dequantize(written[module + ".weight"], written[module + ".scales"], written[module + ".biases"],
                               group_size=32, bits=8)
        layer = model
        for part in module.split("."):
            layer = layer[int(part)] if part.isdigit() else getattr(layer, part)
        layer.weight = values
    tokens = mx.array([[1, 5, 9, 42, 7, 300, 11, 3]])
    expected = np.array(model(tokens))
    actual = np.array(loaded(tokens))
    difference = float(np.abs(actual - expected).max() / np.abs(expected).max())
    assert difference < 1e-4, difference
    print(f"ok mlx-lm llama: {len(mlps)} MLP projections loaded as 8-bit group-32 QuantizedLinear beside 4-bit "
          f"attention; logits vs the mx.dequantize reference: relative max |diff| {difference:.2e}")


def main():
    binary = connkit_binary(sys.argv[1] if len(sys.argv) > 1 else None)
    target = float(sys.argv[2]) if len(sys.argv) > 2 else 0.9997
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        check_mlx_vlm(os.path.abspath(binary), target, work)
        check_mlx_lm(os.path.abspath(binary), work)


if __name__ == "__main__":
    main()
