"""GGUF export: the file holds the model and vocabulary in llama.cpp's layout, and (where
llama-cpp-python is installed) llama.cpp predicts what transformers predicts."""

import json

import numpy as np
import pytest

from hagane.config import ConvertConfig
from hagane.convert.export import MODEL_DIR, convert_checkpoint, gate_prompts
from hagane.convert.gguf import GGUF_FILE, check_gguf, export_gguf, interleave_rotary, write_gguf
from hagane.errors import HaganeError

CFG = ConvertConfig(max_abs_diff=1e-4, gate_prompts=3, gate_prompt_tokens=24, model_name="toy-gguf")


@pytest.fixture(scope="module")
def converted(toy_corpus, random_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    ckpt, _ = random_checkpoint(root / "ckpt", tie=False, scale=4.0, seed=1)
    convert_checkpoint(CFG, ckpt, toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                       [toy_corpus / "tokens" / "valid"], root / "out")
    return root / "out" / MODEL_DIR


def test_interleaving_pairs_the_two_halves_of_each_head():
    head_dim, heads = 4, 2
    w = np.arange(heads * head_dim)[:, None].astype(np.float32)  # row i holds i
    # Half-split rows (0, 1 | 2, 3) of each head become interleaved (0, 2, 1, 3).
    assert interleave_rotary(w, heads)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_the_file_holds_the_model_in_llama_cpp_layout(converted, tmp_path):
    import gguf
    from safetensors.numpy import load_file

    counts = write_gguf(converted, tmp_path / "m.gguf", name="toy-gguf")
    reader = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    fields = {name: field for name, field in reader.fields.items()}

    def scalar(key):
        field = fields[key]
        return field.parts[field.data[0]].tolist()[0]

    assert bytes(fields["general.architecture"].parts[-1]).decode() == "llama"
    assert scalar("llama.block_count") == 2 and scalar("llama.attention.head_count_kv") == 2
    assert scalar("tokenizer.ggml.bos_token_id") == 1 and len(fields["tokenizer.ggml.tokens"].data) == 1200
    tensors = {t.name: t for t in reader.tensors}
    assert counts["gguf_tensors"] == len(tensors) == 2 * 9 + 3  # untied: output.weight too
    hf = load_file(str(converted / "model.safetensors"))
    q = np.asarray(tensors["blk.1.attn_q.weight"].data).reshape(64, 64)
    assert np.array_equal(q, interleave_rotary(hf["model.layers.1.self_attn.q_proj.weight"], 4))
    k = np.asarray(tensors["blk.0.attn_k.weight"].data).reshape(32, 64)
    assert np.array_equal(k, interleave_rotary(hf["model.layers.0.self_attn.k_proj.weight"], 2))
    assert np.array_equal(np.asarray(tensors["token_embd.weight"].data).reshape(1200, 64),
                          hf["model.embed_tokens.weight"])


def test_llama_cpp_predicts_what_transformers_predicts(converted, toy_corpus, tmp_path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (it builds llama.cpp: "
                        "`pip install llama-cpp-python`, ~8 minutes on 2 cores; `make test` leaves it out)")
    counts = export_gguf(CFG, converted, [toy_corpus / "tokens" / "valid"], tmp_path / "out")
    assert counts["gguf_checked_positions"] == 3 * 24 and counts["gguf_max_abs_logit_diff"] < 1e-3
    assert counts["gguf_tokenizer_checked"] is False  # the toy tokenizer is unigram (see check_gguf)
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["outputs"][0]["path"].endswith(GGUF_FILE)
    # Swap two layers' query weights in the file: llama.cpp must now disagree.
    broken = tmp_path / "broken.gguf"
    write_gguf(converted, broken, name="x")
    prompts = gate_prompts([toy_corpus / "tokens" / "valid"], 3, 24)
    import gguf

    reader = gguf.GGUFReader(str(broken), "r+")
    tensors = {t.name: t for t in reader.tensors}
    tensors["blk.0.ffn_down.weight"].data[...] *= -3.0
    reader.data.flush()
    with pytest.raises(HaganeError, match="GGUF check failed"):
        check_gguf(broken, converted, prompts)
