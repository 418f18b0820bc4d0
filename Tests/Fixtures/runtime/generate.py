#!/usr/bin/env python3
"""Reference fixtures for connkit's forward pass (`connkit run` / `compare`, issue 12).

For every built-in connector family variant, the module the release runs is built at small dimensions
with seeded weights, fed seeded float32 features, and its float32 output (torch.inference_mode) is
stored beside the same weights written in each naming scheme connkit knows for the family. The
references are transformers' own classes where they exist and, for releases whose code lives only in
their repositories, the transcriptions in transcriptions.py (each cites repository, file and commit).

    /work/main/venv/bin/python Tests/Fixtures/runtime/generate.py            # writes the committed fixtures
    /work/main/venv/bin/python Tests/Fixtures/runtime/generate.py --check    # + `connkit validate` on every checkpoint
    /work/main/venv/bin/python Tests/Fixtures/runtime/generate.py --real --out DIR [--only NAME...]
                                                     # the same modules at each release's dimensions (large; not committed)

`accuracy.py` (beside this file) runs `connkit run` on every case of a fixture folder and prints the
per-token cosine and max |Δ| against these outputs (the README's accuracy figures come from --real folders).

Needs torch, transformers, numpy, safetensors, gguf, einops, einops-exts, torchvision and timm (MobileVLM
builds its LDP blocks from the last two).

Layout (paths relative to this folder, or to --out):
  manifest.json                 {"generator", "versions", "layout", "cases": [...]}, one entry per case:
      name, family, variant       connkit's family and variant names (what `validate` must detect)
      grid                        [H, W] the run needs (--grid HxW), or null
      tokens, batch               T of the input, B (1: the files hold 2-D [T, D] arrays)
      dims                        every dimension of the module, under connkit's keys (encoder, llm, tokens, …)
      checkpoints                 {scheme: [files]}: the same weights under each naming scheme (primary first)
      configs                     {scheme: config.json or null}: the file validate reads beside the checkpoint
      cli_dims                    {scheme: {key: value}}: dimensions no file states (pass as --dim KEY=N)
      input, output               {"file", "shape", "dtype": "f32"}: .npy, [T, D_enc] / [T_out, D_out] (or with B)
      reference                   the module that produced the output
      eps                         the norms' epsilons the release uses
      notes                       release details the runtime must reproduce
      expect_invalid              {scheme: why}: validate refuses it today (a gap issue 12 closes)
      expect_warnings             {scheme: {code: why}}: warnings the release's files deserve
      output_max_abs              max |output| (the issue's tolerance is 1e-4 of it)
  <case>/input.npy, <case>/output.npy
  <case>/<scheme>/model.safetensors [+ config.json]   or   <case>/mmproj/mmproj.gguf
A case with `weights_from` in its notes reuses another case's checkpoints (same weights, another input): its
output is computed with exactly the parameters those checkpoints hold.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the committed fixtures

import numpy as np  # noqa: E402
import torch  # noqa: E402

import cases_projectors  # noqa: E402
import cases_resamplers  # noqa: E402
from casekit import features  # noqa: E402

INTERNAL_KEYS = ("grid",)


def all_specs():
    return cases_projectors.specs() + cases_resamplers.specs()


def versions():
    import gguf  # noqa: F401
    import safetensors
    import transformers
    result = {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__,
              "safetensors": safetensors.__version__}
    for name in ("einops", "torchvision", "timm"):
        result[name] = __import__(name).__version__
    return result


def save_npy(root, rel, array):
    np.save(os.path.join(root, rel), np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)


def make_case(spec, root, real, written):
    dims = dict(spec.dims)
    tokens, grid, batch = spec.tokens, spec.grid, spec.batch
    if real:
        dims = dict(spec.real["dims"])
        tokens, grid, batch = spec.real["tokens"], spec.real.get("grid"), 1
        if grid is None and spec.grid is not None:
            side = int(round(tokens ** 0.5))
            grid = [side, side]
    dims["tokens"] = tokens
    dims["grid"] = grid
    torch.manual_seed(0)
    built = spec.build(dims)
    built.module.eval()
    if spec.weights_from and not real:
        # Same weights, another input: build() seeds from the dimensions (tokens and grid included), so the
        # reused case's parameters are loaded in place of this case's before the output is computed.
        source_dims, source_weights = written[spec.weights_from][2:]
        differing = {k for k in dims.keys() | source_dims.keys() if k not in ("tokens", "grid") and dims.get(k) != source_dims.get(k)}
        assert not differing, f"{spec.name}: dims {sorted(differing)} differ from {spec.weights_from}'s, whose weights it reuses"
        built.module.load_state_dict(source_weights, strict=True)
    x = features(spec.name, batch, tokens, dims["encoder"])
    with torch.inference_mode():
        y = built.run(x)
    y = y.detach().to(torch.float32)
    assert torch.isfinite(y).all(), f"{spec.name}: non-finite output"
    os.makedirs(os.path.join(root, spec.name), exist_ok=True)
    in_rel, out_rel = f"{spec.name}/input.npy", f"{spec.name}/output.npy"
    x_arr, y_arr = x.numpy(), y.numpy()
    if batch == 1:
        x_arr, y_arr = x_arr[0], y_arr[0]
    save_npy(root, in_rel, x_arr)
    save_npy(root, out_rel, y_arr)

    public_dims = {k: v for k, v in dims.items() if k not in INTERNAL_KEYS}
    checkpoints, configs = {}, {}
    if spec.weights_from and not real:
        checkpoints, configs = written[spec.weights_from][:2]
    else:
        for checkpoint in spec.schemes(built.state, dims):
            files, config = checkpoint.write(root, f"{spec.name}/{checkpoint.scheme}")
            checkpoints[checkpoint.scheme] = files
            configs[checkpoint.scheme] = config
            if real:
                break  # the primary scheme only
        written[spec.name] = (checkpoints, configs, dims, {k: v.clone() for k, v in built.module.state_dict().items()})
    notes = list(spec.notes)
    if spec.weights_from:
        notes.insert(0, f"weights_from {spec.weights_from}")
    entry = {
        "name": spec.name, "family": spec.family, "variant": spec.variant, "grid": grid, "tokens": tokens, "batch": batch,
        "dims": public_dims, "checkpoints": checkpoints, "configs": configs,
        "cli_dims": {s: {k: public_dims[k] for k in keys} for s, keys in spec.cli_dims.items() if s in checkpoints},
        "input": {"file": in_rel, "shape": list(x_arr.shape), "dtype": "f32"},
        "output": {"file": out_rel, "shape": list(y_arr.shape), "dtype": "f32"},
        "reference": built.reference, "eps": built.eps, "notes": notes,
        "expect_invalid": spec.expect_invalid, "expect_warnings": spec.expect_warnings, "output_max_abs": float(np.abs(y_arr).max()),
    }
    if real:
        entry["release"] = spec.real["release"]
    return entry


def validate(connkit, root, entry, scheme):
    """`connkit validate` on one scheme's files: (problems, invalid?, warning codes)."""
    files = [os.path.join(root, f) for f in entry["checkpoints"][scheme]]
    command = [connkit, "validate", *files, "--json"]
    for key, value in entry["cli_dims"].get(scheme, {}).items():
        command += ["--dim", f"{key}={value}"]
    result = subprocess.run(command, capture_output=True, text=True)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"no JSON from {' '.join(command)}: {result.stderr.strip()}"], True, []
    problems = []
    for key, expected in (("family", entry["family"]), ("variant", entry["variant"]), ("scheme", scheme)):
        if report.get(key) != expected:
            problems.append(f"{key} {report.get(key)} (expected {expected})")
    for key, value in entry["dims"].items():
        found = (report.get("dims") or {}).get(key)
        if found is not None and found != value:
            problems.append(f"dims.{key} = {found} (expected {value})")
    diagnostics = report.get("diagnostics", [])
    errors = [f"{d['code']} {d.get('tensor') or ''}" for d in diagnostics if d["severity"] == "error"]
    warnings = [d["code"] for d in diagnostics if d["severity"] == "warning"]
    if report.get("error"):
        errors.append(report["error"])
    return problems + errors, not report.get("valid"), warnings


def check(connkit, root, manifest):
    """Every checkpoint must validate as its case's family, variant and scheme with the case's dims,
    without warnings the release does not deserve (see expect_invalid / expect_warnings)."""
    failures = 0
    for entry in manifest["cases"]:
        if entry["notes"] and entry["notes"][0].startswith("weights_from"):
            continue
        for scheme in entry["checkpoints"]:
            problems, invalid, warnings = validate(connkit, root, entry, scheme)
            known = entry["expect_warnings"].get(scheme, {})
            unexpected = [code for code in warnings if code not in known]
            if invalid and scheme in entry["expect_invalid"]:
                status = "expected"
            elif problems or invalid or unexpected:
                status = "FAIL"
                failures += 1
            else:
                status = "ok"
            detail = problems + [f"warning {code}" + (" (known)" if code in known else "") for code in warnings]
            print(f"{status:8} {entry['name']:22} {scheme:14} {' | '.join(detail)}"[:400])
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE, help="output folder (default: this folder)")
    parser.add_argument("--real", action="store_true", help="each release's real dimensions (primary scheme only; needs --out)")
    parser.add_argument("--only", nargs="*", help="case names")
    parser.add_argument("--check", action="store_true", help="run `connkit validate` on every checkpoint written")
    parser.add_argument("--connkit", default=os.path.join(HERE, "../../../.build/debug/connkit"))
    args = parser.parse_args()
    if args.real and os.path.abspath(args.out) == HERE:
        parser.error("--real writes large files: give --out DIR outside the repository")
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    specs = [s for s in all_specs() if not args.only or s.name in args.only]
    if args.real:
        specs = [s for s in specs if s.real]
    names = {s.name for s in specs}
    for spec in specs:
        if spec.weights_from and not args.real and spec.weights_from not in names:
            parser.error(f"{spec.name} reuses {spec.weights_from}'s weights: add {spec.weights_from} to --only")
    root = os.path.abspath(args.out)
    os.makedirs(root, exist_ok=True)
    if not args.real and not args.only:
        for spec in all_specs():
            shutil.rmtree(os.path.join(root, spec.name), ignore_errors=True)
    written, cases = {}, []
    for spec in specs:
        entry = make_case(spec, root, args.real, written)
        cases.append(entry)
        print(f"{spec.name:22} {entry['input']['shape']} -> {entry['output']['shape']}  max|y| {entry['output_max_abs']:.3g}  "
              f"{', '.join(entry['checkpoints'])}", flush=True)
    manifest = {"generator": "Tests/Fixtures/runtime/generate.py" + (" --real" if args.real else ""), "versions": versions(),
                "layout": "see the docstring of generate.py", "cases": cases}
    if not args.only or args.real:
        with open(os.path.join(root, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
    if args.check:
        failures = check(os.path.abspath(args.connkit), root, manifest)
        print(f"{failures} unexpected validate result(s)")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
