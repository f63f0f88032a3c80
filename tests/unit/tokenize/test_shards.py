import numpy as np
import pytest

from hagane.errors import HaganeError
from hagane.tokenize.shards import TokenShard, token_dtype, write_token_shard


def test_round_trip_with_document_index(tmp_path):
    docs = [("a", [5, 6, 7], "あいう"), ("b", [], ""), ("c", [9], "é")]
    counts = write_token_shard(tmp_path / "train", docs, vocab_size=1000, bos_id=1, eos_id=2)
    assert counts == {"documents": 3, "tokens": 10}
    shard = TokenShard.open(tmp_path / "train")
    assert shard.tokens.dtype == np.uint16 and list(shard.tokens) == [1, 5, 6, 7, 2, 1, 2, 1, 9, 2]
    assert list(shard.index["doc_id"]) == ["a", "b", "c"]
    assert list(shard.index["offset"]) == [0, 5, 7] and list(shard.index["n_tokens"]) == [5, 2, 3]
    assert list(shard.index["n_chars"]) == [3, 0, 1] and list(shard.index["n_bytes"]) == [9, 0, 2]
    assert (shard.vocab_size, shard.bos_id, shard.eos_id) == (1000, 1, 2)


def test_dtype_follows_vocabulary_size(tmp_path):
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    write_token_shard(tmp_path / "big", [("a", [70000, 5], "x")], vocab_size=100000, bos_id=1, eos_id=2)
    shard = TokenShard.open(tmp_path / "big")
    assert shard.tokens.dtype == np.uint32 and list(shard.tokens) == [1, 70000, 5, 2]
    assert (tmp_path / "big.bin").stat().st_size == 16


def test_truncated_shard_is_an_error(tmp_path):
    write_token_shard(tmp_path / "t", [("a", [5, 6, 7], "abc")], vocab_size=1000, bos_id=1, eos_id=2)
    (tmp_path / "t.bin").write_bytes((tmp_path / "t.bin").read_bytes()[:-2])
    with pytest.raises(HaganeError, match=r"t\.bin: holds 4 tokens but its index counts 5"):
        TokenShard.open(tmp_path / "t")


def test_a_missing_shard_names_the_prefix(tmp_path):
    with pytest.raises(HaganeError, match=r"token shard .*/nowhere: index .*nowhere\.idx\.parquet not found"):
        TokenShard.open(tmp_path / "nowhere")
