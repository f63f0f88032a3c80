"""SentencePiece training on the training side of the deduplicated corpus."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from hagane.errors import HaganeError

from hagane.config import SplitConfig, TokenizerConfig
from hagane.io import read_jsonl_zst
from hagane.split import is_validation

# Fixed special ids, shared with the tokenize, pretrain and convert stages (and Llama's convention).
UNK, BOS, EOS, PAD = 0, 1, 2, 3
SPECIAL_PIECES = {UNK: "<unk>", BOS: "<s>", EOS: "</s>", PAD: "<pad>"}
# SentencePiece skips longer lines when training; Japanese paragraphs without breaks can be long.
MAX_SENTENCE_BYTES = 16384


def training_lines(shards: Iterable[Path], split: SplitConfig) -> Iterable[str]:
    for shard in shards:
        for doc in read_jsonl_zst(shard):
            if is_validation(doc["id"], split):
                continue
            yield from (line for line in doc["text"].split("\n") if line.strip())


def train_sentencepiece(cfg: TokenizerConfig, split: SplitConfig, shards: list[Path], model_path: Path) -> int:
    """Train and write `model_path` (+ `.vocab` beside it). Returns the number of training lines."""
    with tempfile.TemporaryDirectory(prefix="hagane-spm-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        n_lines = 0
        with open(corpus, "w", encoding="utf-8") as f:
            for line in training_lines(shards, split):
                f.write(line + "\n")
                n_lines += 1
        if n_lines == 0:
            raise HaganeError("no training text for the tokenizer: every document fell on the validation side "
                              "or the corpus is empty")
        spm.set_random_generator_seed(cfg.seed)
        try:
            _train(cfg, corpus, Path(tmp) / "spm")
        except RuntimeError as err:
            # SentencePiece says what is wrong (e.g. "Vocabulary size too high (8000). Please set it to a
            # value <= 2178"): pass it on with the config key to change.
            raise HaganeError(f"SentencePiece training failed on {n_lines} lines: {err}; adjust tokenizer.vocab_size "
                              "or tokenizer.character_coverage, or give the tokenizer more text") from None
        strip_temporary_paths(Path(tmp) / "spm.model")
        model_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".model", ".vocab"):
            tmp_out = model_path.with_name(f".{model_path.stem}{suffix}.tmp")
            shutil.copyfile(Path(tmp) / f"spm{suffix}", tmp_out)
            tmp_out.replace(model_path.with_suffix(suffix))
    return n_lines


def strip_temporary_paths(model_file: Path) -> None:
    """SentencePiece records its input file and output prefix in the model; ours are random temporary
    paths, which would make the same config give different bytes."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    proto.trainer_spec.model_prefix = "spm"
    del proto.trainer_spec.input[:]
    proto.trainer_spec.input.append("corpus.txt")
    model_file.write_bytes(proto.SerializeToString())


def _train(cfg: TokenizerConfig, corpus: Path, prefix: Path) -> None:
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type=cfg.model_type,
        vocab_size=cfg.vocab_size, character_coverage=cfg.character_coverage,
        byte_fallback=cfg.byte_fallback, split_digits=cfg.split_digits,
        max_sentencepiece_length=cfg.max_piece_length, input_sentence_size=cfg.input_sentence_size,
        shuffle_input_sentence=True, num_threads=cfg.num_threads, max_sentence_length=MAX_SENTENCE_BYTES,
        # The text is NFKC already (collect); identity normalisation and kept whitespace make the
        # model reproducible exactly by the Hugging Face tokenizer, without a precompiled charsmap.
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        unk_id=UNK, bos_id=BOS, eos_id=EOS, pad_id=PAD,
        unk_piece=SPECIAL_PIECES[UNK], bos_piece=SPECIAL_PIECES[BOS], eos_piece=SPECIAL_PIECES[EOS],
        pad_piece=SPECIAL_PIECES[PAD], minloglevel=1,
    )
