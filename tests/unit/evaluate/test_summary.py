"""The evaluation summary: every checkpoint's headline figures against training tokens."""

import csv
import json

import pandas as pd
import pytest

from hagane.errors import HaganeError
from hagane.evaluate.run import held_out_documents, summarize
from hagane.io import write_jsonl_zst


def metrics(step, bpc, acc):
    return {"step": step,
            "held_out": {"loss_nats_per_token": 5.0, "perplexity": 148.0, "bits_per_char": bpc, "bits_per_byte": bpc / 2,
                         "by_source": {"web": {"bits_per_char": bpc + 0.1}}},
            "tasks": {"continuation": {"acc": acc, "acc_stderr": 0.03, "samples": 100, "num_fewshot": 0,
                                       "chance": 0.25}}}


def test_summary_rows_follow_steps_with_tokens(tmp_path):
    for step, bpc, acc in ((200, 3.4, 0.4), (100, 3.7, 0.3)):
        (tmp_path / f"m{step}.json").write_text(json.dumps(metrics(step, bpc, acc)))
    (tmp_path / "train.jsonl").write_text("".join(json.dumps({"step": s, "tokens": 4096 * s}) + "\n" for s in (10, 20)))
    rows = summarize([tmp_path / "m200.json", tmp_path / "m100.json"], tmp_path / "train.jsonl", tmp_path)
    assert [r["step"] for r in rows] == [100, 200] and rows[1]["tokens"] == 819_200
    assert rows[0] == {"step": 100, "tokens": 409_600, "loss_nats_per_token": 5.0, "perplexity": 148.0,
                       "bits_per_char": 3.7, "bits_per_byte": 1.85, "web/bits_per_char": pytest.approx(3.8),
                       "continuation/acc": 0.3, "continuation/chance": 0.25}
    with open(tmp_path / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert table[1]["continuation/acc"] == "0.4" and json.loads((tmp_path / "summary.json").read_text()) == rows


def test_held_out_documents_must_all_be_found(tmp_path):
    write_jsonl_zst(tmp_path / "d.jsonl.zst", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
    pd.DataFrame({"doc_id": ["b"]}).to_parquet(tmp_path / "v.idx.parquet")
    assert [d["id"] for d in held_out_documents([tmp_path / "d.jsonl.zst"], [tmp_path / "v.idx.parquet"])] == ["b"]
    pd.DataFrame({"doc_id": ["b", "zz"]}).to_parquet(tmp_path / "v.idx.parquet")
    with pytest.raises(HaganeError, match="1 held-out document.* e.g. zz"):
        held_out_documents([tmp_path / "d.jsonl.zst"], [tmp_path / "v.idx.parquet"])
