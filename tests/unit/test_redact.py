"""PII redaction as a stage: one shard's documents redacted, the counts per document and per shard."""

import json

import pyarrow.parquet as pq
import yaml

from hagane.config import SCHEMA_PATH, PiiConfig
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst, write_jsonl_zst
from hagane.pii import KINDS
from hagane.redact import COUNTS, DOCUMENTS, PII, redact_shard

import pytest

DOCS = [
    {"id": "a", "text": "連絡先: taro@example.jp または 090-1234-5678 まで。", "source": "s", "origin": {"n": 1}},
    {"id": "b", "text": "〒100-0001 東京都千代田区。サーバは 192.0.2.1 と 2001:db8::1。", "source": "s", "origin": {"n": 2}},
    # Hard negatives: a date, a price, a version and an ISBN stay as they are.
    {"id": "c", "text": "2024-01-15 発売、価格 1,980 円。version 1.2.3.4、ISBN 978-4-00-310101-8。", "source": "s",
     "origin": {"n": 3}},
]


def test_the_stage_redacts_text_only_and_counts_per_document_and_kind(tmp_path):
    write_jsonl_zst(tmp_path / "in.jsonl.zst", DOCS)
    counts = redact_shard(PiiConfig(), tmp_path / "in.jsonl.zst", tmp_path / "out")
    out = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [d["text"] for d in out] == ["連絡先: <EMAIL> または <PHONE> まで。",
                                        "<POSTAL_CODE> 東京都千代田区。サーバは <IP> と <IP>。", DOCS[2]["text"]]
    assert [{k: v for k, v in d.items() if k != "text"} for d in out] == [
        {k: v for k, v in d.items() if k != "text"} for d in DOCS]
    table = pq.read_table(tmp_path / "out" / PII).to_pydict()
    assert table["id"] == ["a", "b", "c"]
    assert table["pii_email"] == [1, 0, 0] and table["pii_phone"] == [1, 0, 0]
    assert table["pii_postal_code"] == [0, 1, 0] and table["pii_ipv4"] == [0, 1, 0] and table["pii_ipv6"] == [0, 1, 0]
    assert table["pii_my_number"] == table["pii_card"] == [0, 0, 0]
    assert counts == {"documents_in": 3, "kept": 3, "dropped": {}, "documents_with_pii": 2,
                      "pii": {"email": 1, "ipv6": 1, "card": 0, "my_number": 0, "phone": 1, "postal_code": 1, "ipv4": 1}}
    assert json.loads((tmp_path / "out" / COUNTS).read_text()) == counts
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["counts"] == counts and manifest["inputs"][0]["path"] == str(tmp_path / "in.jsonl.zst")


def test_only_the_kinds_asked_for_are_replaced(tmp_path):
    write_jsonl_zst(tmp_path / "in.jsonl.zst", DOCS[:1])
    counts = redact_shard(PiiConfig(kinds=("email",)), tmp_path / "in.jsonl.zst", tmp_path / "out")
    assert next(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))["text"] == "連絡先: <EMAIL> または 090-1234-5678 まで。"
    assert counts["pii"] == {"email": 1}
    assert pq.read_table(tmp_path / "out" / PII).column_names == ["id", "pii_email"]


def test_disabled_copies_the_records_and_says_so(tmp_path):
    write_jsonl_zst(tmp_path / "in.jsonl.zst", DOCS)
    counts = redact_shard(PiiConfig(enabled=False), tmp_path / "in.jsonl.zst", tmp_path / "out")
    assert list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS)) == DOCS
    assert counts["pii"] == {} and counts["documents_with_pii"] == 0
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["config"]["pii"] == {"enabled": False, "kinds": []}


def test_a_mistyped_kind_is_named_and_the_schema_lists_the_library_kinds():
    with pytest.raises(HaganeError, match="'emial'"):
        PiiConfig(kinds=("emial",))
    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["pii"]["properties"]["kinds"]
    assert tuple(schema["items"]["enum"]) == KINDS == tuple(schema["default"])
