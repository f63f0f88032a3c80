"""A bad input file among many (issue 20: bad input at scale): empty, unreadable, or damaged where the next
record cannot be found. By default it is quarantined whole — the records read before the damage stay, the
shard and the workflow go on, the manifest and the funnel name the file; `on_file_error: fail` fails the job
naming it."""

import gzip
import json

import pytest

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_files
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst, write_json
from hagane.report.plots import funnel_counts


def source(**options):
    return source_config({"name": "txt", "type": "text", "paths": ["x"], "separator": "blank_line", **options})


def good_file(path, n):
    path.write_text("\n\n".join(JA_PARAGRAPHS[:n]) + "\n", encoding="utf-8")
    return path


def damaged_gz(path):
    """Intact documents, then garbage inside the one gzip stream: nothing after it can be found."""
    text = "\n\n".join(f"{i}番目。{JA_PARAGRAPHS[i % 4]}" for i in range(400)) + "\n"
    data = gzip.compress(text.encode(), mtime=0)
    path.write_bytes(data[: len(data) // 2] + b"\x00" * 64 + data[len(data) // 2 + 64:])
    return path


@pytest.mark.parametrize("fault", ["empty", "damaged", "unreadable"])
def test_a_bad_file_is_quarantined_and_the_shard_goes_on(tmp_path, fault):
    good = good_file(tmp_path / "a.txt", 3)
    if fault == "empty":
        bad, reason, why = tmp_path / "b.txt", "empty_file", "empty file (0 bytes)"
        bad.write_bytes(b"")
    elif fault == "damaged":
        bad, reason, why = damaged_gz(tmp_path / "b.txt.gz"), "unreadable_file", "b.txt.gz"
    else:
        bad, reason, why = tmp_path / "b.txt", "unreadable_file", "Is a directory"
        bad.mkdir()  # a path that cannot be read as a file (root ignores permissions, so not chmod)
    out = tmp_path / "out"
    if fault == "unreadable":
        with pytest.raises(HaganeError, match="does not exist"):  # not a file at all: the plan is wrong
            collect_files(source(), {good: tmp_path, bad: tmp_path}, out)
        return
    acc = collect_files(source(), {good: tmp_path, bad: tmp_path}, out)
    assert acc.quarantined[reason] == 1 and acc.balanced()
    assert acc.documents >= 3  # the good file whole, and what the bad one gave before its damage
    [entry] = [q for q in read_jsonl_zst(out / QUARANTINE) if q["locator"] == "file"]
    assert entry["path"] == bad.name and entry["locator"] == "file" and why in entry["detail"]
    manifest = json.loads((out / "_manifest.json").read_text())
    files = {f["path"]: f for f in manifest["counts"]["files"]}
    assert files["a.txt"]["complete"] and not files[bad.name]["complete"] and why in files[bad.name]["error"]
    # The funnel names the file, so that it can be fetched again.
    write_json(tmp_path / "select.json", {"kept": 0, "dropped": {}})
    write_json(tmp_path / "exact.json", {"kept": 0, "dropped": {}})
    funnel = funnel_counts([out / "_manifest.json"], [tmp_path / "select.json"], tmp_path / "exact.json",
                           [tmp_path / "select.json"])
    assert funnel["dropped"][f"collect: {reason}"] == 1
    assert [f["path"] for f in funnel["files not read whole"]] == [bad.name]
    assert funnel["files not read whole"][0]["source"] == "txt"


def test_the_documents_before_the_damage_stay(tmp_path):
    bad = damaged_gz(tmp_path / "b.txt.gz")
    acc = collect_files(source(), {bad: tmp_path}, tmp_path / "out")
    texts = [d["text"] for d in read_jsonl_zst(tmp_path / "out" / DOCUMENTS)]
    assert 0 < len(texts) < 400 and texts[:2] == [f"0番目。{JA_PARAGRAPHS[0]}", f"1番目。{JA_PARAGRAPHS[1]}"]
    # Damaged deflate data decodes to garbage until the checksum fails: those records are quarantined too.
    assert acc.quarantined["unreadable_file"] == 1 and acc.balanced()


@pytest.mark.parametrize("make", [lambda p: p.write_bytes(b"") or p, damaged_gz])
def test_with_on_file_error_fail_the_job_fails_naming_the_file(tmp_path, make):
    bad = make(tmp_path / "b.txt.gz")
    with pytest.raises(HaganeError, match=r"b\.txt\.gz"):
        collect_files(source(on_file_error="fail"), {bad: tmp_path}, tmp_path / "out")
