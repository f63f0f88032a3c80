"""Plain-text corpora: CC-100 style (documents separated by blank lines) or one document per line; and the
compressed input that text and JSON Lines share (gzip, bzip2, xz, zstd)."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import zlib
from collections.abc import Iterator
from pathlib import Path

import zstandard

from hagane.collect.readers import FileRead, RawDocument, Rejected
from hagane.errors import FileFault

# What a decompressor raises on damaged input, whichever the format: zlib.error (gzip data), BadGzipFile
# (an OSError: bad header or CRC), OSError (bz2's "Invalid data stream"), LZMAError, ZstdError, and
# EOFError where the file ends inside a stream.
DECOMPRESSION_ERRORS = (zlib.error, EOFError, OSError, lzma.LZMAError, zstandard.ZstdError)
READ_CHUNK = 1 << 16


def _zstd_frames_end_whole(raw, size: int) -> bool:
    """Whether the file is whole zstd frames, end to end. zstandard's reader returns a cut file's last
    frame as if it had ended, without a word, so the frames are walked by their block headers (3 bytes a
    block, a few thousand seeks in a GB) to find out."""
    pos = 0
    while pos < size:
        raw.seek(pos)
        head = raw.read(18)  # the longest frame header
        magic = int.from_bytes(head[:4], "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame: magic, 4-byte length, payload
            if len(head) < 8:
                return False
            pos += 8 + int.from_bytes(head[4:8], "little")
            continue
        try:
            params = zstandard.get_frame_parameters(head)
            pos += zstandard.frame_header_size(head)
        except zstandard.ZstdError:
            return False
        last = False
        while not last:
            raw.seek(pos)
            block = raw.read(3)
            if len(block) < 3:
                return False
            header = int.from_bytes(block, "little")
            last, block_type, block_size = bool(header & 1), (header >> 1) & 3, header >> 3
            pos += 3 + (1 if block_type == 1 else block_size)  # an RLE block stores its one byte
        pos += 4 if params.has_checksum else 0
    return pos == size


class _ZstdInput(io.RawIOBase):
    """Decompressed bytes of a .zst file (every frame), raising EOFError where the file is cut."""

    def __init__(self, raw, owns_raw: bool = False):
        self.raw, self.owns_raw = raw, owns_raw
        self.reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed and self.owns_raw:
            self.raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        n = self.reader.readinto(buffer)
        if n == 0:
            end = self.raw.tell()
            size = self.raw.seek(0, io.SEEK_END)
            whole = _zstd_frames_end_whole(self.raw, size)
            self.raw.seek(end)
            if not whole:
                raise EOFError("Compressed file ended before the end of its last zstd frame")
        return n


_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open,
            ".zst": lambda raw, mode: io.BufferedReader(_ZstdInput(raw), READ_CHUNK)}


def open_maybe_compressed(path: Path, raw=None):
    """Binary stream of a file, decompressed by its suffix (.gz, .bz2, .xz, .zst). With `raw`, an open
    binary file of `path`, decompress from it, so that the caller can tell the compressed position."""
    if raw is None:
        if path.suffix == ".zst":
            return io.BufferedReader(_ZstdInput(open(path, "rb"), owns_raw=True), READ_CHUNK)
        return _OPENERS.get(path.suffix, open)(path, "rb")
    opener = _OPENERS.get(path.suffix)
    return opener(raw, "rb") if opener else raw


@contextlib.contextmanager
def compressed_input(path: Path, read: FileRead):
    """(raw file, decompressed stream) of `path`; on leaving, how far the raw file was read goes into
    `read`."""
    with open(path, "rb") as raw:
        stream = open_maybe_compressed(path, raw)
        try:
            yield raw, stream
        finally:
            read.bytes_read = raw.tell()
            stream.close()


def damaged_stream(path: Path, raw, where: str, err: BaseException) -> HaganeError:
    """A compressed text or JSON Lines stream broken before its end: one stream carries no marks to find
    the records after the damage, so the file cannot be read on."""
    return FileFault(f"{path}: compressed data damaged near byte offset {raw.tell()} of the file ({where}): "
                       f"{type(err).__name__}: {err}; the records after it cannot be read — fetch the file "
                       "again, or remove it from the source's paths")


def cut_record(locator: str, raw, read: FileRead) -> Rejected:
    read.cut = True
    return Rejected("quarantined", "truncated_record", locator,
                    f"the file ends at byte {raw.tell()} inside the compressed stream, within this record")


def bounded_lines(stream, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a binary stream. A line longer than `max_bytes` comes as None, having been
    read through in pieces: one 100 MB line never sits in memory whole."""
    line_no = 0
    while line := stream.readline(max_bytes + 1):
        line_no += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield line_no, None
        else:
            yield line_no, line


def too_long(locator: str, max_bytes: int) -> Rejected:
    return Rejected("quarantined", "record_too_long", locator, f"{locator}: more than {max_bytes} bytes "
                    "(max_record_mb of the source)")


def read_text(path: Path, separator: str, max_bytes: int, read: FileRead) -> Iterator[RawDocument | Rejected]:
    block: list[bytes] = []
    block_bytes = 0
    overflow = False  # the current block passed max_bytes: its lines are read through, not kept
    start = 0
    line_no = 0

    def emit() -> Iterator[RawDocument | Rejected]:
        locator = f"line:{start}"
        if overflow:
            yield too_long(locator, max_bytes)
            return
        try:
            text = b"".join(block).decode("utf-8")
        except UnicodeDecodeError as err:
            yield Rejected("quarantined", "invalid_utf8", locator, f"line {start}: byte {err.start} of the document")
            return
        yield RawDocument(text=text, locator=locator, origin={"line": start})

    with compressed_input(path, read) as (raw, f):
        try:
            for line_no, line in bounded_lines(f, max_bytes):
                is_blank = line is not None and not line.strip()
                if is_blank or separator == "line":
                    if block or overflow:
                        yield from emit()
                    block, block_bytes, overflow = [], 0, False
                    if is_blank:
                        continue
                if not block and not overflow:
                    start = line_no
                if line is None or block_bytes + len(line) > max_bytes:
                    block, block_bytes, overflow = [], 0, True
                elif not overflow:
                    block.append(line)
                    block_bytes += len(line)
                if separator == "line":
                    yield from emit()
                    block, block_bytes, overflow = [], 0, False
            if block or overflow:
                yield from emit()
        except EOFError:
            # The file was cut: what was read whole stands, the record in progress is quarantined.
            yield cut_record(f"line:{start if block or overflow else line_no + 1}", raw, read)
        except DECOMPRESSION_ERRORS as err:
            raise damaged_stream(path, raw, f"after line {line_no}", err) from err
