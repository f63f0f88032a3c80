import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_file
from hagane.collect.records import document_id
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst


def source(kind, id_field=None, text_field="text"):
    entry = {"name": "s", "type": kind, "paths": ["x"], "text_field": text_field}
    return source_config({**entry, "id_field": id_field} if id_field else entry)


def test_jsonl_with_an_id_field_quarantines_each_fault_with_its_line(tmp_path):
    lines = [json.dumps({"uid": "a", "body": JA_PARAGRAPHS[0]}, ensure_ascii=False),
             '{"uid": "b", "body": "閉じていない',
             json.dumps({"uid": "c", "title": "本文なし"}, ensure_ascii=False),
             "",
             json.dumps({"body": JA_PARAGRAPHS[1]}, ensure_ascii=False),
             json.dumps({"uid": "a", "body": JA_PARAGRAPHS[2]}, ensure_ascii=False),
             json.dumps(["not", "an", "object"]),
             json.dumps({"uid": 7, "body": JA_PARAGRAPHS[3]}, ensure_ascii=False)]
    f = tmp_path / "c.jsonl.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write("\n".join(lines) + "\n")
    acc = collect_file(source("jsonl", "uid", "body"), f, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 7, "documents": 2, "skipped": {},
                             "quarantined": {"duplicate_record_id": 1, "malformed_record": 1, "missing_id_field": 1,
                                             "missing_text_field": 1, "not_an_object": 1}}
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [d["origin"]["record_id"] for d in docs] == ["a", "7"]
    assert docs[0]["id"] == document_id("s", "c.jsonl.gz", "id:a") and docs[0]["origin"]["line"] == 1
    where = {q["reason"]: q["locator"] for q in read_jsonl_zst(tmp_path / "out" / QUARANTINE)}
    assert where == {"malformed_record": "line:2", "missing_text_field": "line:3", "missing_id_field": "line:5",
                     "duplicate_record_id": "line:6", "not_an_object": "line:7"}


def test_parquet_rows_and_a_missing_column(tmp_path):
    f = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": [JA_PARAGRAPHS[0], None, JA_PARAGRAPHS[1]], "n": [1, 2, 3]}), f)
    acc = collect_file(source("parquet"), f, tmp_path, tmp_path / "out")
    assert acc.documents == 2 and dict(acc.quarantined) == {"missing_text_field": 1}
    assert [d["origin"]["row"] for d in read_jsonl_zst(tmp_path / "out" / DOCUMENTS)] == [0, 2]
    with pytest.raises(HaganeError, match=r"c\.parquet: no column 'body'"):
        collect_file(source("parquet", text_field="body"), f, tmp_path, tmp_path / "out2")


def test_jsonl_line_over_the_limit_is_quarantined_and_reading_goes_on(tmp_path):
    huge = json.dumps({"text": "鋼" * 1_000_000}, ensure_ascii=False)  # 3 MB of UTF-8
    f = tmp_path / "c.jsonl"
    f.write_text("\n".join([huge, json.dumps({"text": JA_PARAGRAPHS[0]}, ensure_ascii=False)]) + "\n", encoding="utf-8")
    small = source_config({"name": "s", "type": "jsonl", "paths": ["x"], "max_record_mb": 1})
    acc = collect_file(small, f, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 2, "documents": 1, "skipped": {}, "quarantined": {"record_too_long": 1}}
    table = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["鋼" * 1_000_000, JA_PARAGRAPHS[0]]}), table)
    small = source_config({"name": "s", "type": "parquet", "paths": ["x"], "max_record_mb": 1})
    acc = collect_file(small, table, tmp_path, tmp_path / "out2")
    assert acc.documents == 1 and dict(acc.quarantined) == {"record_too_long": 1}
