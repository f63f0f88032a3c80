import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hagane.evaluate.perplexity import total_nll, unigram_entropy


def test_unigram_entropy():
    assert unigram_entropy(np.array([3, 3, 5, 5])) == pytest.approx(math.log(2))
    assert unigram_entropy(np.array([7, 7, 7])) == 0.0


class Uniform:
    """A 'model' with uniform next-token probabilities over V tokens."""

    def __init__(self, vocab):
        self.vocab = vocab

    def __call__(self, input_ids):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


class Bigram:
    """A model whose logits depend on the input token, to check windows and targets line up."""

    def __call__(self, input_ids):
        return SimpleNamespace(logits=torch.nn.functional.one_hot((input_ids + 1) % 5, 5).float() * 3.0)


def test_every_token_but_the_first_is_predicted_once():
    tokens = np.arange(23) % 5
    nll, n = total_nll(Uniform(5), tokens, context=4, batch_size=2)
    assert n == 22 and nll == pytest.approx(22 * math.log(5))


def test_batch_size_does_not_change_the_result():
    tokens = np.random.default_rng(0).integers(0, 5, 101)
    results = {bs: total_nll(Bigram(), tokens, context=8, batch_size=bs) for bs in (1, 3, 16)}
    assert results[1][1] == results[3][1] == results[16][1] == 100
    assert results[1][0] == pytest.approx(results[3][0], rel=1e-6) == pytest.approx(results[16][0], rel=1e-6)
    # A perfectly predictable sequence under the bigram model has a low loss.
    seq = np.arange(41) % 5
    nll, n = total_nll(Bigram(), seq, context=8, batch_size=4)
    assert nll / n < 0.2
