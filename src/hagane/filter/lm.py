"""KenLM perplexity: an n-gram language model trained on reference text (Japanese Wikipedia in real use),
then every document scored per paragraph and as a whole. Low perplexity means "reads like the
reference"; the select step decides what to keep.

The model's units are either SentencePiece pieces of a unigram model trained on the same reference
(cc_net's way; `filter.kenlm.tokenizer: sentencepiece`) or the words of the morphological analyser
Sudachi with its core dictionary (Uzushio's, LLM-jp v2; `tokenizer: sudachi`, split mode
`filter.kenlm.sudachi_mode`). `segmenter.json` beside the model says which, so the scorer splits text
exactly as training did.

Training runs KenLM's own programs, `lmplz` and `build_binary` (built from source by `make` into the
virtual environment's bin/); scoring uses the `kenlm` Python module on the binary model.
"""

from __future__ import annotations

import json
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
from hagane.io import atomic_path, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest
from hagane.sudachi import versions, word_splitter
from hagane.tokenizer.train import strip_temporary_paths

SPM_MODEL, LM_BINARY, SEGMENTER = "spm.model", "lm.binary", "segmenter.json"
# SentencePiece skips longer lines when training; the scorer still scores them.
MAX_TRAINING_LINE_BYTES = 16384


class Segmenter:
    """Text → the units of a KenLM model: SentencePiece pieces, or Sudachi words."""

    def __init__(self, spec: dict, model_dir: Path | None = None):
        self.spec = spec
        if spec["tokenizer"] == "sentencepiece":
            self._sp = spm.SentencePieceProcessor(model_file=str(model_dir / SPM_MODEL))
        elif spec["tokenizer"] == "sudachi":
            self._words = word_splitter(spec["mode"])
        else:
            raise HaganeError(f"unknown KenLM tokenizer {spec['tokenizer']!r} in {model_dir}/{SEGMENTER}")

    @staticmethod
    def describe(cfg: KenLMConfig) -> dict:
        """What segmenter.json records: the tokenizer, and for Sudachi its mode and versions (a different
        dictionary splits differently, so the versions are part of the model)."""
        if cfg.tokenizer == "sentencepiece":
            return {"tokenizer": "sentencepiece"}
        return {"tokenizer": "sudachi", "mode": cfg.sudachi_mode, **versions()}

    def __call__(self, paragraph: str) -> list[str]:
        if self.spec["tokenizer"] == "sentencepiece":
            return self._sp.encode(paragraph, out_type=str)
        words = self._words(paragraph)
        # KenLM's units are separated by whitespace: whitespace inside a word is dropped, and a word of
        # whitespace alone with it.
        units = ["".join(word.split()) for word in words]
        return [unit for unit in units if unit]


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
    """The units (a SentencePiece model trained on the reference paragraphs, or Sudachi), then an
    order-N KenLM model on the reference paragraphs split into them."""
    started = now()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = Segmenter.describe(cfg)
    with tempfile.TemporaryDirectory(prefix="hagane-kenlm-") as tmp:
        text = Path(tmp) / "reference.txt"
        n_lines = 0
        with open(text, "w", encoding="utf-8") as f:
            for line in reference_paragraphs(documents):
                f.write(line + "\n")
                n_lines += 1
        if n_lines == 0:
            raise HaganeError(f"filter.kenlm.reference_sources {list(cfg.reference_sources)}: no text to train on")
        if cfg.tokenizer == "sentencepiece":
            _train_sentencepiece(cfg, text, n_lines, Path(tmp))
        segment = Segmenter(spec, Path(tmp))
        units = Path(tmp) / "units.txt"
        with open(text, encoding="utf-8") as src, open(units, "w", encoding="utf-8") as dst:
            for line in src:
                dst.write(" ".join(segment(line.rstrip("\n"))) + "\n")
        arpa = Path(tmp) / "lm.arpa"
        # --discount_fallback: a small reference has too few singletons for Kneser-Ney's discounts.
        _run([kenlm_program("lmplz"), "-o", str(cfg.order), "--discount_fallback", "-S", "20%", "-T", tmp,
              "--text", str(units), "--arpa", str(arpa)])
        with atomic_path(out_dir / LM_BINARY) as tmp_binary:
            _run([kenlm_program("build_binary"), "-s", str(arpa), str(tmp_binary)])
        outputs = [out_dir / LM_BINARY, out_dir / SEGMENTER]
        if cfg.tokenizer == "sentencepiece":
            with atomic_path(out_dir / SPM_MODEL) as tmp_spm:
                shutil.copyfile(Path(tmp) / "spm.model", tmp_spm)
            outputs.append(out_dir / SPM_MODEL)
        else:
            (out_dir / SPM_MODEL).unlink(missing_ok=True)  # a sentencepiece model's, not this one's
        write_json(out_dir / SEGMENTER, spec)
    counts = {"reference_paragraphs": n_lines}
    write_manifest(out_dir, stage="filter.kenlm", config={"kenlm": vars(cfg)}, inputs=list(documents),
                   outputs=outputs, counts=counts, started_at=started)
    print(f"kenlm: order {cfg.order} over {cfg.tokenizer} units of {n_lines} reference paragraphs → {out_dir / LM_BINARY}")
    return counts


def _train_sentencepiece(cfg: KenLMConfig, text: Path, n_lines: int, tmp: Path) -> None:
    spm.set_random_generator_seed(cfg.seed)
    try:
        spm.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(tmp / "spm"), model_type="unigram",
            vocab_size=cfg.vocab_size, character_coverage=0.9995, max_sentence_length=MAX_TRAINING_LINE_BYTES,
            num_threads=1, minloglevel=2)
    except RuntimeError as err:
        raise HaganeError(f"SentencePiece for KenLM failed on {n_lines} reference lines: {err}; "
                          "adjust filter.kenlm.vocab_size (SentencePiece names the bound) or add reference text") from None
    strip_temporary_paths(tmp / "spm.model")


def model_files(model_dir: Path) -> list[Path]:
    """The files a score depends on: the KenLM model, its segmenter.json and, for SentencePiece units,
    the SentencePiece model."""
    files = [model_dir / LM_BINARY, model_dir / SEGMENTER]
    if segmenter_spec(model_dir)["tokenizer"] == "sentencepiece":
        files.append(model_dir / SPM_MODEL)
    return files


def segmenter_spec(model_dir: Path) -> dict:
    path = model_dir / SEGMENTER
    if not path.is_file():
        raise HaganeError(f"{path} is missing: run the train_kenlm rule (hagane filter kenlm)")
    return json.loads(path.read_text())


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HaganeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")


class PerplexityScorer:
    """Per-paragraph and per-document perplexity under a model made by train_kenlm."""

    def __init__(self, model_dir: Path):
        import kenlm

        for path in model_files(model_dir):
            if not path.is_file():
                raise HaganeError(f"{path} is missing: run the train_kenlm rule (hagane filter kenlm)")
        self.segment = Segmenter(segmenter_spec(model_dir), model_dir)
        self.model = kenlm.Model(str(model_dir / LM_BINARY))

    def __call__(self, text: str) -> tuple[float, list[float]]:
        """(document perplexity, perplexity of each paragraph). The document's is cc_net's: 10 to the
        minus total log10 probability over total tokens (each paragraph's end counts as a token)."""
        total_log10, total_tokens, per_paragraph = 0.0, 0, []
        for paragraph in paragraphs(text):
            pieces = self.segment(paragraph)
            log10 = self.model.score(" ".join(pieces), bos=True, eos=True)
            tokens = len(pieces) + 1
            per_paragraph.append(round(10 ** (-log10 / tokens), 4))
            total_log10 += log10
            total_tokens += tokens
        if total_tokens == 0:
            return math.inf, []
        return round(10 ** (-total_log10 / total_tokens), 4), per_paragraph
