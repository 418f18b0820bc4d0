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

mlx-vlm (Idefics2): a tiny random `idefics2` model (mlx-vlm's classes) with its language model quantized by mlx
at 4 bits (group 64); the connector (modality projection and perceiver resampler, randomized) is saved apart as
f32 under transformers' names (`model.connector.…`, which `connkit validate` takes as idefics2), the rest under
mlx-vlm's own names. mlx-vlm's Idefics2 `sanitize` strips `model.`, so its modules are `connector.…`: connkit
writes each entry under both paths. Checked: the choice is mixed; every chosen module has both entries with its
bits; `load_model` makes each connector Linear a QuantizedLinear with connkit's bits (group 32) and keeps the LLM
at 4 bits; the loaded connector's output on features equals `connkit run` of the dequantized file (relative
max |difference| below 1e-5). Control: the config without the `connector.…` entries (only the file's names, as
connkit wrote them before) does not load.

mlx-vlm (Qwen2-VL): a tiny random `qwen2_vl` model (mlx-vlm's classes; vision 64 wide, Qwen2 128 wide quantized by
mlx at 4 bits, group 64); the merger (randomized LayerNorm) saved apart as f32 under transformers' pre-4.52 names
(`visual.merger.…`, which `connkit validate` takes as qwen2-vl). mlx-vlm's Qwen2-VL `sanitize` renames `visual` to
`vision_tower`: connkit writes each entry under both paths. Checked: the choice is mixed; both entries carry the
bits; `load_model` makes mlp.0 and mlp.2 QuantizedLinear with connkit's bits (group 32) and keeps the LLM at 4 bits;
the loaded merger called alone on features (in merge-window order, as its vision tower hands them over) equals
`connkit run` of the dequantized file. Control: the config with only the `visual.merger.…` entries does not load.

mlx-vlm (Qwen3-VL): a tiny random `qwen3_vl` model, its merger (`linear_fc1`, `linear_fc2`; not a connector connkit
detects) saved under transformers' names (`model.visual.merger.…`, which Qwen3-VL's `sanitize` renames to
`vision_tower.merger.…`) and re-encoded by connkit at mlx-q8, group 32 (`--only`). Checked: both entries; `load_model`
makes both Linears 8-bit group-32 QuantizedLinear; the merger's output equals the original merger's with its
weights replaced by `mx.dequantize(connkit's codes)` (and differs from the f32 merger's). Control as for Qwen2-VL.

mlx-lm (llama): a tiny random llama (mlx-lm's classes) with its attention quantized by mlx at 4 bits (group 64)
and its MLPs in f32; connkit re-encodes the MLPs at mlx-q8 with group size 32 (`--only`, no connector: mlx-lm
models have none connkit knows) and `--mlx-config` takes the config.json beside the input. Checked:
`mlx_lm.utils.load_model` makes every MLP projection an 8-bit group-32 QuantizedLinear and keeps attention
at 4 bits, and its logits equal those of the same model with the MLP weights replaced by
`mx.dequantize(connkit's codes)` (relative max |difference| below 1e-4).

    /work/main/venv/bin/python Tests/Fixtures/quant/check_mlx_vlm_load.py [path/to/connkit] [X] [X2] [X3]
(default `.build/release/connkit`, else `.build/debug/connkit`; X (LLaVA) default 0.9997, X2 (Idefics2) default
IDEFICS2_TARGET and X3 (Qwen2-VL) default QWEN2_VL_TARGET, where the choices are mixed.) Prints `ok` lines; any
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
from mlx.utils import tree_flatten, tree_unflatten

TEXT = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2, "intermediate_size": 512,
        "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 320,
        "rope_theta": 10000.0, "max_position_embeddings": 256, "tie_word_embeddings": False}
VISION = {"model_type": "clip_vision_model", "hidden_size": 128, "num_hidden_layers": 2, "intermediate_size": 256,
          "num_attention_heads": 4, "image_size": 56, "patch_size": 14, "projection_dim": 128, "num_channels": 3,
          "layer_norm_eps": 1e-5}

IDEFICS2_TEXT = dict(TEXT, model_type="mistral", hidden_size=128, intermediate_size=256, hidden_act="silu")
IDEFICS2_VISION = {"model_type": "idefics2_vision", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                   "num_attention_heads": 4, "image_size": 28, "patch_size": 14, "num_channels": 3}
PERCEIVER = {"model_type": "idefics2_perceiver", "hidden_size": 128, "hidden_act": "silu", "rms_norm_eps": 1e-5,
             "resampler_n_latents": 16, "resampler_depth": 2, "resampler_n_heads": 4, "resampler_head_dim": 32,
             "num_key_value_heads": 2}
IDEFICS2_TARGET = 0.9999

QWEN2_VL_TEXT = dict(TEXT, model_type="qwen2_vl", hidden_size=128, intermediate_size=256, num_key_value_heads=2)
QWEN2_VL_VISION = {"model_type": "qwen2_vl", "depth": 1, "embed_dim": 64, "hidden_size": 128, "num_heads": 4,
                   "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}
QWEN2_VL_TARGET = 0.9997

QWEN3_VL_TEXT = dict(TEXT, model_type="qwen3_vl", hidden_size=128, intermediate_size=256, num_key_value_heads=2, head_dim=32,
                     rope_scaling={"type": "default", "mrope_section": [8, 4, 4]})
QWEN3_VL_VISION = {"model_type": "qwen3_vl", "depth": 1, "hidden_size": 64, "intermediate_size": 128, "out_hidden_size": 128,
                   "num_heads": 4, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3,
                   "num_position_embeddings": 16, "deepstack_visual_indexes": []}


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


def module_at(model, path):
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def chosen_bits(report, prefixes=("", "")):
    """connkit's choice per quantized module: mlx-vlm's path (the tensor name without `.weight`, its file prefix
    `prefixes[1]` replaced by the loader's `prefixes[0]`)."""
    loader, file = prefixes
    return {loader + entry["name"][len(file): -len(".weight")]: int(entry["type"][len("mlx-q"):])
            for entry in report["tensors"] if entry["type"].startswith("mlx-q")}


def dequantized_copy(codes, bits_of, group_size):
    """The file's tensors with each quantized weight replaced by `mx.dequantize` of its codes."""
    result = {name: value for name, value in codes.items() if not name.endswith((".scales", ".biases"))}
    for module, bits in bits_of.items():
        result[module + ".weight"] = mx.dequantize(codes[module + ".weight"], codes[module + ".scales"],
                                                   codes[module + ".biases"], group_size=group_size, bits=bits)
    return result


def refusal(load_model, folder):
    """load_model's first error line on `folder`, which must not load."""
    try:
        load_model(folder)
    except ValueError as error:
        return str(error).splitlines()[0]
    raise AssertionError(f"{folder} loaded")


def quantized_folder(binary, target, work, name, model, config, connector, prefixes=("", "")):
    """The model folder NAME-out: the LLM of `model` quantized by mlx (4 bits, group 64, as mlx-vlm's convert
    would: the base config's top level) and every other weight but the connector's (module `connector`) under
    mlx-vlm's names; the connector saved as f32 (mlx-vlm's leading `prefixes[0]` written as the file's
    `prefixes[1]`) beside the base config in NAME-base
    and quantized by connkit into NAME-out with the ladder mlx-q4,mlx-q6,mlx-q8, group 32, and `--mlx-config`.
    Returns the base folder, the out folder, connkit's report and its choice (mlx-vlm's module paths: bits)."""
    nn.quantize(model.language_model, group_size=64, bits=4)
    config["quantization"] = {"group_size": 64, "bits": 4, "mode": "affine"}
    config["quantization_config"] = dict(config["quantization"])
    weights = dict(tree_flatten(model.parameters()))
    base, out = work / f"{name}-base", work / f"{name}-out"
    base.mkdir()
    out.mkdir()
    (base / "config.json").write_text(json.dumps(config, indent=2))
    loader, file = prefixes
    save(base / "connector.safetensors", {file + k[len(loader):]: v.astype(mx.float32) for k, v in weights.items()
                                          if k.startswith(connector + ".")})
    save(out / "model.safetensors", {k: v for k, v in weights.items() if not k.startswith(connector + ".")}, {"format": "mlx"})
    report = json.loads(connkit(binary, "quantize", str(base / "connector.safetensors"), str(out / "connector.safetensors"),
                                "--target-cosine", str(target), "--types", "mlx-q4,mlx-q6,mlx-q8", "--group-size", "32",
                                "--random", "256", "--seed", "0", "--mlx-config", str(out / "config.json"), "--json", "--quiet"))
    chosen = chosen_bits(report, prefixes)
    assert len(set(chosen.values())) > 1, f"not mixed at X = {target}: {chosen}"
    written = json.loads((out / "config.json").read_text())
    assert written["quantization"] == written["quantization_config"], "the two objects differ"
    assert {k: written["quantization"][k] for k in ("group_size", "bits", "mode")} == config["quantization"], written["quantization"]
    return base, out, report, chosen


def control_refusal(load_model, work, name, out, config):
    """load_model's refusal of NAME-control: NAME-out's weights with `config`."""
    control = work / f"{name}-control"
    control.mkdir()
    for file in ("model.safetensors", "connector.safetensors"):
        os.link(out / file, control / file)
    (control / "config.json").write_text(json.dumps(config))
    return refusal(load_model, control)


def check_loaded(loaded, chosen, attention):
    """Every chosen module a QuantizedLinear with connkit's bits (group 32); the LLM's `attention` at 4 bits, group 64."""
    for module, bits in chosen.items():
        layer = module_at(loaded, module)
        assert isinstance(layer, nn.QuantizedLinear), (module, type(layer))
        assert (layer.bits, layer.group_size) == (bits, 32), (module, layer.bits, layer.group_size)
    assert isinstance(attention, nn.QuantizedLinear) and (attention.bits, attention.group_size) == (4, 64), attention


def connkit_reference(binary, work, name, base, out, file_bits, features):
    """`connkit run` of NAME-out's connector with each quantized weight replaced by `mx.dequantize` of connkit's
    codes (mlx's own decoding of the file; connkit's forward pass reads float weights), on `features`."""
    (work / f"{name}-dequantized").mkdir()
    dequantized = work / f"{name}-dequantized" / "connector.safetensors"
    save(dequantized, dequantized_copy(mx.load(str(out / "connector.safetensors")), file_bits, 32))
    np.save(work / f"{name}-features.npy", features)
    connkit(binary, "run", str(dequantized), "--input", str(work / f"{name}-features.npy"), "--output", str(work / f"{name}-run.npy"),
            "--config", str(base / "config.json"), "--quiet")
    return np.load(work / f"{name}-run.npy")


def relative_difference(actual, expected):
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    difference = float(np.abs(actual - expected).max() / np.abs(expected).max())
    assert difference < 1e-5, difference
    return difference


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
    base, out, report, chosen = quantized_folder(binary, target, work, "llava", model, config, "multi_modal_projector")
    assert set(chosen) == {"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"}, chosen

    # Control: the same folder with the base config as it was (the LLM's object only) does not load.
    refused = control_refusal(load_model, work, "llava", out, config)

    loaded = load_model(out)
    check_loaded(loaded, chosen, loaded.language_model.model.layers[0].self_attn.q_proj)
    assert not isinstance(loaded.vision_tower.vision_model.encoder.layers[0].self_attn.q_proj, nn.QuantizedLinear)

    features = np.random.default_rng(7).standard_normal((64, VISION["hidden_size"])).astype(np.float32)
    expected = connkit_reference(binary, work, "llava", base, out, chosen, features)
    difference = relative_difference(np.array(loaded.multi_modal_projector(mx.array(features))), expected)
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
        module_at(model, module).weight = mx.dequantize(written[module + ".weight"], written[module + ".scales"],
                                                        written[module + ".biases"], group_size=32, bits=8)
    tokens = mx.array([[1, 5, 9, 42, 7, 300, 11, 3]])
    expected = np.array(model(tokens))
    actual = np.array(loaded(tokens))
    difference = float(np.abs(actual - expected).max() / np.abs(expected).max())
    assert difference < 1e-4, difference
    print(f"ok mlx-lm llama: {len(mlps)} MLP projections loaded as 8-bit group-32 QuantizedLinear beside 4-bit "
          f"attention; logits vs the mx.dequantize reference: relative max |diff| {difference:.2e}")


def check_idefics2(binary, target, work):
    from mlx_vlm.models import idefics2
    from mlx_vlm.utils import load_model, update_module_configs

    mx.random.seed(2)
    config = {"model_type": "idefics2", "architectures": ["Idefics2ForConditionalGeneration"], "text_config": IDEFICS2_TEXT,
              "vision_config": IDEFICS2_VISION, "perceiver_config": PERCEIVER, "image_token_id": 300}
    model_config = update_module_configs(idefics2.ModelConfig.from_dict(config), idefics2, config,
                                         ["text", "vision", "perceiver"])
    model = idefics2.Model(model_config)
    # Random norms and latents too (mlx-vlm starts them at ones), so that every connector tensor matters.
    model.connector.update(tree_unflatten([(name, value if "proj" in name else value + 0.2 * mx.random.normal(value.shape))
                                           for name, value in tree_flatten(model.connector.parameters())]))
    # The connector under transformers' names (`model.connector.…`, the file connkit reads).
    base, out, report, chosen = quantized_folder(binary, target, work, "idefics2", model, config, "connector", ("", "model."))
    validated = json.loads(connkit(binary, "validate", str(base / "connector.safetensors"), "--json"))
    assert validated["valid"] and validated["variant"] == "idefics2", validated
    assert len(chosen) == 3 + 7 * PERCEIVER["resampler_depth"], chosen  # every Linear of the connector
    written = json.loads((out / "config.json").read_text())["quantization"]
    for module, bits in chosen.items():
        expected = {"group_size": 32, "bits": bits, "mode": "affine"}
        assert written["model." + module] == expected and written[module] == expected, (module, written)

    # Control: only the file's names (connkit's config before it wrote mlx-vlm's path too) does not load.
    refused = control_refusal(load_model, work, "idefics2", out,
                              dict(config, quantization={k: v for k, v in written.items() if k not in chosen}))

    loaded = load_model(out)
    check_loaded(loaded, chosen, loaded.language_model.layers[0].self_attn.q_proj)
    assert not isinstance(loaded.vision_model.encoder.layers[0].self_attn.q_proj, nn.QuantizedLinear)

    features = np.random.default_rng(8).standard_normal((49, IDEFICS2_VISION["hidden_size"])).astype(np.float32)
    expected = connkit_reference(binary, work, "idefics2", base, out, {"model." + m: b for m, b in chosen.items()}, features)
    difference = relative_difference(np.array(loaded.connector(mx.array(features)[None]))[0], expected)
    counts = {bits: list(chosen.values()).count(bits) for bits in sorted(set(chosen.values()))}
    print(f"ok mlx-vlm idefics2: connkit chose bits {counts} (bits: modules) over {len(chosen)} connector modules at X = {target} "
          f"(achieved minimum cosine {report['target']['achieved']['cosine']['min']:.6f}); entries under model.connector.* and "
          f"connector.*; load_model made QuantizedLinear with those bits (group 32), kept the LLM at 4 bits (group 64); "
          f"connector output vs `connkit run` of the dequantized file: relative max |diff| {difference:.2e}")
    print(f"ok control: with only the model.connector.* entries, load_model refuses the folder: {refused}")


def check_qwen2_vl(binary, target, work):
    from mlx_vlm.models import qwen2_vl
    from mlx_vlm.utils import load_model, update_module_configs

    mx.random.seed(3)
    config = dict(QWEN2_VL_TEXT, architectures=["Qwen2VLForConditionalGeneration"], vision_config=QWEN2_VL_VISION)
    nested = dict(config)  # from_dict adds text_config (the top level's text keys), as load_model's copy gets
    model_config = update_module_configs(qwen2_vl.ModelConfig.from_dict(nested), qwen2_vl, nested, ["text", "vision"])
    model = qwen2_vl.Model(model_config)
    merger = model.vision_tower.merger
    merger.ln_q.update({"weight": 1 + 0.2 * mx.random.normal(merger.ln_q.weight.shape),
                        "bias": 0.2 * mx.random.normal(merger.ln_q.bias.shape)})
    # The merger under transformers' pre-4.52 names (`visual.merger.…`, which connkit validates as qwen2-vl and mlx-vlm's
    # Qwen2-VL `sanitize` renames to `vision_tower.merger.…`).
    base, out, report, chosen = quantized_folder(binary, target, work, "qwen2-vl", model, config, "vision_tower.merger",
                                                 ("vision_tower.", "visual."))
    validated = json.loads(connkit(binary, "validate", str(base / "connector.safetensors"), "--json"))
    assert validated["valid"] and validated["variant"] == "qwen2-vl", validated
    assert set(chosen) == {"vision_tower.merger.mlp.0", "vision_tower.merger.mlp.2"}, chosen
    written = json.loads((out / "config.json").read_text())["quantization"]
    for module, bits in chosen.items():
        expected = {"group_size": 32, "bits": bits, "mode": "affine"}
        file_module = "visual." + module[len("vision_tower."):]
        assert written[file_module] == expected and written[module] == expected, (module, written)

    # Control: only the file's names (what connkit wrote before it knew mlx-vlm's rename) does not load.
    refused = control_refusal(load_model, work, "qwen2-vl", out,
                              dict(config, quantization={k: v for k, v in written.items() if k not in chosen}))

    loaded = load_model(out)
    check_loaded(loaded, chosen, loaded.language_model.model.layers[0].self_attn.q_proj)
    assert not isinstance(loaded.vision_tower.blocks[0].attn.qkv, nn.QuantizedLinear)

    # The merger alone (mlx-vlm's vision tower orders patches by merge window before it; connkit's input is that order).
    features = np.random.default_rng(9).standard_normal((64, QWEN2_VL_VISION["embed_dim"])).astype(np.float32)
    file_bits = {"visual." + m[len("vision_tower."):]: b for m, b in chosen.items()}
    expected = connkit_reference(binary, work, "qwen2-vl", base, out, file_bits, features)
    difference = relative_difference(np.array(loaded.vision_tower.merger(mx.array(features))), expected)
    print(f"ok mlx-vlm qwen2-vl: connkit chose {chosen} at X = {target} (achieved minimum cosine "
          f"{report['target']['achieved']['cosine']['min']:.6f}); entries under visual.merger.* and vision_tower.merger.*; "
          f"load_model made QuantizedLinear with those bits (group 32), kept the LLM at 4 bits (group 64); "
          f"merger output vs `connkit run` of the dequantized file: relative max |diff| {difference:.2e}")
    print(f"ok control: with only the visual.merger.* entries, load_model refuses the folder: {refused}")


def check_qwen3_vl(binary, work):
    from mlx_vlm.models import qwen3_vl
    from mlx_vlm.utils import load_model

    mx.random.seed(4)
    config = {"model_type": "qwen3_vl", "architectures": ["Qwen3VLForConditionalGeneration"], "text_config": QWEN3_VL_TEXT,
              "vision_config": QWEN3_VL_VISION}
    model = qwen3_vl.Model(qwen3_vl.ModelConfig.from_dict(config))
    nn.quantize(model.language_model, group_size=64, bits=4)
    config["quantization"] = {"group_size": 64, "bits": 4, "mode": "affine"}
    weights = dict(tree_flatten(model.parameters()))
    merger = "vision_tower.merger."
    base, out = work / "qwen3-vl-base", work / "qwen3-vl-out"
    base.mkdir()
    out.mkdir()
    (base / "config.json").write_text(json.dumps(config, indent=2))
    # The merger under transformers' names (`model.visual.merger.…`; mlx-vlm's Qwen3-VL `sanitize` renames `model.visual`
    # to `vision_tower`). connkit knows no Qwen3-VL connector: its Linears are chosen with --only, as in the mlx-lm case.
    save(base / "merger.safetensors", {"model.visual." + k[len("vision_tower."):]: v.astype(mx.float32)
                                       for k, v in weights.items() if k.startswith(merger)})
    save(out / "model.safetensors", {k: v for k, v in weights.items() if not k.startswith(merger)}, {"format": "mlx"})
    report = json.loads(connkit(binary, "quantize", str(base / "merger.safetensors"), str(out / "connector.safetensors"),
                                "--type", "mlx-q8", "--group-size", "32", "--only", "model.visual.merger.linear_fc*",
                                "--mlx-config", str(out / "config.json"), "--json", "--quiet"))
    chosen = chosen_bits(report, ("vision_tower.", "model.visual."))
    assert chosen == {"vision_tower.merger.linear_fc1": 8, "vision_tower.merger.linear_fc2": 8}, chosen
    written = json.loads((out / "config.json").read_text())["quantization"]
    for module in chosen:
        expected = {"group_size": 32, "bits": 8, "mode": "affine"}
        assert written["model.visual." + module[len("vision_tower."):]] == expected and written[module] == expected, written

    # Control: without the vision_tower.merger.* entries the folder does not load.
    refused = control_refusal(load_model, work, "qwen3-vl", out,
                              dict(config, quantization={k: v for k, v in written.items() if k not in chosen}))

    loaded = load_model(out)
    check_loaded(loaded, chosen, loaded.language_model.model.layers[0].self_attn.q_proj)

    # Reference: the original merger with each Linear's weight replaced by mx.dequantize of connkit's codes (which
    # differs from the f32 merger's output: the comparison sees the codes).
    features = mx.array(np.random.default_rng(10).standard_normal((64, QWEN3_VL_VISION["hidden_size"])).astype(np.float32))
    unquantized = np.array(model.vision_tower.merger(features))
    codes = mx.load(str(out / "connector.safetensors"))
    for module in chosen:
        name = "model.visual." + module[len("vision_tower."):]
        module_at(model, module).weight = mx.dequantize(codes[name + ".weight"], codes[name + ".scales"],
                                                        codes[name + ".biases"], group_size=32, bits=8)
    actual = np.array(loaded.vision_tower.merger(features))
    difference = relative_difference(actual, np.array(model.vision_tower.merger(features)))
    assert float(np.abs(actual - unquantized).max() / np.abs(unquantized).max()) > 1e-4
    print(f"ok mlx-vlm qwen3-vl: merger linear_fc1/linear_fc2 at mlx-q8 (group 32) under model.visual.merger.* and "
          f"vision_tower.merger.*; load_model made them 8-bit group-32 QuantizedLinear, kept the LLM at 4 bits (group 64); "
          f"merger output vs the mx.dequantize reference: relative max |diff| {difference:.2e}")
    print(f"ok control: with only the model.visual.merger.* entries, load_model refuses the folder: {refused}")


def main():
    binary = connkit_binary(sys.argv[1] if len(sys.argv) > 1 else None)
    target = float(sys.argv[2]) if len(sys.argv) > 2 else 0.9997
    idefics2_target = float(sys.argv[3]) if len(sys.argv) > 3 else IDEFICS2_TARGET
    qwen2_vl_target = float(sys.argv[4]) if len(sys.argv) > 4 else QWEN2_VL_TARGET
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        check_mlx_vlm(os.path.abspath(binary), target, work)
        check_idefics2(os.path.abspath(binary), idefics2_target, work)
        check_qwen2_vl(os.path.abspath(binary), qwen2_vl_target, work)
        check_qwen3_vl(os.path.abspath(binary), work)
        check_mlx_lm(os.path.abspath(binary), work)


if __name__ == "__main__":
    main()
