"""The evaluate stage: build the continuation task once, evaluate each converted checkpoint, summarise.

Per checkpoint, `results/evaluate/step_NNNNNNN/` holds `metrics.json` (held-out perplexity and bits per
character/byte, overall and per source; every lm-eval task's metrics), `generations.jsonl` (greedy
continuations of the configured prompts, for reading) and `_manifest.json`. `summary.json`/`summary.csv`
put all checkpoints side by side against training tokens.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pandas as pd

from hagane.config import EvaluateConfig
from hagane.errors import HaganeError
from hagane.evaluate.tasks import benchmark_task, build_continuation, continuation_task, evaluated_examples
from hagane.io import atomic_path, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest

CONTINUATION_ITEMS = "continuation.jsonl"
METRICS = "metrics.json"
GENERATIONS = "generations.jsonl"


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows),
                       encoding="utf-8")


def held_out_documents(documents: list[Path], valid_indexes: list[Path]) -> list[dict]:
    """The held-out documents' records, found by the ids in the validation token index."""
    wanted = set()
    for index in valid_indexes:
        wanted.update(pd.read_parquet(index, columns=["doc_id"])["doc_id"])
    found = [doc for path in sorted(documents) for doc in read_jsonl_zst(path) if doc["id"] in wanted]
    missing = wanted - {doc["id"] for doc in found}
    if missing:
        raise HaganeError(f"{len(missing)} held-out document(s) of the validation index are not in the given "
                          f"documents files, e.g. {sorted(missing)[0]}")
    return found


def build_continuation_items(cfg: EvaluateConfig, documents: list[Path], valid_indexes: list[Path],
                             out_dir: Path) -> dict:
    started = now()
    docs = held_out_documents(documents, valid_indexes)
    items = build_continuation(docs, cfg.continuation)
    _write_jsonl(out_dir / CONTINUATION_ITEMS, items)
    counts = {"held_out_documents": len(docs), "items": len(items), "choices": cfg.continuation.choices,
              "chance_accuracy": 1 / cfg.continuation.choices}
    write_manifest(out_dir, stage="evaluate-task", config={"evaluate": {"continuation": vars(cfg.continuation)}},
                   inputs=[*sorted(documents), *sorted(valid_indexes)], outputs=[out_dir / CONTINUATION_ITEMS],
                   counts=counts, started_at=started)
    print(f"continuation task: {len(items)} items from {len(docs)} held-out documents, "
          f"{cfg.continuation.choices} choices each")
    return counts


def task_definitions(cfg: EvaluateConfig, continuation: Path) -> tuple[list[dict], dict[str, list[int]]]:
    """lm-eval task definitions and, for tasks with a `limit`, the example indices to evaluate."""
    defs = [continuation_task(continuation)]
    samples = {}
    for task in cfg.tasks:
        defs.append(benchmark_task(task.name, task.path, num_fewshot=task.num_fewshot))
        if task.limit is not None:
            samples[task.name] = list(range(min(task.limit, evaluated_examples(task.name, task.path))))
    return defs, samples


def evaluate_model(cfg: EvaluateConfig, model_dir: Path, valid_prefixes: list[Path], continuation: Path,
                   out_dir: Path, *, step: int) -> dict:
    # torch, transformers and lm-eval load here, not when the summary or the task builder import this.
    from hagane.evaluate.harness import HaganeLM, load_model, offline, run_tasks
    from hagane.evaluate.perplexity import held_out_metrics

    started = now()
    offline()
    model, tokenizer = load_model(model_dir)
    metrics: dict = {"step": step, "held_out": held_out_metrics(model, valid_prefixes, cfg.batch_size)}
    lm = HaganeLM(model, tokenizer, batch_size=cfg.batch_size)
    defs, samples = task_definitions(cfg, continuation)
    metrics["tasks"] = run_tasks(lm, defs, seed=cfg.seed, samples=samples or None)
    metrics["tasks"]["continuation"]["chance"] = 1 / cfg.continuation.choices
    generations = [{"prompt": p, "greedy": lm.greedy(p, max_new_tokens=cfg.max_new_tokens)} for p in cfg.prompts]
    write_json(out_dir / METRICS, metrics)
    _write_jsonl(out_dir / GENERATIONS, generations)
    write_manifest(out_dir, stage="evaluate", config={"evaluate": _plain(cfg)},
                   inputs=[model_dir, continuation, *[p.with_suffix(s) for p in sorted(valid_prefixes)
                                                      for s in (".bin", ".idx.parquet")],
                           *[Path(t.path) for t in cfg.tasks]],
                   outputs=[out_dir / METRICS, out_dir / GENERATIONS], counts=headline(metrics), started_at=started)
    held = metrics["held_out"]
    cont = metrics["tasks"]["continuation"]
    print(f"evaluate step {step} ({model_dir}): held-out loss {held['loss_nats_per_token']:.4f} nats/token, "
          f"{held['bits_per_char']:.4f} bits/char; continuation acc_mutual_info {cont['acc_mutual_info']:.4f} "
          f"(chance {cont['chance']:.2f}, {cont['samples']} items)")
    return metrics


def _plain(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def headline(metrics: dict) -> dict:
    """One flat row: the held-out figures and every task metric (stderr left out), keyed task/metric."""
    held = metrics["held_out"]
    row = {"step": metrics["step"], "loss_nats_per_token": held["loss_nats_per_token"],
           "perplexity": held["perplexity"], "bits_per_char": held["bits_per_char"],
           "bits_per_byte": held["bits_per_byte"]}
    for source, m in held["by_source"].items():
        row[f"{source}/bits_per_char"] = m["bits_per_char"]
    for task, m in metrics["tasks"].items():
        for name, value in m.items():
            if not name.endswith("_stderr") and name not in ("samples", "num_fewshot", "sample_len"):
                row[f"{task}/{name}"] = value
    return row


def tokens_per_step(pretrain_metrics: Path) -> int:
    first = json.loads(Path(pretrain_metrics).read_text().splitlines()[0])
    return first["tokens"] // first["step"]  # every step takes global_batch_size × seq_len tokens


def summarize(metric_files: list[Path], pretrain_metrics: Path, out_dir: Path) -> list[dict]:
    """All checkpoints' headline figures, by step, with the training tokens each had seen."""
    per_step = tokens_per_step(pretrain_metrics)
    rows = []
    for path in metric_files:
        row = headline(json.loads(Path(path).read_text()))
        rows.append({"step": row["step"], "tokens": row["step"] * per_step,
                     **{k: v for k, v in row.items() if k != "step"}})
    rows.sort(key=lambda r: r["step"])
    write_json(out_dir / "summary.json", rows)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(out_dir / "summary.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return rows
