#!/usr/bin/env python3
"""ONNX export fixtures: every forward-pass fixture (Tests/Fixtures/runtime) exported by `connkit export`,
checked by onnx and run by ONNX Runtime, against `connkit run` on the same features.

For each case and naming scheme (f32, opset 17), for each case's first scheme in f16, at opsets 18 and 24,
with --dynamic where the computation allows it (run at the fixture's token count and at twice it), for a few
cases with --external-data, at another token count (LDPv2's unequal adaptive pooling windows) and from a
block-quantized checkpoint (Qwen2-VL's mmproj in q8_0, made by `connkit quantize`), this script

  1. runs `connkit export` (the arguments are recorded, relative to the repository root),
  2. checks the model with `onnx.checker.check_model(full_check=True)`,
  3. runs it with onnxruntime's CPU provider on the fixture's features (cast to f16 for an f16 model),
  4. runs `connkit run` on the same features and compares, per token: cosine >= 0.99999 and
     max |Δ| <= 1e-4 · max |run| for f32 models, cosine >= 0.999 for f16 ones (and the same bounds
     against the PyTorch reference of the fixture),

and writes manifest.json (per export: arguments, the model's SHA-256 and size, the onnxruntime output
file, the measured bounds, the package versions) and the onnxruntime outputs (<case>/<name>.npy, in the
model's dtype). `swift test` re-runs each export, checks that it produces the same bytes (so the model
onnxruntime ran is the one connkit writes), and compares the committed outputs with `connkit run`: no
Python needed. Anything connkit changes in a model's bytes (its emission, the version it records) needs
this script re-run.

    /work/main/venv/bin/python Tests/Fixtures/onnx-export/generate.py [--connkit PATH]
    /work/main/venv/bin/python Tests/Fixtures/onnx-export/generate.py --fixtures DIR --report --primary-only
        # a folder of `Tests/Fixtures/runtime/generate.py --real --out DIR`: each release's real dimensions
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
sys.path.insert(0, os.path.join(ROOT, "Tests/Fixtures/runtime"))
from accuracy import per_token_cosine  # noqa: E402  (the forward-pass fixtures' measure)
BOUNDS = {"f32": (0.99999, 1e-4), "f16": (0.999, None)}


def closeness(reference, output):
    reference = reference.astype(np.float64)
    scale = float(np.abs(reference).max()) or 1.0
    cosine = float(per_token_cosine(reference, output).min())
    relative = float(np.abs(output.astype(np.float64) - reference).max()) / scale
    return cosine, relative


def within(dtype, cosine, relative):
    min_cosine, max_relative = BOUNDS[dtype]
    return cosine >= min_cosine and (max_relative is None or relative <= max_relative)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def relative_to_root(path):
    return os.path.relpath(os.path.abspath(path), ROOT)


def connkit(binary, arguments):
    result = subprocess.run([binary, *arguments], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"connkit {' '.join(arguments)}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def dims_arguments(entry, scheme, grid=True):
    arguments = []
    if grid and entry["grid"]:
        arguments += ["--grid", f"{entry['grid'][0]}x{entry['grid'][1]}"]
    for key, value in entry["cli_dims"].get(scheme, {}).items():
        arguments += ["--dim", f"{key}={value}"]
    return arguments


def batched(features):
    return features if features.ndim == 3 else features[None]


# Token counts run besides the fixture's, on seeded standard-normal features: LDPv2's adaptive pooling of a
# 25x25 grid to 12x12 cells has unequal windows (a product with the pooling matrix instead of AveragePool).
EXTRA_TOKENS = {"ldpv2": 625}


# Checkpoints made here from a fixture's: block-quantized weights, which export dequantizes (gguf-py's values).
QUANTIZED = {"qwen2-vl": ("mmproj", "q8_0")}


def quantized_checkpoint(binary, fixtures, entry):
    """The case's mmproj quantized by `connkit quantize` (committed here; written again when missing)."""
    scheme, kind = QUANTIZED[entry["name"]]
    path = os.path.join(HERE, entry["name"], f"{scheme}-{kind}.gguf")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        source = os.path.join(fixtures, entry["checkpoints"][scheme][0])
        connkit(binary, ["quantize", source, path, "--type", kind, "--quiet"])
    return f"{scheme}-{kind}", relative_to_root(path)


def variants(entry, primary_only=False):
    """(name, scheme, export options, runs) of one case; a run is a multiple of the fixture's features
    (concatenated along the tokens) or ("random", T)."""
    schemes = list(entry["checkpoints"])
    out = [(f"{scheme}-f32", scheme, [], [1]) for scheme in schemes[:1 if primary_only else None]]
    first = schemes[0]
    out.append((f"{first}-f16", first, ["--dtype", "f16"], [1]))
    if primary_only:
        return out
    out.append((f"{first}-opset18", first, ["--opset", "18"], [1]))
    out.append((f"{first}-opset24", first, ["--opset", "24"], [1]))
    out.append((f"{first}-dynamic", first, ["--dynamic"], [1, 2]))
    if entry["name"] in ("idefics2", "qwen2.5-vl", "minicpmv-2.6"):
        out.append((f"{first}-external", first, ["--external-data"], [1]))
    if entry["name"] in EXTRA_TOKENS:
        tokens = EXTRA_TOKENS[entry["name"]]
        out.append((f"{first}-tokens{tokens}", first, ["--tokens", str(tokens)], [("random", tokens)]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connkit", default=os.path.join(ROOT, ".build/debug/connkit"))
    parser.add_argument("--fixtures", default=os.path.join(ROOT, "Tests/Fixtures/runtime"))
    parser.add_argument("--report", action="store_true", help="measure and print only; write nothing here")
    parser.add_argument("--primary-only", action="store_true", help="each case's first scheme in f32 and f16 only")
    args = parser.parse_args()
    binary = os.path.abspath(args.connkit)
    fixtures = os.path.abspath(args.fixtures)
    runtime_manifest = json.load(open(os.path.join(fixtures, "manifest.json")))
    entries = []
    failures = 0
    print("| case | export | tokens in → out | vs `connkit run`: min cosine | max abs diff / max abs | vs PyTorch: min cosine |")
    print("|---|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for entry in runtime_manifest["cases"]:
            features = np.load(os.path.join(fixtures, entry["input"]["file"]))
            reference = np.load(os.path.join(fixtures, entry["output"]["file"]))
            cases = variants(entry, args.primary_only)
            quantized = None
            if entry["name"] in QUANTIZED and fixtures == os.path.join(ROOT, "Tests/Fixtures/runtime"):
                quantized = quantized_checkpoint(binary, fixtures, entry)
                scheme = QUANTIZED[entry["name"]][0]
                cases += [(f"{quantized[0]}-f32", scheme, [], [1]), (f"{quantized[0]}-f16", scheme, ["--dtype", "f16"], [1])]
            for name, scheme, options, multiples in cases:
                checkpoints = [relative_to_root(os.path.join(fixtures, f)) for f in entry["checkpoints"][scheme]]
                if quantized and name.startswith(quantized[0]):
                    checkpoints = [quantized[1]]
                dynamic = "--dynamic" in options
                token_arguments = [] if dynamic or "--tokens" in options else ["--tokens", str(entry["tokens"])]
                fixture_grid = not dynamic and "--tokens" not in options
                arguments = ["export", *checkpoints, *token_arguments, *dims_arguments(entry, scheme, grid=fixture_grid), *options]
                # Every model is `model.onnx` (an external data file's name is recorded in the model).
                os.makedirs(os.path.join(scratch, entry["name"], name))
                model = os.path.join(scratch, entry["name"], name, "model.onnx")
                try:
                    connkit(binary, arguments + ["-o", model, "--force", "--quiet"])
                except RuntimeError as error:
                    if dynamic and "needs the patch grid" in str(error):
                        continue
                    if scheme in entry.get("expect_invalid", {}) and ": exit 1:" in str(error):
                        print(f"| {entry['name']} | {name} | (fails validation, as the fixture expects) | | | |")
                        continue
                    raise
                onnx.checker.check_model(model, full_check=True)
                dtype = "f16" if "--dtype" in options else "f32"
                session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
                runs = []
                for multiple in multiples:
                    if isinstance(multiple, tuple):
                        x = np.random.default_rng(0).standard_normal((1, multiple[1], features.shape[-1])).astype(np.float32)
                        features_file = os.path.join(HERE, entry["name"], f"features-{multiple[1]}.npy")
                        if not args.report:
                            os.makedirs(os.path.dirname(features_file), exist_ok=True)
                            np.save(features_file, x)
                        else:
                            features_file = os.path.join(scratch, "random.npy")
                            np.save(features_file, x)
                    else:
                        x = np.concatenate([batched(features)] * multiple, axis=1)
                        features_file = os.path.join(scratch, f"features-{entry['name']}-{multiple}.npy")
                        np.save(features_file, x)
                    y = session.run(None, {"image_features": x.astype(np.float16 if dtype == "f16" else np.float32)})[0]
                    run_file = os.path.join(scratch, "run.npy")
                    connkit(binary, ["run", *checkpoints, "--input", features_file, "--output", run_file,
                                     *dims_arguments(entry, scheme, grid=fixture_grid)])
                    run = batched(np.load(run_file))
                    cosine, relative = closeness(run, y)
                    ok = y.shape == run.shape and within(dtype, cosine, relative)
                    # Cases that reuse another case's weights have no PyTorch output of their own to compare with
                    # (Nor do quantized weights: their output differs from the release's by the quantization.)
                    has_reference = multiple == 1 and not any(n.startswith("weights_from") for n in entry["notes"]) \
                        and not (quantized and name.startswith(quantized[0]))
                    torch_cosine = closeness(batched(reference), y)[0] if has_reference else None
                    ok = ok and (torch_cosine is None or within(dtype, torch_cosine, 0))
                    failures += 0 if ok else 1
                    print(f"| {entry['name']} | {name} | {x.shape[1]} → {y.shape[1]} | {cosine:.7f} | {relative:.1e} | "
                          f"{'' if torch_cosine is None else f'{torch_cosine:.7f}'}{'' if ok else ' FAIL'} |")
                    suffix = "" if multiple == 1 else f"-x{multiple}" if isinstance(multiple, int) else ""
                    output_file = f"{entry['name']}/{name}{suffix}.npy"
                    if not args.report:
                        os.makedirs(os.path.join(HERE, entry["name"]), exist_ok=True)
                        np.save(os.path.join(HERE, output_file), y)
                    runs.append({"features": relative_to_root(features_file) if isinstance(multiple, tuple) else
                                 relative_to_root(os.path.join(fixtures, entry["input"]["file"])),
                                 "repeat": multiple if isinstance(multiple, int) else 1, "output": output_file,
                                 "cosine": cosine, "relative": relative})
                entries.append({"case": entry["name"], "name": name, "dtype": dtype, "arguments": arguments,
                                "model_sha256": sha256(model), "model_bytes": os.path.getsize(model),
                                "run_arguments": [*checkpoints, *dims_arguments(entry, scheme, grid=fixture_grid)],
                                "data_sha256": sha256(model + ".data") if os.path.exists(model + ".data") else None,
                                "runs": runs})
                del session
                for path in (model, model + ".data"):
                    if os.path.exists(path):
                        os.remove(path)
    if not args.report:
        manifest = {"generator": "Tests/Fixtures/onnx-export/generate.py",
                    "versions": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "numpy": np.__version__},
                    "bounds": {"f32": {"min_cosine": 0.99999, "max_relative": 1e-4}, "f16": {"min_cosine": 0.999}},
                    "exports": entries}
        with open(os.path.join(HERE, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    print(f"\n{len(entries)} exports, {failures} run(s) outside the bounds")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
