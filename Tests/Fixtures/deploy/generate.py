#!/usr/bin/env python3
"""llama.cpp's own verdict on `connkit splice` (issue 14), and the fixtures the Swift tests re-check.

For LLaVA-1.5, Qwen2-VL, Qwen2.5-VL and Idefics3 (families both transformers and llama.cpp serve), a tiny
model with seeded weights (families.py) is written as llama.cpp's converter expects it and converted by
that converter into an mmproj — convert_hf_to_gguf.py --mmproj, or tools/mtmd/legacy-models/
convert_image_encoder_to_gguf.py for LLaVA-1.5 — beside one tiny Llama text model (a sentencepiece
tokenizer trained here: no hub is reachable, and llama.cpp checks only the width). A *different* seeded
connector of the same kind, in its own scheme (LLaVA's mm_projector.bin, transformers' names), is then
spliced in with `connkit splice`. libmtmd (llama-cpp-python's) loads each mmproj beside the text model in a
child process (mtmd_probe.py: a misfit aborts inside ggml), encodes one image, and hands back its
embeddings and the tensor the connector read (taken from the encoder's graph while it runs). transformers'
connector module with the same weights, applied to those features, must give cosine >= 0.999 per token —
for the unmodified base first (llama.cpp's encoder differs from transformers' in known ways, so the
connector stage is what is compared), then for the spliced file, whose encoder features must be
identical to the base's. Malformed splices that connkit refuses are also written by force (gguf-py) and
run, and the manifest records what llama.cpp does with each.

    pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36 -d /tmp/lcp && tar xzf /tmp/lcp/*.tar.gz -C /tmp/lcp
    swift build -c release
    /work/main/venv/bin/python Tests/Fixtures/deploy/generate.py --llama-cpp /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp

Needs torch, transformers, sentencepiece, safetensors, numpy, gguf and llama-cpp-python (with libmtmd).
Writes (committed, ~1 MB): text.gguf; per family <name>/base.gguf (the converter's mmproj),
<name>/<connector file> (the connector spliced in), <name>/spliced.gguf (connkit's output); malformed/<case>
sources; manifest.json.
"""
import argparse
import re
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "runtime"))
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402

import families  # noqa: E402
from families import D_LLM, write_json  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
THRESHOLD = 0.999


def run(command, cwd=None, check=True):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def text_model(llama_cpp, directory):
    """A one-layer Llama of width D_LLM with a sentencepiece tokenizer trained on a few sentences."""
    import sentencepiece as spm
    from transformers import LlamaConfig, LlamaForCausalLM
    folder = os.path.join(directory, "text")
    os.makedirs(folder)
    corpus = ["the quick brown fox jumps over the lazy dog", "a picture of a cat", "describe the image", "what is in this photo"] * 50
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=folder + "/tokenizer", vocab_size=290,
                                   model_type="unigram", byte_fallback=True, character_coverage=1.0, bos_id=1, eos_id=2,
                                   unk_id=0, pad_id=-1, minloglevel=2)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=D_LLM, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4,
                         vocab_size=290, max_position_embeddings=512)
    LlamaForCausalLM(config).save_pretrained(folder)
    with open(folder + "/tokenizer_config.json", "w") as f:
        json.dump({"model_max_length": 512, "tokenizer_class": "LlamaTokenizer"}, f)
    out = os.path.join(HERE, "text.gguf")
    run([sys.executable, "convert_hf_to_gguf.py", folder, "--outfile", out, "--outtype", "f16"], cwd=llama_cpp)
    return out


def probe(text, mmproj, capture, directory, name):
    """libmtmd on `mmproj` in a child process: (outcome, embeddings, features, stderr tail)."""
    out = os.path.join(directory, name + ".npz")
    result = subprocess.run([sys.executable, os.path.join(HERE, "mtmd_probe.py"), text, mmproj, out, json.dumps(capture)],
                            capture_output=True, text=True, timeout=600)
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line for word in ("GGML_ASSERT", "error", "failed", "mismatch", "wrong"))]
    tail = [re.sub(r"^\S*/vendor/llama\.cpp/", "", line) for line in (telling or lines)[-3:]]
    if result.returncode == 0:
        data = np.load(out)
        return "ran", data["embeddings"], data["features"], tail
    if result.returncode == 3:
        return "refused", None, None, tail
    if result.returncode < 0:
        return f"killed by signal {-result.returncode}", None, None, tail
    return f"exit status {result.returncode}", None, None, tail


def per_token_cosine(reference, output):
    reference = reference.astype(np.float64)
    output = output.astype(np.float64)
    dot = (reference * output).sum(axis=1)
    return dot / np.maximum(np.linalg.norm(reference, axis=1) * np.linalg.norm(output, axis=1), 1e-30)


def reference_output(model, features):
    with torch.no_grad():
        return model.projector()(torch.from_numpy(features.astype(np.float32))).numpy()


def converted_mmproj(model, llama_cpp, directory):
    os.makedirs(directory + "/out", exist_ok=True)
    command = model.folder(directory)
    run([sys.executable] + command, cwd=llama_cpp)
    outputs = [f for f in os.listdir(directory + "/out") if f.endswith(".gguf")]
    assert len(outputs) == 1, outputs
    return directory + "/out/" + outputs[0], command


def splice(connkit, base, connector, output, extra=()):
    result = run([connkit, "splice", base, connector, "-o", output, "--force", "--json", *extra], check=False)
    report = json.loads(result.stdout)
    codes = sorted({d["code"] for d in report.get("check", {}).get("diagnostics", []) if d["severity"] == "error"})
    return result.returncode, report, codes


def forced(base, output, replace):
    """`base` with tensors replaced or added (`replace`: name -> array; f16 for 2-D+ weights as llama.cpp's
    converters write, f32 otherwise), every key kept: the splice connkit refuses, written anyway."""
    import gguf
    reader = gguf.GGUFReader(base)
    writer = gguf.GGUFWriter(output, arch=reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)
    seen = set()
    for tensor in reader.tensors:
        if tensor.name in replace:
            seen.add(tensor.name)
            continue
        writer.add_tensor(tensor.name, np.array(tensor.data))
    for name, array in replace.items():
        array = array.astype(np.float16 if array.ndim >= 2 and name.endswith(".weight") else np.float32)
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def mmproj_names(state):
    """A connector's tensors under llama.cpp's names (LLaVA originals and Qwen2-VL mergers)."""
    names = {}
    for key, value in state.items():
        name = key.replace("model.mm_projector.", "mm.").replace("model.visual.merger.ln_q", "v.post_ln").replace("model.visual.merger.mlp.", "mm.")
        names[name] = value.float().numpy()
    return names


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp", required=True, help="llama.cpp's source tree (vendor/llama.cpp of llama-cpp-python's sdist)")
    parser.add_argument("--connkit", default=os.path.join(REPO, ".build", "release", "connkit"))
    args = parser.parse_args()
    import importlib.metadata
    import llama_cpp
    import transformers
    # convert_hf_to_gguf.py puts llama.cpp's own gguf-py first on its path; the malformed files are written
    # with the installed gguf.
    with open(os.path.join(args.llama_cpp, "gguf-py", "pyproject.toml")) as f:
        vendored = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    manifest = {
        "generator": "Tests/Fixtures/deploy/generate.py",
        "versions": {"llama-cpp-python": llama_cpp.__version__, "transformers": transformers.__version__, "torch": torch.__version__,
                     "gguf": importlib.metadata.version("gguf"), "gguf-py (llama.cpp's)": vendored.group(1) if vendored else "?"},
        "threshold": THRESHOLD,
        "families": [],
        "malformed": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        text = text_model(args.llama_cpp, scratch)
        bases = {}
        for name, make in families.FAMILIES.items():
            folder = os.path.join(HERE, name)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            work = os.path.join(scratch, name)
            os.makedirs(work)
            a, b = make("A"), make("B")
            mmproj, command = converted_mmproj(a, args.llama_cpp, work)
            base = os.path.join(folder, "base.gguf")
            shutil.copyfile(mmproj, base)
            bases[name] = (base, a)
            connector = os.path.join(folder, b.connector_file)
            b.connector(connector)
            spliced = os.path.join(folder, "spliced.gguf")
            status, report, codes = splice(args.connkit, base, connector, spliced)
            assert status == 0, (name, report)
            outcome_a, embeddings_a, features_a, tail_a = probe(text, base, a.capture, scratch, name + "-base")
            outcome_b, embeddings_b, features_b, tail_b = probe(text, spliced, b.capture, scratch, name + "-spliced")
            assert outcome_a == "ran" and outcome_b == "ran", (name, outcome_a, tail_a, outcome_b, tail_b)
            cos_a = per_token_cosine(reference_output(a, features_a), embeddings_a)
            cos_b = per_token_cosine(reference_output(b, features_b), embeddings_b)
            entry = {
                "name": name,
                "converter": " ".join([os.path.basename(command[0])] + [arg.replace(work, "…") for arg in command[1:]]),
                "base": f"{name}/base.gguf",
                "connector": f"{name}/{b.connector_file}",
                "connector_scheme": b.scheme,
                "spliced": f"{name}/spliced.gguf",
                "tokens": int(embeddings_b.shape[0]),
                "base_min_cosine": float(cos_a.min()),
                "spliced_min_cosine": float(cos_b.min()),
                "features_identical": bool(features_a.shape == features_b.shape and np.array_equal(features_a, features_b)),
                "connector_differs": bool(not np.allclose(embeddings_a, embeddings_b)),
                "splice_tensors": [t["name"] for t in report["tensors"]],
            }
            print(f"{name}: base {entry['base_min_cosine']:.7f}, spliced {entry['spliced_min_cosine']:.7f}, "
                  f"features identical {entry['features_identical']}", flush=True)
            assert entry["base_min_cosine"] >= THRESHOLD and entry["spliced_min_cosine"] >= THRESHOLD and entry["features_identical"]
            manifest["families"].append(entry)
        manifest["malformed"] = malformed(args, text, bases, scratch)
    write_json(os.path.join(HERE, "manifest.json"), manifest)


def malformed(args, text, bases, scratch):
    """Splices connkit refuses, written by force and run: what llama.cpp does with each."""
    folder = os.path.join(HERE, "malformed")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    llava_base, llava_model = bases["llava-1.5"]
    qwen_base, _ = bases["qwen2-vl"]
    cases = [
        ("encoder-width", "a LLaVA projector made for a 40-wide encoder, into a 32-wide CLIP", llava_base,
         families.llava("C", d_enc=40), [], {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}),
        ("llm-width", "a LLaVA projector made for a 64-wide LLM, beside a 48-wide text model (--llm-checkpoint)", llava_base,
         families.llava("D", d_out=64), ["--llm-checkpoint", text], {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}),
        ("depth", "an mlp3x_gelu projector into an mlp2x_gelu mmproj", llava_base, families.llava("E", depth=3), [],
         {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}),
        ("projector-type", "a Qwen2-VL merger into a LLaVA mmproj", llava_base, families.qwen2_vl("F"), [],
         {"kind": "input", "op": "MUL_MAT", "weight": "mm.0.weight"}),
        ("merger-into-other-encoder", "a Qwen2-VL merger for a 40-wide ViT", qwen_base, None, [],
         {"kind": "norm-input", "weight": "v.post_ln.weight"}),
    ]
    results = []
    for name, what, base, model, extra, capture in cases:
        source = os.path.join(folder, name + (".bin" if model is not None and model.connector_file.endswith(".bin") else ".safetensors"))
        if model is None:
            state = wide_merger(source)
        else:
            model.connector(source)
            state = torch.load(source) if source.endswith(".bin") else __import__("safetensors.torch", fromlist=["load_file"]).load_file(source)
        status, report, codes = splice(args.connkit, base, source, os.path.join(scratch, name + "-refused.gguf"), extra)
        assert status != 0, (name, report)
        forced_path = os.path.join(scratch, name + "-forced.gguf")
        forced(base, forced_path, mmproj_names(state))
        outcome, embeddings, features, tail = probe(text, forced_path, capture, scratch, name + "-forced")
        detail = tail[0] if tail else ""
        if outcome == "ran":
            detail = f"encoded {embeddings.shape[0]} tokens of width {embeddings.shape[1]} without an error"
            try:
                cosine = per_token_cosine(reference_output(model, features), embeddings)
                detail += f"; per-token cosine with the connector's own output {cosine.min():.3f} to {cosine.max():.3f}"
            except Exception as error:  # the connector cannot even run on these features
                detail += f"; the connector cannot run on the encoder's features ({type(error).__name__})"
        results.append({"name": name, "what": what, "base": os.path.relpath(base, HERE), "source": os.path.relpath(source, HERE),
                        "extra_arguments": ["--llm-checkpoint", "text.gguf"] if extra else [],
                        "connkit": {"exit": status, "codes": codes}, "llama_cpp": {"outcome": outcome, "detail": detail}})
        print(f"malformed {name}: connkit exit {status} {codes}; llama.cpp {outcome}: {detail}", flush=True)
    return results


def wide_merger(path):
    """A Qwen2-VL merger whose ViT would be 40 wide (ln_q 40, mlp.0 160 -> 160)."""
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(40)
    state = {"model.visual.merger.ln_q.weight": torch.ones(40), "model.visual.merger.ln_q.bias": torch.zeros(40),
             "model.visual.merger.mlp.0.weight": torch.randn(160, 160, generator=gen) / 13, "model.visual.merger.mlp.0.bias": torch.zeros(160),
             "model.visual.merger.mlp.2.weight": torch.randn(D_LLM, 160, generator=gen) / 13, "model.visual.merger.mlp.2.bias": torch.zeros(D_LLM)}
    save_file(state, path, metadata={"format": "pt"})
    return state


if __name__ == "__main__":
    main()
