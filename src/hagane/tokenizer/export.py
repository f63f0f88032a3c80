"""A Hugging Face tokenizer directory built from the SentencePiece model, and the check that it agrees.

The fast tokenizer is assembled with the `tokenizers` library from the SentencePiece pieces and scores,
mirroring exactly the settings `train.py` uses (identity normalisation, the dummy prefix or not, kept
spaces, byte fallback, single-character user-defined pieces, control tokens as special tokens). The
export is accepted only if pieces, ids and decoded text equal SentencePiece's own on every held-out
document.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb
from tokenizers import Tokenizer, decoders, models, normalizers, processors

from hagane.errors import HaganeError
from hagane.tokenizer.train import BOS, EOS, PAD, SPECIAL_PIECES, UNK

SPACE = "▁"


def _bpe_merges(sp: spm.SentencePieceProcessor, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """Merges in SentencePiece's priority order: a piece's merge ranks by the piece's own id."""
    merges = []
    for piece, pid in vocab.items():
        if sp.is_control(pid) or sp.is_byte(pid) or sp.is_unknown(pid):
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                merges.append((vocab[piece], vocab[left], vocab[right], left, right))
    merges.sort()
    return [(left, right) for *_, left, right in merges]


def control_pieces(sp: spm.SentencePieceProcessor) -> list[str]:
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i)]


def build_fast_tokenizer(model_file: Path) -> Tokenizer:
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
    proto = pb.ModelProto()
    proto.ParseFromString(model_file.read_bytes())
    model_type = proto.trainer_spec.model_type
    if model_type == pb.TrainerSpec.UNIGRAM:
        model = models.Unigram(pieces, unk_id=UNK, byte_fallback=proto.trainer_spec.byte_fallback)
    elif model_type == pb.TrainerSpec.BPE:
        model = models.BPE(vocab=vocab, merges=_bpe_merges(sp, vocab), unk_token=SPECIAL_PIECES[UNK],
                           fuse_unk=True, byte_fallback=proto.trainer_spec.byte_fallback)
    else:
        raise HaganeError(f"{model_file}: SentencePiece model type {model_type} has no Hugging Face export")
    tok = Tokenizer(model)
    dummy_prefix = proto.normalizer_spec.add_dummy_prefix
    steps = [normalizers.Replace(" ", SPACE)]
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), *steps] if dummy_prefix else steps)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     *([decoders.Strip(" ", 1, 0)] if dummy_prefix else [])])
    # <unk> and every control piece (<s>, </s>, <pad>, special_tokens, reserved ones) are special tokens.
    # User-defined pieces are single characters (the schema allows no others): ordinary vocabulary
    # entries that no merge involves, so both libraries keep them whole.
    tok.add_special_tokens([SPECIAL_PIECES[UNK], *control_pieces(sp)])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIAL_PIECES[BOS]} $A", pair=f"{SPECIAL_PIECES[BOS]} $A {SPECIAL_PIECES[BOS]} $B",
        special_tokens=[(SPECIAL_PIECES[BOS], BOS)])
    return tok


def export_hf_tokenizer(model_file: Path, out_dir: Path) -> None:
    """Write a directory that `transformers.AutoTokenizer.from_pretrained` loads offline."""
    from transformers import PreTrainedTokenizerFast

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    extra = [p for p in control_pieces(sp) if p not in SPECIAL_PIECES.values()]
    hf = PreTrainedTokenizerFast(
        tokenizer_object=build_fast_tokenizer(model_file), additional_special_tokens=extra, bos_token=SPECIAL_PIECES[BOS],
        eos_token=SPECIAL_PIECES[EOS], unk_token=SPECIAL_PIECES[UNK], pad_token=SPECIAL_PIECES[PAD],
        add_bos_token=True, add_eos_token=False, clean_up_tokenization_spaces=False)
    hf.save_pretrained(str(out_dir))
    shutil.copyfile(model_file, out_dir / "tokenizer.model")


def verify_hf_tokenizer(model_file: Path, hf_dir: Path, texts: Iterable[str]) -> dict:
    """Compare the HF tokenizer with SentencePiece on every text; raise on the first disagreement."""
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    hf = AutoTokenizer.from_pretrained(str(hf_dir))
    n_docs = n_tokens = 0
    for n_docs, text in enumerate(texts, start=1):
        want = sp.encode(text)
        # Text is text: a literal "</s>" in a document is encoded as characters, as SentencePiece did
        # for the training data (HF parses special tokens in text unless told not to).
        got = hf.encode(text, add_special_tokens=False, split_special_tokens=True)
        if got != want:
            at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            raise HaganeError(
                f"HF tokenizer in {hf_dir} disagrees with {model_file} on held-out document {n_docs} at token "
                f"{at}: HF {hf.convert_ids_to_tokens(got[at:at + 5])} vs SentencePiece "
                f"{[sp.id_to_piece(i) for i in want[at:at + 5]]}")
        if hf.convert_ids_to_tokens(got) != [sp.id_to_piece(i) for i in want]:
            raise HaganeError(f"HF tokenizer pieces differ from SentencePiece's on held-out document {n_docs}")
        if hf.decode(got) != sp.decode(want):
            raise HaganeError(f"HF tokenizer decodes held-out document {n_docs} differently from SentencePiece")
        with_special = hf.encode(text)
        if not with_special or with_special[0] != BOS:
            raise HaganeError(f"HF tokenizer in {hf_dir} does not add BOS ({SPECIAL_PIECES[BOS]}) by default")
        n_tokens += len(want)
    if n_docs == 0:
        raise HaganeError("no held-out documents to verify the HF tokenizer on; raise split.validation_fraction")
    return {"documents_checked": n_docs, "tokens_checked": n_tokens}
