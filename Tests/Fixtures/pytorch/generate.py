#!/usr/bin/env python3
"""Writes the PyTorch checkpoint fixtures with real torch.save, plus what the Swift tests expect of them.

Run with the project venv (torch, numpy, safetensors installed):  /work/venv/bin/python generate.py
Everything is deterministic (fixed values, fixed seeds), so re-running gives the same files except for
torch's per-save `serialization_id` record inside zip archives.

Outputs (all small):
  dtypes_zip.pt, dtypes_legacy.pt   one tensor per storage dtype torch can save, both serialisation formats
  dtypes.safetensors                the same tensors as safetensors.torch.save_file writes them
  views_zip.pt, views_legacy.pt     tied weights, transposed/sliced/offset/expanded views, Parameters, 0-d, empty
  views.safetensors                 the same tensors made contiguous (and untied), via save_file
  nested.pt                         {"model": state_dict, "epoch", "config", "optimizer", ...}
  wrapper_state_dict.pt, wrapper_module.pt, wrapper_model_module.pt, nested_lists.pt
  protocol4.pt, protocol5.pt        pickle protocols 4 and 5 (FRAME, STACK_GLOBAL, MEMOIZE, ...)
  tensor_only.pt                    torch.save of a single tensor
  mm_projector.bin, mm_projector.safetensors   a LLaVA-shaped projector (model.mm_projector.0.weight, ...)
  sharded/pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
  bigendian.pt                      byteorder "big": storages byte-swapped (crafted; torch.load reads it back)
  expected.json                     per file: tensors (name, dtype, shape, sha256 and hex of row-major LE bytes),
                                    metadata, and the order of tensors in the file
  weights_only_globals.json         torch.load(weights_only=True)'s allow-list, to compare with connkit's
"""

import collections
import hashlib
import io
import json
import os
import shutil
import sys
import zipfile

import numpy as np
import torch
import safetensors.torch as st
from torch._weights_only_unpickler import _get_allowed_globals

HERE = os.path.dirname(os.path.abspath(__file__))

# connkit's dtype names for torch dtypes (the DType table's torchName column).
CONNKIT_DTYPE = {
    torch.float64: "f64", torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16",
    torch.complex64: "c64", torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8",
    torch.uint8: "u8", torch.bool: "bool", torch.uint16: "u16", torch.uint32: "u32", torch.uint64: "u64",
    torch.float8_e4m3fn: "f8_e4m3", torch.float8_e5m2: "f8_e5m2", torch.float8_e4m3fnuz: "f8_e4m3fnuz",
    torch.float8_e5m2fnuz: "f8_e5m2fnuz", torch.float8_e8m0fnu: "f8_e8m0", torch.float4_e2m1fn_x2: "f4",
}


def row_major_bytes(tensor):
    """The tensor's logical row-major little-endian bytes, as connkit must produce them."""
    t = tensor.detach().contiguous()
    return t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def logical_shape(tensor):
    shape = list(tensor.shape)
    if tensor.dtype == torch.float4_e2m1fn_x2:
        shape[-1] *= 2
    return shape


def describe(name, tensor):
    data = row_major_bytes(tensor)
    return {
        "name": name,
        "dtype": CONNKIT_DTYPE[tensor.dtype],
        "shape": logical_shape(tensor),
        "nbytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "hex": data.hex() if len(data) <= 256 else None,
    }


def out(name):
    return os.path.join(HERE, name)


def dtype_tensors():
    base = torch.tensor([[0.0, 1.5, -2.25], [3.0, -0.5, 100.0]], dtype=torch.float64)
    tensors = collections.OrderedDict()
    for dtype in [torch.float64, torch.float32, torch.float16, torch.bfloat16]:
        tensors[str(dtype).replace("torch.", "")] = base.to(dtype)
    tensors["complex64"] = torch.tensor([1 + 2j, -3.5 - 0.25j, 0j], dtype=torch.complex64)
    ints = torch.tensor([[0, 1, -1], [127, -128, 42]], dtype=torch.int64)
    tensors["int64"] = ints * 1_000_000_007
    tensors["int32"] = (ints * 65_537).to(torch.int32)
    tensors["int16"] = (ints * 255).to(torch.int16)
    tensors["int8"] = ints.to(torch.int8)
    tensors["uint8"] = torch.tensor([0, 1, 128, 255], dtype=torch.uint8)
    tensors["bool"] = torch.tensor([True, False, True], dtype=torch.bool)
    tensors["uint16"] = torch.tensor([0, 1, 65535, 4660], dtype=torch.uint16)
    tensors["uint32"] = torch.tensor([0, 1, 4294967295, 305419896], dtype=torch.uint32)
    tensors["uint64"] = torch.tensor([0, 1, 2**63 + 5, 81985529216486895], dtype=torch.uint64)
    for dtype in [torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz]:
        tensors[str(dtype).replace("torch.", "")] = base.to(torch.float32).to(dtype)
    tensors["float8_e8m0fnu"] = torch.tensor([1.0, 2.0, 0.5, 1024.0]).to(torch.float8_e8m0fnu)
    # float4 has no casts in torch: build it from packed bytes (two E2M1 values per byte).
    tensors["float4_e2m1fn_x2"] = torch.tensor([[0x12, 0x34, 0xF0], [0x0F, 0x77, 0x88]], dtype=torch.uint8).view(
        torch.float4_e2m1fn_x2)
    tensors["scalar"] = torch.tensor(7.5, dtype=torch.float32)
    tensors["empty"] = torch.zeros((0, 3), dtype=torch.float16)
    return tensors


def view_tensors():
    torch.manual_seed(0)
    big = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    tied = torch.randn(5, 4).to(torch.float16)
    flat = torch.arange(20, dtype=torch.int32)
    views = collections.OrderedDict()
    views["embed.weight"] = tied
    views["lm_head.weight"] = tied                      # tied weights: the same tensor twice
    views["big"] = big
    views["transposed"] = big.t()                       # strides (1, 8) on big's storage
    views["sliced"] = big[1:4, ::3]                     # offset 8, strides (8, 3)
    views["column"] = big[:, 5]                         # offset 5, stride (8,)
    views["offset_block"] = flat[5:11].view(2, 3)       # storage offset 5 on an int32 storage
    views["expanded"] = torch.tensor([1.0, -1.0, 2.0], dtype=torch.bfloat16).expand(4, 3)  # stride 0
    views["param"] = torch.nn.Parameter(torch.linspace(-1, 1, 6).reshape(2, 3))            # requires_grad
    views["frozen_param"] = torch.nn.Parameter(torch.ones(3, dtype=torch.float64), requires_grad=False)
    views["permuted"] = torch.arange(24, dtype=torch.int16).reshape(2, 3, 4).permute(2, 0, 1)
    return views


def projector():
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 64)).to(torch.float16)
    return collections.OrderedDict(("model.mm_projector." + k, v) for k, v in module.state_dict().items())


def save_both(name, obj):
    torch.save(obj, out(name + "_zip.pt"))
    torch.save(obj, out(name + "_legacy.pt"), _use_new_zipfile_serialization=False)


def contiguous_copy(tensors):
    return {k: v.detach().contiguous().clone() for k, v in tensors.items()}


def big_endian_copy(source, target, swap_units):
    """Rewrites a torch.save zip archive with every storage byte-swapped and byteorder 'big'.

    torch on a little-endian machine cannot write such a file; its loader byte-swaps storages of a 'big'
    archive, and the generator checks that torch.load returns the original values from the result.
    """
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        prefix = names[0].split("/")[0]
        writer = torch._C.PyTorchFileWriter(target)
        for record in names:
            short = record[len(prefix) + 1:]
            if short in (".data/serialization_id", "byteorder"):
                continue
            data = archive.read(record)
            if short.startswith("data/"):
                data = swapped(data, swap_units[short[len("data/"):]])
            writer.write_record(short, data, len(data))
        writer.write_record("byteorder", b"big", 3)
        writer.write_end_of_file()


def swapped(data, size):
    if size == 1:
        return data
    return np.frombuffer(data, dtype=np.dtype(f"<u{size}")).byteswap().tobytes()


def main():
    expected = {}

    # 1. Every dtype, both formats.
    # The legacy format only has typed storages: torch writes the newer dtypes (uint16-64, float8, float4)
    # as untyped storages there but its own legacy loader cannot read them back, so they are left out.
    dtypes = dtype_tensors()
    torch.save(dtypes, out("dtypes_zip.pt"))
    legacy = collections.OrderedDict((k, v) for k, v in dtypes.items() if v.dtype not in torch.storage._new_dtypes())
    torch.save(legacy, out("dtypes_legacy.pt"), _use_new_zipfile_serialization=False)
    st.save_file(contiguous_copy(dtypes), out("dtypes.safetensors"))
    expected["dtypes_zip.pt"] = {"tensors": [describe(k, v) for k, v in dtypes.items()], "metadata": {}}
    expected["dtypes_legacy.pt"] = {"tensors": [describe(k, v) for k, v in legacy.items()], "metadata": {}}

    # 2. Views, ties, parameters.
    views = view_tensors()
    save_both("views", views)
    st.save_file(contiguous_copy(views), out("views.safetensors"))
    tensors = [describe(k, v) for k, v in views.items()]
    expected["views_zip.pt"] = {"tensors": tensors, "metadata": {}}
    expected["views_legacy.pt"] = {"tensors": tensors, "metadata": {}}

    # 3. Wrappers and non-tensor leaves.
    sd = projector()
    torch.manual_seed(2)
    exp_avg = torch.randn(4)
    nested = {
        "model": sd,
        "epoch": 3,
        "global_step": 2**40 + 1,
        "best_metric": 0.875,
        "converged": False,
        "scheduler": None,
        "run_name": "llava-pretrain",
        "config": {"lr": 1e-3, "betas": [0.9, 0.999], "layers": [1, 2, 3], "tags": ["a", "b"],
                   "flags": [True, False], "nested": {"depth": 2}, "mixed": [1, "two", 3.0]},
        "optimizer": {"state": {0: {"step": torch.tensor(10.0), "exp_avg": exp_avg}},
                      "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
    }
    torch.save(nested, out("nested.pt"))
    named = [describe(k, v) for k, v in sd.items()]
    named += [describe("optimizer.state.0.step", torch.tensor(10.0)), describe("optimizer.state.0.exp_avg", exp_avg)]
    expected["nested.pt"] = {
        "tensors": named,
        "metadata": {
            "epoch": ["int64", 3], "global_step": ["int64", 2**40 + 1], "best_metric": ["float64", 0.875],
            "converged": ["bool", False], "scheduler": ["string", "None"], "run_name": ["string", "llava-pretrain"],
            "config.lr": ["float64", 1e-3], "config.betas": ["array", [0.9, 0.999]],
            "config.layers": ["array", [1, 2, 3]], "config.tags": ["array", ["a", "b"]],
            "config.flags": ["array", [True, False]], "config.nested.depth": ["int64", 2],
            "config.mixed.0": ["int64", 1], "config.mixed.1": ["string", "two"], "config.mixed.2": ["float64", 3.0],
            "optimizer.param_groups.0.lr": ["float64", 0.1], "optimizer.param_groups.0.params": ["array", [0, 1]],
        },
        "stripped": ["model"],
    }

    small = collections.OrderedDict([("layer.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
                                     ("layer.bias", torch.tensor([0.5, -0.5], dtype=torch.float32))])
    small_tensors = [describe(k, v) for k, v in small.items()]
    torch.save({"state_dict": small, "hyper_parameters": {"lr": 0.01}}, out("wrapper_state_dict.pt"))
    expected["wrapper_state_dict.pt"] = {"tensors": small_tensors, "metadata": {"hyper_parameters.lr": ["float64", 0.01]},
                                         "stripped": ["state_dict"]}
    torch.save({"module": small, "buffer_names": [], "optimizer": None, "global_steps": 10,
                "dp_world_size": 1, "ds_version": "0.14.0"}, out("wrapper_module.pt"))
    expected["wrapper_module.pt"] = {"tensors": small_tensors, "metadata": {
        "optimizer": ["string", "None"], "global_steps": ["int64", 10], "dp_world_size": ["int64", 1],
        "ds_version": ["string", "0.14.0"]}, "stripped": ["module"]}
    torch.save({"model": {"module": small}}, out("wrapper_model_module.pt"))
    expected["wrapper_model_module.pt"] = {"tensors": small_tensors, "metadata": {}, "stripped": ["model", "module"]}
    lists = {"blocks": [{"w": torch.ones(2)}, {"w": torch.zeros(2)}], "pair": (torch.tensor([1]), torch.tensor([2]))}
    torch.save(lists, out("nested_lists.pt"))
    expected["nested_lists.pt"] = {"tensors": [describe("blocks.0.w", torch.ones(2)), describe("blocks.1.w", torch.zeros(2)),
                                               describe("pair.0", torch.tensor([1])), describe("pair.1", torch.tensor([2]))],
                                   "metadata": {}}

    # 4. Pickle protocols 4 and 5, a lone tensor.
    for protocol in (4, 5):
        torch.save(small, out(f"protocol{protocol}.pt"), pickle_protocol=protocol)
        expected[f"protocol{protocol}.pt"] = {"tensors": small_tensors, "metadata": {}}
    lone = torch.arange(5, dtype=torch.int64)
    torch.save(lone, out("tensor_only.pt"))
    expected["tensor_only.pt"] = {"tensors": [describe("tensor_only", lone)], "metadata": {}}

    # 5. LLaVA mm_projector.bin and its safetensors twin (the byte-for-byte conversion reference).
    torch.save(sd, out("mm_projector.bin"))
    st.save_file(contiguous_copy(sd), out("mm_projector.safetensors"))
    expected["mm_projector.bin"] = {"tensors": [describe(k, v) for k, v in sd.items()], "metadata": {}}

    # 6. Two-shard checkpoint with its index.
    shard_dir = out("sharded")
    shutil.rmtree(shard_dir, ignore_errors=True)
    os.makedirs(shard_dir)
    items = list(sd.items())
    shards = [collections.OrderedDict(items[:2]), collections.OrderedDict(items[2:])]
    weight_map = {}
    total = 0
    for index, shard in enumerate(shards, 1):
        file_name = f"pytorch_model-{index:05d}-of-00002.bin"
        torch.save(shard, os.path.join(shard_dir, file_name))
        for k, v in shard.items():
            weight_map[k] = file_name
            total += v.numel() * v.element_size()
    with open(os.path.join(shard_dir, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    expected["sharded/pytorch_model.bin.index.json"] = {"tensors": [describe(k, v) for k, v in sd.items()],
                                                        "metadata": {"total_size": ["int64", total]}}

    # 7. Big-endian archive: same tensors, storages byte-swapped, byteorder "big".
    be_source = {"f32": torch.tensor([1.0, -2.5, 3.25], dtype=torch.float32),
                 "f16": torch.tensor([[1.0, 2.0], [-0.5, 65504.0]], dtype=torch.float16),
                 "i64": torch.tensor([1, -2, 2**40], dtype=torch.int64),
                 "c64": torch.tensor([1 + 2j, -3 - 4j], dtype=torch.complex64),
                 "u8": torch.tensor([1, 2, 255], dtype=torch.uint8),
                 "f32_t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),
                 "f64_scalar": torch.tensor(-2.5, dtype=torch.float64)}
    buffer = out("bigendian_source.tmp")
    torch.save(be_source, buffer)
    # torch.save numbers storages 0, 1, ... in order of first use: dict order here (no storage is shared).
    swap_units = {str(index): (t.element_size() // 2 if t.is_complex() else t.element_size())
                  for index, t in enumerate(be_source.values())}
    big_endian_copy(buffer, out("bigendian.pt"), swap_units)
    os.remove(buffer)
    check = torch.load(out("bigendian.pt"), weights_only=True)
    for k, v in be_source.items():
        assert torch.equal(check[k], v), f"torch reads big-endian {k} differently"
    expected["bigendian.pt"] = {"tensors": [describe(k, v) for k, v in be_source.items()], "metadata": {}}

    # 8. Sanity: torch itself reads every fixture back with weights_only=True, except protocols 4 and 5,
    # whose FRAME opcode torch's weights-only unpickler does not know (these are our own files, so a full
    # load is safe there).
    for name in expected:
        if name.endswith(".json"):
            continue
        torch.load(out(name), weights_only=not name.startswith("protocol"))

    with open(out("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    with open(out("weights_only_globals.json"), "w") as f:
        json.dump({"torch": torch.__version__, "globals": sorted(_get_allowed_globals().keys())}, f, indent=1)
    print("wrote", len(expected), "fixtures")


if __name__ == "__main__":
    main()
