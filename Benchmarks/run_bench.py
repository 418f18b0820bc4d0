#!/usr/bin/env python3
"""Forward-pass benchmark (issue 12): PyTorch references against `connkit run`, same machine, same run.

Cases (release dimensions, seeded weights, float32 transformers modules):
  llava-1.5-7b   LlavaMultiModalProjector 1024 -> 4096, 576 tokens
  blip2-opt-2.7b Blip2QFormerModel (12 layers, 32 queries) + language_projection 768 -> 2560, 257 tokens
  idefics2-8b    Idefics2Connector (SwiGLU 1152 -> 14336 -> 4096, 3-layer perceiver, 64 latents), 729 tokens

For each case, in --rounds rounds (each round takes every measurement once, back to back, and the
ratios are taken within a round, then their median reported: the machine's load drifts), it measures
  1. PyTorch per forward pass with the weights loaded: torch.set_num_threads(THREADS), inference_mode,
     warm-up passes, then the median (and best) of --repeats timed passes;
  2. the whole process a user would otherwise run: a Python script that loads the safetensors, builds the
     transformers module from config.json, runs one forward pass and saves the output (wall time and
     peak RSS);
  3. `connkit run` on the same files (release build given by --connkit): the whole process the same way,
     and the in-process times its --json report gives ("seconds": a number, or an object whose
     "forward" / "run" member is the forward pass). A binary without a `run` command is skipped with a
     note. The output is compared with PyTorch's (minimum per-token cosine, max |diff|).
  4. connkit per forward pass with the weights loaded, as PyTorch's is measured: Benchmarks/RunBench
     (`swift build -c release --package-path Benchmarks/RunBench`) binds and loads the connector once, runs
     the same warm-up passes, then the median of --repeats timed passes. Without that binary the
     one-pass time of `connkit run` (item 3, weights just loaded) stands in, and the table says so.

The weights are written once into Benchmarks/work/run/<case>/ (git-ignored) under transformers' names
(`model.safetensors` + `config.json`, which `connkit validate`/`run` read) with the input features
(`input.npy`, float32 [T, D_enc]).

    swift build -c release
    /work/main/venv/bin/python Benchmarks/run_bench.py [--connkit .build/release/connkit] [--rounds 3] [--repeats 10]
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "run")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "runtime")
THREADS = 2

# The script a user would write: load, build, forward, save. Reads the transformers config.json written
# beside the weights; nothing from connkit's fixture code.
USER_SCRIPT = r'''
import json, sys, time
import numpy as np
import torch
from safetensors.torch import load_file
torch.set_num_threads(int(sys.argv[4]))
case, folder, out = sys.argv[1], sys.argv[2], sys.argv[3]
config_json = json.load(open(folder + "/config.json"))
state = load_file(folder + "/model.safetensors")
x = torch.from_numpy(np.load(folder + "/input.npy"))[None]
def strip(prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
if case == "llava-1.5-7b":
    from transformers import LlavaConfig
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector
    module = LlavaMultiModalProjector(LlavaConfig.from_dict(config_json))
    module.load_state_dict(strip("model.multi_modal_projector."))
    run = module.eval()
elif case == "blip2-opt-2.7b":
    from transformers import Blip2Config
    from transformers.models.blip_2.modeling_blip_2 import Blip2QFormerModel
    config = Blip2Config.from_dict(config_json)
    qformer = Blip2QFormerModel(config.qformer_config)
    qformer.load_state_dict(strip("qformer."))
    qformer.eval()  # dropout off
    projection = torch.nn.Linear(config.qformer_config.hidden_size, config.text_config.hidden_size)
    projection.load_state_dict(strip("language_projection."))
    query_tokens = state["query_tokens"]
    def run(image_embeds):
        mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
        out = qformer(query_embeds=query_tokens.expand(image_embeds.shape[0], -1, -1), encoder_hidden_states=image_embeds,
                      encoder_attention_mask=mask, return_dict=True)[0]
        return projection(out)
elif case == "idefics2-8b":
    from transformers import Idefics2Config
    from transformers.models.idefics2.modeling_idefics2 import Idefics2Connector
    module = Idefics2Connector(Idefics2Config.from_dict(config_json))
    module.load_state_dict(strip("model.connector."))
    module.eval()
    run = lambda x: module(x, attention_mask=torch.ones(x.shape[:2], dtype=torch.long))
with torch.inference_mode():
    y = run(x)
np.save(out, y[0].numpy())
'''


def fixture_specs():
    sys.path.insert(0, FIXTURES)
    sys.dont_write_bytecode = True
    import cases_projectors
    by_name = {s.name: s for s in cases_projectors.specs()}
    return [("llava-1.5-7b", by_name["mlp2x_gelu"]), ("blip2-opt-2.7b", by_name["blip2"]), ("idefics2-8b", by_name["idefics2"])]


def prepare(case, spec):
    """Builds the module at the release's dimensions, writes its weights and input once; returns
    (built, input tensor, folder, checkpoint files)."""
    import torch
    from casekit import features
    dims = dict(spec.real["dims"], tokens=spec.real["tokens"], grid=None)
    torch.manual_seed(0)
    built = spec.build(dims)
    built.module.eval()
    x = features(case, 1, dims["tokens"], dims["encoder"])
    folder = os.path.join(WORK, case)
    primary = spec.schemes(built.state, dims)[0]
    # The files are rewritten when the weights they should hold changed (a digest of the state).
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in built.state.values()) + x.numpy().tobytes()).hexdigest()
    stamp = os.path.join(folder, "stamp.txt")
    if not os.path.exists(stamp) or open(stamp).read() != digest:
        os.makedirs(folder, exist_ok=True)
        files, config = primary.write(WORK, case)
        assert files == [f"{case}/model.safetensors"] and config == f"{case}/config.json", (files, config)
        np.save(os.path.join(folder, "input.npy"), x[0].numpy())
        with open(stamp, "w") as f:
            f.write(digest)
    return built, x, folder


def torch_forward(built, x, repeats):
    import torch
    with torch.inference_mode():
        for _ in range(3):
            built.run(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            y = built.run(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), y[0].numpy()


def timed(command):
    """Wall time and peak RSS (MiB, from GNU time) of one process."""
    start = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-f", "%M"] + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    lines = result.stderr.decode().strip().splitlines()
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {' '.join(lines[-3:])}")
    return elapsed, int(lines[-1]) / 1024, result.stdout.decode()


def connkit_has_run(connkit):
    """None when the binary lists a `run` subcommand, else why connkit is skipped."""
    if not os.path.exists(connkit):
        return f"{connkit} not found (swift build -c release)"
    result = subprocess.run([connkit, "--help"], capture_output=True, text=True)
    listed = result.stdout.split("SUBCOMMANDS:", 1)[-1].split()
    if "run" not in listed:
        return f"{connkit} has no `run` command: connkit columns skipped"
    return None


def reported_forward(report):
    """The forward-pass seconds a `connkit run --json` report gives, and what they cover."""
    seconds = report.get("seconds")
    if isinstance(seconds, dict):
        for key in ("forward", "run", "compute"):
            if isinstance(seconds.get(key), (int, float)):
                return float(seconds[key]), key
        return None, "no forward time in " + json.dumps(seconds)
    if isinstance(seconds, (int, float)):
        return float(seconds), "total reported"
    return None, "no seconds in the report"


def runbench_forward(runbench, folder, repeats):
    """connkit's median and best forward pass with the weights loaded (Benchmarks/RunBench)."""
    result = subprocess.run([runbench, os.path.join(folder, "model.safetensors"), os.path.join(folder, "input.npy"),
                             "--warmup", "3", "--repeats", str(repeats)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"RunBench exited {result.returncode}: {result.stderr.strip()}")
    report = json.loads(result.stdout)
    return report["forward_median"], report["forward_best"]


def agreement(reference, output):
    a, b = reference.astype(np.float64), output.astype(np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cosine = np.where(norms > 0, (a * b).sum(-1) / np.where(norms > 0, norms, 1), 1.0)
    return float(cosine.min()), float(np.abs(a - b).max())


def main():
    parser = argparse.ArgumentParser(description="connkit run against PyTorch")
    parser.add_argument("--connkit", default=os.path.join(ROOT, ".build", "release", "connkit"))
    parser.add_argument("--connkit-args", default="", help="extra arguments for `connkit run` (space-separated)")
    parser.add_argument("--runbench", default=os.path.join(ROOT, "Benchmarks", "RunBench", ".build", "release", "RunBench"))
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each times every measurement once, ratios are taken within a round")
    parser.add_argument("--repeats", type=int, default=10, help="timed PyTorch forward passes per round (median is kept)")
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(THREADS)
    os.makedirs(WORK, exist_ok=True)
    script = os.path.join(WORK, "user_script.py")
    with open(script, "w") as f:
        f.write(USER_SCRIPT)
    connkit = os.path.abspath(args.connkit)
    skip_connkit = connkit_has_run(connkit)
    rows, notes = [], [skip_connkit] if skip_connkit else []
    for case, spec in fixture_specs():
        if args.only and case not in args.only:
            continue
        built, x, folder = prepare(case, spec)
        out_py, out_ck = os.path.join(folder, "output-python.npy"), os.path.join(folder, "output-connkit.npy")
        python_command = [sys.executable, script, case, folder, out_py, str(THREADS)]
        connkit_command = [connkit, "run", os.path.join(folder, "model.safetensors"), "--input", os.path.join(folder, "input.npy"),
                           "--output", out_ck, "--json", *args.connkit_args.split()]
        rounds = []
        for _ in range(args.rounds):
            # One round: every measurement once, back to back, so that a change in the machine's load
            # (other processes share its two cores) affects both sides of each ratio alike.
            measured = {}
            measured["torch_forward"], measured["torch_forward_best"], reference = torch_forward(built, x, args.repeats)
            measured["python_process"], measured["python_rss"], _ = timed(python_command)
            _, measured["python_max_abs_diff"] = agreement(reference, np.load(out_py))
            if measured["python_max_abs_diff"] > 1e-4 * float(np.abs(reference).max()):
                notes.append(f"{case}: the Python script's output differs from the in-process reference "
                             f"(max |diff| {measured['python_max_abs_diff']:.2e})")
            if not skip_connkit:
                try:
                    measured["connkit_process"], measured["connkit_rss"], stdout = timed(connkit_command)
                    measured["connkit_forward"], measured["connkit_forward_what"] = reported_forward(json.loads(stdout))
                    measured["min_cosine"], measured["max_abs_diff"] = agreement(reference, np.load(out_ck))
                    if os.path.exists(args.runbench):
                        measured["connkit_forward"], measured["connkit_forward_best"] = runbench_forward(args.runbench, folder, args.repeats)
                        measured["connkit_forward_what"] = "forward"
                except (RuntimeError, ValueError) as error:
                    notes.append(f"{case}: connkit run failed: {error}")
                    skip_connkit = skip_connkit or "connkit run failed"
            rounds.append(measured)
            print(case, json.dumps(measured), flush=True)
        del built
        rows.append(summarize(case, rounds))
    print_table(rows, notes)


def summarize(case, rounds):
    """Medians over rounds; ratios are medians of the per-round ratios."""
    def median(key):
        values = [r[key] for r in rounds if isinstance(r.get(key), (int, float))]
        return statistics.median(values) if values else None

    def ratio(numerator, denominator):
        values = [r[numerator] / r[denominator] for r in rounds if r.get(numerator) and r.get(denominator)]
        return statistics.median(values) if values else None
    row = {"case": case, "rounds": len(rounds)}
    for key in ("torch_forward", "python_process", "python_rss", "connkit_process", "connkit_rss", "connkit_forward", "max_abs_diff"):
        row[key] = median(key)
    row["torch_forward_best"] = min(r["torch_forward_best"] for r in rounds)
    row["connkit_forward_best"] = min((r["connkit_forward_best"] for r in rounds if "connkit_forward_best" in r), default=None)
    row["min_cosine"] = min((r["min_cosine"] for r in rounds if "min_cosine" in r), default=None)
    row["connkit_forward_what"] = next((r["connkit_forward_what"] for r in rounds if "connkit_forward_what" in r), None)
    row["forward_ratio"] = ratio("torch_forward", "connkit_forward")
    row["process_ratio"] = ratio("python_process", "connkit_process")
    return row


def print_table(rows, notes):
    def ms(value):
        return "-" if value is None else f"{value * 1e3:.1f}"

    def number(value, form, suffix=""):
        return "-" if value is None else format(value, form) + suffix
    print(f"\nPyTorch {__import__('torch').__version__}, {THREADS} threads, float32; wall clock; medians over rounds, "
          "ratios taken within each round")
    print("| case | PyTorch forward (ms, median / best) | connkit forward (ms, median / best) | PyTorch ÷ connkit | "
          "Python script (s, peak MiB) | connkit run (s, peak MiB) | script ÷ connkit | min cosine | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        what = r["connkit_forward_what"]
        what = {"forward": "", "run": " (one pass of connkit run)"}.get(what, f" ({what})") if r["connkit_forward"] is not None else ""
        connkit_process = "-" if r["connkit_process"] is None else f"{r['connkit_process']:.2f} ({r['connkit_rss']:.0f})"
        print(f"| {r['case']} | {ms(r['torch_forward'])} / {ms(r['torch_forward_best'])} | {ms(r['connkit_forward'])} / {ms(r['connkit_forward_best'])}{what} | "
              f"{number(r['forward_ratio'], '.2f', '×')} | {r['python_process']:.2f} ({r['python_rss']:.0f}) | {connkit_process} | "
              f"{number(r['process_ratio'], '.1f', '×')} | {number(r['min_cosine'], '.7f')} | {number(r['max_abs_diff'], '.2e')} |")
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
