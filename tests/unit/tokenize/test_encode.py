import json
import re

import pytest
import sentencepiece as spm
import zstandard

from conftest import JA_PARAGRAPHS
from hagane.config import SplitConfig, TokenizeConfig
from hagane.errors import HaganeError
from hagane.io import write_jsonl_zst
from hagane.split import is_validation
from hagane.tokenize.encode import tokenize_shard
from hagane.tokenize.shards import TokenShard
from hagane.tokenizer.train import BOS, EOS

PINNED = [3, 9, 14]


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("spm")
    (d / "c.txt").write_text("\n".join(JA_PARAGRAPHS * 5) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(d / "c.txt"), model_prefix=str(d / "m"), vocab_size=600, hard_vocab_limit=False,
                                   character_coverage=1.0, byte_fallback=True, minloglevel=2,
                                   normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=3)
    return d / "m.model"


def test_split_depends_on_id_and_salt_only():
    cfg = SplitConfig(validation_fraction=0.25, salt="s")
    flags = [is_validation(f"doc{i}", cfg) for i in range(4000)]
    assert 0.22 < sum(flags) / len(flags) < 0.28
    # Pinned: a change to the hash would silently move documents between train and validation.
    assert [i for i in range(20) if flags[i]] == PINNED
    assert flags != [is_validation(f"doc{i}", SplitConfig(0.25, "other")) for i in range(4000)]


def test_every_document_lands_on_one_side_with_its_tokens(tmp_path, sp_model):
    split = SplitConfig(validation_fraction=0.3, salt="t")
    docs = [{"id": f"d{i}", "text": JA_PARAGRAPHS[i % 4], "source": "s", "origin": {}} for i in range(40)]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", docs)
    counts = tokenize_shard(TokenizeConfig(num_threads=2), split, tmp_path / "docs.jsonl.zst", sp_model, tmp_path / "out")
    train, valid = TokenShard.open(tmp_path / "out" / "train"), TokenShard.open(tmp_path / "out" / "valid")
    assert counts["train"]["documents"] + counts["valid"]["documents"] == 40
    assert set(valid.index["doc_id"]) == {d["id"] for d in docs if is_validation(d["id"], split)}
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    by_id = {d["id"]: d["text"] for d in docs}
    for shard in (train, valid):
        for doc_id, offset, n in zip(shard.index["doc_id"], shard.index["offset"], shard.index["n_tokens"]):
            assert list(shard.tokens[offset:offset + n]) == [BOS, *sp.encode(by_id[doc_id]), EOS]


def test_documents_over_the_limit_are_skipped_counted_and_named(tmp_path, sp_model):
    docs = [{"id": f"d{i}", "text": JA_PARAGRAPHS[i % 4] * (30 if i in (2, 5) else 1), "source": "s", "origin": {}}
            for i in range(8)]
    limit = max(len(d["text"]) for d in docs if d["id"] not in ("d2", "d5"))
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", docs)
    split = SplitConfig(validation_fraction=0.3, salt="t")
    counts = tokenize_shard(TokenizeConfig(num_threads=1, max_document_chars=limit), split, tmp_path / "docs.jsonl.zst",
                            sp_model, tmp_path / "out")
    assert counts["skipped"] == {"document_too_long": 2} and counts["skipped_ids"] == {"document_too_long": ["d2", "d5"]}
    assert counts["train"]["documents"] + counts["valid"]["documents"] == 6
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["counts"]["skipped_ids"]["document_too_long"] == ["d2", "d5"]


def test_a_shard_of_no_documents_gives_empty_token_shards(tmp_path, sp_model):
    write_jsonl_zst(tmp_path / "none.jsonl.zst", [])
    counts = tokenize_shard(TokenizeConfig(num_threads=1), SplitConfig(0.1, "t"), tmp_path / "none.jsonl.zst", sp_model,
                            tmp_path / "out")
    assert counts == {"train": {"documents": 0, "tokens": 0}, "valid": {"documents": 0, "tokens": 0}}
    assert len(TokenShard.open(tmp_path / "out" / "train").tokens) == 0


@pytest.mark.parametrize("content, message", [
    (b"", r"empty file, not a zstd JSON Lines shard"),
    (zstandard.compress(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "\xff\xfe"}\n'), r":2: not UTF-8 at byte 21 of the line"),
    (zstandard.compress(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": 3}\n'), r":2: a document record needs string"),
    (zstandard.compress(b'{"id": "a", "text": "ok"}\n{"id": "b", "te\n'), r":2: not a JSON record"),
    (b"\x28\xb5\x2f\xfd garbage", r"not a readable zstd stream"),
])
def test_bad_shards_fail_naming_the_file_and_place(tmp_path, sp_model, content, message):
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(content)
    with pytest.raises(HaganeError, match=re.escape(str(path)) + ".*" + message):
        tokenize_shard(TokenizeConfig(num_threads=1), SplitConfig(0.1, "t"), path, sp_model, tmp_path / "out")
    assert not (tmp_path / "out" / "train.bin").exists()  # nothing half written
