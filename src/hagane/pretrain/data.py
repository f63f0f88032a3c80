"""Training samples whose order depends only on the seed and the global sample index.

The train token shards are read as one stream (in sorted shard order, memory-mapped) and cut into fixed
windows of seq_len + 1 tokens at stride seq_len. A mixture (`pretrain.mixture`, epochs per source) then
makes the list of windows one pass visits: each window belongs to the source of its first token, and a
source of e epochs contributes floor(e) copies of each of its windows plus a seeded sample of the fraction
e − floor(e) of them; without a mixture the list is every window once. Pass p visits the list in a
permutation drawn from (seed, p). Global sample g is list[perm_p[g mod n]] with p = g div n. Step s (0-based) uses global samples
[s·B, (s+1)·B); rank r of W takes the contiguous slice r·B/W … (r+1)·B/W and cuts it into micro batches in
order. Nothing depends on the number of ranks or the micro-batch size except which rank computes which
sample, and when.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hagane.errors import HaganeError
from hagane.tokenize.shards import TokenShard

MIXTURE_STREAM = 0x6D6978  # "mix": the fractional epochs' samples draw from their own random stream


class TokenStream:
    """Token shards (sorted by path) as one array of tokens, without copying them into memory."""

    def __init__(self, prefixes: list[Path], what: str = "training"):
        self.shards = [TokenShard.open(p) for p in sorted(Path(p) for p in prefixes)]
        if not self.shards:
            raise HaganeError(f"no {what} token shards given")
        self.vocab_size = self.shards[0].vocab_size
        self.starts = list(np.cumsum([0, *(len(s.tokens) for s in self.shards)]))
        self.n_tokens = int(self.starts[-1])

    def slice(self, start: int, stop: int) -> np.ndarray:
        parts, pos = [], start
        while pos < stop:
            i = bisect.bisect_right(self.starts, pos) - 1
            shard_stop = min(stop, self.starts[i + 1])
            parts.append(self.shards[i].tokens[pos - self.starts[i]:shard_stop - self.starts[i]])
            pos = shard_stop
        return np.concatenate(parts).astype(np.int64)

    def documents(self, start: int, stop: int) -> pd.DataFrame:
        """The documents overlapping stream tokens [start, stop): shard, doc_id and the token range of the
        overlap, both as stream positions and as positions inside the document (BOS is token 0)."""
        rows = []
        for i, shard in enumerate(self.shards):
            lo, hi = max(start, self.starts[i]), min(stop, self.starts[i + 1])
            if lo >= hi:
                continue
            index = shard.index
            ends = index["offset"].to_numpy() + index["n_tokens"].to_numpy()
            first = int(np.searchsorted(ends, lo - self.starts[i], side="right"))
            for row in index.iloc[first:].itertuples():
                doc_lo = self.starts[i] + row.offset
                if doc_lo >= hi:
                    break
                a, b = max(lo, doc_lo), min(hi, doc_lo + row.n_tokens)
                rows.append({"shard": str(shard.prefix), "doc_id": row.doc_id, "stream_start": a, "stream_stop": b,
                             "doc_token_start": a - doc_lo, "doc_token_stop": b - doc_lo})
        return pd.DataFrame(rows, columns=["shard", "doc_id", "stream_start", "stream_stop", "doc_token_start",
                                           "doc_token_stop"])


def shard_source(prefix: Path) -> str:
    """The source a train shard came from: the layout is results/tokenize/<source>/<part>/train."""
    return Path(prefix).parent.parent.name


class SampleStream:
    def __init__(self, prefixes: list[Path], seq_len: int, seed: int, mixture: dict[str, float] | None = None):
        self.stream = TokenStream(prefixes)
        self.vocab_size = self.stream.vocab_size
        self.seq_len, self.seed = seq_len, seed
        n_windows = (self.stream.n_tokens - 1) // seq_len
        if n_windows < 1:
            raise HaganeError(f"{self.stream.n_tokens} training tokens cannot fill one window of {seq_len + 1}")
        # The source of each window: that of the shard holding its first token.
        self.sources = sorted({shard_source(s.prefix) for s in self.stream.shards})
        shard_of_window = np.searchsorted(self.stream.starts, np.arange(n_windows) * seq_len, side="right") - 1
        shard_sources = np.array([self.sources.index(shard_source(s.prefix)) for s in self.stream.shards])
        self.window_source = shard_sources[shard_of_window]
        self.windows = self._mixture_windows(mixture or {})
        self.n_windows = len(self.windows)
        if self.n_windows < 1:
            raise HaganeError(f"pretrain.mixture {mixture} leaves no training window")
        self._epoch, self._perm = -1, None

    def _mixture_windows(self, mixture: dict[str, float]) -> np.ndarray:
        unknown = sorted(set(mixture) - set(self.sources))
        if unknown:
            raise HaganeError(f"pretrain.mixture names {unknown}, which are not sources of the training shards "
                              f"(sources: {self.sources})")
        parts = []
        for k, source in enumerate(self.sources):
            own = np.flatnonzero(self.window_source == k)
            epochs = float(mixture.get(source, 1.0))
            whole = int(epochs)
            parts += [own] * whole
            extra = round((epochs - whole) * len(own))
            if extra:
                chosen = np.random.default_rng([self.seed, MIXTURE_STREAM, k]).permutation(len(own))[:extra]
                parts.append(own[chosen])
        # Sorted, so that a mixture of ones is exactly every window once, in stream order.
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def source_counts(self, n_samples: int) -> dict[str, dict]:
        """Per source: its windows in the stream, its windows in one pass of the mixture, and how many of
        the first n_samples global samples it gave (counted, not estimated)."""
        passes, rest = divmod(n_samples, self.n_windows)
        per_pass = np.bincount(self.window_source[self.windows], minlength=len(self.sources))
        trained = per_pass * passes
        if rest:
            trained = trained + np.bincount(self.window_source[self.windows[self._permutation(passes)[:rest]]],
                                            minlength=len(self.sources))
        available = np.bincount(self.window_source, minlength=len(self.sources))
        return {source: {"windows": int(available[k]), "windows_per_pass": int(per_pass[k]),
                         "samples_trained": int(trained[k]), "tokens_trained": int(trained[k]) * self.seq_len}
                for k, source in enumerate(self.sources)}

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._epoch = epoch
        return self._perm

    def window_start(self, global_index: int) -> int:
        """Where sample `global_index` starts in the token stream."""
        epoch, pos = divmod(global_index, self.n_windows)
        return int(self.windows[self._permutation(epoch)[pos]]) * self.seq_len

    def window(self, global_index: int) -> np.ndarray:
        start = self.window_start(global_index)
        return self.stream.slice(start, start + self.seq_len + 1)

    def step_samples(self, step: int, global_batch: int, rank: int = 0, world: int = 1) -> range:
        """Global indices of the samples rank `rank` trains on in (0-based) step `step`."""
        per_rank = global_batch // world
        first = step * global_batch + rank * per_rank
        return range(first, first + per_rank)

    def batch(self, indices: range | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        windows = torch.from_numpy(np.stack([self.window(g) for g in indices]))
        return windows[:, :-1], windows[:, 1:]

    def micro_batches(self, step: int, global_batch: int, rank: int, world: int,
                      micro: int) -> Iterator[tuple[range, torch.Tensor, torch.Tensor]]:
        samples = self.step_samples(step, global_batch, rank, world)
        for i in range(0, len(samples), micro):
            indices = samples[i:i + micro]
            yield (indices, *self.batch(indices))


class ValidationWindows:
    """The first `n` windows of the validation stream, in order: the same ones at every evaluation."""

    def __init__(self, prefixes: list[Path], seq_len: int, n: int):
        self.stream = TokenStream(prefixes, "validation")
        self.seq_len = seq_len
        self.n = min(n, (self.stream.n_tokens - 1) // seq_len)
        if self.n < 1:
            raise HaganeError(f"{self.stream.n_tokens} validation tokens cannot fill one window of {seq_len + 1}")

    def batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        windows = torch.from_numpy(np.stack([self.stream.slice(i * self.seq_len, (i + 1) * self.seq_len + 1)
                                             for i in indices]))
        return windows[:, :-1], windows[:, 1:]
