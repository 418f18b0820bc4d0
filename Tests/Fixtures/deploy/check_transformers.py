#!/usr/bin/env python3
"""transformers' own verdict on `connkit convert --scheme hf|hf-legacy` (issue 14).

For every case of the runtime fixtures (Tests/Fixtures/runtime) whose family transformers serves, the
connector is converted by connkit from each scheme the case holds (the original repository's names,
LAVIS, llama.cpp's mmproj, transformers' own) into `hf` and `hf-legacy` (where the family has it), then
loaded by transformers as a user would: `from_pretrained` on a folder holding the case's config.json and
the converted file (only the connector: every other parameter is reported missing and initialised), with
`output_loading_info`. The converted tensors must all be used (no unexpected key, no mismatched shape, no
connector parameter missing), and the connector's parameters in the loaded model must equal the fixture's
transformers checkpoint exactly. For `hf` the connector's submodule also takes the tensors with
`load_state_dict(strict=True)`.

    swift build -c release
    /work/main/venv/bin/python Tests/Fixtures/deploy/check_transformers.py     # writes transformers.json

Records every (case, source scheme, target scheme) in transformers.json; the Swift tests check that it
covers every conversion connkit makes into those schemes and that all of them loaded.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
RUNTIME = os.path.join(REPO, "Tests", "Fixtures", "runtime")
CONNKIT = os.path.join(REPO, ".build", "release", "connkit")
# The transformers submodule that holds each family's connector (hf names; hf-legacy drops `model.`).
PREFIXES = {"mlp": ["model.multi_modal_projector.", "model.image_newline"], "qformer": ["query_tokens", "qformer.", "language_projection."],
            "perceiver-resampler": ["model.perceiver_resampler.", "model.gated_cross_attn_layers.", "model.connector."],
            "patch-merger": ["model.visual.merger."], "pixel-shuffle-mlp": ["model.multi_modal_projector.", "model.connector."]}


def convert(source_files, target, out, dims):
    argv = [CONNKIT, "convert", source_files[0], out, "--connector", "--scheme", target, "--quiet", "--force"]
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.returncode, result.stderr.strip()


def loadable(config):
    """The fixture's config.json states the connector's dimensions only; where a class default it leaves
    unset makes the rest of the model impossible (32 heads for a 48-wide LLM), the heads are set to 4.
    The connector's own settings are not touched."""
    configs = [config] + [getattr(config, name) for name in ("text_config", "vision_config", "perceiver_config")
                          if getattr(config, name, None) is not None]
    for sub in configs:
        hidden, heads = getattr(sub, "hidden_size", None), getattr(sub, "num_attention_heads", None)
        if isinstance(hidden, int) and isinstance(heads, int) and hidden % heads != 0:
            sub.num_attention_heads = 4
            if getattr(sub, "num_key_value_heads", None) is not None:
                sub.num_key_value_heads = 4
    return config


def load(case, config_path, converted, target):
    """from_pretrained on config + converted connector; returns (ok, detail)."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(config_path, folder + "/config.json")
        config = loadable(transformers.AutoConfig.from_pretrained(folder))
        config.save_pretrained(folder)
        shutil.copyfile(converted, folder + "/model.safetensors")
        cls = getattr(transformers, config.architectures[0])
        model, info = cls.from_pretrained(folder, output_loading_info=True)
    expected = load_file(os.path.join(RUNTIME, case["checkpoints"]["hf"][0]))
    state = model.state_dict()
    ours = list(expected)  # the connector's parameters: what the fixture's transformers checkpoint holds
    problems = []
    if info["unexpected_keys"]:
        problems.append(f"unexpected {sorted(info['unexpected_keys'])[:4]}")
    if info.get("mismatched_keys"):
        problems.append(f"mismatched {list(info['mismatched_keys'])[:4]}")
    missing = [k for k in info["missing_keys"] if k in ours]
    if missing:
        problems.append(f"connector parameters missing {missing[:4]}")
    for name, value in expected.items():
        if name not in state:
            problems.append(f"{name} not in the model")
        elif not torch.equal(state[name].float(), value.float()):
            problems.append(f"{name} differs")
    if target == "hf" and not problems:
        # The connector's submodule takes the converted tensors strictly.
        converted_state = load_file(converted)
        for prefix in PREFIXES[case["family"]]:
            if not prefix.endswith("."):
                continue
            part = {k[len(prefix):]: v for k, v in converted_state.items() if k.startswith(prefix)}
            if part:
                model.get_submodule(prefix.rstrip(".")).load_state_dict(part, strict=True)
    return not problems, "; ".join(problems) if problems else f"{len(ours)} connector parameters loaded, equal to the fixture's"


def main():
    manifest = json.load(open(os.path.join(RUNTIME, "manifest.json")))
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in manifest["cases"]:
            if "hf" not in case["checkpoints"] or case["family"] not in PREFIXES or case.get("expect_invalid", {}).get("hf"):
                continue
            targets = ["hf"] + (["hf-legacy"] if "hf-legacy" in case["checkpoints"] else [])
            for source in sorted(case["checkpoints"]):
                if source in case.get("expect_invalid", {}):
                    continue
                files = [os.path.join(RUNTIME, f) for f in case["checkpoints"][source]]
                for target in targets:
                    out = os.path.join(scratch, f"{case['name']}-{source}-{target}.safetensors")
                    status, stderr = convert(files, target, out, case["dims"])
                    entry = {"case": case["name"], "source": source, "target": target, "connkit_exit": status}
                    if status != 0:
                        entry.update(loaded=False, detail=stderr.splitlines()[-1] if stderr else "")
                    else:
                        ok, detail = load(case, os.path.join(RUNTIME, case["configs"][target]), out, target)
                        entry.update(loaded=ok, detail=detail)
                    print(f"{case['name']:14s} {source:10s} -> {target:9s}: {'ok' if entry['loaded'] else 'FAILED'} {entry['detail']}",
                          flush=True)
                    results.append(entry)
    with open(os.path.join(HERE, "transformers.json"), "w") as f:
        json.dump({"generator": "Tests/Fixtures/deploy/check_transformers.py", "transformers": transformers.__version__,
                   "torch": torch.__version__, "results": results}, f, indent=1)
        f.write("\n")
    if not all(r["loaded"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
