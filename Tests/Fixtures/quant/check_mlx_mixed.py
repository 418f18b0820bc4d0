#!/usr/bin/env python3
"""Checks with MLX (not connkit) that an MLX file written by `connkit quantize --target-cosine` records its
mixed bits as mlx-lm does: the `quantization` object of the safetensors metadata holds the file's
`group_size`/`bits` and an entry per module whose bits differ, and every quantized weight, dequantized by
`mx.dequantize` with the parameters its module's entry (else the file's) gives, is the original weight
to within that bit width's error, while the other widths do not even fit its packed shape.
(mlx-lm's `load_model` picks each module's parameters the same way: `config["quantization"][path]`,
else the top-level group size and bits.)

    connkit quantize ORIGINAL.safetensors OUT.safetensors --target-cosine 0.999 --group-size 32
    /work/main/venv/bin/python Tests/Fixtures/quant/check_mlx_mixed.py ORIGINAL.safetensors OUT.safetensors
"""
import json
import sys

import mlx.core as mx
import numpy as np


def main(original_path, written_path):
    original = mx.load(original_path)
    written, metadata = mx.load(written_path, return_metadata=True)
    assert metadata.get("format") == "mlx", metadata
    quantization = json.loads(metadata["quantization"])
    base = {"group_size": quantization["group_size"], "bits": quantization["bits"]}
    bits_seen = set()
    for name in sorted(written):
        if not name.endswith(".scales"):
            continue
        module = name[: -len(".scales")]
        weight, scales, biases = written[module + ".weight"], written[name], written[module + ".biases"]
        parameters = quantization.get(module, base)
        source = np.array(original[module + ".weight"], dtype=np.float32)
        columns = source.shape[-1]
        assert weight.shape[-1] * 32 == columns * parameters["bits"], (module, weight.shape, parameters)
        assert scales.shape[-1] * parameters["group_size"] == columns, (module, scales.shape, parameters)
        values = np.array(mx.dequantize(weight, scales, biases, group_size=parameters["group_size"], bits=parameters["bits"]))
        cosine = float((values * source).sum() / np.linalg.norm(values) / np.linalg.norm(source))
        limit = {2: 0.8, 3: 0.95, 4: 0.99, 5: 0.997, 6: 0.999, 8: 0.9999}[parameters["bits"]]
        assert cosine > limit, (module, parameters, cosine)
        bits_seen.add(parameters["bits"])
        print(f"{module}: bits {parameters['bits']} ({'own entry' if module in quantization else 'file default'}), cosine {cosine:.6f}")
    print(f"ok: {len(bits_seen)} bit widths {sorted(bits_seen)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
