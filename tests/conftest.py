from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Real Japanese prose (written for these tests), long enough to pass the demo's filters.
JA_PARAGRAPHS = [
    "鋼は鉄に炭素を加えて作られる合金であり、古くから刀や農具の材料として使われてきた。"
    "日本の刀鍛冶は、玉鋼と呼ばれる純度の高い鋼を何度も折り返して鍛えることで、しなやかで折れにくい刃を作った。",
    "言語モデルを学習するには、まず大量の文章を集めて、重複や品質の低い文書を取り除く必要がある。"
    "ひらがなの割合や文の長さといった簡単な指標でも、機械的に生成されたページの多くを見分けることができる。",
    "ガイドブックをダウンロードしてから、旅の計画を立てることにした。"
    "京都では古いお寺を巡り、大阪ではたこ焼きを食べて、最後に奈良の公園で鹿にせんべいをあげた。",
    "このツールは、ウェブから集めた文書に一つずつ識別子を付け、どのファイルのどの位置から来たのかを記録する。"
    "そのため、学習に使われた文章がどこから来たのかを、後からいつでも確かめることができる。",
]
EN_PARAGRAPH = ("Steel is an alloy of iron and carbon. It has been used for tools and weapons for centuries, "
                "and its properties depend on the amount of carbon and on how it is worked and heat treated.")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def demo_config() -> dict:
    with open(REPO / "config" / "demo.yaml", encoding="utf-8") as f:
        return copy.deepcopy(yaml.safe_load(f))


def ja_document(i: int, repeat: int = 2) -> str:
    return "\n".join(JA_PARAGRAPHS[(i + k) % len(JA_PARAGRAPHS)] for k in range(repeat))


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory):
    """A small real pipeline output: the shipped SKK manual as documents, a 1,200-piece tokenizer with
    its HF export, and train/valid token shards. Shared by the pretrain, convert and evaluate tests."""
    from hagane.config import SplitConfig, TokenizeConfig, TokenizerConfig
    from hagane.io import write_jsonl_zst
    from hagane.tokenize.encode import tokenize_shard
    from hagane.tokenizer.build import build_tokenizer

    root = tmp_path_factory.mktemp("toy")
    blocks = (REPO / "data/demo/text/skk-manual-ja.txt").read_text(encoding="utf-8").split("\n\n")
    docs = [{"id": f"d{i:04d}", "text": b, "source": "skk", "origin": {}} for i, b in enumerate(blocks) if b.strip()]
    write_jsonl_zst(root / "docs.jsonl.zst", docs)
    split = SplitConfig(validation_fraction=0.1, salt="toy")
    tok_cfg = TokenizerConfig(model_type="unigram", vocab_size=1200, character_coverage=0.995, byte_fallback=True,
                              split_digits=True, max_piece_length=16, input_sentence_size=0, seed=1, num_threads=1)
    build_tokenizer(tok_cfg, split, [root / "docs.jsonl.zst"], root / "tokenizer")
    tokenize_shard(TokenizeConfig(num_threads=1), split, root / "docs.jsonl.zst", root / "tokenizer" / "spm.model",
                   root / "tokens")
    return root


def save_random_checkpoint(root: Path, *, tie: bool = True, scale: float = 5.0, max_seq_len: int = 64, seed: int = 0):
    """A native checkpoint (step 3) of a small random model on the toy corpus's 1,200-piece vocabulary,
    its weights scaled up so that logits are far from uniform and a small error shows. Returns
    (checkpoint directory, model)."""
    import torch

    from hagane.pretrain.checkpoint import save_checkpoint
    from hagane.pretrain.model import ModelArgs, Transformer

    args = ModelArgs(vocab_size=1200, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=160,
                     max_seq_len=max_seq_len, tie_embeddings=tie)
    torch.manual_seed(seed)
    model = Transformer(args)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    optimizer = torch.optim.AdamW(model.parameters())
    return save_checkpoint(root, 3, model, optimizer, model_args=args, fingerprint="x", is_main=True), model


@pytest.fixture(scope="session")
def random_checkpoint():
    return save_random_checkpoint
