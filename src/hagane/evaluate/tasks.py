"""Evaluation tasks as lm-eval task definitions, reading local files only.

Two kinds:
- `continuation`, built here from the held-out documents (nothing to download): the context is the
  text before a sentence boundary, the choices are the true next passage and passages from other
  held-out documents, all cut to the same length so that no choice wins by being short. Every model gets
  a meaningful accuracy above chance (1 / choices) once it has learnt anything about its data.
- The Japanese benchmarks of the leaderboards, in the few-shot settings of the Japanese lm-eval
  harness (Stability AI's fork, which the Japanese LLM papers of 2023–2024 report): JCommonsenseQA 3-shot,
  JNLI 3-shot, MARC-ja 3-shot, JSQuAD 2-shot, XWinograd-ja 0-shot. Each reads files the user downloaded
  (README.md says from where and in which format); the prompts are written for Hagane.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import string
from collections import Counter
from pathlib import Path

from hagane.config import ContinuationConfig
from hagane.errors import HaganeError

# ----------------------------------------------------------------------------------- continuation task

BOUNDARY = re.compile(r"(?<=[。！？!?\n])")


def _boundaries(text: str, start: int, stop: int) -> list[int]:
    return [m.start() for m in BOUNDARY.finditer(text, start, stop) if start <= m.start() <= stop]


def passages(doc_id: str, text: str, s: ContinuationConfig) -> list[tuple[str, str]]:
    """(context, continuation) pairs cut from one document at sentence boundaries, each pair using its own
    stretch of text: the context is the `context_chars` before a boundary (at least half of that), the
    continuation the `continuation_chars` after it."""
    out, pos = [], 0
    need = s.continuation_chars
    while True:
        candidates = _boundaries(text, pos + s.context_chars // 2, len(text) - need)
        if not candidates:
            return out
        cut = next((b for b in candidates if b - pos >= s.context_chars), candidates[-1])
        context = text[max(pos, cut - s.context_chars):cut]
        continuation = text[cut:cut + need]
        if context.strip() and continuation.strip():
            out.append((context, continuation))
        pos = cut + need


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def build_continuation(documents: list[dict], s: ContinuationConfig) -> list[dict]:
    """Items {id, doc_id, source, context, choices, label}, the same for the same documents and settings.
    Distractors are the true continuations of items from other documents."""
    if s.choices < 2:
        raise HaganeError(f"evaluate.continuation.choices must be at least 2, not {s.choices}")
    pool = []
    for doc in sorted(documents, key=lambda d: d["id"]):
        for k, (context, continuation) in enumerate(passages(doc["id"], doc["text"], s)):
            pool.append({"id": f"{doc['id']}#{k}", "doc_id": doc["id"], "source": doc.get("source", ""),
                         "context": context, "continuation": continuation})
    if len({p["doc_id"] for p in pool}) < s.choices:
        raise HaganeError(f"the continuation task needs passages from at least {s.choices} held-out documents "
                          f"(evaluate.continuation.choices), found {len({p['doc_id'] for p in pool})}; "
                          "raise split.validation_fraction or shorten context_chars/continuation_chars")
    chosen = sorted(pool, key=lambda p: hashlib.sha256(f"{s.seed}:{p['id']}".encode()).hexdigest())[:s.max_items]
    items = []
    for item in sorted(chosen, key=lambda p: p["id"]):
        rng = _rng(s.seed, item["id"])
        others = [p["continuation"] for p in pool if p["doc_id"] != item["doc_id"]]
        distractors = rng.sample(sorted(set(others) - {item["continuation"]}), s.choices - 1)
        label = rng.randrange(s.choices)
        choices = distractors[:label] + [item["continuation"]] + distractors[label:]
        items.append({"id": item["id"], "doc_id": item["doc_id"], "source": item["source"],
                      "context": item["context"], "choices": choices, "label": label})
    return items


def continuation_task(path: Path) -> dict:
    return {
        "task": "continuation", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(path)}},
        "test_split": "test", "output_type": "multiple_choice", "num_fewshot": 0,
        "doc_to_text": "{{context}}", "doc_to_choice": "{{choices}}", "doc_to_target": "{{label}}",
        "target_delimiter": "", "metadata": {"version": 1},
        # acc_mutual_info ranks choices by log p(choice | context) − log p(choice): how much the context
        # raised each passage's probability, which discounts passages that are merely common text.
        "metric_list": [*_mc_metrics(), {"metric": "acc_mutual_info", "aggregation": "mean", "higher_is_better": True}],
    }


# ----------------------------------------------------------------------------------- Japanese benchmarks

def _mc_metrics() -> list[dict]:
    return [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}]


def jcommonsenseqa_text(doc: dict) -> str:
    choices = "、".join(doc[f"choice{i}"] for i in range(5))
    return f"質問：{doc['question']}\n選択肢：{choices}\n回答："


def jcommonsenseqa_choices(doc: dict) -> list[str]:
    return [doc[f"choice{i}"] for i in range(5)]


JNLI_LABELS = {"entailment": "含意", "contradiction": "矛盾", "neutral": "中立"}


def jnli_text(doc: dict) -> str:
    return f"前提：{doc['sentence1']}\n仮説：{doc['sentence2']}\n関係："


def jnli_target(doc: dict) -> int:
    return list(JNLI_LABELS).index(doc["label"])


MARC_LABELS = {"positive": "肯定", "negative": "否定"}


def marc_text(doc: dict) -> str:
    return f"製品レビュー：{doc['sentence']}\n評価："


def marc_target(doc: dict) -> int:
    label = doc["label"]
    return int(label) if isinstance(label, int) else list(MARC_LABELS).index(label)


def xwinograd_split(doc: dict) -> tuple[int, str]:
    at = doc["sentence"].index("_")
    return at, doc["sentence"][at + 1:].lstrip()


def xwinograd_label(doc: dict) -> int:
    return int(doc["answer"]) - 1


def xwinograd_choices(doc: dict) -> list[str]:
    at, _ = xwinograd_split(doc)
    return [doc["sentence"][:at] + doc[f"option{i}"] for i in (1, 2)]


def xwinograd_continuation(doc: dict) -> str:
    return xwinograd_split(doc)[1]


def squad_flatten(dataset):
    """SQuAD-format articles (JSQuAD's files) → one row per answerable question."""
    from datasets import Dataset

    rows = []
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                rows.append({"id": qa["id"], "title": article.get("title", ""), "context": paragraph["context"],
                             "question": qa["question"], "answers": [a["text"] for a in qa["answers"]]})
    return Dataset.from_list(rows)


def jsquad_text(doc: dict) -> str:
    # JSQuAD contexts start with the article title and " [SEP] "; show the plain text.
    context = doc["context"].split(" [SEP] ", 1)[-1]
    return f"文章：{context}\n質問：{doc['question']}\n回答："


def _normalize_answer(text: str) -> str:
    text = re.sub(r"\s+", "", text)
    return "".join(ch for ch in text if ch not in string.punctuation and ch not in "。、「」『』（）・")


def char_f1(prediction: str, gold: str) -> float:
    """F1 over characters, the JSQuAD measure (Japanese has no spaces to split words on)."""
    pred, ref = Counter(_normalize_answer(prediction)), Counter(_normalize_answer(gold))
    common = sum((pred & ref).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def jsquad_results(doc: dict, results: list[str]) -> dict:
    prediction = results[0].strip()
    golds = doc["answers"]
    return {"exact_match": float(any(_normalize_answer(prediction) == _normalize_answer(g) for g in golds)),
            "char_f1": max(char_f1(prediction, g) for g in golds)}


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A benchmark's published setting and the files it reads from the directory the user names."""
    files: dict[str, str]   # split → file name (JSON Lines unless `field` says it is one JSON object)
    num_fewshot: int
    definition: dict
    field: str | None = None
    source: str = ""


def _mc(text, choices, target, **extra) -> dict:
    return {"output_type": "multiple_choice", "doc_to_text": text, "doc_to_choice": choices,
            "doc_to_target": target, "target_delimiter": "", "metric_list": _mc_metrics(), **extra}


BENCHMARKS: dict[str, Benchmark] = {
    "jcommonsenseqa": Benchmark(
        files={"train": "train-v1.1.json", "validation": "valid-v1.1.json"}, num_fewshot=3,
        source="JGLUE v1.1 (github.com/yahoojapan/JGLUE, datasets/jcommonsenseqa-v1.1)",
        definition=_mc(jcommonsenseqa_text, jcommonsenseqa_choices, "{{label}}")),
    "jnli": Benchmark(
        files={"train": "train-v1.1.json", "validation": "valid-v1.1.json"}, num_fewshot=3,
        source="JGLUE v1.1 (datasets/jnli-v1.1)",
        definition=_mc(jnli_text, list(JNLI_LABELS.values()), jnli_target)),
    "marc_ja": Benchmark(
        files={"train": "train-v1.0.json", "validation": "valid-v1.0.json"}, num_fewshot=3,
        source="JGLUE MARC-ja, built with JGLUE's preprocessing script (datasets/marc_ja-v1.0)",
        definition=_mc(marc_text, list(MARC_LABELS.values()), marc_target)),
    "xwinograd_ja": Benchmark(
        files={"test": "test.jsonl"}, num_fewshot=0,
        source="XWinograd, Japanese split (the `jp` subset of Muennighoff/xwinograd)",
        definition=_mc(xwinograd_label, xwinograd_choices, xwinograd_continuation)),
    "jsquad": Benchmark(
        files={"train": "train-v1.1.json", "validation": "valid-v1.1.json"}, num_fewshot=2, field="data",
        source="JGLUE v1.1 (datasets/jsquad-v1.1), SQuAD format",
        definition={"output_type": "generate_until", "doc_to_text": jsquad_text,
                    "doc_to_target": lambda doc: doc["answers"][0], "target_delimiter": "",
                    "process_docs": squad_flatten, "process_results": jsquad_results,
                    "generation_kwargs": {"until": ["\n"], "max_gen_toks": 32, "do_sample": False},
                    "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True},
                                    {"metric": "char_f1", "aggregation": "mean", "higher_is_better": True}]}),
}


def benchmark_task(name: str, path: str | Path, *, num_fewshot: int | None = None) -> dict:
    """An lm-eval task definition for benchmark `name` reading its files from directory `path`."""
    if name not in BENCHMARKS:
        raise HaganeError(f"evaluate.tasks: unknown task {name!r}; known: {', '.join(sorted(BENCHMARKS))} "
                          "(the continuation task is configured under evaluate.continuation)")
    bench = BENCHMARKS[name]
    root = Path(path)
    missing = [f for f in bench.files.values() if not (root / f).is_file()]
    if missing:
        raise HaganeError(f"evaluate.tasks {name}: {root} lacks {', '.join(missing)} "
                          f"(expected the files of {bench.source}; see README.md, Evaluation)")
    splits = list(bench.files)
    kwargs: dict = {"data_files": {split: str(root / f) for split, f in bench.files.items()}}
    if bench.field:
        kwargs["field"] = bench.field
    shots = bench.num_fewshot if num_fewshot is None else num_fewshot
    task = {"task": name, "dataset_path": "json", "dataset_kwargs": kwargs, "num_fewshot": shots,
            "fewshot_delimiter": "\n\n", "metadata": {"version": 1}, **bench.definition}
    evaluated = "validation" if "validation" in splits else "test"
    task["validation_split" if evaluated == "validation" else "test_split"] = evaluated
    if "train" in splits:
        task["training_split"] = "train"
        task["fewshot_split"] = "train"
    elif shots:
        raise HaganeError(f"evaluate.tasks {name}: {shots}-shot needs a training split, which {name} has not")
    return task


def evaluated_examples(name: str, path: str | Path) -> int:
    """How many examples benchmark `name` evaluates in directory `path` (its validation or test split)."""
    import json

    bench = BENCHMARKS[name]
    split = "validation" if "validation" in bench.files else "test"
    file = Path(path) / bench.files[split]
    if bench.field:  # SQuAD format: answerable questions of all articles
        data = json.loads(file.read_text(encoding="utf-8"))[bench.field]
        return sum(1 for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]
                   if qa["answers"] and not qa.get("is_impossible"))
    with open(file, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())
