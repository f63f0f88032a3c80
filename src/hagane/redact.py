"""PII redaction as a stage: one shard of selected documents → the same records with personal information
replaced by typed placeholders (hagane.pii), and the counts.

It sits between selection and dedup. After selection, because redaction costs per document and dropped
documents need none; before dedup, because two pages that differ only in a maintainer's address are one
document once both read <EMAIL>, so exact and MinHash dedup see the copies redaction makes equal, and the
line dedup after it sees one footer instead of one per address.

Per shard it writes
- `documents.jsonl.zst`: every input record, in order, with `text` redacted and nothing else changed;
- `pii.parquet`: one row per document, `id` and one `pii_<kind>` column per kind asked for (the counts
  beside the scores, as the issue asks: a reader joins them on `id`);
- `counts.json`: documents in and out (equal: redaction drops nothing), documents with any PII, and the
  total per kind — also in the manifest's counts, which the funnel sums.

With `pii.enabled: false` the stage copies the records unchanged and writes no kind columns: the chain
after selection keeps one shape whether or not redaction ran, and the manifest records that it was off.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hagane.config import PiiConfig
from hagane.io import atomic_path, jsonl_zst_writer, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest
from hagane.pii import Redactor

DOCUMENTS, PII, COUNTS = "documents.jsonl.zst", "pii.parquet", "counts.json"


def redact_shard(cfg: PiiConfig, documents: Path, out_dir: Path) -> dict:
    """Redact one shard's documents into `out_dir`; return its counts."""
    started = now()
    redactor = Redactor(cfg.kinds) if cfg.enabled else None
    kinds = redactor.kinds if redactor is not None else ()
    ids: list[str] = []
    columns: dict[str, list[int]] = {kind: [] for kind in kinds}
    with_pii = 0
    with jsonl_zst_writer(out_dir / DOCUMENTS) as write:
        for doc in read_jsonl_zst(documents):
            if redactor is not None:
                text, found = redactor.redact(doc["text"])
                doc = {**doc, "text": text}
                for kind in kinds:
                    columns[kind].append(found[kind])
                with_pii += any(found.values())
            ids.append(doc["id"])
            write(doc)
    table = pa.table({"id": pa.array(ids, pa.string()),
                      **{f"pii_{kind}": pa.array(columns[kind], pa.int32()) for kind in kinds}})
    with atomic_path(out_dir / PII) as tmp:
        pq.write_table(table, tmp)
    counts = {"documents_in": len(ids), "kept": len(ids), "dropped": {}, "documents_with_pii": with_pii,
              "pii": {kind: sum(columns[kind]) for kind in kinds}}
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="redact", config={"pii": {"enabled": cfg.enabled, "kinds": list(kinds)}},
                   inputs=[documents], outputs=[out_dir / DOCUMENTS, out_dir / PII, out_dir / COUNTS],
                   counts=counts, started_at=started)
    print(f"redact {documents}: {counts}")
    return counts
