"""What a reader yields: a raw document with its locator, or a record it rejected and why; and how far it
got through its input file.

Every reason is a stable snake_case string, one name per fault whichever reader meets it. A `skipped`
record is not a document by design; a `quarantined` record has a fault (`on_record_error: fail` turns it
into an error). Both are written with their locator: skipped ones to `skipped.jsonl.zst`, quarantined ones
to `quarantine.jsonl.zst`, beside the documents.

Skipped:
    empty_text             nothing but blanks: an empty record, a wiki page that renders to nothing, a WET
                           record of whitespace, or a text that normalisation leaves empty (all readers)
    no_text_extracted      an HTML page in which the extractor found no main text (warc)
    not_html               a WARC response that is not HTML (image, PDF …) or has no HTTP headers (warc)
    http_status_3xx        a WARC response with a redirect status: its body is not the page (warc)
    http_status_4xx        … with a client error status (404 pages and the like) (warc)
    http_status_5xx        … with a server error status (warc)
    http_status_other      … with a 1xx status, or none that parses (warc)
    precheck_not_japanese  an HTML page that fails the cheap Japanese pre-check (warc)
    warc_<type>_record     a WARC record of a type that holds no document: warcinfo, request, metadata,
                           revisit, resource, continuation; warc_other_record for a type outside WARC 1.1
    wiki_not_article       a page outside the article namespace (wikipedia)
    wiki_redirect          a redirect page (wikipedia)
    wiki_text_missing      a page whose revision carries no text, e.g. a deleted revision (wikipedia)

Quarantined:
    invalid_utf8           bytes that must be UTF-8 are not: a text document, a JSON line, a WET record
                           (text, jsonl, wet)
    undecodable_html       an HTML page that no charset decodes: not its byte-order mark, not UTF-8, not
                           its declarations, not the detector's guess (warc)
    malformed_record       a record its format cannot parse: a JSON line that is not JSON, a WARC record
                           whose headers do not parse inside an intact gzip member, a wiki page without
                           id, title, ns or revision (jsonl, warc, wet, wikipedia)
    not_an_object          a JSON value that is not an object (jsonl, huggingface)
    missing_text_field     no string in the configured text field (jsonl, parquet, huggingface)
    missing_id_field       no value in the configured id field (jsonl, parquet, huggingface)
    duplicate_record_id    an id seen before in the same file (jsonl, parquet, huggingface)
    record_too_long        over the source's max_record_mb (text, jsonl, parquet, huggingface, warc, wet)
    truncated_record       the file ends inside this record: the file was cut (text, jsonl, warc, wet)
    damaged_record         compressed bytes that do not decompress, at a byte offset; reading goes on at
                           the next gzip member (warc, wet)

Files (`on_file_error` of the source; the record is the rest of the file, locator `file`):
    empty_file             an input of 0 bytes: a failed download or copy
    unreadable_file        a file that cannot be opened, or damage that leaves no way to find the next record
                           (a one-stream .gz, .bz2, .xz or .zst text or JSON Lines file, an uncompressed WARC,
                           an XML dump); the records read before the damage stay
With `on_file_error: fail` these fail the job instead, naming the file and place.
"""

from __future__ import annotations

import dataclasses
import re

SKIP_REASONS = frozenset({
    "empty_text", "no_text_extracted", "not_html", "http_status_3xx", "http_status_4xx", "http_status_5xx",
    "http_status_other", "precheck_not_japanese", "wiki_not_article", "wiki_redirect", "wiki_text_missing",
})
QUARANTINE_REASONS = frozenset({
    "invalid_utf8", "undecodable_html", "malformed_record", "not_an_object", "missing_text_field",
    "missing_id_field", "duplicate_record_id", "record_too_long", "truncated_record", "damaged_record",
    "empty_file", "unreadable_file",
})
WARC_RECORD_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
                     "continuation")
_WARC_SKIP = re.compile(rf"warc_({'|'.join(WARC_RECORD_TYPES)}|other)_record")


def is_known_reason(kind: str, reason: str) -> bool:
    if kind == "skipped":
        return reason in SKIP_REASONS or bool(_WARC_SKIP.fullmatch(reason))
    return kind == "quarantined" and reason in QUARANTINE_REASONS


@dataclasses.dataclass(frozen=True)
class RawDocument:
    text: str
    locator: str  # unique within the file: the id is derived from it
    origin: dict  # reader-specific origin fields (record id, offset, URL, title, line …)


@dataclasses.dataclass(frozen=True)
class Rejected:
    kind: str  # "skipped" (not a document, by design) or "quarantined" (a fault in the record)
    reason: str  # stable snake_case, from the vocabulary above
    locator: str
    detail: str = ""

    def __post_init__(self):
        # A reason outside the vocabulary would split one fault's count in two: refuse it where it is made.
        if not is_known_reason(self.kind, self.reason):
            raise ValueError(f"{self.kind} reason {self.reason!r} is not in hagane.collect.readers' vocabulary")


@dataclasses.dataclass
class FileRead:
    """How far a reader got through one input file, for the manifest: a file whose records all balance can
    still have been read only in part, and the counts alone would not show it."""

    path: str
    size: int  # bytes of the file (of its byte range, for a part of a multistream dump)
    bytes_read: int = 0  # compressed bytes read through, damaged ones included
    bytes_damaged: int = 0  # compressed bytes skipped as damaged_record
    cut: bool = False  # the file ends inside a record or a compressed stream
    error: str | None = None  # why reading stopped, for a file quarantined whole or in part (on_file_error)

    def as_dict(self) -> dict:
        complete = self.bytes_read == self.size and not self.bytes_damaged and not self.cut and not self.error
        return {"path": self.path, "bytes": self.size, "bytes_read": self.bytes_read,
                "bytes_damaged": self.bytes_damaged, "cut": self.cut, "complete": complete,
                **({"error": self.error} if self.error else {})}
