import numpy as np
import pytest
import torch

from hagane.errors import HaganeError
from hagane.pretrain.data import SampleStream, ValidationWindows
from hagane.tokenize.shards import write_token_shard


def make_stream(tmp_path, seq_len=8, seed=3):
    ids = list(range(10, 200))
    write_token_shard(tmp_path / "a", [("x", ids[:60], "x" * 60), ("x2", ids[60:100], "x" * 40)],
                      vocab_size=300, bos_id=1, eos_id=2)
    write_token_shard(tmp_path / "b", [("y", ids[100:], "y" * 90)], vocab_size=300, bos_id=1, eos_id=2)
    return SampleStream([tmp_path / "b", tmp_path / "a"], seq_len, seed)


def test_windows_cover_the_stream_in_shard_order(tmp_path):
    stream = make_stream(tmp_path)
    assert stream.stream.n_tokens == 196 and stream.n_windows == (196 - 1) // 8
    assert list(stream.stream.slice(0, 3)) == [1, 10, 11]  # shard a first, whatever order they were given in
    # A window across the shard boundary (a has 104 tokens): a's last tokens, then b's BOS.
    assert list(stream.stream.slice(101, 106)) == [108, 109, 2, 1, 110]
    seen = sorted(stream.window_start(g) for g in range(stream.n_windows))
    assert seen == [i * 8 for i in range(stream.n_windows)]
    for g in range(stream.n_windows):
        start = stream.window_start(g)
        assert list(stream.window(g)) == list(stream.stream.slice(start, start + 9))


def test_order_does_not_depend_on_the_number_of_ranks_or_micro_batches(tmp_path):
    stream = make_stream(tmp_path)
    for step in range(5):
        x1, y1 = stream.batch(stream.step_samples(step, 4))
        for world, micro in ((1, 1), (2, 1), (2, 2), (4, 1)):
            parts = [mb for r in range(world) for mb in stream.micro_batches(step, 4, r, world, micro)]
            assert [g for indices, _, _ in parts for g in indices] == list(range(step * 4, step * 4 + 4))
            assert torch.equal(torch.cat([p[1] for p in parts]), x1) and torch.equal(torch.cat([p[2] for p in parts]), y1)
        assert torch.equal(x1[:, 1:], y1[:, :-1])


def test_epochs_reshuffle_deterministically(tmp_path):
    a, b = make_stream(tmp_path), make_stream(tmp_path)
    n = a.n_windows
    first = [a.window_start(g) for g in range(n)]
    second = [a.window_start(g) for g in range(n, 2 * n)]
    assert first != second and sorted(first) == sorted(second)
    assert second == [b.window_start(g) for g in range(n, 2 * n)]
    other = make_stream(tmp_path, seed=4)
    assert [other.window_start(g) for g in range(n)] != first


def test_tokens_trace_back_to_their_documents(tmp_path):
    stream = make_stream(tmp_path).stream
    # a: x = tokens 0..61 (BOS, 60 ids, EOS), x2 = 62..103; b: y = 104..195.
    docs = stream.documents(58, 110)
    assert list(docs["doc_id"]) == ["x", "x2", "y"]
    assert list(docs["stream_start"]) == [58, 62, 104] and list(docs["stream_stop"]) == [62, 104, 110]
    assert list(docs["doc_token_start"]) == [58, 0, 0] and list(docs["doc_token_stop"]) == [62, 42, 6]
    assert list(stream.documents(0, 1)["doc_id"]) == ["x"]
    # The tokens of each range are the document's own tokens.
    y = docs.iloc[2]
    assert list(stream.slice(y.stream_start, y.stream_stop)) == [1, *range(110, 115)]


def test_validation_windows_are_fixed_and_capped(tmp_path):
    make_stream(tmp_path)
    valid = ValidationWindows([tmp_path / "a"], 8, 100)
    assert valid.n == (104 - 1) // 8
    x, y = valid.batch([0, 1])
    assert list(x[0][:3]) == [1, 10, 11] and x[1][0] == y[0][-1] and torch.equal(x[0][1:], y[0][:-1])
    with pytest.raises(HaganeError, match="cannot fill one window"):
        ValidationWindows([tmp_path / "a"], 200, 4)
    assert np.array_equal(valid.batch([3])[0], ValidationWindows([tmp_path / "a"], 8, 5).batch([3])[0])


# ----------------------------------------------------------------------------------------- mixtures

def make_sources(tmp_path, seq_len=8):
    """Two sources in the tokenize layout (results/tokenize/<source>/<part>/train): wiki 3 windows' worth,
    web 12."""
    ids = list(range(10, 250))
    prefixes = []
    for source, part, span in (("wiki", "p0", ids[:22]), ("web", "p0", ids[22:70]), ("web", "p1", ids[70:118])):
        prefix = tmp_path / source / part / "train"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        write_token_shard(prefix, [(f"{source}-{part}", span, "t" * len(span))], vocab_size=300, bos_id=1, eos_id=2)
        prefixes.append(prefix)
    return prefixes


def test_a_mixture_of_ones_is_no_mixture(tmp_path):
    prefixes = make_sources(tmp_path)
    plain, ones = SampleStream(prefixes, 8, 5), SampleStream(prefixes, 8, 5, {"wiki": 1, "web": 1.0})
    assert plain.n_windows == ones.n_windows
    assert [plain.window_start(g) for g in range(40)] == [ones.window_start(g) for g in range(40)]


def test_mixture_epochs_upsample_and_cap_sources(tmp_path):
    prefixes = make_sources(tmp_path)
    plain = SampleStream(prefixes, 8, 5)
    mixed = SampleStream(prefixes, 8, 5, {"wiki": 2, "web": 0.5})
    source_of = {w: plain.sources[plain.window_source[w]] for w in range(plain.n_windows)}
    wiki = [w for w, s in source_of.items() if s == "wiki"]
    web = [w for w, s in source_of.items() if s == "web"]
    one_pass = [mixed.window_start(g) // 8 for g in range(mixed.n_windows)]
    assert sorted(w for w in one_pass if source_of[w] == "wiki") == sorted(wiki * 2)
    web_seen = [w for w in one_pass if source_of[w] == "web"]
    assert len(web_seen) == round(len(web) / 2) and len(set(web_seen)) == len(web_seen) and set(web_seen) <= set(web)
    # The sample is the seed's: the same in another instance, on any number of ranks; another seed differs.
    again = SampleStream(prefixes, 8, 5, {"wiki": 2, "web": 0.5})
    assert [again.window_start(g) for g in range(3 * mixed.n_windows)] == \
        [mixed.window_start(g) for g in range(3 * mixed.n_windows)]
    other = SampleStream(prefixes, 8, 6, {"wiki": 2, "web": 0.5})
    assert [other.window_start(g) for g in range(mixed.n_windows)] != one_pass
    # The counts the manifest records are counted, not estimated: over one and a half passes.
    n = mixed.n_windows + mixed.n_windows // 2
    counted = {"wiki": 0, "web": 0}
    for g in range(n):
        counted[source_of[mixed.window_start(g) // 8]] += 1
    counts = mixed.source_counts(n)
    assert {s: c["samples_trained"] for s, c in counts.items()} == counted
    assert counts["wiki"]["windows"] == len(wiki) and counts["wiki"]["windows_per_pass"] == 2 * len(wiki)
    assert counts["web"]["tokens_trained"] == counted["web"] * 8


def test_a_mixture_must_name_real_sources_and_leave_something(tmp_path):
    prefixes = make_sources(tmp_path)
    with pytest.raises(HaganeError, match=r"names \['wikipedia'\], which are not sources.*\['web', 'wiki'\]"):
        SampleStream(prefixes, 8, 5, {"wikipedia": 2})
    with pytest.raises(HaganeError, match="leaves no training window"):
        SampleStream(prefixes, 8, 5, {"wiki": 0, "web": 0})
