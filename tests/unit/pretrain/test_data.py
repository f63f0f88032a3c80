import torch

from hagane.pretrain.data import SampleStream
from hagane.tokenize.shards import write_token_shard


def make_stream(tmp_path, seq_len=8, seed=3):
    ids = list(range(10, 200))
    write_token_shard(tmp_path / "a", [("x", ids[:100], "x" * 100)], vocab_size=300, bos_id=1, eos_id=2)
    write_token_shard(tmp_path / "b", [("y", ids[100:], "y" * 90)], vocab_size=300, bos_id=1, eos_id=2)
    return SampleStream([tmp_path / "b", tmp_path / "a"], seq_len, seed)


def test_windows_cover_the_stream_in_shard_order(tmp_path):
    stream = make_stream(tmp_path)
    assert stream.n_windows == (194 - 1) // 8
    assert list(stream.tokens[:3]) == [1, 10, 11]  # shard a first, whatever order they were given in
    seen = sorted(int(stream.window(g)[0]) for g in range(stream.n_windows))
    assert seen == sorted(int(stream.tokens[i * 8]) for i in range(stream.n_windows))


def test_order_does_not_depend_on_the_number_of_ranks(tmp_path):
    stream = make_stream(tmp_path)
    for step in range(5):
        x1, y1 = stream.batch(step, 4, 0, 1)
        parts = [stream.batch(step, 4, r, 4) for r in range(4)]
        assert torch.equal(torch.cat([p[0] for p in parts]), x1) and torch.equal(torch.cat([p[1] for p in parts]), y1)
        assert torch.equal(x1[:, 1:], y1[:, :-1])


def test_epochs_reshuffle_deterministically(tmp_path):
    a, b = make_stream(tmp_path), make_stream(tmp_path)
    n = a.n_windows
    first = [int(a.window(g)[0]) for g in range(n)]
    second = [int(a.window(g)[0]) for g in range(n, 2 * n)]
    assert first != second and sorted(first) == sorted(second)
    assert second == [int(b.window(g)[0]) for g in range(n, 2 * n)]
    other = make_stream(tmp_path, seed=4)
    assert [int(other.window(g)[0]) for g in range(n)] != first
