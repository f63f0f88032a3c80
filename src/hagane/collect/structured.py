"""Structured corpora: JSON Lines (optionally compressed) and Parquet, with a configurable text field and
an optional id field that becomes the record's locator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from hagane.collect.readers import FileRead, RawDocument, Rejected
from hagane.collect.text import (DECOMPRESSION_ERRORS, bounded_lines, compressed_input, cut_record, damaged_stream,
                                 too_long)
from hagane.errors import FileFault, HaganeError


class RecordFields:
    """Turns (position, record) pairs into documents or rejections, the same way for every structured
    format (JSON Lines, Parquet, Hugging Face datasets)."""

    def __init__(self, position_name: str, text_field: str, id_field: str | None, max_bytes: int):
        self.position_name, self.text_field, self.id_field = position_name, text_field, id_field
        self.max_bytes = max_bytes
        self.seen_ids: set[str] = set()

    def __call__(self, position: int, record: object) -> RawDocument | Rejected:
        where = f"{self.position_name}:{position}"
        if not isinstance(record, dict):
            return Rejected("quarantined", "not_an_object", where, f"{self.position_name} {position}")
        text = record.get(self.text_field)
        if not isinstance(text, str):
            return Rejected("quarantined", "missing_text_field", where,
                            f"{self.position_name} {position}: no string field {self.text_field!r}")
        if len(text) > self.max_bytes // 4 and len(text.encode("utf-8")) > self.max_bytes:
            return too_long(where, self.max_bytes)
        origin = {self.position_name: position}
        if self.id_field is None:
            return RawDocument(text=text, locator=where, origin=origin)
        record_id = record.get(self.id_field)
        if record_id is None or isinstance(record_id, (dict, list)):
            return Rejected("quarantined", "missing_id_field", where,
                            f"{self.position_name} {position}: no field {self.id_field!r}")
        record_id = str(record_id)
        if record_id in self.seen_ids:
            # Two records cannot share a locator: the second would get the first one's document id.
            return Rejected("quarantined", "duplicate_record_id", where, f"{self.id_field}={record_id}")
        self.seen_ids.add(record_id)
        return RawDocument(text=text, locator=f"id:{record_id}", origin={**origin, "record_id": record_id})


def read_jsonl(path: Path, text_field: str, id_field: str | None, max_bytes: int,
               read: FileRead) -> Iterator[RawDocument | Rejected]:
    records = RecordFields("line", text_field, id_field, max_bytes)
    line_no = 0
    with compressed_input(path, read) as (raw, f):
        try:
            for line_no, line in bounded_lines(f, max_bytes):
                if line is None:
                    yield too_long(f"line:{line_no}", max_bytes)
                    continue
                if not line.strip():
                    continue
                try:
                    text = line.decode("utf-8-sig")  # a Windows tool's byte-order mark is no fault
                except UnicodeDecodeError as err:
                    yield Rejected("quarantined", "invalid_utf8", f"line:{line_no}",
                                   f"line {line_no}: byte {err.start} of the line")
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as err:
                    yield Rejected("quarantined", "malformed_record", f"line:{line_no}",
                                   f"line {line_no}: not JSON: {err}")
                    continue
                yield records(line_no, record)
        except EOFError:
            yield cut_record(f"line:{line_no + 1}", raw, read)
        except DECOMPRESSION_ERRORS as err:
            raise damaged_stream(path, raw, f"after line {line_no}", err) from err


def read_parquet(path: Path, text_field: str, id_field: str | None, max_bytes: int,
                 read: FileRead) -> Iterator[RawDocument | Rejected]:
    try:
        parquet = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        raise FileFault(f"{path}: not a readable Parquet file ({err})") from err
    columns = [c for c in (text_field, id_field) if c]
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        raise HaganeError(f"{path}: no column {missing[0]!r} (columns: {', '.join(parquet.schema_arrow.names)}); "
                          "set text_field / id_field of the source")
    records = RecordFields("row", text_field, id_field, max_bytes)
    row = 0
    batches = parquet.iter_batches(columns=columns, batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
        except Exception as err:  # pyarrow raises OSError, ArrowInvalid … for a damaged page or column chunk
            raise FileFault(f"{path}: unreadable data after row {row} ({type(err).__name__}: {err}); the file "
                              "is damaged — fetch it again, or remove it from the source's paths") from err
        if batch is None:
            break
        for record in batch.to_pylist():
            yield records(row, record)
            row += 1
    # Parquet is read by row group, not front to back: every row read is the whole file read.
    read.bytes_read = read.size
