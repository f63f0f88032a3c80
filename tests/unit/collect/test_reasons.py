"""One reason per fault across readers, every skipped record logged with its locator, and HTTP statuses."""

import io
import json
import re
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

import hagane.collect.readers as readers
from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, SKIPPED, collect_file
from hagane.collect.readers import QUARANTINE_REASONS, SKIP_REASONS, Rejected
from hagane.config import source_config
from hagane.io import read_jsonl_zst
from test_warc import SOURCE, build_warc, page, response

COLLECT = Path(readers.__file__).parent


def test_every_reason_in_the_code_is_in_the_documented_vocabulary():
    made = set()
    for module in COLLECT.glob("*.py"):
        made |= set(re.findall(r'Rejected\(\s*"(?:skipped|quarantined)",\s*f?"([a-z0-9_{}.]+)"', module.read_text()))
    literal = {r for r in made if "{" not in r}
    assert len(literal) > 15  # the pattern still finds the reasons where they are made
    assert literal <= SKIP_REASONS | QUARANTINE_REASONS, literal - (SKIP_REASONS | QUARANTINE_REASONS)
    documented = set(re.findall(r"^    ([a-z0-9_<>]+)\s{2,}", readers.__doc__, re.M))
    assert documented == SKIP_REASONS | QUARANTINE_REASONS | {"warc_<type>_record"}
    with pytest.raises(ValueError, match="'malformed_json' is not in hagane.collect.readers' vocabulary"):
        Rejected("quarantined", "malformed_json", "line:1")


def test_invalid_utf8_has_one_name_in_text_jsonl_and_wet(tmp_path):
    bad = b"\xe3\x81"  # a UTF-8 sequence cut short
    (tmp_path / "c.txt").write_bytes(JA_PARAGRAPHS[0].encode() + b"\n\n" + bad + b"\n")
    (tmp_path / "c.jsonl").write_bytes(b'{"text": "' + JA_PARAGRAPHS[0].encode() + b'"}\n{"text": "' + bad + b'"}\n')
    with open(tmp_path / "c.warc.wet.gz", "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, body in enumerate([JA_PARAGRAPHS[0].encode(), bad]):
            writer.write_record(writer.create_warc_record(
                f"https://example.jp/{i}", "conversion", payload=io.BytesIO(body),
                warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:w{i}>", "Content-Type": "text/plain"}))
    for name, kind in [("c.txt", "text"), ("c.jsonl", "jsonl"), ("c.warc.wet.gz", "wet")]:
        acc = collect_file(source_config({"name": "s", "type": kind, "paths": ["x"]}), tmp_path / name, tmp_path,
                           tmp_path / kind)
        assert dict(acc.quarantined) == {"invalid_utf8": 1}, name  # a JSON line's was malformed_json
        assert acc.documents == 1


def test_skipped_records_are_logged_with_locator_and_reason(tmp_path):
    warc = tmp_path / "a.warc.gz"
    build_warc(warc)
    acc = collect_file(SOURCE, warc, tmp_path, tmp_path / "out")
    skipped = list(read_jsonl_zst(tmp_path / "out" / SKIPPED))
    assert sorted((s["reason"], s["locator"]) for s in skipped) == [
        ("not_html", "<urn:uuid:5>"), ("precheck_not_japanese", "<urn:uuid:6>"),
        ("precheck_not_japanese", "<urn:uuid:8>"), ("warc_warcinfo_record", skipped[0]["locator"])]
    assert all(s["path"] == "a.warc.gz" and s["source"] == "web" for s in skipped)
    assert len(skipped) == sum(acc.skipped.values())
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert sorted(Path(o["path"]).name for o in manifest["outputs"]) == sorted([DOCUMENTS, QUARANTINE, SKIPPED])


def test_a_text_that_normalisation_empties_is_logged_as_skipped(tmp_path):
    f = tmp_path / "c.txt"
    f.write_bytes(JA_PARAGRAPHS[0].encode() + b"\n\n\x00\x01\n")
    acc = collect_file(source_config({"name": "s", "type": "text", "paths": ["x"]}), f, tmp_path, tmp_path / "out")
    assert dict(acc.skipped) == {"empty_text": 1}
    (s,) = read_jsonl_zst(tmp_path / "out" / SKIPPED)
    assert (s["reason"], s["locator"], s["detail"]) == ("empty_text", "line:3", "nothing left after NFKC normalisation")


def test_responses_other_than_2xx_are_skipped_by_status_class(tmp_path):
    warc = tmp_path / "a.warc.gz"
    html = page("\n".join(JA_PARAGRAPHS)).encode()
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for status in ["200 OK", "404 Not Found", "301 Moved Permanently", "503 Service Unavailable",
                       "204 No Content", "100 Continue"]:
            response(writer, f"https://example.jp/{status[:3]}", html, record_id=f"<urn:uuid:{status[:3]}>",
                     status=status)
    acc = collect_file(SOURCE, warc, tmp_path, tmp_path / "out")
    # Before: the 404 page was a document like any other.
    assert acc.as_dict() == {"records_seen": 6, "documents": 2, "quarantined": {}, "skipped": {
        "http_status_3xx": 1, "http_status_4xx": 1, "http_status_5xx": 1, "http_status_other": 1}}
    assert [d["origin"]["url"] for d in read_jsonl_zst(tmp_path / "out" / DOCUMENTS)] == [
        "https://example.jp/200", "https://example.jp/204"]
    logged = {s["locator"]: (s["reason"], s["detail"]) for s in read_jsonl_zst(tmp_path / "out" / SKIPPED)}
    assert logged["<urn:uuid:404>"] == ("http_status_4xx", "HTTP 404 Not Found")
