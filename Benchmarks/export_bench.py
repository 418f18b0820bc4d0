#!/usr/bin/env python3
"""ONNX export benchmark (issue 15): a ~1 GiB f16 connector (LLaVA's `mlp8x_gelu` projector, 8 linears
of 8192 x 8192, original names, config.json) exported by `connkit export` (release build): `--dtype f16
--external-data` (the weights copied into OUT.onnx.data), `--dtype f16` embedded in the model, and f32
(a cast to 2 GiB, external because it exceeds protobuf's 2 GiB), next to `cp` of the weights (the floor)
and `cp` of a file the size of the f32 output, and the Python references: the same weights loaded with
safetensors and saved by onnx.save_model(save_as_external_data=True), and the projector built in PyTorch
with those weights and exported by torch.onnx.export (TorchScript, names kept, embedded; dynamo, external
data).

Wall time per case in N rounds, cases interleaved within each round and the page cache reset before every
run (as Benchmarks/convert_bench.py does: dirty pages synced, clean ones dropped when root, the input read
once); each ratio is taken within a round and the median over rounds is reported. Peak RSS from
/usr/bin/time, checked against the issue's bound: below the model's size plus 64 MiB.

    swift build -c release
    /path/to/venv/bin/python Benchmarks/export_bench.py [--width 8192] [--layers 8] [--runs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_bench import measure, peak_rss, reset_page_cache  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "Benchmarks", "work", "export")
CONNKIT = os.path.join(ROOT, ".build", "release", "connkit")

REFERENCE = r"""
import sys, onnx
from onnx import helper, numpy_helper, TensorProto
from safetensors.numpy import load_file
tensors = load_file(sys.argv[1])
graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "bench",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 576, None])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, None)],
                          initializer=[numpy_helper.from_array(a, n) for n, a in tensors.items()])
onnx.save_model(helper.make_model(graph), sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True,
                location=sys.argv[2].rsplit("/", 1)[-1] + ".data")
"""


# What a user runs today: the module in PyTorch with the weights loaded, then torch.onnx.export. The
# TorchScript exporter (dynamo=False, do_constant_folding=False: the names kept) traces one forward pass on 4
# tokens and writes the weights embedded; the dynamo exporter (torch's default) writes them to external data.
TORCH = r"""
import sys, torch
from safetensors.torch import load_file
tensors = load_file(sys.argv[1])
layers = len([n for n in tensors if n.endswith(".weight")])
width = tensors["model.mm_projector.0.weight"].shape[1]
modules = []
for k in range(layers):
    modules += ([torch.nn.GELU()] if k else []) + [torch.nn.Linear(width, width, dtype=torch.float16)]
model = torch.nn.Sequential(*modules)
model.load_state_dict({n.removeprefix("model.mm_projector."): a for n, a in tensors.items()})
x = torch.zeros(1, 4, width, dtype=torch.float16)
if sys.argv[3] == "torchscript":
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(model, (x,), sys.argv[2], dynamo=False, do_constant_folding=False, opset_version=17,
                      input_names=["image_features"], output_names=["connector_output"],
                      dynamic_axes={"image_features": axes, "connector_output": axes})
else:
    torch.onnx.export(model, (x,), sys.argv[2], dynamo=True, external_data=True,
                      dynamic_shapes=({0: torch.export.Dim("batch"), 1: torch.export.Dim("tokens")},))
"""


def make_connector(folder, width, layers):
    weights = os.path.join(folder, "model.safetensors")
    if os.path.exists(weights):
        return weights
    from safetensors.numpy import save_file
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    tensors = {}
    for k in range(layers):
        tensors[f"model.mm_projector.{2 * k}.weight"] = (rng.standard_normal((width, width), dtype=np.float32) * 0.02).astype(np.float16)
        tensors[f"model.mm_projector.{2 * k}.bias"] = np.zeros(width, np.float16)
    save_file(tensors, weights, metadata={"format": "pt"})
    json.dump({"model_type": "llava", "hidden_size": width, "mm_hidden_size": width,
               "mm_projector_type": f"mlp{layers}x_gelu"}, open(os.path.join(folder, "config.json"), "w"))
    return weights


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=8192)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(CONNKIT):
        sys.exit("build connkit first: swift build -c release")
    folder = os.path.join(WORK, "llava-mlp")
    weights = make_connector(folder, args.width, args.layers)
    size = os.path.getsize(weights)
    floor_f32 = os.path.join(WORK, "floor-f32.bin")
    if not os.path.exists(floor_f32) or os.path.getsize(floor_f32) != 2 * size:
        with open(floor_f32, "wb") as f:  # real blocks, not a sparse file
            chunk = os.urandom(1 << 20)
            for _ in range((2 * size) >> 20):
                f.write(chunk)
    out = lambda name: os.path.join(WORK, name)
    export = [CONNKIT, "export", folder, "--tokens", "576", "--quiet", "-o"]
    cases = [
        ("cp weights (floor)", ["cp", weights, out("cp.bin")], [out("cp.bin")]),
        ("cp f32-sized file", ["cp", floor_f32, out("cp-f32.bin")], [out("cp-f32.bin")]),
        ("connkit export --dtype f16 --external-data", export + [out("ext.onnx"), "--dtype", "f16", "--external-data"],
         [out("ext.onnx"), out("ext.onnx.data")]),
        ("connkit export --dtype f16 (embedded)", export + [out("emb.onnx"), "--dtype", "f16"], [out("emb.onnx")]),
        ("connkit export (f32, external: > 2 GiB)", export + [out("f32.onnx")], [out("f32.onnx"), out("f32.onnx.data")]),
        ("safetensors + onnx.save_model (external)", [sys.executable, "-c", REFERENCE, weights, out("py.onnx")],
         [out("py.onnx"), out("py.onnx.data")]),
        ("torch.onnx.export TorchScript (embedded)", [sys.executable, "-c", TORCH, weights, out("ts.onnx"), "torchscript"],
         [out("ts.onnx")]),
        ("torch.onnx.export dynamo (external)", [sys.executable, "-c", TORCH, weights, out("dyn.onnx"), "dynamo"],
         [out("dyn.onnx"), out("dyn.onnx.data")]),
    ]
    print(f"connector: mlp{args.layers}x_gelu, {args.layers} x [{args.width}, {args.width}] f16, "
          f"{size / (1 << 30):.2f} GiB; {args.runs} rounds, cases interleaved within each round")
    times = {label: [] for label, _, _ in cases}
    for _ in range(args.runs):
        for label, argv, outputs in cases:
            for path in outputs:
                if os.path.exists(path):
                    os.remove(path)
            wall, _ = measure(argv, 1, warm=(weights, floor_f32))
            times[label].append(wall)
    print(f"{'case':44s} {'best s':>7s} {'median s':>9s} {'peak RSS':>10s} {'output':>9s}")
    failures = 0
    for label, argv, outputs in cases:
        for path in outputs:
            if os.path.exists(path):
                os.remove(path)
        reset_page_cache((weights, floor_f32))
        rss = peak_rss(argv)
        written = sum(os.path.getsize(p) for p in outputs if os.path.exists(p))
        bound = ""
        if argv[0] == CONNKIT:
            ok = rss < written + (64 << 20)
            failures += 0 if ok else 1
            bound = "  < output + 64 MiB" if ok else "  ABOVE output + 64 MiB"
        print(f"{label:44s} {min(times[label]):7.2f} {statistics.median(times[label]):9.2f} "
              f"{rss / (1 << 20):7.0f} MiB {written / (1 << 30):6.2f} GiB{bound}")

    def ratio(case, floor):
        return statistics.median(a / b for a, b in zip(times[case], times[floor]))
    print()
    print("median over rounds of the ratio within a round:")
    print(f"export f16 external / cp weights:      {ratio('connkit export --dtype f16 --external-data', 'cp weights (floor)'):.2f}x")
    print(f"export f16 embedded / cp weights:      {ratio('connkit export --dtype f16 (embedded)', 'cp weights (floor)'):.2f}x")
    print(f"export f32 / cp f32-sized file:        {ratio('connkit export (f32, external: > 2 GiB)', 'cp f32-sized file'):.2f}x")
    print(f"onnx.save_model / export f16 external: {ratio('safetensors + onnx.save_model (external)', 'connkit export --dtype f16 --external-data'):.2f}x")
    print(f"torch TorchScript / export f16 embedded: {ratio('torch.onnx.export TorchScript (embedded)', 'connkit export --dtype f16 (embedded)'):.2f}x")
    print(f"torch dynamo / export f16 external:    {ratio('torch.onnx.export dynamo (external)', 'connkit export --dtype f16 --external-data'):.2f}x")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
