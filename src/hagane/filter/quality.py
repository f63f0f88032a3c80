"""A fastText quality classifier, DCLM style: reference documents as positives, other collected documents
as negatives, and every document scored with the probability of being like the reference.

fastText splits on whitespace and Japanese has none, so a document is shown to it as its characters
separated by spaces (the first MAX_CHARS of them); `word_ngrams` then covers character bigrams and
beyond. Training runs on one thread with a fixed seed, so the same data and config give the same model.
"""

from __future__ import annotations

import heapq
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hagane.config import QualityConfig
from hagane.errors import HaganeError
from hagane.filter.langid import predict_line
from hagane.io import atomic_path, read_jsonl_zst, sha256_text
from hagane.manifest import now, write_manifest

MODEL = "model.bin"
POSITIVE, NEGATIVE = "__label__reference", "__label__other"
MAX_CHARS = 2000  # enough to judge a document; keeps scoring time flat for long ones


def as_tokens(text: str) -> str:
    """The document as fastText sees it: its first MAX_CHARS non-whitespace characters, space-separated.
    (str.split() drops what the regex \\s matches: both ask Py_UNICODE_ISSPACE.)"""
    return " ".join("".join(text.split())[:MAX_CHARS])


def sample_documents(paths: Iterable[Path], k: int, seed: int) -> list[str]:
    """Texts of the k documents with the smallest seeded hash of their id, in hash order: a uniform
    sample that does not depend on shard order, held in memory k documents at a time (a heap), so
    negatives can be drawn from a whole crawl."""
    heap: list[tuple[int, str, str]] = []  # (-hash, id, text): the largest kept hash on top
    for path in paths:
        for doc in read_jsonl_zst(path):
            key = int(sha256_text(str(seed), doc["id"])[:16], 16)
            if len(heap) < k:
                heapq.heappush(heap, (-key, doc["id"], doc["text"]))
            elif -key > heap[0][0]:
                heapq.heapreplace(heap, (-key, doc["id"], doc["text"]))
    return [text for _, _, text in sorted(heap, reverse=True)]


def train_quality(cfg: QualityConfig, positives: list[Path], negatives: list[Path], out_dir: Path) -> dict:
    import fasttext

    started = now()
    pos = sample_documents(positives, cfg.max_examples_per_class, cfg.seed)
    neg = sample_documents(negatives, cfg.max_examples_per_class, cfg.seed)
    if not pos or not neg:
        raise HaganeError(f"filter.quality: {len(pos)} reference and {len(neg)} other documents; both must be "
                          "non-empty (reference_sources names the positives, every other source gives negatives)")
    n = min(len(pos), len(neg))  # balanced classes
    sample = [(POSITIVE, text) for text in pos[:n]] + [(NEGATIVE, text) for text in neg[:n]]
    random.Random(cfg.seed).shuffle(sample)
    with tempfile.TemporaryDirectory(prefix="hagane-quality-") as tmp:
        train_file = Path(tmp) / "train.txt"
        with open(train_file, "w", encoding="utf-8") as f:
            for label, text in sample:
                f.write(f"{label} {as_tokens(text)}\n")
        model = fasttext.train_supervised(input=str(train_file), epoch=cfg.epochs, lr=cfg.lr, dim=cfg.dim,
                                          wordNgrams=cfg.word_ngrams, bucket=cfg.buckets, minCount=1, thread=1,
                                          seed=cfg.seed, verbose=0)
        with atomic_path(out_dir / MODEL) as tmp_model:
            model.save_model(str(tmp_model))
    counts = {"examples_per_class": n, "reference_sampled": len(pos), "other_sampled": len(neg)}
    write_manifest(out_dir, stage="filter.quality", config={"quality": vars(cfg)},
                   inputs=[*positives, *negatives], outputs=[out_dir / MODEL], counts=counts, started_at=started)
    print(f"quality classifier: {n} examples per class → {out_dir / MODEL}")
    return counts


class QualityScorer:
    """P(reference-like) of a document under a model made by train_quality."""

    def __init__(self, model_dir: Path):
        import fasttext

        if not (model_dir / MODEL).is_file():
            raise HaganeError(f"{model_dir / MODEL} is missing: run the train_quality rule (hagane filter quality)")
        self.model = fasttext.load_model(str(model_dir / MODEL))

    def __call__(self, text: str) -> float:
        tokens = as_tokens(text)
        if not tokens:
            return 0.0
        predictions = predict_line(self.model, tokens, k=2)
        # fastText's softmax can overshoot 1 by a few ulp; a probability stays in [0, 1].
        return round(min(1.0, next((prob for prob, label in predictions if label == POSITIVE), 0.0)), 6)
