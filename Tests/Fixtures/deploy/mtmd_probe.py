"""Runs llama.cpp's libmtmd on one image, in its own process (a connector that does not fit the encoder
is not refused at load: ggml aborts at encode, which would take the caller down).

    python mtmd_probe.py TEXT.gguf MMPROJ.gguf OUT.npz CAPTURE_JSON

Loads the text model and the mmproj with `mtmd_init_from_file`, tokenizes the media marker with one
seeded 112x112 RGB image, encodes the image chunk and saves to OUT.npz:
  - `embeddings`: what `mtmd_get_output_embd` returns, [tokens, n_embd] float32;
  - `features`: the tensor the connector reads, taken from the encoder's graph while it runs (a ggml
    backend scheduler eval callback): CAPTURE_JSON says which, e.g.
    {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}     src[1] of the matmul with mm.0.weight;
    {"kind": "norm-input", "weight": "v.post_ln.weight"}            src[0] of the norm that v.post_ln scales;
    {"kind": "output", "op": "ADD", "weight": "v.post_ln.bias"}     the output of the add of v.post_ln.bias.
Exit status 0 on success, 3 when libmtmd refuses the files (init or encode returns an error); a crash of
llama.cpp shows as the signal that killed the process."""
import ctypes
import json
import os
import sys

import numpy as np

import llama_cpp
import llama_cpp.mtmd_cpp as mtmd

GGML_MAX_DIMS, GGML_MAX_SRC, GGML_MAX_OP_PARAMS, GGML_MAX_NAME = 4, 10, 64, 64


class GGMLTensor(ctypes.Structure):
    """`struct ggml_tensor` of ggml/include/ggml.h (llama-cpp-python 0.3.36's ggml)."""


GGMLTensor._fields_ = [
    ("type", ctypes.c_int),
    ("buffer", ctypes.c_void_p),
    ("ne", ctypes.c_int64 * GGML_MAX_DIMS),
    ("nb", ctypes.c_size_t * GGML_MAX_DIMS),
    ("op", ctypes.c_int),
    ("op_params", ctypes.c_int32 * (GGML_MAX_OP_PARAMS // 4)),
    ("flags", ctypes.c_int32),
    ("src", ctypes.POINTER(GGMLTensor) * GGML_MAX_SRC),
    ("view_src", ctypes.POINTER(GGMLTensor)),
    ("view_offs", ctypes.c_size_t),
    ("data", ctypes.c_void_p),
    ("name", ctypes.c_char * GGML_MAX_NAME),
    ("extra", ctypes.c_void_p),
    ("padding", ctypes.c_char * 8),
]

LIB = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
ggml_base = ctypes.CDLL(os.path.join(LIB, "libggml-base.so"))
ggml_base.ggml_op_name.restype = ctypes.c_char_p
ggml_base.ggml_op_name.argtypes = [ctypes.c_int]


def op_name(tensor):
    return ggml_base.ggml_op_name(tensor.op).decode()


def read_f32(tensor):
    """A float32 tensor's values as a numpy array [ne3, ne2, ne1, ne0] (strides honoured)."""
    assert tensor.type == 0, f"capture expects f32, found ggml type {tensor.type}"
    ne = [tensor.ne[i] for i in range(4)]
    nb = [tensor.nb[i] for i in range(4)]
    extent = sum((n - 1) * s for n, s in zip(ne, nb)) + 4
    raw = (ctypes.c_char * extent).from_address(tensor.data)
    base = np.frombuffer(raw, dtype=np.uint8)
    view = np.lib.stride_tricks.as_strided(base.view(np.float32), shape=tuple(reversed(ne)), strides=tuple(reversed(nb)))
    return np.array(view, dtype=np.float32)


def src_names(tensor):
    return [tensor.src[i].contents.name.decode() if tensor.src[i] else None for i in range(GGML_MAX_SRC)]


def main():
    text, mmproj, out, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    captured = {}
    norms = {}

    def callback(tensor_p, ask, _user):
        tensor = ctypes.cast(tensor_p, ctypes.POINTER(GGMLTensor)).contents
        op = op_name(tensor)
        names = src_names(tensor)
        if spec["kind"] == "input":
            wanted = op == spec["op"] and spec["weight"] in names
            if wanted and not ask:
                captured["features"] = read_f32(tensor.src[1 - names.index(spec["weight"])].contents)
            return wanted if ask else True
        if spec["kind"] == "norm-input":
            if op in ("NORM", "RMS_NORM"):
                if not ask:
                    norms[ctypes.addressof(tensor)] = read_f32(tensor.src[0].contents)
                return True
            if op == "MUL" and spec["weight"] in names:
                other = tensor.src[1 - names.index(spec["weight"])]
                address = ctypes.addressof(other.contents)
                if address in norms:
                    captured["features"] = norms[address]
            return False if ask else True
        wanted = op == spec["op"] and spec["weight"] in names
        if wanted and not ask:
            captured["features"] = read_f32(tensor)
        return wanted if ask else True

    llama_cpp.llama_backend_init()
    model_params = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(text.encode(), model_params)
    if not model:
        sys.exit(3)
    params = mtmd.mtmd_context_params_default()
    params.use_gpu = False
    params.n_threads = 2
    params.warmup = False
    params.print_timings = False
    eval_type = dict(mtmd.mtmd_context_params._fields_)["cb_eval"]
    keep = eval_type(callback)
    params.cb_eval = keep
    ctx = mtmd.mtmd_init_from_file(mmproj.encode(), model, params)
    if not ctx:
        sys.exit(3)
    rng = np.random.default_rng(20261206)
    pixels = rng.integers(0, 256, size=(112, 112, 3), dtype=np.uint8)
    buffer = (ctypes.c_ubyte * pixels.size).from_buffer_copy(pixels.tobytes())
    bitmap = mtmd.mtmd_bitmap_init(112, 112, buffer)
    chunks = mtmd.mtmd_input_chunks_init()
    marker = mtmd.mtmd_default_marker()
    prompt = b"describe " + marker + b" please"
    text_input = mtmd.mtmd_input_text(text=prompt, text_len=len(prompt), add_special=True, parse_special=True)
    bitmaps = (ctypes.c_void_p * 1)(bitmap)
    if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text_input), bitmaps, 1) != 0:
        sys.exit(3)
    for index in range(mtmd.mtmd_input_chunks_size(chunks)):
        chunk = mtmd.mtmd_input_chunks_get(chunks, index)
        if mtmd.mtmd_input_chunk_get_type(chunk) != 1:  # MTMD_INPUT_CHUNK_TYPE_IMAGE
            continue
        captured.clear()
        norms.clear()
        if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
            sys.exit(3)
        tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
        width = llama_cpp.llama_model_n_embd_inp(model) if hasattr(llama_cpp, "llama_model_n_embd_inp") else llama_cpp.llama_model_n_embd(model)
        embd = mtmd.mtmd_get_output_embd(ctx)
        embeddings = np.ctypeslib.as_array(embd, shape=(tokens * width,)).reshape(tokens, width).copy()
        np.savez(out, embeddings=embeddings, features=captured.get("features", np.zeros(0, np.float32)))
        sys.exit(0)
    sys.exit(3)


if __name__ == "__main__":
    main()
