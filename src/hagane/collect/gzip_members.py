"""A multi-member gzip file read one member at a time, finding the next member after a damaged one.

A WARC file is compressed record by record: each record is its own gzip member, so damage inside one
member need not cost the records after it. warcio reads members back to back and, at the first damaged
one, prints the zlib error and stops as if the file had ended — the records after it are never seen.
Here each member is decompressed on its own (its CRC checked at its end); where one is damaged, the next
member is found by its header bytes, checked by decompressing its first bytes into what a member must
start with (b"WARC/" for a WARC file).
"""

from __future__ import annotations

import io
import zlib

GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1, ID2 and CM=deflate: every gzip member starts with them
_CHUNK = 1 << 16


class DamagedMember(Exception):
    """The member's compressed data is broken; `offset` is where decompression failed in the file."""

    def __init__(self, offset: int, message: str):
        super().__init__(message)
        self.offset = offset


class Member(io.RawIOBase):
    """The decompressed bytes of one member. Reads end (b"") once the member's trailer has been read and
    its CRC matched, or, with `cut` set, where the file ends inside the member; they raise DamagedMember
    where its data is broken."""

    def __init__(self, members: GzipMembers, start: int):
        self.members, self.start = members, start
        self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing, CRC and length checked
        self.ended = False
        self.cut = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        m = self.members
        while not self.ended and not self.cut:
            if not m.pending and not m.fill():
                self.cut = True
                break
            try:
                out = self.decompressor.decompress(m.pending, size)
            except zlib.error as err:
                raise DamagedMember(m.position, str(err)) from err
            if self.decompressor.eof:
                self.ended = True
                rest = self.decompressor.unused_data
            else:
                rest = self.decompressor.unconsumed_tail
            m.consume(len(m.pending) - len(rest), rest)
            if out:
                return out
        return b""

    def drain(self) -> None:
        """Read the member to its end, so that its CRC is checked and the next member can start."""
        while self._read(_CHUNK):
            pass


class GzipMembers:
    """The members of a gzip file, in order, over a seekable binary file of `size` bytes."""

    def __init__(self, raw, size: int, member_starts_with: bytes):
        self.raw, self.size, self.prefix = raw, size, member_starts_with
        self.position = 0  # file offset of pending[0]
        self.pending = b""  # compressed bytes read from the file, not yet decompressed

    def fill(self) -> bool:
        chunk = self.raw.read(_CHUNK)
        self.pending += chunk
        return bool(chunk)

    def consume(self, n: int, rest: bytes) -> None:
        self.position += n
        self.pending = rest

    def next_member(self) -> Member | None:
        """The member that starts at the current position; None at the end of the file."""
        if not self.pending and not self.fill():
            return None
        return Member(self, self.position)

    def resync(self, after: int) -> int:
        """Move to the first member starting after offset `after`; returns its offset, or the file's size
        where none follows. The bytes in between are the damaged part."""
        scan_from = after + 1
        carry = b""  # the last bytes of the previous chunk: a header may straddle two chunks
        while scan_from < self.size:
            self.raw.seek(scan_from)
            chunk = self.raw.read(_CHUNK)
            if not chunk:
                break
            data, base = carry + chunk, scan_from - len(carry)
            hit = data.find(GZIP_MAGIC)
            while hit >= 0:
                if self._member_at(base + hit):
                    return self._move_to(base + hit)
                hit = data.find(GZIP_MAGIC, hit + 1)
            carry = data[-(len(GZIP_MAGIC) - 1):]
            scan_from += len(chunk)
        return self._move_to(self.size)

    def _move_to(self, offset: int) -> int:
        self.raw.seek(offset)
        self.position, self.pending = offset, b""
        return offset

    def salvage(self, offset: int, limit: int = 1 << 16) -> bytes:
        """What the member at `offset` decompresses to before its damage (at most `limit` bytes), fed in
        small pieces so that little is lost with the piece that fails: enough to name the damaged record."""
        self.raw.seek(offset)
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        while len(out) < limit and not decompressor.eof and (piece := self.raw.read(256)):
            try:
                out += decompressor.decompress(piece, limit - len(out))
            except zlib.error:
                break
        return out

    def _member_at(self, offset: int) -> bool:
        """Whether a real member starts at `offset`: the magic bytes also turn up inside compressed data,
        but there they do not decompress into the start of a record."""
        self.raw.seek(offset)
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        for _ in range(16):  # a record's first bytes come out of the first few KiB of its member
            chunk = self.raw.read(4096)
            if not chunk:
                break
            try:
                out += decompressor.decompress(chunk, len(self.prefix))
            except zlib.error:
                return False
            if len(out) >= len(self.prefix) or decompressor.eof:
                break
        return out.startswith(self.prefix)
