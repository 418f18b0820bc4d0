#!/usr/bin/env python3
"""Importance-matrix files in llama.cpp's GGUF layout, written with gguf-py (not connkit), for the tests of
`connkit quantize --imatrix-file`.

llama.cpp's `tools/imatrix` `save_imatrix` writes `general.type` = "imatrix", `imatrix.datasets` (array of
strings), `imatrix.chunk_count` and `imatrix.chunk_size` (uint32), and per weight `<name>.in_sum2`
(f32, ggml ne = [columns, matrices]) and `<name>.counts` (f32, ne = [1, matrices]); `llama-quantize`
divides the sums by the count rounded to an integer. The names are those of the LLaVA projector the
tests generate (Tests/ConnectorQuantizationTests/Support.swift, 256 -> 256):

  llava.imatrix.gguf      both weights; in_sum2[j] = (j % 17 + 1) / 4 * count, count = 64 (so the vector is
                          (j % 17 + 1) / 4)
  bad-no-counts.gguf      linear_1 has in_sum2 and no counts
  bad-length.gguf         linear_1's in_sum2 holds 255 values for rows of 256
  bad-negative.gguf       linear_1's in_sum2[3] = -1
  bad-unknown.gguf        an entry naming no tensor of the checkpoint

    /work/main/venv/bin/python Tests/Fixtures/quant/imatrix/generate.py
"""
import os

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "model.multi_modal_projector."
COLUMNS = 256
COUNT = 64


def sums(columns=COLUMNS):
    return np.array([(j % 17 + 1) / 4 * COUNT for j in range(columns)], dtype=np.float32)


def write(name, entries):
    writer = gguf.GGUFWriter(os.path.join(HERE, name), arch="", endianess=gguf.GGUFEndian.LITTLE)
    # No architecture: llama-imatrix's files carry general.type only.
    writer.kv_data[0].pop("general.architecture", None)
    writer.add_type("imatrix")
    writer.add_array("imatrix.datasets", ["seeded features"])
    writer.add_uint32("imatrix.chunk_count", 1)
    writer.add_uint32("imatrix.chunk_size", COUNT)
    for tensor_name, values in entries:
        # numpy shape [matrices, columns] is ggml ne [columns, matrices].
        writer.add_tensor(tensor_name, values.reshape(1, -1))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def entry(weight, values=None, count=COUNT):
    return [(PREFIX + weight + ".in_sum2", sums() if values is None else values),
            (PREFIX + weight + ".counts", np.array([count], dtype=np.float32))]


def main():
    write("llava.imatrix.gguf", entry("linear_1.weight") + entry("linear_2.weight"))
    write("bad-no-counts.gguf", entry("linear_1.weight")[:1])
    write("bad-length.gguf", entry("linear_1.weight", sums(COLUMNS - 1)))
    negative = sums()
    negative[3] = -1
    write("bad-negative.gguf", entry("linear_1.weight", negative))
    write("bad-unknown.gguf", entry("linear_1.weight") + [(PREFIX + "linear_3.weight.in_sum2", sums()),
                                                        (PREFIX + "linear_3.weight.counts", np.array([COUNT], dtype=np.float32))])


if __name__ == "__main__":
    main()
