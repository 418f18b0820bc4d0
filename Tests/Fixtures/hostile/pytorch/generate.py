#!/usr/bin/env python3
"""Writes the hostile PyTorch corpus: malicious and malformed checkpoints connkit must refuse.

Run with the project venv:  /work/venv/bin/python generate.py
Nothing here is ever loaded with a full unpickler: the generator only *writes* pickles (pickling an object
whose __reduce__ names os.system calls nothing). Files that would run a command create a marker file named
in MARKERS; the Swift tests check it never appears. Each file is one rejection class (see expected.json:
[FormatError kind, text the one-line message must contain (a global's name, a number as the file holds it),
marker file]).
"""

import collections
import json
import os
import pickle
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER_DIR = "/tmp"
MARKERS = {
    "reduce_os_system": "/tmp/connkit-hostile-marker-reduce-os-system",
    "reduce_os_system_legacy": "/tmp/connkit-hostile-marker-reduce-os-system-legacy",
    "builtins_eval": "/tmp/connkit-hostile-marker-builtins-eval",
    "posix_system_stack_global": "/tmp/connkit-hostile-marker-posix-system",
    "os_system": "/tmp/connkit-hostile-marker-os-system",
}


def out(name):
    return os.path.join(HERE, name)


def archive(name, data_pkl, records=None):
    """A torch.save-style zip archive (torch's own writer: aligned, stored records) with our data.pkl."""
    writer = torch._C.PyTorchFileWriter(out(name))
    writer.write_record("data.pkl", data_pkl, len(data_pkl))
    writer.write_record("byteorder", b"little", 6)
    for key, data in (records or {}).items():
        writer.write_record(f"data/{key}", data, len(data))
    writer.write_record("version", b"3\n", 2)
    writer.write_end_of_file()


class RunsCommand:
    """Pickles as os.system(command): what a malicious __reduce__ looks like."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class StorageID:
    def __init__(self, key, numel, storage_type=torch.FloatStorage, tag="storage"):
        self.key, self.numel, self.storage_type, self.tag = key, numel, storage_type, tag


class Tensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageID):
            return (obj.tag, obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def torch_pickle(obj, protocol=2):
    import io
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def raw_global(module, name, argument, protocol=2):
    """PROTO, GLOBAL module.name, (argument,), REDUCE, STOP, written opcode by opcode."""
    arg = argument.encode()
    return (bytes([0x80, protocol]) + b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(arg)) + arg + b"\x85R.")


def floats(count):
    return np.arange(count, dtype="<f4").tobytes()


def main():
    for marker in MARKERS.values():
        if os.path.exists(marker):
            os.remove(marker)
    expected = {}

    # Disallowed globals (the message must name the global).
    torch.save(RunsCommand("touch " + MARKERS["reduce_os_system"]), out("reduce_os_system.pt"))
    expected["reduce_os_system.pt"] = ["disallowedGlobal", "posix.system", MARKERS["reduce_os_system"]]
    torch.save({"w": RunsCommand("touch " + MARKERS["reduce_os_system_legacy"])}, out("reduce_os_system_legacy.pt"),
               _use_new_zipfile_serialization=False)
    expected["reduce_os_system_legacy.pt"] = ["disallowedGlobal", "posix.system", MARKERS["reduce_os_system_legacy"]]
    archive("builtins_eval.pt", raw_global("builtins", "eval",
                                          f"__import__('os').system('touch {MARKERS['builtins_eval']}')"))
    expected["builtins_eval.pt"] = ["disallowedGlobal", "builtins.eval", MARKERS["builtins_eval"]]
    archive("os_system.pt", raw_global("os", "system", "touch " + MARKERS["os_system"]))
    expected["os_system.pt"] = ["disallowedGlobal", "os.system", MARKERS["os_system"]]
    # Protocol 4 names globals with STACK_GLOBAL (two strings on the stack) instead of GLOBAL.
    command = ("touch " + MARKERS["posix_system_stack_global"]).encode()
    stack_global = (b"\x80\x04\x8c\x05posix\x8c\x06system\x93" + b"\x8c" + bytes([len(command)]) + command + b"\x85R.")
    archive("posix_system_stack_global.pt", stack_global)
    expected["posix_system_stack_global.pt"] = ["disallowedGlobal", "posix.system", MARKERS["posix_system_stack_global"]]
    archive("numpy_reconstruct.pt", raw_global("numpy.core.multiarray", "_reconstruct", "x"))
    expected["numpy_reconstruct.pt"] = ["disallowedGlobal", "numpy.core.multiarray._reconstruct", None]
    torch.save({"w": np.arange(3, dtype=np.float32)}, out("numpy_array.pt"))
    expected["numpy_array.pt"] = ["disallowedGlobal", "numpy", None]
    archive("torch_load.pt", raw_global("torch", "load", "/etc/passwd"))
    expected["torch_load.pt"] = ["disallowedGlobal", "torch.load", None]

    # Malformed pickles.
    archive("unknown_opcode.pt", b"\x80\x02\xff.")
    expected["unknown_opcode.pt"] = ["unsupportedFormat", None, None]
    archive("text_protocol_opcode.pt", b"\x80\x02I42\n.")
    expected["text_protocol_opcode.pt"] = ["unsupportedFormat", None, None]
    good = torch_pickle({"w": Tensor(StorageID("0", 4), 0, (4,), (1,))})
    archive("truncated_pickle.pt", good[: len(good) // 2], {"0": floats(4)})
    expected["truncated_pickle.pt"] = ["truncated", None, None]
    archive("no_stop.pt", b"\x80\x02}q\x00")
    expected["no_stop.pt"] = ["truncated", None, None]
    archive("stack_underflow.pt", b"\x80\x02R.")
    expected["stack_underflow.pt"] = ["invalidHeader", None, None]
    archive("huge_memo_index.pt", b"\x80\x02]r\xff\xff\xff\xff.")
    expected["huge_memo_index.pt"] = ["limitExceeded", None, None]
    archive("memo_read_before_write.pt", b"\x80\x02j\x00\x00\x00\x10.")
    expected["memo_read_before_write.pt"] = ["invalidHeader", None, None]
    archive("huge_string_length.pt", b"\x80\x02X\xff\xff\xff\xff.")
    expected["huge_string_length.pt"] = ["truncated", None, None]
    archive("deep_marks.pt", b"\x80\x02" + b"(" * 10_000 + b".")
    expected["deep_marks.pt"] = ["limitExceeded", None, None]
    archive("deep_tuples.pt", b"\x80\x02)" + b"\x85" * 10_000 + b".")
    expected["deep_tuples.pt"] = ["limitExceeded", None, None]
    # Each list holds the previous one twice: 2^60 paths through 61 objects.
    dag = bytearray(b"\x80\x02]q\x000")
    for index in range(1, 61):
        dag += b"](h" + bytes([index - 1]) + b"h" + bytes([index - 1]) + b"eq" + bytes([index]) + b"0"
    dag += b"h" + bytes([60]) + b"."
    archive("exponential_sharing.pt", bytes(dag))
    expected["exponential_sharing.pt"] = ["limitExceeded", None, None]
    archive("cycle.pt", b"\x80\x02]q\x00h\x00a.")
    expected["cycle.pt"] = ["invalidHeader", None, None]
    archive("not_a_state_dict_call.pt", b"\x80\x02ccollections\nOrderedDict\nK\x05R.")
    expected["not_a_state_dict_call.pt"] = ["invalidHeader", None, None]

    # Storages and tensor geometry.
    archive("storage_shorter_than_view.pt", torch_pickle({"w": Tensor(StorageID("0", 4), 0, (10,), (1,))}),
            {"0": floats(4)})
    expected["storage_shorter_than_view.pt"] = ["truncated", None, None]
    archive("storage_record_size_mismatch.pt", torch_pickle({"w": Tensor(StorageID("0", 8), 0, (8,), (1,))}),
            {"0": floats(4)})
    expected["storage_record_size_mismatch.pt"] = ["sizeMismatch", None, None]
    archive("stride_overflow.pt", torch_pickle({"w": Tensor(StorageID("0", 4), 0, (2, 2), (2**62, 1))}),
            {"0": floats(4)})
    expected["stride_overflow.pt"] = ["overflow", None, None]
    archive("offset_overflow.pt", torch_pickle({"w": Tensor(StorageID("0", 4), 2**63 - 1, (2,), (1,))}),
            {"0": floats(4)})
    expected["offset_overflow.pt"] = ["overflow", None, None]
    archive("shape_overflow.pt", torch_pickle({"w": Tensor(StorageID("0", 4), 0, (2**40, 2**40), (0, 0))}),
            {"0": floats(4)})
    expected["shape_overflow.pt"] = ["overflow", None, None]
    archive("negative_size.pt", torch_pickle({"w": Tensor(StorageID("0", 4), 0, (-1,), (1,))}), {"0": floats(4)})
    expected["negative_size.pt"] = ["invalidShape", None, None]
    archive("expanded_bomb.pt", torch_pickle({"w": Tensor(StorageID("0", 1), 0, (2**20, 2**20), (0, 0))}),
            {"0": floats(1)})
    expected["expanded_bomb.pt"] = ["limitExceeded", None, None]
    # Empty views whose offset lies far past their 16-float storage (torch's set_ does not check the offset of
    # an empty view; connkit does, so no later offset arithmetic can overflow or leave the storage).
    archive("empty_view_offset_2p62.pt", torch_pickle({"w": Tensor(StorageID("0", 16), 2**62, (0, 4), (4, 1))}),
            {"0": floats(16)})
    expected["empty_view_offset_2p62.pt"] = ["overflow", None, None]
    archive("empty_view_offset_1e9.pt", torch_pickle({"w": Tensor(StorageID("0", 16), 10**9, (0, 4), (4, 1))}),
            {"0": floats(16)})
    expected["empty_view_offset_1e9.pt"] = ["truncated", None, None]
    # 100 stride-0 views of one 64-byte storage, each listing 1 GiB: 100 GiB from a ~15 KB file.
    storage = StorageID("0", 16)
    archive("stride0_views_100gib.bin",
            torch_pickle({f"w{i}": Tensor(storage, i % 16, (2**14, 2**14), (0, 0)) for i in range(100)}),
            {"0": floats(16)})
    expected["stride0_views_100gib.bin"] = ["limitExceeded", None, None]
    # A LONG4 integer whose byte count is -5 (CPython refuses: "LONG pickle has negative byte count").
    archive("long4_negative_length.pt", b"\x80\x02\x8b" + struct.pack("<i", -5) + b".")
    expected["long4_negative_length.pt"] = ["invalidHeader", "-5", None]
    # A size beyond int64, pickled as a 9-byte LONG1: the message must print its value.
    big_size = torch_pickle({"w": Tensor(StorageID("0", 4), 0, (2**64,), (1,))})
    archive("size_beyond_int64.pt", big_size, {"0": floats(4)})
    expected["size_beyond_int64.pt"] = ["invalidShape", "18446744073709551616", None]
    archive("missing_storage_record.pt", torch_pickle({"w": Tensor(StorageID("7", 4), 0, (4,), (1,))}),
            {"0": floats(4)})
    expected["missing_storage_record.pt"] = ["notFound", None, None]
    archive("persistent_id_not_storage.pt",
            torch_pickle({"w": Tensor(StorageID("0", 4, tag="module"), 0, (4,), (1,))}), {"0": floats(4)})
    expected["persistent_id_not_storage.pt"] = ["refused", None, None]
    archive("quantized_storage_type.pt",
            torch_pickle({"w": Tensor(StorageID("0", 4, storage_type=torch.QInt8Storage), 0, (4,), (1,))}),
            {"0": bytes(4)})
    expected["quantized_storage_type.pt"] = ["unsupportedDType", None, None]
    torch.save({"w": torch.tensor([1 + 2j], dtype=torch.complex128)}, out("complex128.pt"))
    expected["complex128.pt"] = ["unsupportedDType", None, None]
    torch.save({"q": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint8)}, out("quantized_tensor.pt"))
    expected["quantized_tensor.pt"] = ["unsupportedDType", None, None]
    torch.save({"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}}, out("duplicate_names.pt"))
    expected["duplicate_names.pt"] = ["duplicateName", None, None]

    # Containers.
    valid = torch.save({"w": torch.arange(64, dtype=torch.float32)}, out("valid.tmp"))
    with open(out("valid.tmp"), "rb") as f:
        whole = f.read()
    os.remove(out("valid.tmp"))
    with open(out("truncated_zip.pt"), "wb") as f:
        f.write(whole[: len(whole) * 3 // 5])
    expected["truncated_zip.pt"] = ["any", None, None]
    torch.save({"w": torch.arange(16, dtype=torch.float32)}, out("legacy.tmp"), _use_new_zipfile_serialization=False)
    with open(out("legacy.tmp"), "rb") as f:
        legacy = f.read()
    os.remove(out("legacy.tmp"))
    with open(out("legacy_truncated_storage.pt"), "wb") as f:
        f.write(legacy[:-10])
    expected["legacy_truncated_storage.pt"] = ["truncated", None, None]
    with open(out("legacy_trailing_bytes.pt"), "wb") as f:
        f.write(legacy + b"polyglot")
    expected["legacy_trailing_bytes.pt"] = ["uncoveredBytes", None, None]
    count_at = legacy.rindex(struct.pack("<q", 16))
    with open(out("legacy_storage_count_mismatch.pt"), "wb") as f:
        f.write(legacy[:count_at] + struct.pack("<q", 1 << 60) + legacy[count_at + 8:])
    expected["legacy_storage_count_mismatch.pt"] = ["inconsistent", str(1 << 60), None]
    with open(out("not_a_checkpoint.pt"), "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00 this is not a torch file")
    expected["not_a_checkpoint.pt"] = ["notFormat", None, None]  # named for what it is: a GGUF file

    # torch's own weights-only loader refuses the same globals (it raises; nothing runs).
    for name, (kind, _, _) in expected.items():
        if kind == "disallowedGlobal":
            try:
                torch.load(out(name), weights_only=True)
            except Exception:
                continue
            raise SystemExit(f"torch.load(weights_only=True) accepted {name}")
    for marker in MARKERS.values():
        assert not os.path.exists(marker), marker

    with open(out("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print("wrote", len(expected), "hostile files")


if __name__ == "__main__":
    main()
