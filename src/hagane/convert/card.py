"""The model card (`README.md` of a Hugging Face model directory): provenance that travels with the model.

Every fact comes from the manifests of the stages that made the model — the training data by source with
document and token counts, the hash of the pretrain manifest (which lists every training shard with its
sha256, so `hagane audit verify` can follow it back to the raw files), the training and tokenizer
configuration, the code version — and, once the model is evaluated, the evaluation results.
"""

from __future__ import annotations

import json
from pathlib import Path

from hagane.io import sha256_file


def training_provenance(pretrain_manifest: Path, tokenize_manifests: list[Path], tokenizer_manifest: Path) -> dict:
    """The facts a model card states, from the manifests (tokenize manifests lie at
    results/tokenize/<source>/<part>/_manifest.json)."""
    pretrain = json.loads(Path(pretrain_manifest).read_text())
    tokenizer = json.loads(Path(tokenizer_manifest).read_text())
    sources: dict[str, dict] = {}
    for path in sorted(map(Path, tokenize_manifests)):
        counts = json.loads(path.read_text())["counts"]
        entry = sources.setdefault(path.parent.parent.name, {"shards": 0, "documents": 0, "tokens": 0})
        entry["shards"] += 1
        entry["documents"] += counts["train"]["documents"]
        entry["tokens"] += counts["train"]["tokens"]
    return {
        "data": {"pretrain_manifest": str(pretrain_manifest), "pretrain_manifest_sha256": sha256_file(pretrain_manifest),
                 "sources": sources, "training_shards": sum(s["shards"] for s in sources.values())},
        "training": {**pretrain["config"]["pretrain"], "world_size": pretrain["counts"]["world_size"],
                     "precision": pretrain["counts"]["precision"]},
        "tokens_per_step": pretrain["counts"]["tokens"] // max(pretrain["counts"]["steps"], 1),
        "tokenizer": {**tokenizer["config"].get("tokenizer", {}), "counts": tokenizer.get("counts", {})},
        "code": pretrain["code"],
    }


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def render_model_card(facts: dict) -> str:
    a = facts["model_args"]
    step = facts["step"]
    training = facts.get("training", {})
    tokens = step * facts["tokens_per_step"] if "tokens_per_step" in facts else None
    license_ = facts.get("license") or "other"
    parts = [
        "---",
        "language:\n- ja",
        f"license: {license_}",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags:\n- hagane\n- llama",
        "---",
        "",
        f"# {facts['name']}",
        "",
        f"A {facts['parameters']:,}-parameter decoder-only language model (Llama architecture), trained from "
        f"scratch with Hagane: checkpoint at step {step:,}"
        + (f" of {training['steps']:,}" if "steps" in training else "")
        + (f", {tokens:,} training tokens seen." if tokens is not None else "."),
        "",
        "## Architecture",
        "",
        _table(["hidden size", "layers", "heads", "KV heads", "FFN size", "vocabulary", "context", "tied embeddings"],
               [[a["dim"], a["n_layers"], a["n_heads"], a["n_kv_heads"], a["ffn_dim"], a["vocab_size"],
                 a["max_seq_len"], a["tie_embeddings"]]]),
        "",
    ]
    if "data" in facts:
        data = facts["data"]
        rows = [[name, f"{s['documents']:,}", f"{s['tokens']:,}", s["shards"]] for name, s in data["sources"].items()]
        total = [sum(s[k] for s in data["sources"].values()) for k in ("documents", "tokens", "shards")]
        rows.append(["**total**", f"{total[0]:,}", f"{total[1]:,}", total[2]])
        parts += [
            "## Training data",
            "",
            _table(["source", "documents", "tokens", "shards"], rows),
            "",
            f"The training shards, each with its sha256, are listed in `{data['pretrain_manifest']}` "
            f"(sha256 `{data['pretrain_manifest_sha256']}`); `hagane audit verify` follows them back to the raw "
            "source files, and `hagane audit step N` names the documents of any training step.",
            "",
        ]
    if training:
        parts += ["## Training configuration", "", "```json",
                  json.dumps(training, indent=2, sort_keys=True, ensure_ascii=False), "```", ""]
    if "tokenizer" in facts:
        parts += ["## Tokenizer", "", "SentencePiece, shipped here as `tokenizer.model` and as a fast "
                  "`tokenizer.json`; BOS is added in front of every text, as in training.", "", "```json",
                  json.dumps(facts["tokenizer"], indent=2, sort_keys=True, ensure_ascii=False), "```", ""]
    parts += ["## Evaluation", ""]
    evaluation = facts.get("evaluation")
    if evaluation:
        rows = [[task, metric, _number(value)] for task, metrics in evaluation.items()
                for metric, value in metrics.items()]
        parts += [_table(["task", "metric", "value"], rows), ""]
    else:
        parts += ["Not evaluated in this directory: the evaluation of this checkpoint is in "
                  f"`results/evaluate/step_{step:07d}/`.", ""]
    parts += [
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "tokenizer = AutoTokenizer.from_pretrained(PATH)",
        "model = AutoModelForCausalLM.from_pretrained(PATH)",
        'ids = tokenizer("日本語の文章", return_tensors="pt").input_ids',
        "print(tokenizer.decode(model.generate(ids, max_new_tokens=32)[0]))",
        "```",
        "",
    ]
    if "code" in facts:
        code = facts["code"]
        parts += ["## Provenance", "",
                  f"Made by Hagane {code.get('version', '?')} (git commit {code.get('git_commit') or 'unknown'}"
                  f"{', with uncommitted changes' if code.get('git_dirty') else ''}).", ""]
    return "\n".join(parts)


def write_model_card(path: Path, facts: dict) -> None:
    Path(path).write_text(render_model_card(facts), encoding="utf-8")
