#!/usr/bin/env python3
"""The ONNX hostile corpus: one model per rejection class, and manifest.json saying what each breaks and
what onnx itself does with it (onnx.load with its external data + numpy_helper.to_array of every initializer).

Run with the project venv:  /work/main/venv/bin/python Tests/Fixtures/hostile/onnx/generate.py

Wire-level cases are written with the small protobuf encoder below (so they can break the wire format);
onnx parses the valid base models it makes (base.onnx, base_depth_8.onnx) into what was meant, which the
script checks. Semantic cases are TensorProto/ModelProto messages built with onnx's classes, serialized
without running the checker. External-data cases are folders holding model.onnx and their data files;
external_symlink/link.bin is a symbolic link to ../outside.bin.
"""

import json
import os
import shutil
import struct
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------------------
# A minimal protobuf encoder, for bytes onnx's own serializer would never write

def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


def length_delimited(number, payload):
    return tag(number, 2) + varint(len(payload)) + payload


def tensor_bytes(name=b"w", dims=(2, 2), data_type=1, raw=bytes(16)):
    out = b"".join(tag(1, 0) + varint(d) for d in dims)
    out += tag(2, 0) + varint(data_type)
    out += length_delimited(8, name)
    out += length_delimited(9, raw)
    return out


def model_bytes(graph_payload, ir_version=9):
    opset = length_delimited(8, tag(2, 0) + varint(17))
    return tag(1, 0) + varint(ir_version) + opset + length_delimited(7, graph_payload)


def base_graph():
    return length_delimited(5, tensor_bytes()) + length_delimited(2, b"base")


def nested_graphs(levels):
    """A model whose graph has a node whose attribute holds a graph, `levels` times (graphs nested `levels` deep). Built outside-in from
    the lengths (each level only adds prefixes), so tens of thousands of levels take no quadratic copying."""
    lengths = []
    inner = 0  # the innermost graph is empty
    for _ in range(levels):
        attribute = len(tag(6, 2)) + len(varint(inner)) + inner  # AttributeProto.g
        node = len(tag(5, 2)) + len(varint(attribute)) + attribute  # NodeProto.attribute
        graph = len(tag(1, 2)) + len(varint(node)) + node  # GraphProto.node
        lengths.append((inner, attribute, node))
        inner = graph
    prefixes = []
    for inner, attribute, node in reversed(lengths):
        prefixes.append(tag(1, 2) + varint(node) + tag(5, 2) + varint(attribute) + tag(6, 2) + varint(inner))
    return model_bytes(b"".join(prefixes))


# ---------------------------------------------------------------------------------------------------------
# Messages built with onnx's classes, never checked

def graph_model(initializers=(), nodes=(), sparse=()):
    graph = helper.make_graph(list(nodes), "hostile", [], [], initializer=list(initializers))
    graph.sparse_initializer.extend(sparse)
    return helper.make_model(graph, producer_name="connkit hostile corpus")


def raw_tensor(name, data_type, dims, data):
    tensor = TensorProto(name=name, data_type=data_type, dims=list(dims))
    tensor.raw_data = data
    return tensor


def external_tensor(name, dims, entries, data_type=TensorProto.FLOAT):
    tensor = TensorProto(name=name, data_type=data_type, dims=list(dims), data_location=TensorProto.EXTERNAL)
    for key, value in entries.items():
        tensor.external_data.add(key=key, value=value)
    return tensor


def cases():
    """name -> (bytes or a folder spec, what it breaks, the FormatError case connkit reports)."""
    f32 = np.arange(4, dtype=np.float32).tobytes()
    c = {}
    c["truncated"] = (model_bytes(base_graph())[:-6], "file cut inside raw_data", "truncated")
    c["length_beyond_file"] = (tag(1, 0) + varint(9) + tag(7, 2) + varint(1000) + base_graph(),
                               "ModelProto.graph declares 1000 bytes, fewer follow", "truncated")
    c["wrong_wire_type"] = (model_bytes(length_delimited(5, tensor_bytes()[:-18] + tag(9, 0) + varint(5))),
                            "TensorProto.raw_data (bytes) written as a varint", "invalidHeader")
    c["varint_11_bytes"] = (tag(1, 0) + b"\xff" * 10 + b"\x01" + length_delimited(7, base_graph()),
                            "ir_version is a varint of 11 bytes", "invalidHeader")
    c["wire_type_7"] = (model_bytes(base_graph()) + bytes([0x7F]), "a tag with wire type 7", "invalidHeader")
    c["group_wire_type"] = (model_bytes(base_graph()) + tag(30, 3) + tag(30, 4), "a group (wire types 3, 4)",
                            "invalidHeader")
    c["field_number_zero"] = (model_bytes(base_graph()) + tag(0, 0) + varint(1), "a field numbered 0", "invalidHeader")
    c["packed_varint_unterminated"] = (
        model_bytes(length_delimited(5, tag(1, 0) + varint(2) + tag(2, 0) + varint(7) + length_delimited(8, b"w")
                                     + length_delimited(7, b"\x01\x82"))),
        "packed int64_data whose last varint never ends", "truncated")
    c["packed_floats_misaligned"] = (
        model_bytes(length_delimited(5, tag(1, 0) + varint(2) + tag(2, 0) + varint(1) + length_delimited(8, b"w")
                                     + length_delimited(4, bytes(7)))),
        "packed float_data of 7 bytes", "invalidHeader")
    c["nul_in_name"] = (model_bytes(length_delimited(5, tensor_bytes(name=b"w\x00evil"))),
                        "an initializer name holding a NUL byte", "invalidHeader")
    c["graph_depth_9"] = (nested_graphs(9), "graphs nested in attributes 9 levels below the model's graph",
                          "limitExceeded")
    c["graph_depth_20000"] = (nested_graphs(20000), "graphs nested in attributes 20,000 levels deep",
                              "limitExceeded")
    c["empty"] = (b"", "zero bytes (an empty ModelProto: no graph)", "invalidHeader")
    c["no_graph"] = (tag(1, 0) + varint(9), "a ModelProto without a graph", "invalidHeader")

    c["raw_data_short"] = (graph_model([raw_tensor("w", TensorProto.FLOAT, [2, 3], f32)]),
                           "raw_data of 16 bytes for a [2, 3] float tensor (24)", "sizeMismatch")
    typed = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[6])
    typed.float_data.extend([1, 2, 3, 4, 5])
    c["typed_count_short"] = (graph_model([typed]), "5 float_data values for a [6] tensor", "sizeMismatch")
    c["negative_dim"] = (graph_model([raw_tensor("w", TensorProto.FLOAT, [-1, 4], f32)]), "dims [-1, 4]",
                         "invalidShape")
    c["dims_overflow"] = (graph_model([raw_tensor("w", TensorProto.FLOAT, [2**62, 8], f32)]),
                          "dims [2^62, 8]: the element count overflows", "overflow")
    c["too_many_dims"] = (graph_model([raw_tensor("w", TensorProto.FLOAT, [1] * 65, bytes(4))]), "65 dimensions",
                          "tooManyDimensions")
    c["duplicate_initializer"] = (graph_model([raw_tensor("w", TensorProto.FLOAT, [4], f32),
                                               raw_tensor("w", TensorProto.FLOAT, [4], f32)]),
                                  "two initializers named w", "duplicateName")
    c["duplicate_constant_output"] = (
        graph_model([raw_tensor("w", TensorProto.FLOAT, [4], f32)],
                    [helper.make_node("Constant", [], ["w"], value_float=1.0)]),
        "a Constant node whose output is an initializer's name", "duplicateName")
    c["unnamed_initializer"] = (graph_model([raw_tensor("", TensorProto.FLOAT, [4], f32)]), "an initializer without a name",
                                "invalidHeader")
    strings = TensorProto(name="labels", data_type=TensorProto.STRING, dims=[2])
    strings.string_data.extend([b"a", b"b"])
    c["dtype_string"] = (graph_model([strings]), "a STRING initializer", "unsupportedDType")
    c["dtype_complex128"] = (graph_model([raw_tensor("w", TensorProto.COMPLEX128, [1], bytes(16))]),
                             "a COMPLEX128 initializer", "unsupportedDType")
    # four elements of each: the bytes their packing takes
    for name, code, size in [("int4", TensorProto.INT4, 2), ("uint4", TensorProto.UINT4, 2), ("int2", TensorProto.INT2, 1),
                             ("uint2", TensorProto.UINT2, 1), ("float6e2m3", TensorProto.FLOAT6E2M3, 3)]:
        c[f"dtype_{name}"] = (graph_model([raw_tensor("w", code, [4], bytes(size))]),
                              f"a {TensorProto.DataType.Name(code)} initializer", "unsupportedDType")
    c["dtype_undefined"] = (graph_model([raw_tensor("w", TensorProto.UNDEFINED, [4], f32)]), "data_type 0 (UNDEFINED)",
                            "unknownDType")
    c["dtype_99"] = (graph_model([raw_tensor("w", 99, [4], f32)]), "data_type 99", "unknownDType")
    both = raw_tensor("w", TensorProto.FLOAT, [4], f32)
    both.float_data.extend([0, 1, 2, 3])
    c["raw_and_typed"] = (graph_model([both]), "raw_data and float_data both hold the values", "invalidHeader")
    wrong = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2])
    wrong.int64_data.extend([1, 2])
    c["typed_wrong_field"] = (graph_model([wrong]), "a FLOAT tensor in int64_data", "invalidHeader")
    big = TensorProto(name="w", data_type=TensorProto.UINT8, dims=[2])
    big.int32_data.extend([7, 300])
    c["typed_out_of_range"] = (graph_model([big]), "int32_data value 300 for a UINT8 tensor", "invalidHeader")
    flags = TensorProto(name="mask", data_type=TensorProto.BOOL, dims=[2])
    flags.int32_data.extend([1, 2])
    c["bool_value_2"] = (graph_model([flags]), "int32_data value 2 for a BOOL tensor", "invalidHeader")
    segmented = raw_tensor("w", TensorProto.FLOAT, [4], f32)
    segmented.segment.begin, segmented.segment.end = 0, 4
    c["segment"] = (graph_model([segmented]), "a segmented tensor (TensorProto.segment)", "refused")
    sparse = onnx.SparseTensorProto(values=numpy_helper.from_array(np.array([1.0], dtype=np.float32), "s"),
                                    indices=numpy_helper.from_array(np.array([0], dtype=np.int64), "s_i"), dims=[4])
    c["sparse_initializer"] = (graph_model(sparse=[sparse]), "a sparse initializer", "refused")
    odd = raw_tensor("w", TensorProto.FLOAT4E2M1, [3], bytes(2))
    c["f4_odd_count"] = (graph_model([odd]), "3 FLOAT4E2M1 elements (connkit's f4 holds whole bytes)", "invalidShape")
    c["constant_sparse"] = (graph_model(nodes=[helper.make_node("Constant", [], ["c"], sparse_value=sparse)]),
                            "a Constant node with sparse_value", "refused")
    c["constant_string"] = (graph_model(nodes=[helper.make_node("Constant", [], ["c"], value_string="x")]),
                            "a Constant node with value_string", "unsupportedDType")
    c["constant_two_attributes"] = (
        graph_model(nodes=[helper.make_node("Constant", [], ["c"], value_float=1.0, value_int=2)]),
        "a Constant node with two values", "invalidHeader")
    utf8 = model_bytes(length_delimited(5, tensor_bytes(name=b"w\xff\xfe")))
    c["invalid_utf8_name"] = (utf8, "an initializer name that is not UTF-8", "invalidUTF8")
    metadata = graph_model([raw_tensor("w", TensorProto.FLOAT, [4], f32)])
    metadata.metadata_props.add(key="k", value="1")
    metadata.metadata_props.add(key="k", value="2")
    c["duplicate_metadata_key"] = (metadata, "metadata_props with the key k twice", "duplicateName")

    data = np.arange(16, dtype=np.float32).tobytes()
    ext = lambda entries, dims=(16,): graph_model([external_tensor("w", dims, entries)])
    c["external_dotdot"] = ({"model.onnx": ext({"location": "../outside.bin"})},
                            "location ../outside.bin leaves the folder", "refused")
    c["external_absolute"] = ({"model.onnx": ext({"location": "/etc/hostname"})}, "an absolute location", "refused")
    c["external_symlink"] = ({"model.onnx": ext({"location": "link.bin"}), "link.bin": "->../outside.bin"},
                             "location link.bin is a symbolic link to ../outside.bin", "refused")
    c["external_range_outside"] = ({"model.onnx": ext({"location": "w.bin", "offset": "32", "length": "64"}),
                                    "w.bin": data}, "offset 32 + length 64 in a 64-byte file", "truncated")
    c["external_offset_outside"] = ({"model.onnx": ext({"location": "w.bin", "offset": "100"}), "w.bin": data},
                                    "offset 100 in a 64-byte file", "truncated")
    c["external_length_mismatch"] = ({"model.onnx": ext({"location": "w.bin", "length": "60"}), "w.bin": data},
                                     "length 60 for a 64-byte tensor", "sizeMismatch")
    c["external_missing_file"] = ({"model.onnx": ext({"location": "absent.bin"})}, "the data file does not exist", "io")
    c["external_no_location"] = ({"model.onnx": ext({"offset": "0"}), "w.bin": data}, "no location", "invalidHeader")
    c["external_bad_offset"] = ({"model.onnx": ext({"location": "w.bin", "offset": "-8"}), "w.bin": data},
                                "offset -8", "invalidHeader")
    both_places = external_tensor("w", (16,), {"location": "w.bin"})
    both_places.raw_data = data
    c["external_and_raw"] = ({"model.onnx": graph_model([both_places]), "w.bin": data},
                             "data_location EXTERNAL and raw_data", "invalidHeader")
    unmarked = raw_tensor("w", TensorProto.FLOAT, [16], data)
    unmarked.external_data.add(key="location", value="w.bin")
    c["external_not_marked"] = ({"model.onnx": graph_model([unmarked]), "w.bin": data},
                                "external_data entries but data_location DEFAULT", "invalidHeader")
    return c


def onnx_verdict(path):
    """What onnx does: load the model (and its external data from the model's folder), convert every
    initializer with numpy_helper."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = onnx.load(path)
            for tensor in model.graph.initializer:
                numpy_helper.to_array(tensor)
        return "accepts"
    except BaseException as error:  # noqa: BLE001 - recorded, whatever it is
        return f"refuses ({type(error).__name__})"


def write(name, spec):
    if isinstance(spec, dict):
        folder = os.path.join(HERE, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for file, content in spec.items():
            target = os.path.join(folder, file)
            if isinstance(content, str) and content.startswith("->"):
                os.symlink(content[2:], target)
            elif isinstance(content, bytes):
                open(target, "wb").write(content)
            else:
                open(target, "wb").write(content.SerializeToString())
        return f"{name}/model.onnx"
    path = os.path.join(HERE, name + ".onnx")
    open(path, "wb").write(spec if isinstance(spec, bytes) else spec.SerializeToString())
    return name + ".onnx"


def main():
    for entry in os.listdir(HERE):
        path = os.path.join(HERE, entry)
        if entry.endswith(".onnx"):
            os.remove(path)
        elif os.path.isdir(path) and entry.startswith("external_"):
            shutil.rmtree(path)
    open(os.path.join(HERE, "outside.bin"), "wb").write(np.arange(16, dtype=np.float32).tobytes())

    base = model_bytes(base_graph())
    parsed = onnx.load_model_from_string(base)
    assert [t.name for t in parsed.graph.initializer] == ["w"] and parsed.graph.name == "base"
    assert numpy_helper.to_array(parsed.graph.initializer[0]).shape == (2, 2)
    deep = onnx.load_model_from_string(nested_graphs(8))
    depth, graph = 0, deep.graph
    while graph.node:
        graph, depth = graph.node[0].attribute[0].g, depth + 1
    assert depth == 8, depth
    manifest = {}
    for name, (spec, breaks) in {"base": (base, "nothing (valid)"),
                                 "base_depth_8": (nested_graphs(8), "nothing: graphs nested 8 levels (the limit)")}.items():
        file = write(name, spec)
        manifest[file] = {"breaks": breaks, "onnx": onnx_verdict(os.path.join(HERE, file)), "connkit": "accepts"}
    for name, (spec, breaks, kind) in cases().items():
        file = write(name, spec)
        manifest[file] = {"breaks": breaks, "onnx": onnx_verdict(os.path.join(HERE, file)), "connkit": kind}
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"{len(manifest)} files")


if __name__ == "__main__":
    main()
