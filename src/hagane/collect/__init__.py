"""collect: raw sources (WARC/WET, plain text, JSON Lines, Parquet) → document shards with stable ids
and origin locators."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm import tqdm

from hagane.collect.normalize import normalize_text
from hagane.collect.readers import RawDocument, Rejected
from hagane.collect.records import Accounting, document_id
from hagane.collect.structured import read_jsonl, read_parquet
from hagane.collect.text import read_text
from hagane.collect.warc import read_warc
from hagane.config import SourceConfig
from hagane.errors import HaganeError
from hagane.io import sha256_file, write_jsonl_zst
from hagane.manifest import now, write_manifest

DOCUMENTS = "documents.jsonl.zst"
QUARANTINE = "quarantine.jsonl.zst"


def _reader(source: SourceConfig, path: Path):
    if source.type in ("warc", "wet"):
        return read_warc(path)
    if source.type == "text":
        return read_text(path, source.separator or "blank_line")
    if source.type == "jsonl":
        return read_jsonl(path, source.text_field or "text", source.id_field)
    if source.type == "parquet":
        return read_parquet(path, source.text_field or "text", source.id_field)
    raise HaganeError(f"source {source.name!r}: unknown type {source.type!r}")


def collect_file(source: SourceConfig, path: Path, root: Path, out_dir: Path) -> Accounting:
    """Read one input file of a source into `out_dir/documents.jsonl.zst` (+ quarantine, manifest)."""
    started = now()
    if not path.is_file():
        raise HaganeError(f"source {source.name!r}: input file {path} does not exist")
    rel_path = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    file_sha = sha256_file(path)
    acc = Accounting()
    quarantined: list[dict] = []

    def documents():
        for item in tqdm(_reader(source, path), desc=f"collect {source.name}/{rel_path}", unit="rec",
                         mininterval=5):
            acc.records_seen += 1
            if isinstance(item, Rejected):
                if item.kind == "quarantined":
                    if source.on_record_error == "fail":
                        raise HaganeError(f"{path}: {item.reason} at {item.locator} {item.detail}".rstrip())
                    quarantined.append({"source": source.name, "path": rel_path, "locator": item.locator,
                                        "reason": item.reason, "detail": item.detail})
                    acc.quarantined[item.reason] += 1
                else:
                    acc.skipped[item.reason] += 1
                continue
            assert isinstance(item, RawDocument)
            text = normalize_text(item.text)
            if not text:
                acc.skipped["empty_text"] += 1
                continue
            acc.documents += 1
            yield {"id": document_id(source.name, rel_path, item.locator), "text": text, "source": source.name,
                   "origin": {"path": rel_path, "sha256": file_sha, "locator": item.locator, **item.origin}}

    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl_zst(out_dir / DOCUMENTS, documents())
    write_jsonl_zst(out_dir / QUARANTINE, quarantined)
    assert acc.balanced(), acc.as_dict()
    write_manifest(out_dir, stage="collect", config={"source": dataclasses.asdict(source), "root": str(root)},
                   inputs=[path], outputs=[out_dir / DOCUMENTS, out_dir / QUARANTINE], counts=acc.as_dict(),
                   started_at=started)
    print(f"collect {source.name}/{rel_path}: {acc.as_dict()}")
    return acc
