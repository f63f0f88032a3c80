"""Damaged and cut input files, every compression × damage × reader: no record may go unread without the
manifest saying so, and no decompressor's error may reach the user without the file's name."""

import bz2
import gzip
import io
import json
import lzma

import pytest
import zstandard
from warcio.warcwriter import WARCWriter

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_file
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst
from test_warc import page, response

COMPRESSIONS = {
    "gz": lambda data: gzip.compress(data, mtime=0),
    "bz2": bz2.compress,
    "xz": lzma.compress,
    # The zstd command line writes a checksum, and so do most tools; zstandard's default writes none.
    "zst": lambda data: zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data),
}
DOCS = 200  # enough that the damage lands well inside the stream, with documents on both sides


def damage_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + b"\x55" * 64 + data[middle + 64:]


def cut_end(data: bytes) -> bytes:
    return data[:-200]


def text_file(tmp_path, suffix):
    blocks = [f"{i}番目。{JA_PARAGRAPHS[i % 4]}" for i in range(DOCS)]
    path = tmp_path / f"c.txt.{suffix}"
    return path, ("\n\n".join(blocks) + "\n").encode("utf-8")


def jsonl_file(tmp_path, suffix):
    lines = [json.dumps({"text": f"{i}番目。{JA_PARAGRAPHS[i % 4]}"}, ensure_ascii=False) for i in range(DOCS)]
    path = tmp_path / f"c.jsonl.{suffix}"
    return path, ("\n".join(lines) + "\n").encode("utf-8")


READERS = {"text": (text_file, {"type": "text"}), "jsonl": (jsonl_file, {"type": "jsonl"})}


def manifest_files(out):
    return json.loads((out / "_manifest.json").read_text())["counts"]["files"]


@pytest.mark.parametrize("suffix", list(COMPRESSIONS))
@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("damage", ["none", "middle", "end"])
def test_compressed_text_and_jsonl_damage(tmp_path, reader, suffix, damage):
    make, options = READERS[reader]
    path, data = make(tmp_path, suffix)
    compressed = COMPRESSIONS[suffix](data)
    path.write_bytes({"none": compressed, "middle": damage_middle(compressed), "end": cut_end(compressed)}[damage])
    source = source_config({"name": "s", "paths": ["x"], **options})
    out = tmp_path / "out"
    if damage == "middle":
        # One compressed stream holds no marks to find the records after the damage: fail, naming the file.
        strict = source_config({"name": "s", "paths": ["x"], "on_file_error": "fail", **options})
        with pytest.raises(HaganeError, match=rf"{path.name}: compressed data damaged near byte offset \d+ of the "
                                              r"file \(after line \d+\): \w+: .+; the records after it cannot be read"):
            collect_file(strict, path, tmp_path, out)
        assert not (out / DOCUMENTS).exists()
        # By default the file is quarantined whole from the damage on, and the job goes on.
        acc = collect_file(source, path, tmp_path, out)
        assert dict(acc.quarantined) == {"unreadable_file": 1} and acc.balanced()
        (entry,) = manifest_files(out)
        assert entry["complete"] is False and "compressed data damaged" in entry["error"]
        return
    acc = collect_file(source, path, tmp_path, out)
    (entry,) = manifest_files(out)
    assert entry["path"] == path.name and entry["bytes"] == path.stat().st_size
    assert entry["bytes_read"] == entry["bytes"] and entry["bytes_damaged"] == 0
    if damage == "none":
        assert acc.as_dict() == {"records_seen": DOCS, "documents": DOCS, "skipped": {}, "quarantined": {}}
        assert entry["cut"] is False and entry["complete"] is True
        return
    # Cut at the end: what was read whole stands, the record the file ends in is quarantined, and the
    # manifest says the file was cut.
    # bzip2 (900 kB blocks) and zstd (128 kB blocks) give nothing of a block the file ends in: here, all.
    assert dict(acc.quarantined) == {"truncated_record": 1} and acc.documents < DOCS
    assert acc.records_seen == acc.documents + 1
    assert entry["cut"] is True and entry["complete"] is False
    (q,) = read_jsonl_zst(out / QUARANTINE)
    first_unread = 2 * acc.documents + 1 if reader == "text" else acc.documents + 1  # text: a blank line between
    assert q["reason"] == "truncated_record" and q["locator"] == f"line:{first_unread}"
    with pytest.raises(HaganeError, match=rf"{path.name}: truncated_record at line:\d+ the file ends at byte \d+"):
        collect_file(source_config({"name": "s", "paths": ["x"], "on_record_error": "fail", **options}), path,
                     tmp_path, tmp_path / "out2")


def build_web_archive(path, kind: str, n: int = 20) -> list[tuple[int, int]]:
    """A gzipped WARC (responses) or WET (conversions) of `n` Japanese documents; the (start, end) of each
    record's gzip member."""
    spans = []
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(n):
            start = f.tell()
            text = f"{i}番目の文書。" + "\n".join(JA_PARAGRAPHS)
            if kind == "warc":
                response(writer, f"https://example.jp/{i}", page(text).encode(), record_id=f"<urn:uuid:{i}>")
            else:
                record = writer.create_warc_record(f"https://example.jp/{i}", "conversion",
                                                   payload=io.BytesIO(text.encode()),
                                                   warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:{i}>",
                                                                      "Content-Type": "text/plain"})
                writer.write_record(record)
            spans.append((start, f.tell()))
    return spans


@pytest.mark.parametrize("kind", ["warc", "wet"])
def test_damage_inside_one_gzip_member_costs_that_record_only(tmp_path, kind):
    path = tmp_path / f"a.{kind}.gz"
    spans = build_web_archive(path, kind)
    start, end = spans[9]
    data = path.read_bytes()
    middle = (start + end) // 2
    path.write_bytes(data[:middle] + b"\x55" * 64 + data[middle + 64:])
    source = source_config({"name": "web", "type": kind, "paths": ["x"]})
    acc = collect_file(source, path, tmp_path, tmp_path / "out")
    # Before: warcio printed the zlib error and stopped, and the 10 records after the damage were never seen.
    assert acc.as_dict() == {"records_seen": 20, "documents": 19, "skipped": {}, "quarantined": {"damaged_record": 1}}
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [d["origin"]["offset"] for d in docs] == [s for i, (s, _) in enumerate(spans) if i != 9]
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["reason"] == "damaged_record" and q["locator"] == "<urn:uuid:9>"
    assert q["detail"].startswith(f"bytes {start}–{end} of the file: gzip data broken near byte ")
    assert q["detail"].endswith(f"reading went on at byte {end}")
    (entry,) = manifest_files(tmp_path / "out")
    assert entry == {"path": path.name, "bytes": len(data), "bytes_read": len(data), "bytes_damaged": end - start,
                     "cut": False, "complete": False}


def test_damaged_gzip_header_is_skipped_to_the_next_member(tmp_path):
    path = tmp_path / "a.warc.gz"
    spans = build_web_archive(path, "warc", n=5)
    data = bytearray(path.read_bytes())
    start, end = spans[2]
    data[start:start + 12] = b"\x00" * 12  # the member's header: nothing says where it starts any more
    path.write_bytes(bytes(data))
    acc = collect_file(source_config({"name": "web", "type": "warc", "paths": ["x"]}), path, tmp_path,
                       tmp_path / "out")
    assert acc.documents == 4 and dict(acc.quarantined) == {"damaged_record": 1}
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == f"offset:{start}" and q["detail"].startswith(f"bytes {start}–{end} of the file")


@pytest.mark.parametrize("kind", ["warc", "wet"])
def test_web_archive_cut_at_its_end(tmp_path, kind):
    path = tmp_path / f"a.{kind}.gz"
    spans = build_web_archive(path, kind)
    path.write_bytes(path.read_bytes()[:-30])
    acc = collect_file(source_config({"name": "web", "type": kind, "paths": ["x"]}), path, tmp_path,
                       tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 20, "documents": 19, "skipped": {}, "quarantined": {"truncated_record": 1}}
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == "<urn:uuid:19>" and q["detail"] == (f"byte offset {spans[19][0]}: the file ends inside "
                                                              "this record's gzip member")
    (entry,) = manifest_files(tmp_path / "out")
    assert entry["cut"] is True and entry["complete"] is False and entry["bytes_read"] == entry["bytes"]


def test_uncompressed_warc_cut_at_its_end_says_so_in_the_manifest(tmp_path):
    path = tmp_path / "a.warc"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=False)
        for i in range(3):
            response(writer, f"https://example.jp/{i}", page("\n".join(JA_PARAGRAPHS)).encode(),
                     record_id=f"<urn:uuid:{i}>")
    path.write_bytes(path.read_bytes()[:-400])
    acc = collect_file(source_config({"name": "web", "type": "warc", "paths": ["x"]}), path, tmp_path, tmp_path / "out")
    assert acc.documents == 2 and dict(acc.quarantined) == {"truncated_record": 1}
    (entry,) = manifest_files(tmp_path / "out")
    assert entry["cut"] is True and entry["complete"] is False


def test_an_intact_web_archive_is_read_whole(tmp_path):
    path = tmp_path / "a.warc.gz"
    build_web_archive(path, "warc", n=3)
    collect_file(source_config({"name": "web", "type": "warc", "paths": ["x"]}), path, tmp_path, tmp_path / "out")
    size = path.stat().st_size
    assert manifest_files(tmp_path / "out") == [{"path": "a.warc.gz", "bytes": size, "bytes_read": size,
                                                 "bytes_damaged": 0, "cut": False, "complete": True}]


def test_damaged_parquet_fails_naming_the_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    texts = [f"{i}番目。{JA_PARAGRAPHS[i % 4]}" for i in range(2000)]
    pq.write_table(pa.table({"text": texts}), path, compression="zstd", row_group_size=500)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = b"\x55" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(HaganeError, match=r"c\.parquet: unreadable data after row \d+ \(\w+: .+\); the file is "
                                          r"damaged"):
        collect_file(source_config({"name": "s", "type": "parquet", "paths": ["x"], "on_file_error": "fail"}), path,
                     tmp_path, tmp_path / "out")


def test_damaged_data_file_of_a_hugging_face_source_fails_naming_it(tmp_path):
    path, data = jsonl_file(tmp_path, "gz")
    path.write_bytes(damage_middle(gzip.compress(data, mtime=0)))
    source = source_config({"name": "hf", "type": "huggingface", "dataset": "json", "paths": [str(path)],
                            "on_file_error": "fail"})
    with pytest.raises(HaganeError, match=rf"{path}: unreadable after row \d+ of source 'hf' \(\w+: .+\); fetch the "
                                          "file again"):
        collect_file(source, path, tmp_path, tmp_path / "out")
