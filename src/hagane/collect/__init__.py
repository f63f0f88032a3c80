"""collect: raw sources (WARC/WET, Wikipedia dumps, plain text, JSON Lines, Parquet, Hugging Face
datasets) → document shards with stable ids and origin locators."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm import tqdm

from hagane.collect.hf import read_hf_dataset
from hagane.collect.normalize import normalize_text
from hagane.collect.readers import RawDocument, Rejected
from hagane.collect.records import Accounting, document_id
from hagane.collect.structured import read_jsonl, read_parquet
from hagane.collect.text import read_text
from hagane.collect.warc import read_warc
from hagane.collect.wikipedia import read_wikipedia
from hagane.config import SourceConfig
from hagane.errors import HaganeError
from hagane.io import sha256_file, write_jsonl_zst
from hagane.manifest import now, write_manifest

DOCUMENTS = "documents.jsonl.zst"
QUARANTINE = "quarantine.jsonl.zst"


def _reader(source: SourceConfig, path: Path | None, byte_range: tuple[int, int] | None = None):
    max_bytes = int(source.max_record_mb * 1024 * 1024)
    if source.type == "huggingface":
        return read_hf_dataset(source, path, max_bytes)
    if source.type in ("warc", "wet"):
        return read_warc(path, max_bytes, source.precheck_min_hiragana if source.japanese_precheck else None)
    if source.type == "wikipedia":
        return read_wikipedia(path, byte_range)  # MediaWiki caps a page at 2 MiB of wikitext
    if source.type == "text":
        return read_text(path, source.separator or "blank_line", max_bytes)
    if source.type == "jsonl":
        return read_jsonl(path, source.text_field or "text", source.id_field, max_bytes)
    if source.type == "parquet":
        return read_parquet(path, source.text_field or "text", source.id_field, max_bytes)
    raise HaganeError(f"source {source.name!r}: unknown type {source.type!r}")


def collect_file(source: SourceConfig, path: Path, root: Path, out_dir: Path) -> Accounting:
    """Read one input file of a source into `out_dir/documents.jsonl.zst` (+ quarantine, manifest)."""
    return collect_files(source, {path: root}, out_dir)


def collect_files(source: SourceConfig, files: dict[Path, Path], out_dir: Path,
                  byte_range: tuple[int, int] | None = None) -> Accounting:
    """Read a group of a source's input files ({file: root}), in order, into one document shard; or,
    with `byte_range`, one part of a multistream Wikipedia dump."""
    if byte_range is not None and (source.type != "wikipedia" or len(files) != 1):
        raise HaganeError(f"source {source.name!r}: a byte range applies to one multistream Wikipedia dump")
    parts = []
    for path, root in files.items():
        if not path.is_file():
            raise HaganeError(f"source {source.name!r}: input file {path} does not exist")
        if path.stat().st_size == 0:
            # An empty input is almost always a failed download or copy, never a corpus: say so.
            raise HaganeError(f"{path}: empty file (0 bytes) in source {source.name!r}; fetch it again or remove "
                              "it from the source's paths")
        rel_path = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        parts.append((str(path), rel_path, sha256_file(path), _reader(source, path, byte_range)))
    roots = sorted({str(root) for root in files.values()})
    extra = {"roots": roots, **({"byte_range": list(byte_range)} if byte_range else {})}
    return _collect(source, parts, list(files), out_dir, extra)


def collect_shard(source: SourceConfig, files: dict[Path, Path], out_dir: Path,
                  byte_range: tuple[int, int] | None = None) -> Accounting:
    """One shard of a pack (hagane.packs): its files ({file: root}), or with none a whole dataset."""
    if not files:
        return collect_dataset(source, out_dir)
    return collect_files(source, files, out_dir, byte_range=byte_range)


def collect_dataset(source: SourceConfig, out_dir: Path) -> Accounting:
    """Read a whole Hugging Face dataset split (a hub name or a local directory) as one shard."""
    local = Path(source.dataset)
    inputs = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else []
    # A hub dataset has no file to hash; its name and revision are the origin.
    return _collect(source, [(source.dataset, source.dataset, None, _reader(source, None))], inputs, out_dir, {})


def _collect(source: SourceConfig, parts: list[tuple], inputs: list[Path], out_dir: Path,
             extra_config: dict) -> Accounting:
    """Write the documents of `parts` — (label for errors, origin path, sha256, reader) — as one shard."""
    started = now()
    acc = Accounting()
    quarantined: list[dict] = []

    def documents():
        for label, rel_path, file_sha, items in parts:
            yield from part_documents(label, rel_path, file_sha, items)

    def part_documents(label: str, rel_path: str, file_sha: str | None, items):
        for item in tqdm(items, desc=f"collect {source.name}/{rel_path}", unit="rec", mininterval=5):
            acc.records_seen += 1
            if isinstance(item, Rejected):
                if item.kind == "quarantined":
                    if source.on_record_error == "fail":
                        raise HaganeError(f"{label}: {item.reason} at {item.locator} {item.detail}".rstrip())
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
    write_manifest(out_dir, stage="collect", config={"source": dataclasses.asdict(source), **extra_config},
                   inputs=inputs, outputs=[out_dir / DOCUMENTS, out_dir / QUARANTINE], counts=acc.as_dict(),
                   started_at=started)
    print(f"collect {source.name}/{out_dir.name} ({len(parts)} input(s)): {acc.as_dict()}")
    return acc
