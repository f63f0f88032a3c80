"""Training samples whose order depends only on the seed and the global sample index.

The train token shards are read as one stream (in sorted shard order) and cut into fixed windows of
seq_len + 1 tokens at stride seq_len. Epoch e visits the windows in a permutation drawn from (seed, e).
Global sample g is window perm_e[g mod n] with e = g div n. Step s uses global samples
[s·B, (s+1)·B); rank r of W takes the contiguous slice r·B/W … (r+1)·B/W. Nothing depends on the number
of ranks except which rank computes which sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hagane.errors import HaganeError
from hagane.tokenize.shards import TokenShard


class SampleStream:
    def __init__(self, prefixes: list[Path], seq_len: int, seed: int):
        shards = [TokenShard.open(p) for p in sorted(prefixes)]
        if not shards:
            raise HaganeError("no training token shards given")
        # Kept in the shards' own dtype (uint16 for most vocabularies); windows are widened one at a time.
        self.tokens = np.concatenate([np.asarray(s.tokens) for s in shards])
        self.vocab_size = shards[0].vocab_size
        self.seq_len, self.seed = seq_len, seed
        self.n_windows = (len(self.tokens) - 1) // seq_len
        if self.n_windows < 1:
            raise HaganeError(f"{len(self.tokens)} training tokens cannot fill one window of {seq_len + 1}")
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._epoch = epoch
        return self._perm

    def window(self, global_index: int) -> np.ndarray:
        epoch, pos = divmod(global_index, self.n_windows)
        start = int(self._permutation(epoch)[pos]) * self.seq_len
        return self.tokens[start:start + self.seq_len + 1].astype(np.int64)

    def batch(self, step: int, global_batch: int, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
        per_rank = global_batch // world
        first = step * global_batch + rank * per_rank
        windows = torch.from_numpy(np.stack([self.window(first + j) for j in range(per_rank)]))
        return windows[:, :-1], windows[:, 1:]
