import gzip
import json
import tracemalloc

import pytest

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_file
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst


def source(separator="blank_line", on_record_error="quarantine", **options):
    return source_config({"name": "txt", "type": "text", "paths": ["x"], "separator": separator,
                          "on_record_error": on_record_error, **options})


def test_blank_line_documents_with_line_locators(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(f"{JA_PARAGRAPHS[0]}\n{JA_PARAGRAPHS[1]}\n\n\n{JA_PARAGRAPHS[2]}\n\n{JA_PARAGRAPHS[3]}\n", encoding="utf-8")
    acc = collect_file(source(), f, tmp_path, tmp_path / "out")
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert acc.documents == 3 and [d["origin"]["line"] for d in docs] == [1, 5, 7]
    assert docs[0]["text"] == f"{JA_PARAGRAPHS[0]}\n{JA_PARAGRAPHS[1]}"
    assert len({d["id"] for d in docs}) == 3


def test_line_per_document_and_gzip(tmp_path):
    f = tmp_path / "c.txt.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write("\n".join(JA_PARAGRAPHS) + "\n")
    acc = collect_file(source("line"), f, tmp_path, tmp_path / "out")
    assert acc.documents == 4


def test_invalid_utf8_is_quarantined_or_fails(tmp_path):
    f = tmp_path / "c.txt"
    f.write_bytes(JA_PARAGRAPHS[0].encode() + b"\n\n\xe3\x81" + b"\n\n" + JA_PARAGRAPHS[1].encode() + b"\n")
    acc = collect_file(source(), f, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 3, "documents": 2, "skipped": {}, "quarantined": {"invalid_utf8": 1}}
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == "line:3" and q["path"] == "c.txt"
    with pytest.raises(HaganeError, match=r"c\.txt: invalid_utf8 at line:3"):
        collect_file(source(on_record_error="fail"), f, tmp_path, tmp_path / "out2")


def test_truncated_gzip_quarantines_the_last_record_and_says_the_file_was_cut(tmp_path):
    f = tmp_path / "c.txt.gz"
    with gzip.open(f, "wt", encoding="utf-8") as g:
        g.write(("\n\n".join(JA_PARAGRAPHS) + "\n\n") * 50)
    f.write_bytes(f.read_bytes()[:-30])
    acc = collect_file(source(), f, tmp_path, tmp_path / "out")
    assert dict(acc.quarantined) == {"truncated_record": 1} and acc.records_seen == acc.documents + 1
    files = json.loads((tmp_path / "out" / "_manifest.json").read_text())["counts"]["files"]
    assert files == [{"path": "c.txt.gz", "bytes": f.stat().st_size, "bytes_read": f.stat().st_size,
                      "bytes_damaged": 0, "cut": True, "complete": False}]
    with pytest.raises(HaganeError, match=r"c\.txt\.gz: truncated_record at line:\d+ the file ends at byte \d+"):
        collect_file(source(on_record_error="fail"), f, tmp_path, tmp_path / "out2")


def test_corrupt_gzip_fails_naming_file_line_and_offset(tmp_path):
    f = tmp_path / "c.txt.gz"
    f.write_bytes(gzip.compress((("\n\n".join(JA_PARAGRAPHS) + "\n\n") * 50).encode(), mtime=0))
    data = f.read_bytes()
    middle = len(data) // 2
    f.write_bytes(data[:middle] + b"\0" * 64 + data[middle + 64:])
    # Before: a bare zlib.error traceback that named no file.
    with pytest.raises(HaganeError, match=r"c\.txt\.gz: compressed data damaged near byte offset \d+ of the file "
                                          r"\(after line \d+\): error: Error -3 while decompressing data"):
        collect_file(source(on_file_error="fail"), f, tmp_path, tmp_path / "out")


def test_a_100_mb_line_is_quarantined_without_holding_it_in_memory(tmp_path):
    f = tmp_path / "c.txt"
    with open(f, "wb") as out:
        out.write(JA_PARAGRAPHS[0].encode() + b"\n\n")
        for _ in range(100):  # one 100 MB line, as a broken export or a minified dump would hold
            out.write(b"x" * (1 << 20))
        out.write(b"\n\n" + JA_PARAGRAPHS[1].encode() + b"\n")
    tracemalloc.start()
    try:
        acc = collect_file(source(max_record_mb=8), f, tmp_path, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert acc.as_dict() == {"records_seen": 3, "documents": 2, "skipped": {}, "quarantined": {"record_too_long": 1}}
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == "line:3" and "more than 8388608 bytes" in q["detail"]
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB while reading a 100 MB line"


def test_a_block_of_many_lines_over_the_limit_is_one_quarantined_record(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(f"{JA_PARAGRAPHS[0]}\n\n" + "長い行です。\n" * 60_000 + f"\n{JA_PARAGRAPHS[1]}\n", encoding="utf-8")
    acc = collect_file(source(max_record_mb=1), f, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 3, "documents": 2, "skipped": {}, "quarantined": {"record_too_long": 1}}
    line_mode = collect_file(source("line", max_record_mb=1), f, tmp_path, tmp_path / "out2")
    assert line_mode.documents == 60_002 and not line_mode.quarantined


def test_an_empty_file_fails_naming_it_when_files_must_be_whole(tmp_path):
    f = tmp_path / "c.txt"
    f.write_bytes(b"")
    with pytest.raises(HaganeError, match=r"c\.txt: empty file \(0 bytes\) in source 'txt'"):
        collect_file(source(on_file_error="fail"), f, tmp_path, tmp_path / "out")
