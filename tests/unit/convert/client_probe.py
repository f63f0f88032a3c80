"""What a transformers user sees of a model directory: run in this process (the venv's transformers 5) and
as a script under another transformers (`PYTHONPATH=.build/transformers4 python client_probe.py DIR OUT`),
so that tests/unit/convert/test_clients.py compares the two. Imports nothing from Hagane: a downloader
of the published directory has only transformers and torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Japanese prose, kept spaces and a line break, Latin, digits and full-width letters, an emoji (byte
# fallback), and a literal control token of the tokenizer (parsed as that token by default in HF); each
# within the test model's 64-token context.
TEXTS = [
    "日本語の文章です。",
    "鋼は鉄に炭素を加えた合金であり、 古くから  刀の材料とされた。\n改行の後。",
    "Steel 2024 ＡＢＣ ガイドブック",
    "寿司🍣を食べた",
    "<|user|>質問です",
]


def probe(model_dir: str | Path) -> tuple[dict, list]:
    """(what the tokenizer and model report, the fp32 logits of each text's ids)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32).eval()
    ids = [tok(text).input_ids for text in TEXTS]
    report = {
        "transformers": transformers.__version__,
        "tokenizer_class": type(tok).__name__,
        "model_class": type(model).__name__,
        "model_max_length": tok.model_max_length,
        "special_ids": {name: getattr(tok, f"{name}_token_id") for name in ("bos", "eos", "unk", "pad")},
        "all_special_tokens": sorted(tok.all_special_tokens),
        "ids": ids,
        "decoded": [tok.decode(i, skip_special_tokens=True) for i in ids],
        "without_special": [tok(text, add_special_tokens=False).input_ids for text in TEXTS],
        # The rotary frequencies as the model applies them (a reader that misses the base falls back to 10000).
        "rotary_inv_freq": model.model.rotary_emb.inv_freq.tolist(),
    }
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([i])).logits[0] for i in ids]
    return report, logits


if __name__ == "__main__":
    import torch

    model_dir, out = sys.argv[1], Path(sys.argv[2])
    report, logits = probe(model_dir)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False))
    torch.save(logits, out / "logits.pt")
