"""KenLM perplexity, cc_net style: a SentencePiece model and an n-gram language model trained on
reference text (Japanese Wikipedia in real use), then every document scored per paragraph and as a
whole. Low perplexity means "reads like the reference"; the select step decides what to keep.

Training runs KenLM's own programs, `lmplz` and `build_binary` (built from source by `make` into the
virtual environment's bin/); scoring uses the `kenlm` Python module on the binary model.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from hagane.config import KenLMConfig
from hagane.errors import HaganeError
from hagane.io import atomic_path, read_jsonl_zst
from hagane.manifest import now, write_manifest
from hagane.tokenizer.train import strip_temporary_paths

SPM_MODEL, LM_BINARY = "spm.model", "lm.binary"
# SentencePiece skips longer lines when training; the scorer still scores them.
MAX_TRAINING_LINE_BYTES = 16384


def kenlm_program(name: str) -> str:
    """lmplz / build_binary: on PATH, else beside this Python (the virtual environment's bin/)."""
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if found is None:
        raise HaganeError(f"KenLM's `{name}` is not installed: `make setup` builds it into .venv/bin/")
    return found


def paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def reference_paragraphs(documents: Iterable[Path]) -> Iterable[str]:
    for path in documents:
        for doc in read_jsonl_zst(path):
            yield from paragraphs(doc["text"])


def train_kenlm(cfg: KenLMConfig, documents: list[Path], out_dir: Path) -> dict:
    """SentencePiece on the reference paragraphs, then an order-N KenLM model on their pieces."""
    started = now()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hagane-kenlm-") as tmp:
        text = Path(tmp) / "reference.txt"
        n_lines = 0
        with open(text, "w", encoding="utf-8") as f:
            for line in reference_paragraphs(documents):
                f.write(line + "\n")
                n_lines += 1
        if n_lines == 0:
            raise HaganeError(f"filter.kenlm.reference_sources {list(cfg.reference_sources)}: no text to train on")
        spm.set_random_generator_seed(cfg.seed)
        try:
            spm.SentencePieceTrainer.train(
                input=str(text), model_prefix=str(Path(tmp) / "spm"), model_type="unigram",
                vocab_size=cfg.vocab_size, character_coverage=0.9995, max_sentence_length=MAX_TRAINING_LINE_BYTES,
                num_threads=1, minloglevel=2)
        except RuntimeError as err:
            raise HaganeError(f"SentencePiece for KenLM failed on {n_lines} reference lines: {err}; "
                              "adjust filter.kenlm.vocab_size (SentencePiece names the bound) or add reference text") from None
        strip_temporary_paths(Path(tmp) / "spm.model")
        sp = spm.SentencePieceProcessor(model_file=str(Path(tmp) / "spm.model"))
        pieces = Path(tmp) / "pieces.txt"
        with open(text, encoding="utf-8") as src, open(pieces, "w", encoding="utf-8") as dst:
            for line in src:
                dst.write(" ".join(sp.encode(line.rstrip("\n"), out_type=str)) + "\n")
        arpa = Path(tmp) / "lm.arpa"
        # --discount_fallback: a small reference has too few singletons for Kneser-Ney's discounts.
        _run([kenlm_program("lmplz"), "-o", str(cfg.order), "--discount_fallback", "-S", "20%", "-T", tmp,
              "--text", str(pieces), "--arpa", str(arpa)])
        with atomic_path(out_dir / LM_BINARY) as tmp_binary:
            _run([kenlm_program("build_binary"), "-s", str(arpa), str(tmp_binary)])
        with atomic_path(out_dir / SPM_MODEL) as tmp_spm:
            shutil.copyfile(Path(tmp) / "spm.model", tmp_spm)
    counts = {"reference_paragraphs": n_lines}
    write_manifest(out_dir, stage="filter.kenlm", config={"kenlm": vars(cfg)}, inputs=list(documents),
                   outputs=[out_dir / SPM_MODEL, out_dir / LM_BINARY], counts=counts, started_at=started)
    print(f"kenlm: order {cfg.order} on {n_lines} reference paragraphs → {out_dir / LM_BINARY}")
    return counts


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HaganeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")


class PerplexityScorer:
    """Per-paragraph and per-document perplexity under a model made by train_kenlm."""

    def __init__(self, model_dir: Path):
        import kenlm

        for name in (SPM_MODEL, LM_BINARY):
            if not (model_dir / name).is_file():
                raise HaganeError(f"{model_dir / name} is missing: run the train_kenlm rule (hagane filter kenlm)")
        self.sp = spm.SentencePieceProcessor(model_file=str(model_dir / SPM_MODEL))
        self.model = kenlm.Model(str(model_dir / LM_BINARY))

    def __call__(self, text: str) -> tuple[float, list[float]]:
        """(document perplexity, perplexity of each paragraph). The document's is cc_net's: 10 to the
        minus total log10 probability over total tokens (each paragraph's end counts as a token)."""
        total_log10, total_tokens, per_paragraph = 0.0, 0, []
        for paragraph in paragraphs(text):
            pieces = self.sp.encode(paragraph, out_type=str)
            log10 = self.model.score(" ".join(pieces), bos=True, eos=True)
            tokens = len(pieces) + 1
            per_paragraph.append(round(10 ** (-log10 / tokens), 4))
            total_log10 += log10
            total_tokens += tokens
        if total_tokens == 0:
            return math.inf, []
        return round(10 ** (-total_log10 / total_tokens), 4), per_paragraph
