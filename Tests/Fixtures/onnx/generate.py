#!/usr/bin/env python3
"""Writes the ONNX fixtures with onnx.helper and torch.onnx.export, plus what onnx's own reader says of them.

Run with the project venv (onnx, onnxruntime, onnxscript, torch, transformers, ml_dtypes):
    /work/main/venv/bin/python Tests/Fixtures/onnx/generate.py
Deterministic (fixed values and seeds).

First it checks schemas/onnx-subset.proto3 against the onnx package: protoc-c compiles the subset into a
descriptor set, and every message, field number, type and label in it must be the same in onnx's own
descriptors (onnx.onnx_ml_pb2), and every DataType value the same number with the same name.

Outputs (all small):
  dtypes_raw.onnx           one initializer per data type connkit reads, in raw_data (numpy_helper.from_array);
                            scalar, empty and 3-D shapes; NaN, inf, -0 and subnormals among the floats
  dtypes_typed.onnx         the same tensors in the typed fields (helper.make_tensor(raw=False)): float_data,
                            int32_data (16/8-bit, bool, float8, packed float4), int64_data, double_data,
                            uint64_data
  typed_signed.onnx         8- and 16-bit int32_data entries written as negative numbers (the same low bits)
  constants.onnx            Constant nodes: value (a tensor), value_float(s), value_int(s); an initializer
  external/                 save_model(save_as_external_data=True): big tensors in model.onnx.data, a small one inline
  external_files/           one external file per tensor (all_tensors_to_one_file=False)
  external_subfolder/       the data file in a subfolder (location "weights/data.bin")
  torch/*.onnx              torch.onnx.export of transformers' connector modules at small dims (see TORCH below)
  expected.json             per file: the tensors as onnx.load + numpy_helper.to_array read them (name,
                            ONNX type, connkit dtype, shape, sha256 of the row-major little-endian bytes,
                            external file), metadata, op counts; for torch exports, the parameter names
                            and the exporter settings
"""

import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

# numpy / ml_dtypes dtype name -> connkit dtype (the safetensors / torch vocabulary, lower-cased).
CONNKIT = {
    "float32": "f32", "float16": "f16", "bfloat16": "bf16", "float64": "f64",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "bool": "bool", "complex64": "c64",
    "float8_e4m3fn": "f8_e4m3", "float8_e4m3fnuz": "f8_e4m3fnuz", "float8_e5m2": "f8_e5m2",
    "float8_e5m2fnuz": "f8_e5m2fnuz", "float8_e8m0fnu": "f8_e8m0", "float4_e2m1fn": "f4",
}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def row_major_bytes(array):
    """The bytes connkit presents: row-major little-endian; float4 packed two per byte, first in the low nibble."""
    array = np.ascontiguousarray(array)
    if array.dtype == ml_dtypes.float4_e2m1fn:
        codes = array.reshape(-1).view(np.uint8) & 0x0F
        assert codes.size % 2 == 0
        return (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8).tobytes()
    return array.tobytes()


# ---------------------------------------------------------------------------------------------------------
# The schema subset against onnx's own descriptors

def check_schema():
    if shutil.which("protoc-c") is None:
        print("protoc-c not found: schema check skipped")
        return
    from google.protobuf import descriptor_pb2
    from onnx import onnx_ml_pb2
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "subset.pb")
        subprocess.run(["protoc-c", f"--proto_path={ROOT}/schemas", f"--descriptor_set_out={out}",
                        f"{ROOT}/schemas/onnx-subset.proto3"], check=True)
        files = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            files.ParseFromString(f.read())
    (subset,) = files.file
    reference = {d.full_name: d for d in _all_messages(onnx_ml_pb2.DESCRIPTOR.message_types_by_name.values())}
    checked = 0

    def walk(message, prefix):
        nonlocal checked
        full = f"{prefix}.{message.name}"
        ref = reference[full]
        for field in message.field:
            rf = ref.fields_by_number[field.number]
            assert rf.name == field.name, (full, field.number, rf.name, field.name)
            assert rf.type == field.type, (full, field.name, rf.type, field.type)
            assert rf.is_repeated == (field.label == field.LABEL_REPEATED), (full, field.name)
            if field.type_name:
                assert rf.message_type is not None or rf.enum_type is not None
                target = (rf.message_type or rf.enum_type).full_name
                assert "." + target == field.type_name, (full, field.name, target, field.type_name)
            checked += 1
        for enum in message.enum_type:
            ref_enum = ref.enum_types_by_name[enum.name]
            for value in enum.value:
                assert ref_enum.values_by_number[value.number].name == value.name, (full, enum.name, value.name)
                checked += 1
        for nested in message.nested_type:
            walk(nested, full)

    for message in subset.message_type:
        walk(message, "onnx")
    print(f"schema subset: {checked} fields and enum values agree with onnx {onnx.__version__}")


def _all_messages(messages):
    for message in messages:
        yield message
        yield from _all_messages(message.nested_types)


# ---------------------------------------------------------------------------------------------------------
# onnx.helper models

def sample_arrays():
    """name -> (ONNX data type, array): one per type connkit reads, with edge values."""
    rng = np.random.default_rng(15)
    floats = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 1e-40, 65504.0, 3.14159], dtype=np.float32)
    arrays = {
        "float32_matrix": (TensorProto.FLOAT, floats.reshape(2, 5)),
        "float32_scalar": (TensorProto.FLOAT, np.array(7.5, dtype=np.float32)),
        "float32_empty": (TensorProto.FLOAT, np.zeros((0, 3), dtype=np.float32)),
        "float16_3d": (TensorProto.FLOAT16, np.concatenate([floats, floats[:2]]).astype(np.float16).reshape(2, 3, 2)),
        "bfloat16": (TensorProto.BFLOAT16, floats.astype(ml_dtypes.bfloat16)),
        "float64": (TensorProto.DOUBLE, np.array([1e300, -1e-300, np.pi, np.nan], dtype=np.float64)),
        "int8": (TensorProto.INT8, np.array([-128, -1, 0, 1, 127], dtype=np.int8)),
        "int16": (TensorProto.INT16, np.array([-32768, -1, 0, 32767], dtype=np.int16)),
        "int32": (TensorProto.INT32, np.array([-2**31, -1, 0, 2**31 - 1], dtype=np.int32)),
        "int64": (TensorProto.INT64, np.array([-2**63, -1, 0, 2**63 - 1], dtype=np.int64)),
        "uint8": (TensorProto.UINT8, np.array([0, 1, 128, 255], dtype=np.uint8)),
        "uint16": (TensorProto.UINT16, np.array([0, 1, 32768, 65535], dtype=np.uint16)),
        "uint32": (TensorProto.UINT32, np.array([0, 1, 2**31, 2**32 - 1], dtype=np.uint32)),
        "uint64": (TensorProto.UINT64, np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)),
        "bool": (TensorProto.BOOL, np.array([[True, False, True], [False, False, True]])),
        "complex64": (TensorProto.COMPLEX64, np.array([1 + 2j, -3.5 - 0.25j, np.inf + 0j], dtype=np.complex64)),
        "float8e4m3fn": (TensorProto.FLOAT8E4M3FN, rng.normal(size=8).astype(ml_dtypes.float8_e4m3fn)),
        "float8e4m3fnuz": (TensorProto.FLOAT8E4M3FNUZ, rng.normal(size=8).astype(ml_dtypes.float8_e4m3fnuz)),
        "float8e5m2": (TensorProto.FLOAT8E5M2, rng.normal(size=8).astype(ml_dtypes.float8_e5m2)),
        "float8e5m2fnuz": (TensorProto.FLOAT8E5M2FNUZ, rng.normal(size=8).astype(ml_dtypes.float8_e5m2fnuz)),
        "float8e8m0": (TensorProto.FLOAT8E8M0, np.array([2.0**-10, 0.5, 1, 2, 1024], dtype=ml_dtypes.float8_e8m0fnu)),
        "float4e2m1": (TensorProto.FLOAT4E2M1, np.array([0, 0.5, 1, 1.5, -2, 3, -4, 6], dtype=ml_dtypes.float4_e2m1fn)),
    }
    return arrays


def model_of(initializers, nodes=(), name="fixture", producer="connkit fixtures"):
    graph = helper.make_graph(list(nodes), name, [], [], initializer=list(initializers))
    model = helper.make_model(graph, producer_name=producer, producer_version="1")
    return model


def dtypes_raw():
    tensors = [numpy_helper.from_array(array, name) for name, (_, array) in sample_arrays().items()]
    for tensor, (data_type, _) in zip(tensors, sample_arrays().values()):
        assert tensor.data_type == data_type and tensor.HasField("raw_data") or tensor.dims[0:1] == [0], tensor.name
    model = model_of(tensors, name="dtypes_raw")
    helper.set_model_props(model, {"purpose": "every data type, raw_data", "fixture": "dtypes_raw"})
    return model


def dtypes_typed():
    tensors = []
    for name, (data_type, array) in sample_arrays().items():
        tensor = helper.make_tensor(name, data_type, array.shape, array.reshape(-1), raw=False)
        assert not tensor.raw_data, name
        tensors.append(tensor)
    return model_of(tensors, name="dtypes_typed")


def typed_signed():
    """Typed entries of 8- and 16-bit types written as negative int32 values: numpy_helper keeps the low bits."""
    f16 = np.array([1.0, -2.0, 65504.0, -0.0], dtype=np.float16)
    tensors = []
    t = TensorProto(name="float16_signed", data_type=TensorProto.FLOAT16, dims=[4])
    t.int32_data.extend(int(v) for v in f16.view(np.int16))  # sign bit set: negative int32
    tensors.append(t)
    t = TensorProto(name="uint8_signed", data_type=TensorProto.UINT8, dims=[3])
    t.int32_data.extend([-1, -128, 5])
    tensors.append(t)
    t = TensorProto(name="int8_unsigned", data_type=TensorProto.INT8, dims=[3])
    t.int32_data.extend([255, 128, 5])
    tensors.append(t)
    t = TensorProto(name="bfloat16_signed", data_type=TensorProto.BFLOAT16, dims=[2])
    t.int32_data.extend(int(v) for v in np.array([-1.0, 2.0], dtype=ml_dtypes.bfloat16).view(np.int16))
    tensors.append(t)
    return model_of(tensors, name="typed_signed")


def constants():
    nodes = [
        helper.make_node("Constant", [], ["const_tensor"],
                         value=numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4))),
        helper.make_node("Constant", [], ["const_typed"],
                         value=helper.make_tensor("", TensorProto.INT64, [3], [5, -6, 7], raw=False)),
        helper.make_node("Constant", [], ["const_float"], value_float=0.125),
        helper.make_node("Constant", [], ["const_floats"], value_floats=[1.5, -2.0, 3.25]),
        helper.make_node("Constant", [], ["const_int"], value_int=-42),
        helper.make_node("Constant", [], ["const_ints"], value_ints=[1, 2, 3, 2**40]),
        helper.make_node("Add", ["const_tensor", "weight"], ["sum"]),
        helper.make_node("Identity", ["sum"], ["out"]),
    ]
    weight = numpy_helper.from_array(np.full((3, 4), 0.5, dtype=np.float32), "weight")
    return model_of([weight], nodes, name="constants")


def external_model(folder, **options):
    rng = np.random.default_rng(7)
    tensors = [
        numpy_helper.from_array(rng.normal(size=(16, 32)).astype(np.float32), "proj.weight"),
        numpy_helper.from_array(rng.normal(size=(32,)).astype(np.float16), "proj.bias"),
        numpy_helper.from_array(rng.normal(size=(24, 40)).astype(ml_dtypes.bfloat16), "proj2.weight"),
        numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "small"),
    ]
    model = model_of(tensors, [helper.make_node("Identity", ["proj.bias"], ["out"])], name="external")
    os.makedirs(os.path.dirname(os.path.join(folder, options.get("location", "x"))), exist_ok=True)
    onnx.save_model(model, os.path.join(folder, "model.onnx"), save_as_external_data=True, **options)


# ---------------------------------------------------------------------------------------------------------
# What onnx's own reader says

def describe(path, extra=None):
    locations = {t.name: {e.key: e.value for e in t.external_data}["location"]
                 for t in onnx.load(path, load_external_data=False).graph.initializer
                 if t.data_location == TensorProto.EXTERNAL}
    model = onnx.load(path)  # resolves external data relative to the model's folder
    graph = model.graph
    tensors = []

    def add(name, proto=None, array=None, data_type=None):
        if proto is not None:
            array = numpy_helper.to_array(proto)
            data_type = proto.data_type
        entry = {
            "name": name,
            "onnx_type": TensorProto.DataType.Name(data_type),
            "dtype": CONNKIT[array.dtype.name],
            "shape": list(array.shape),
            "sha256": sha(row_major_bytes(array)),
        }
        if name in locations:
            entry["external"] = locations[name]
        tensors.append(entry)

    for init in graph.initializer:
        add(init.name, init)
    for node in graph.node:
        if node.op_type != "Constant":
            continue
        attr = node.attribute[0]
        if attr.name == "value":
            add(node.output[0], attr.t)
        elif attr.name == "value_float":
            add(node.output[0], array=np.array(attr.f, dtype=np.float32), data_type=TensorProto.FLOAT)
        elif attr.name == "value_floats":
            add(node.output[0], array=np.array(attr.floats, dtype=np.float32), data_type=TensorProto.FLOAT)
        elif attr.name == "value_int":
            add(node.output[0], array=np.array(attr.i, dtype=np.int64), data_type=TensorProto.INT64)
        elif attr.name == "value_ints":
            add(node.output[0], array=np.array(attr.ints, dtype=np.int64), data_type=TensorProto.INT64)
    metadata = {"onnx.ir_version": model.ir_version}
    for key, value in [("onnx.producer_name", model.producer_name), ("onnx.producer_version", model.producer_version),
                       ("onnx.domain", model.domain), ("onnx.doc_string", model.doc_string),
                       ("onnx.graph_name", graph.name)]:
        if value:
            metadata[key] = value
    if model.model_version:
        metadata["onnx.model_version"] = model.model_version
    for opset in model.opset_import:
        metadata["onnx.opset." + (opset.domain or "ai.onnx")] = opset.version
    for prop in model.metadata_props:
        metadata[prop.key] = prop.value
    result = {
        "tensors": tensors,
        "metadata": metadata,
        "op_counts": dict(collections.Counter(n.op_type for n in graph.node)),
        "constants": sum(1 for n in graph.node if n.op_type == "Constant"),
    }
    result.update(extra or {})
    return result


def main():
    check_schema()
    expected = {}

    def save(model, relative, extra=None):
        path = os.path.join(HERE, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        onnx.checker.check_model(model)
        onnx.save(model, path)
        expected[relative] = describe(path, extra)

    save(dtypes_raw(), "dtypes_raw.onnx")
    save(dtypes_typed(), "dtypes_typed.onnx")
    save(typed_signed(), "typed_signed.onnx")
    save(constants(), "constants.onnx")

    for folder, options in [
        ("external", dict(all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)),
        ("external_files", dict(all_tensors_to_one_file=False, size_threshold=0)),
        ("external_subfolder", dict(all_tensors_to_one_file=True, location="weights/data.bin", size_threshold=0)),
    ]:
        target = os.path.join(HERE, folder)
        shutil.rmtree(target, ignore_errors=True)
        external_model(target, **options)
        onnx.checker.check_model(os.path.join(target, "model.onnx"))
        expected[f"{folder}/model.onnx"] = describe(os.path.join(target, "model.onnx"))

    import torch_exports
    for relative, extra in torch_exports.export_all(os.path.join(HERE, "torch")):
        expected["torch/" + relative] = describe(os.path.join(HERE, "torch", relative), extra)

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(expected)} models")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
