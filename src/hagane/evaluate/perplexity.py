"""Held-out perplexity of a Hugging Face model on the validation token shards.

The validation documents, concatenated (each is BOS, tokens, EOS), are cut into windows of the model's
context length; window k predicts its tokens from the ones before them inside the window. Every token
but the very first is predicted exactly once; BOS targets are not counted (they carry no text). Bits
per character and per byte divide the total negative log-likelihood (in bits) by the characters and
UTF-8 bytes of the same documents, which makes models with different tokenizers comparable. The same
figures are given per source (each source's documents concatenated alone).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hagane.errors import HaganeError
from hagane.tokenize.shards import TokenShard


def unigram_entropy(tokens: np.ndarray) -> float:
    """Entropy (nats per token) of the tokens' own frequency distribution: the loss of the best model
    that ignores context. A language model worth its name is well below it."""
    counts = np.bincount(tokens)
    p = counts[counts > 0] / len(tokens)
    return float(-(p * np.log(p)).sum())


@torch.no_grad()
def total_nll(model, tokens: np.ndarray, context: int, batch_size: int, ignore_id: int = -100) -> tuple[float, int]:
    """Sum of -ln p over every predicted token except `ignore_id` (BOS: it always follows EOS and carries
    no text), and how many were predicted."""
    windows = [tokens[s:s + context + 1].astype(np.int64) for s in range(0, len(tokens) - 1, context)]
    # Full windows go in batches; the shorter last one, if any, alone.
    short = [windows.pop()] if len(windows[-1]) != len(windows[0]) else []
    batches = [windows[i:i + batch_size] for i in range(0, len(windows), batch_size)]
    if short:
        batches.append(short)
    nll, n = 0.0, 0
    for batch in tqdm(batches, desc="perplexity", unit="batch", mininterval=5):
        stacked = torch.from_numpy(np.stack(batch))
        x, y = stacked[:, :-1], stacked[:, 1:]
        logits = model(input_ids=x.to(getattr(model, "device", "cpu"))).logits.float().cpu()
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum",
                               ignore_index=ignore_id).item()
        n += int((y != ignore_id).sum())
    return nll, n


def source_of(prefix: Path) -> str:
    """Token shards lie at results/tokenize/<source>/<part>/valid (DESIGN.md)."""
    return Path(prefix).parent.parent.name


def perplexity_metrics(model, shards: list[TokenShard], batch_size: int) -> dict:
    tokens = np.concatenate([np.asarray(s.tokens) for s in shards])
    if len(tokens) < 2:
        raise HaganeError("validation shards hold fewer than 2 tokens; raise split.validation_fraction")
    n_chars = int(sum(s.index["n_chars"].sum() for s in shards))
    n_bytes = int(sum(s.index["n_bytes"].sum() for s in shards))
    context = model.config.max_position_embeddings
    nll, n = total_nll(model, tokens, context, batch_size, ignore_id=shards[0].bos_id)
    loss = nll / n
    metrics = {
        "validation_documents": int(sum(len(s.index) for s in shards)),
        "validation_tokens": int(len(tokens)), "predicted_tokens": n,
        "validation_chars": n_chars, "validation_bytes": n_bytes,
        "loss_nats_per_token": loss, "perplexity": math.exp(loss),
        "bits_per_char": nll / math.log(2) / n_chars, "bits_per_byte": nll / math.log(2) / n_bytes,
        "unigram_entropy_nats_per_token": unigram_entropy(tokens),
        "context_length": context,
    }
    metrics["loss_below_unigram_entropy"] = metrics["loss_nats_per_token"] < metrics["unigram_entropy_nats_per_token"]
    return metrics


def held_out_metrics(model, valid_prefixes: list[Path], batch_size: int) -> dict:
    """Perplexity and bits per character/byte over all held-out documents, and per source."""
    shards = {p: TokenShard.open(p) for p in sorted(valid_prefixes)}
    out = perplexity_metrics(model, list(shards.values()), batch_size)
    by_source: dict[str, list[TokenShard]] = {}
    for prefix, shard in shards.items():
        if len(shard.tokens) >= 2:
            by_source.setdefault(source_of(prefix), []).append(shard)
    out["by_source"] = {source: perplexity_metrics(model, group, batch_size)
                        for source, group in sorted(by_source.items())}
    return out
