"""Hugging Face datasets through `datasets`: a builder over local data files (json, parquet, csv, text …),
a directory written by `save_to_disk` or holding data files, or a hub name (which needs network at the
user's site; nothing here downloads unless the config names a hub dataset)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from pathlib import Path

from hagane.collect.readers import FileRead, RawDocument, Rejected
from hagane.collect.structured import RecordFields
from hagane.config import SourceConfig
from hagane.errors import FileFault, HaganeError

# Builders that read data files named by `paths`: one job per file.
FILE_BUILDERS = ("json", "parquet", "csv", "text", "arrow")


def _is_saved_dataset(directory: Path) -> bool:
    return (directory / "dataset_dict.json").is_file() or (directory / "state.json").is_file()


def open_dataset(source: SourceConfig, data_file: Path | None) -> Iterable[dict]:
    """The configured split as an iterable of records, streamed where `datasets` can stream it."""
    import datasets

    where = f"source {source.name!r} (dataset {source.dataset!r})"
    try:
        if data_file is not None:
            return datasets.load_dataset(source.dataset, data_files=str(data_file), split=source.split,
                                         streaming=source.streaming)
        local = Path(source.dataset)
        if local.is_dir() and _is_saved_dataset(local):
            saved = datasets.load_from_disk(str(local))
            if isinstance(saved, datasets.DatasetDict):
                if source.split not in saved:
                    raise HaganeError(f"{where}: no split {source.split!r} (splits: {', '.join(saved)})")
                saved = saved[source.split]
            return saved
        if not local.exists() and source.dataset in FILE_BUILDERS:
            raise HaganeError(f"{where}: the {source.dataset!r} builder reads data files; list them in `paths`")
        return datasets.load_dataset(source.dataset, name=source.dataset_config, split=source.split,
                                     streaming=source.streaming, revision=source.revision)
    except HaganeError:
        raise
    except ConnectionError as err:
        raise HaganeError(f"{where}: not found locally and the hub cannot be reached ({err}); download it at a "
                          "site with network (or point `dataset` at a local copy)") from err
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as err:
        raise HaganeError(f"{where}: {err}") from err


def read_hf_dataset(source: SourceConfig, data_file: Path | None, max_bytes: int,
                    read: FileRead | None) -> Iterator[RawDocument | Rejected]:
    fields = RecordFields("row", source.text_field or "text", source.id_field, max_bytes)
    dataset = {"dataset": source.dataset, "dataset_config": source.dataset_config, "split": source.split,
               "revision": source.revision}
    records = None
    row = 0
    while True:
        try:
            # `datasets` reads a data file already while it infers the features, and raises a damaged file's
            # zlib, JSON or Arrow error from there or from any later row, bare or wrapped in its own.
            records = records or iter(open_dataset(source, data_file))
            record = next(records, None)
        except HaganeError:
            raise
        except Exception as err:
            where = data_file or source.dataset
            raise FileFault(f"{where}: unreadable after row {row} of source {source.name!r} "
                              f"({type(err).__name__}: {err}); fetch the file again, or remove it from the "
                              "source's paths") from err
        if record is None:
            break
        item = fields(row, record)
        yield dataclasses.replace(item, origin={**item.origin, **dataset}) if isinstance(item, RawDocument) else item
        row += 1
    if read is not None:
        read.bytes_read = read.size  # `datasets` hands out no byte position: every row read is the file read
