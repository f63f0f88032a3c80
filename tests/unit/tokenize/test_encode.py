import pytest
import sentencepiece as spm

from conftest import JA_PARAGRAPHS
from hagane.config import SplitConfig, TokenizeConfig
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
