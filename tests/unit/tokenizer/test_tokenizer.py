import json
import shutil

import pytest
import sentencepiece as spm

from hagane.config import SplitConfig, TokenizerConfig
from hagane.errors import HaganeError
from hagane.io import write_jsonl_zst
from hagane.tokenizer.build import HF_DIR, MODEL, REPORT, build_tokenizer, held_out_texts
from hagane.tokenizer.export import verify_hf_tokenizer
from hagane.tokenizer.report import coverage, piece_script, vocabulary
from hagane.tokenizer.train import BOS, EOS, PAD, UNK

SPLIT = SplitConfig(validation_fraction=0.1, salt="test")


def config(model_type="unigram", vocab_size=1200):
    return TokenizerConfig(model_type=model_type, vocab_size=vocab_size, character_coverage=0.995, byte_fallback=True,
                           split_digits=True, max_piece_length=16, input_sentence_size=0, seed=1, num_threads=1)


@pytest.fixture(scope="module")
def shard(repo, tmp_path_factory):
    """The shipped SKK manual (real Japanese prose, code and ASCII), one document per block."""
    blocks = (repo / "data/demo/text/skk-manual-ja.txt").read_text(encoding="utf-8").split("\n\n")
    docs = [{"id": f"d{i}", "text": b, "source": "t", "origin": {}} for i, b in enumerate(blocks) if b.strip()]
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl.zst"
    write_jsonl_zst(path, docs)
    return path


@pytest.fixture(scope="module")
def unigram(shard, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    counts = build_tokenizer(config(), SPLIT, [shard], out)
    return out, counts


def test_unigram_export_matches_sentencepiece_on_held_out(unigram, shard):
    out, counts = unigram
    held_out = list(held_out_texts([shard], SPLIT))
    assert counts["documents_checked"] == len(held_out) > 5
    sp = spm.SentencePieceProcessor(model_file=str(out / MODEL))
    assert sp.get_piece_size() == 1200
    assert [sp.id_to_piece(i) for i in (UNK, BOS, EOS, PAD)] == ["<unk>", "<s>", "</s>", "<pad>"]
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(out / HF_DIR))
    text = "ガイドブックをダウンロードして、12345 個の😀を数える。\n改行も  空白も残る。"
    assert hf.encode(text) == [BOS, *sp.encode(text)]
    assert hf.decode(hf.encode(text, add_special_tokens=False)) == sp.decode(sp.encode(text)) == text


def test_the_same_config_gives_the_same_model_bytes(unigram, shard, tmp_path):
    out, _ = unigram
    build_tokenizer(config(), SPLIT, [shard], tmp_path)
    assert (tmp_path / MODEL).read_bytes() == (out / MODEL).read_bytes()


def test_bpe_export_matches_too(shard, tmp_path):
    counts = build_tokenizer(config("bpe", 1500), SPLIT, [shard], tmp_path)
    assert counts["documents_checked"] > 5


def test_a_broken_export_fails_the_check(unigram, shard, tmp_path):
    out, _ = unigram
    broken = tmp_path / "hf"
    shutil.copytree(out / HF_DIR, broken)
    data = json.loads((broken / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    # Make a frequent multi-character piece unattractive: HF then segments differently from SentencePiece.
    sp = spm.SentencePieceProcessor(model_file=str(out / MODEL))
    counts = {}
    for text in held_out_texts([shard], SPLIT):
        for i in sp.encode(text):
            if len(sp.id_to_piece(i)) > 1 and not sp.is_byte(i):
                counts[i] = counts.get(i, 0) + 1
    victim = max(counts, key=counts.get)
    vocab[victim][1] = -100.0
    (broken / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
    with pytest.raises(HaganeError, match="disagrees with"):
        verify_hf_tokenizer(out / MODEL, broken, held_out_texts([shard], SPLIT))


@pytest.mark.parametrize("piece, script", [
    ("▁の", "hiragana"), ("カタカナー", "katakana"), ("日本語", "kanji"), ("人々", "kanji"), ("▁Linux", "latin"),
    ("ＡＢＣ", "latin"), ("123", "digits"), ("。", "symbols"), ("▁", "symbols"), ("日本の", "mixed"), ("x86", "mixed"),
])
def test_pieces_are_classed_by_script(piece, script):
    assert piece_script(piece) == script


def test_tokenizer_report_counts_held_out_text_and_the_vocabulary(unigram, shard):
    out, counts = unigram
    sp = spm.SentencePieceProcessor(model_file=str(out / MODEL))
    report = json.loads((out / REPORT).read_text())
    held_out = list(held_out_texts([shard], SPLIT))
    tokens = sum(len(sp.encode(t)) for t in held_out)
    overall = report["held_out"]["all"]
    assert report["held_out"]["t"]["documents"] == overall["documents"] == len(held_out)
    assert overall["tokens"] == tokens and overall["characters"] == sum(map(len, held_out))
    assert overall["characters_per_token"] == round(overall["characters"] / tokens, 4) == counts["characters_per_token"]
    vocab = report["vocabulary"]
    assert sum(vocab["pieces"].values()) == vocab["size"] == 1200
    assert vocab["pieces"]["byte"] == 256 and vocab["pieces"]["control"] == 3 and vocab["pieces"]["unknown"] == 1
    assert sum(vocab["script_share"].values()) == pytest.approx(1.0, abs=1e-3)
    # An emoji the vocabulary lacks falls back to its four UTF-8 bytes; kanji it knows do not.
    emoji = coverage(sp, [("x", "😀"), ("y", "日本語")])
    assert emoji["x"]["byte_tokens"] == 4 and emoji["x"]["byte_fallback_rate"] == 4 / emoji["x"]["tokens"]
    assert emoji["y"]["byte_tokens"] == 0 and emoji["all"]["documents"] == 2
    lines = coverage(sp, [("z", "日本語\n日本語\n")])["z"]
    assert lines["newline_byte_tokens"] == 2 and lines["byte_fallback_rate_without_newlines"] == 0.0
    assert vocabulary(sp)["longest_pieces"][0] == max(
        (sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) is False and not sp.is_byte(i)
         and not sp.is_unknown(i)), key=lambda p: len(p.replace("▁", "")))
