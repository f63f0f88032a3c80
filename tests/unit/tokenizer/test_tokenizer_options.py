"""The tokenizer's options: pieces of their own for newlines and tabs, control tokens, the dummy prefix,
training on sources by ratio, and Sudachi word boundaries — each one through the whole stage, so the
Hugging Face export check runs on it too."""

import dataclasses
import gzip
import json

import pytest
import sentencepiece as spm

from hagane.config import SplitConfig, TokenizerConfig, validate
from hagane.errors import HaganeError
from hagane.io import write_jsonl_zst
from hagane.tokenizer.build import HF_DIR, MODEL, REPORT, build_tokenizer, held_out_texts
from hagane.tokenizer.train import WORD_BOUNDARY, mixture_fractions, training_documents, word_units

SPLIT = SplitConfig(validation_fraction=0.1, salt="test")
BASE = TokenizerConfig(model_type="bpe", vocab_size=1500, character_coverage=0.995, byte_fallback=True,
                       split_digits=True, max_piece_length=16, input_sentence_size=0, seed=1, num_threads=1)


def documents(repo, name, source):
    path = repo / "data/demo/text" / name
    text = gzip.decompress(path.read_bytes()).decode() if name.endswith(".gz") else path.read_text(encoding="utf-8")
    blocks = text.split("\n\n")
    return [{"id": f"{source}{i}", "text": b, "source": source, "origin": {}} for i, b in enumerate(blocks) if b.strip()]


@pytest.fixture(scope="module")
def shard(repo, tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "docs.jsonl.zst"
    # Held-out documents with a literal "</s>" and tabs: text, never control tokens.
    extra = [{"id": f"x{i}", "text": f"HTML の </s> タグ<s>\tタブ\t\tと <|im_start|> 行{i}\n\n  字下げ", "source": "skk",
              "origin": {}} for i in range(40)]
    write_jsonl_zst(path, documents(repo, "skk-manual-ja.txt", "skk") + extra)
    return path


@pytest.fixture(scope="module")
def with_options(shard, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    cfg = dataclasses.replace(BASE, user_defined_symbols=("\n", "\t"), special_tokens=("<|im_start|>", "<|im_end|>"),
                              reserved_tokens=3, allow_whitespace_only_pieces=True)
    return out, build_tokenizer(cfg, SPLIT, [shard], out)


def test_newline_tab_and_control_tokens_export_exactly(with_options, shard):
    out, counts = with_options
    held_out = list(held_out_texts([shard], SPLIT))
    assert counts["documents_checked"] == len(held_out) and any("</s>" in t for t in held_out)
    sp = spm.SentencePieceProcessor(model_file=str(out / MODEL))
    names = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>", "<|reserved_0|>", "<|reserved_1|>",
             "<|reserved_2|>", "\n", "\t"]
    assert [sp.id_to_piece(i) for i in range(len(names))] == names
    text = "一行目\n\n二行目\tタブ"
    pieces = sp.encode(text, out_type=str)
    assert pieces.count("\n") == 2 and pieces.count("\t") == 1 and "<0x0A>" not in pieces
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(out / HF_DIR))
    assert hf.encode(text) == [1, *sp.encode(text)]
    # Control tokens: SentencePiece never makes them from text; Hugging Face parses them as special
    # tokens unless told not to (then it agrees with SentencePiece).
    assert hf.convert_tokens_to_ids("<|im_start|>") == 4 and "<|reserved_2|>" in hf.all_special_tokens
    marked = "<|im_start|>user"
    assert hf.encode(marked, add_special_tokens=False)[0] == 4 and 4 not in sp.encode(marked)
    assert hf.encode(marked, add_special_tokens=False, split_special_tokens=True) == sp.encode(marked)
    report = json.loads((out / REPORT).read_text())["vocabulary"]
    assert report["pieces"]["user_defined"] == 2 and report["pieces"]["control"] == 3 + 2 + 3


def test_a_newline_piece_removes_newline_byte_fallback(with_options, shard, tmp_path):
    out, _ = with_options
    report = json.loads((out / REPORT).read_text())["held_out"]["all"]
    assert report["newline_byte_tokens"] == 0
    plain = build_tokenizer(BASE, SPLIT, [shard], tmp_path)
    assert plain["byte_fallback_rate"] > report["byte_fallback_rate"]


def test_without_the_dummy_prefix(with_options, shard, tmp_path):
    counts = build_tokenizer(dataclasses.replace(BASE, add_dummy_prefix=False), SPLIT, [shard], tmp_path)
    assert counts["documents_checked"] > 5
    without = spm.SentencePieceProcessor(model_file=str(tmp_path / MODEL))
    with_prefix = spm.SentencePieceProcessor(model_file=str(with_options[0] / MODEL))
    assert with_prefix.encode("辞書", out_type=str)[0].startswith("▁")
    assert not without.encode("辞書", out_type=str)[0].startswith("▁")
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tmp_path / HF_DIR))
    assert hf.decode(hf.encode(" 辞書と 辞書", add_special_tokens=False)) == " 辞書と 辞書"


def test_control_token_names_must_not_clash(shard, tmp_path):
    with pytest.raises(HaganeError, match=r"named twice"):
        build_tokenizer(dataclasses.replace(BASE, special_tokens=("</s>",)), SPLIT, [shard], tmp_path)
    with pytest.raises(HaganeError, match=r"named twice"):
        build_tokenizer(dataclasses.replace(BASE, special_tokens=("<|reserved_0|>",), reserved_tokens=1), SPLIT,
                        [shard], tmp_path)


def test_user_defined_symbols_are_single_characters():
    with pytest.raises(HaganeError, match=r"tokenizer.user_defined_symbols\[0\]: '<br>' is too long"):
        validate({"user_defined_symbols": ["<br>"]}, origin="test", section="tokenizer")
    with pytest.raises(HaganeError, match=r"user_defined_symbols\[0\]"):
        validate({"user_defined_symbols": [" "]}, origin="test", section="tokenizer")


# ------------------------------------------------------------------------------------------ mixtures

def test_mixture_fractions_take_as_much_as_the_scarcest_source_allows():
    assert mixture_fractions({"a": 0.5, "b": 0.5}, {"a": 1000, "b": 100}) == {"a": 0.1, "b": 1.0}
    assert mixture_fractions({"a": 3, "b": 1}, {"a": 1000, "b": 100}) == pytest.approx({"a": 0.3, "b": 1.0})
    assert mixture_fractions({"a": 1, "b": 0}, {"a": 10, "b": 100}) == {"a": 1.0, "b": 0.0}
    assert mixture_fractions(None, {"a": 10}) == {"a": 1.0}
    for ratios, message in [({"a": 1}, r"no ratio for source\(s\) \['b'\]"),
                            ({"a": 1, "b": 1, "c": 1}, r"names \['c'\], which have no training documents"),
                            ({"a": 0, "b": 0}, "every ratio is 0")]:
        with pytest.raises(HaganeError, match=message):
            mixture_fractions(ratios, {"a": 10, "b": 100})
    with pytest.raises(HaganeError, match=r"\['a'\] have no training text"):
        mixture_fractions({"a": 1, "b": 1}, {"a": 0, "b": 100})


def test_training_on_sources_by_ratio(repo, tmp_path):
    path = tmp_path / "two.jsonl.zst"
    write_jsonl_zst(path, documents(repo, "skk-manual-ja.txt", "skk") + documents(repo, "mew-manual-ja.txt.gz", "mew"))
    chars = {}
    for doc in training_documents([path], SPLIT):
        chars[doc["source"]] = chars.get(doc["source"], 0) + len(doc["text"])
    ratios = {"skk": 1.0, "mew": 3.0}
    counts = build_tokenizer(dataclasses.replace(BASE, vocab_size=1200, source_ratios=ratios), SPLIT, [path],
                             tmp_path / "tok")
    sources = counts["training_sources"]
    assert {s: sources[s]["characters"] for s in sources} == chars
    # Documents are sampled whole, by id hash: the shares come out near the ratios, not exactly.
    assert sources["mew"]["share"] == pytest.approx(0.75, abs=0.05)
    assert max(sources[s]["characters_used"] / chars[s] for s in chars) > 0.95  # the scarce one is used whole
    again = build_tokenizer(dataclasses.replace(BASE, vocab_size=1200, source_ratios=ratios), SPLIT, [path],
                            tmp_path / "again")
    assert again["training_sources"] == sources
    assert (tmp_path / "again" / MODEL).read_bytes() == (tmp_path / "tok" / MODEL).read_bytes()


# ------------------------------------------------------------------------------ Sudachi word pieces

def test_word_units_join_spaces_to_the_next_word():
    assert word_units(["GNU", " ", "Emacs", "を", "使う", "  "]) == ["GNU", " Emacs", "を", "使う  "]
    assert word_units([" "]) == [" "]


def test_sudachi_pretokenization_keeps_pieces_inside_words(shard, tmp_path):
    from hagane.sudachi import word_splitter

    words = word_splitter("C")
    units = set()
    for doc in training_documents([shard], SPLIT):
        for line in doc["text"].split("\n"):
            if line.strip():
                line_units = word_units(words(line))
                units.update([" " + line_units[0], *line_units[1:]])  # the dummy prefix: ▁ before each line
    unit_text = WORD_BOUNDARY.join(sorted(units))

    def pieces_across_words(out):
        from sentencepiece import sentencepiece_model_pb2 as pb

        proto = pb.ModelProto()
        proto.ParseFromString((out / MODEL).read_bytes())
        normal = [p.piece.replace("▁", " ") for p in proto.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL]
        return [p for p in normal if p not in unit_text]

    counts = build_tokenizer(dataclasses.replace(BASE, pretokenize="sudachi"), SPLIT, [shard], tmp_path / "words")
    assert counts["documents_checked"] > 5  # the export check holds for a word-unit vocabulary too
    assert pieces_across_words(tmp_path / "words") == []
    build_tokenizer(BASE, SPLIT, [shard], tmp_path / "chars")
    assert len(pieces_across_words(tmp_path / "chars")) > 10  # the test can fail: character units cross words
    manifest = json.loads((tmp_path / "words" / "_manifest.json").read_text())
    assert manifest["config"]["sudachi"]["sudachidict_core"]
