"""A fastText quality classifier, DCLM style: reference documents as positives, other collected documents
as negatives, and every document scored with the probability of being like the reference.

fastText splits on whitespace and Japanese has none, so a document is shown to it as its characters
separated by spaces (the first MAX_CHARS of them); `word_ngrams` then covers character bigrams and
beyond. Training runs on one thread with a fixed seed, so the same data and config give the same model.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from hagane.config import QualityConfig
from hagane.errors import HaganeError
from hagane.io import atomic_path, read_jsonl_zst
from hagane.manifest import now, write_manifest

MODEL = "model.bin"
POSITIVE, NEGATIVE = "__label__reference", "__label__other"
MAX_CHARS = 2000  # enough to judge a document; keeps scoring time flat for long ones
_WHITESPACE = re.compile(r"\s+")


def as_tokens(text: str) -> str:
    """The document as fastText sees it: its first MAX_CHARS non-whitespace characters, space-separated."""
    return " ".join(_WHITESPACE.sub("", text)[:MAX_CHARS])


def _documents(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(id, text) of every document, sorted by id so that the sample does not depend on shard order."""
    return sorted(((doc["id"], doc["text"]) for path in paths for doc in read_jsonl_zst(path)))


def train_quality(cfg: QualityConfig, positives: list[Path], negatives: list[Path], out_dir: Path) -> dict:
    import fasttext

    started = now()
    pos, neg = _documents(positives), _documents(negatives)
    if not pos or not neg:
        raise HaganeError(f"filter.quality: {len(pos)} reference and {len(neg)} other documents; both must be "
                          "non-empty (reference_sources names the positives, every other source gives negatives)")
    rng = random.Random(cfg.seed)
    n = min(len(pos), len(neg), cfg.max_examples_per_class)
    sample = [(POSITIVE, text) for _, text in rng.sample(pos, n)] + [(NEGATIVE, text) for _, text in rng.sample(neg, n)]
    rng.shuffle(sample)
    with tempfile.TemporaryDirectory(prefix="hagane-quality-") as tmp:
        train_file = Path(tmp) / "train.txt"
        with open(train_file, "w", encoding="utf-8") as f:
            for label, text in sample:
                f.write(f"{label} {as_tokens(text)}\n")
        model = fasttext.train_supervised(input=str(train_file), epoch=cfg.epochs, lr=cfg.lr, dim=cfg.dim,
                                          wordNgrams=cfg.word_ngrams, minCount=1, thread=1, seed=cfg.seed,
                                          verbose=0)
        with atomic_path(out_dir / MODEL) as tmp_model:
            model.save_model(str(tmp_model))
    counts = {"examples_per_class": n, "reference_documents": len(pos), "other_documents": len(neg)}
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
        labels, probs = self.model.predict(tokens, k=2)
        # fastText's softmax can overshoot 1 by a few ulp; a probability stays in [0, 1].
        return round(min(1.0, float(dict(zip(labels, probs)).get(POSITIVE, 0.0))), 6)
