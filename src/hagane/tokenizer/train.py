"""SentencePiece training on the training side of the deduplicated corpus."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from hagane.errors import HaganeError

from hagane.config import SplitConfig, TokenizerConfig
from hagane.io import read_jsonl_zst
from hagane.split import validation_test
from hagane.sudachi import word_splitter

# Fixed special ids, shared with the tokenize, pretrain and convert stages (and Llama's convention).
UNK, BOS, EOS, PAD = 0, 1, 2, 3
SPECIAL_PIECES = {UNK: "<unk>", BOS: "<s>", EOS: "</s>", PAD: "<pad>"}
# SentencePiece skips longer lines when training; Japanese paragraphs without breaks can be long.
MAX_SENTENCE_BYTES = 16384


RESERVED = "<|reserved_{}|>"
# pretokenize: Sudachi's words are joined by this character in the training text; SentencePiece's pieces
# never cross it (its pretokenization_delimiter, a training-time option: encoding ignores it). U+001F,
# the unit separator, does not occur in collected text; where it did, it would only add a boundary.
WORD_BOUNDARY = "\x1f"
MIXTURE_SALT = "hagane-tokenizer-mixture"


def control_symbols(cfg: TokenizerConfig) -> list[str]:
    """The control tokens after <unk> <s> </s> <pad>, in id order: special_tokens, then reserved ones."""
    names = [*cfg.special_tokens, *(RESERVED.format(i) for i in range(cfg.reserved_tokens))]
    taken = set(SPECIAL_PIECES.values()) | set(cfg.user_defined_symbols)
    clashes = sorted({n for n in names if n in taken or names.count(n) > 1})
    if clashes:
        raise HaganeError(f"tokenizer.special_tokens: {clashes} named twice (the fixed tokens are "
                          f"{list(SPECIAL_PIECES.values())}; reserved ones are {RESERVED.format('N')})")
    return names


def mixture_fractions(ratios: dict[str, float] | None, characters: dict[str, int]) -> dict[str, float]:
    """The share of each source's documents to train on so that the sources' characters stand in
    `ratios`, taking as much text as the scarcest source allows (nothing is repeated)."""
    if ratios is None:
        return {source: 1.0 for source in characters}
    unlisted, absent = sorted(set(characters) - set(ratios)), sorted(set(ratios) - set(characters))
    if unlisted:
        raise HaganeError(f"tokenizer.source_ratios has no ratio for source(s) {unlisted} of the corpus; "
                          "give each one (0 leaves a source out)")
    if absent:
        raise HaganeError(f"tokenizer.source_ratios names {absent}, which have no training documents (the "
                          f"corpus has {sorted(characters)})")
    total = sum(ratios.values())
    if total <= 0:
        raise HaganeError("tokenizer.source_ratios: every ratio is 0; nothing to train on")
    wanted = {source: ratio / total for source, ratio in ratios.items() if ratio > 0}
    empty = sorted(s for s in wanted if characters[s] == 0)
    if empty:
        raise HaganeError(f"tokenizer.source_ratios: source(s) {empty} have no training text")
    # The largest total that gives every source its share without using any document twice.
    budget = min(characters[s] / share for s, share in wanted.items())
    return {s: min(1.0, wanted[s] * budget / characters[s]) if s in wanted else 0.0 for s in characters}


def in_sample(doc_id: str, fraction: float) -> bool:
    """Whether a document is in its source's sample: by hash of its id, like the split, with its own salt."""
    if fraction >= 1.0:
        return True
    digest = hashlib.sha256(f"{MIXTURE_SALT}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def training_documents(shards: Iterable[Path], split: SplitConfig) -> Iterable[dict]:
    held_out = validation_test(split)
    for shard in shards:
        for doc in read_jsonl_zst(shard):
            if not held_out(doc["id"]):
                yield doc


def word_units(words: list[str]) -> list[str]:
    """Sudachi's words with each run of whitespace joined to the word after it (SentencePiece marks a
    space as the start of the next piece, ▁word), and trailing whitespace to the last word."""
    units, pending = [], ""
    for word in words:
        if word.isspace():
            pending += word
        else:
            units.append(pending + word)
            pending = ""
    if pending:
        if units:
            units[-1] += pending
        else:
            units.append(pending)
    return units


def write_training_text(cfg: TokenizerConfig, split: SplitConfig, shards: list[Path], out: Path) -> dict:
    """The training lines (one per non-empty line of each sampled training document) → `out`; returns
    the counts: lines, and characters per source available and used."""
    characters: dict[str, int] = {}
    if cfg.source_ratios is not None:
        for doc in training_documents(shards, split):
            characters[doc["source"]] = characters.get(doc["source"], 0) + len(doc["text"])
    fractions = mixture_fractions(cfg.source_ratios, characters) if cfg.source_ratios is not None else {}
    words = word_splitter(cfg.sudachi_mode) if cfg.pretokenize == "sudachi" else None
    used: dict[str, int] = {}
    n_lines = 0
    with open(out, "w", encoding="utf-8") as f:
        for doc in training_documents(shards, split):
            source = doc["source"]
            if not in_sample(doc["id"], fractions.get(source, 1.0)):
                continue
            used[source] = used.get(source, 0) + len(doc["text"])
            for line in doc["text"].split("\n"):
                if not line.strip():
                    continue
                f.write((WORD_BOUNDARY.join(word_units(words(line))) if words else line) + "\n")
                n_lines += 1
    total = sum(used.values()) or 1
    sources = {s: {"characters_used": used.get(s, 0), "share": round(used.get(s, 0) / total, 4),
                   **({"characters": characters[s], "ratio": cfg.source_ratios[s]} if characters else {})}
               for s in sorted(set(used) | set(characters))}
    return {"training_lines": n_lines, "training_sources": sources}


def train_sentencepiece(cfg: TokenizerConfig, split: SplitConfig, shards: list[Path], model_path: Path) -> dict:
    """Train and write `model_path` (+ `.vocab` beside it). Returns the counts of write_training_text."""
    control_symbols(cfg)  # fail on a clash before reading the corpus
    # The training text is as large as the training corpus: it goes beside the output, on the file system
    # that holds the corpus, not into the node's temporary folder (often small, or memory, on cluster nodes).
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hagane-spm-", dir=model_path.parent) as tmp:
        corpus = Path(tmp) / "corpus.txt"
        counts = write_training_text(cfg, split, shards, corpus)
        n_lines = counts["training_lines"]
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
    return counts


def user_defined_ids(sp: spm.SentencePieceProcessor) -> set[int]:
    """Ids of user-defined pieces (SentencePiece's Python API has no is_user_defined)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(sp.serialized_model_proto())
    return {i for i, piece in enumerate(proto.pieces) if piece.type == pb.ModelProto.SentencePiece.USER_DEFINED}


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
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=cfg.add_dummy_prefix,
        allow_whitespace_only_pieces=cfg.allow_whitespace_only_pieces, split_by_whitespace=cfg.split_by_whitespace,
        user_defined_symbols=list(cfg.user_defined_symbols), control_symbols=control_symbols(cfg),
        pretokenization_delimiter=WORD_BOUNDARY if cfg.pretokenize == "sudachi" else "",
        unk_id=UNK, bos_id=BOS, eos_id=EOS, pad_id=PAD,
        unk_piece=SPECIAL_PIECES[UNK], bos_piece=SPECIAL_PIECES[BOS], eos_piece=SPECIAL_PIECES[EOS],
        pad_piece=SPECIAL_PIECES[PAD], minloglevel=1,
    )
