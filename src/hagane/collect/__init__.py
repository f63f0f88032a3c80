"""collect: raw sources (WARC/WET, Wikipedia dumps, plain text, JSON Lines, Parquet, Hugging Face
datasets) → document shards with stable ids and origin locators."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm import tqdm

from hagane.collect.hf import read_hf_dataset
from hagane.collect.normalize import normalize_text
from hagane.collect.readers import FileRead, RawDocument, Rejected
from hagane.collect.records import Accounting, document_id
from hagane.collect.structured import read_jsonl, read_parquet
from hagane.collect.text import read_text
from hagane.collect.warc import read_warc
from hagane.collect.wikipedia import read_wikipedia
from hagane.config import SourceConfig
from hagane.errors import FileFault, HaganeError
from hagane.io import jsonl_zst_writer, sha256_file
from hagane.manifest import now, write_manifest

DOCUMENTS = "documents.jsonl.zst"
QUARANTINE = "quarantine.jsonl.zst"
SKIPPED = "skipped.jsonl.zst"  # every skipped record with its locator and reason, as the quarantine has


def _reader(source: SourceConfig, path: Path | None, read: FileRead | None,
            byte_range: tuple[int, int] | None = None):
    max_bytes = int(source.max_record_mb * 1024 * 1024)
    if source.type == "huggingface":
        return read_hf_dataset(source, path, max_bytes, read)
    if source.type in ("warc", "wet"):
        return read_warc(path, max_bytes, source.precheck_min_hiragana if source.japanese_precheck else None, read)
    if source.type == "wikipedia":
        return read_wikipedia(path, byte_range, read)  # MediaWiki caps a page at 2 MiB of wikitext
    if source.type == "text":
        return read_text(path, source.separator or "blank_line", max_bytes, read)
    if source.type == "jsonl":
        return read_jsonl(path, source.text_field or "text", source.id_field, max_bytes, read)
    if source.type == "parquet":
        return read_parquet(path, source.text_field or "text", source.id_field, max_bytes, read)
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
        rel_path = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        size = byte_range[1] - byte_range[0] if byte_range else path.stat().st_size
        read = FileRead(rel_path, size)
        try:
            if path.stat().st_size == 0:
                # An empty input is almost always a failed download or copy, never a corpus: say so.
                raise FileFault(f"{path}: empty file (0 bytes) in source {source.name!r}; fetch it again or "
                                  "remove it from the source's paths")
            file_sha, items = sha256_file(path), _reader(source, path, read, byte_range)
        except (FileFault, OSError) as err:
            # Met where a fault in the middle of the file is met: in _collect, by on_file_error.
            file_sha, items = None, _failing(err)
        parts.append((str(path), rel_path, file_sha, items, read))
    roots = sorted({str(root) for root in files.values()})
    extra = {"roots": roots, **({"byte_range": list(byte_range)} if byte_range else {})}
    return _collect(source, parts, list(files), out_dir, extra)


def _failing(err: Exception):
    """A reader that fails at its first record: a file that cannot be opened or is empty."""
    raise err
    yield  # a generator, like every reader


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
    return _collect(source, [(source.dataset, source.dataset, None, _reader(source, None, None), None)], inputs,
                    out_dir, {})


def _collect(source: SourceConfig, parts: list[tuple], inputs: list[Path], out_dir: Path,
             extra_config: dict) -> Accounting:
    """Write the documents of `parts` — (label for errors, origin path, sha256, reader, FileRead or None)
    — as one shard, with the skipped and quarantined records beside them, each with its locator."""
    started = now()
    acc = Accounting()

    def documents(skip, quarantine):
        for label, rel_path, file_sha, items, read in parts:
            yield from part_documents(label, rel_path, file_sha, items, read, skip, quarantine)
            if read is not None:
                acc.files.append(read.as_dict())

    def part_documents(label: str, rel_path: str, file_sha: str | None, items, read, skip, quarantine):
        def aside(write, counter, reason: str, locator: str, detail: str = "") -> None:
            write({"source": source.name, "path": rel_path, "locator": locator, "reason": reason, "detail": detail})
            counter[reason] += 1

        records = iter(tqdm(items, desc=f"collect {source.name}/{rel_path}", unit="rec", mininterval=5))
        while True:
            try:
                item = next(records)
            except StopIteration:
                return
            except (FileFault, OSError) as err:
                # The file itself is at fault (empty, unreadable, damaged where the next record cannot be
                # found): the records read before it stay; the rest of the file is one quarantined record.
                if source.on_file_error == "fail" or read is None:  # a whole dataset is not one file of many
                    raise
                reason = "empty_file" if read is not None and read.size == 0 else "unreadable_file"
                if read is not None:
                    read.error = str(err)
                acc.records_seen += 1
                aside(quarantine, acc.quarantined, reason, "file", str(err))
                print(f"WARNING collect {source.name}: {label} quarantined ({reason}): {err}")
                return
            acc.records_seen += 1
            if isinstance(item, Rejected):
                if item.kind == "quarantined":
                    if source.on_record_error == "fail":
                        raise HaganeError(f"{label}: {item.reason} at {item.locator} {item.detail}".rstrip())
                    aside(quarantine, acc.quarantined, item.reason, item.locator, item.detail)
                else:
                    aside(skip, acc.skipped, item.reason, item.locator, item.detail)
                continue
            assert isinstance(item, RawDocument)
            text = normalize_text(item.text, source.normalization)
            if not text:
                aside(skip, acc.skipped, "empty_text", item.locator, f"nothing left after {source.normalization} "
                      "normalisation")
                continue
            acc.documents += 1
            yield {"id": document_id(source.name, rel_path, item.locator), "text": text, "source": source.name,
                   "origin": {"path": rel_path, "sha256": file_sha, "locator": item.locator, **item.origin}}

    out_dir.mkdir(parents=True, exist_ok=True)
    with (jsonl_zst_writer(out_dir / DOCUMENTS) as write_document, jsonl_zst_writer(out_dir / SKIPPED) as skip,
          jsonl_zst_writer(out_dir / QUARANTINE) as quarantine):
        for document in documents(skip, quarantine):
            write_document(document)
    assert acc.balanced(), acc.as_dict()
    counts = {**acc.as_dict(), "files": acc.files}
    write_manifest(out_dir, stage="collect", config={"source": dataclasses.asdict(source), **extra_config},
                   inputs=inputs, outputs=[out_dir / DOCUMENTS, out_dir / QUARANTINE, out_dir / SKIPPED],
                   counts=counts, started_at=started)
    print(f"collect {source.name}/{out_dir.name} ({len(parts)} input(s)): {acc.as_dict()}")
    for read in acc.files:
        if not read["complete"]:
            print(f"collect {source.name}: {read['path']} not read whole: {read}")
    return acc
