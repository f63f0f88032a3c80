"""The final corpus (after dedup) as a dataset directory: Parquet files, a dataset card, Croissant metadata
and the hash chain back to the raw files — what LLM-jp, Swallow and FineWeb-2 release beside their models.

Layout of `results/publish/corpus/dataset/` (the folder to upload):

    README.md                        the dataset card (Hugging Face metadata header + what a user must know)
    croissant.json                   Croissant 1.1 JSON-LD with the Responsible-AI fields
    provenance.json                  every Parquet file's sha256 and, per shard, the chain of manifests'
                                     sha256 back to the raw files' sha256 — checkable without the workflow
    LICENSES/…                       the licence texts the sources name
    data/<source>/<pack>.parquet     documents: id, text, source, origin (the record's origin as JSON)

One Parquet file per pack (hagane.packs), written by the pack jobs in parallel: the corpus is never read by
one job. `origin` is a JSON string rather than a struct because each reader records different fields (a
WARC record's URL and offset, a text file's line): one struct type would make files of different sources
disagree on their schema, and `datasets` refuses to load those together.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hagane.errors import HaganeError
from hagane.io import atomic_path, read_jsonl_zst, sha256_file, write_json
from hagane.manifest import MANIFEST_NAME, now, write_manifest

PART = "documents.parquet"
DATASET_DIR = "dataset"
SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("origin", pa.string(), nullable=False),
])
# Row groups of a fixed number of rows keep the bytes a function of the documents alone, and let a reader
# stream a file without holding it.
ROW_GROUP_ROWS = 4096
CROISSANT_VERSION = "http://mlcommons.org/croissant/1.1"
CROISSANT_RAI = "http://mlcommons.org/croissant/RAI/1.0"


def write_part(documents: list[Path], out_dir: Path) -> dict:
    """One pack's documents (its shards' document files, in order) as `out_dir/documents.parquet`, with
    a manifest naming the shard files it came from."""
    started = now()
    rows = 0
    with atomic_path(out_dir / PART) as tmp:
        writer = pq.ParquetWriter(tmp, SCHEMA, compression="zstd", use_dictionary=["source"],
                                  write_statistics=False)
        try:
            batch: dict[str, list] = {name: [] for name in SCHEMA.names}

            def flush() -> None:
                writer.write_table(pa.Table.from_pydict(batch, schema=SCHEMA), row_group_size=ROW_GROUP_ROWS)
                for column in batch.values():
                    column.clear()

            for path in documents:
                for doc in read_jsonl_zst(path):
                    batch["id"].append(doc["id"])
                    batch["text"].append(doc["text"])
                    batch["source"].append(doc["source"])
                    batch["origin"].append(json.dumps(doc["origin"], ensure_ascii=False, sort_keys=True,
                                                      separators=(",", ":")))
                    rows += 1
                    if len(batch["id"]) == ROW_GROUP_ROWS:
                        flush()
            if batch["id"] or rows == 0:
                flush()  # a pack whose documents were all dropped still gets a file with the schema
        finally:
            writer.close()
    counts = {"rows": rows}
    write_manifest(out_dir, stage="dataset_part", config={"row_group_rows": ROW_GROUP_ROWS},
                   inputs=documents, outputs=[out_dir / PART], counts=counts, started_at=started)
    return counts


def _manifest_sha(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def shard_chain(shard: str, results: Path, hashed: dict[Path, str | None] | None = None) -> dict:
    """The manifests that made one shard's final documents, newest first, each with its sha256, and the raw
    files the collect manifest read: a downloader compares those with their own copy of the sources.
    `hashed` carries the digests across a caller's loop over shards: the exact-dedup manifest is shared by
    every shard and grows with the corpus, so hashing it once per shard would make the chain quadratic."""
    hashed = {} if hashed is None else hashed

    def sha(path: Path) -> str | None:
        if path not in hashed:
            hashed[path] = _manifest_sha(path)
        return hashed[path]

    collect = results / "collect" / shard / MANIFEST_NAME
    if not collect.is_file():
        raise HaganeError(f"{collect}: missing; the dataset's hash chain for shard {shard} starts there")
    raw = json.loads(collect.read_text())
    roots = raw["config"].get("roots", [])

    def relative(path: str) -> str:
        for root in roots:
            if Path(path).is_relative_to(root):
                return Path(path).relative_to(root).as_posix()
        return path

    stages = {"near_dedup": results / "dedup" / shard / MANIFEST_NAME,
              "exact_dedup": results / "dedup" / "exact" / MANIFEST_NAME,
              "select": results / "filter" / "select" / shard / MANIFEST_NAME,
              "score": results / "filter" / "score" / shard / MANIFEST_NAME,
              "collect": collect}
    return {"manifests": {stage: sha(path) for stage, path in stages.items()},
            "raw_files": [{"path": relative(f["path"]), "size": f["size"], "sha256": f["sha256"]}
                          for f in raw["inputs"]]}


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)  # no second copy of the corpus where the file system allows
    except OSError:
        shutil.copyfile(src, dst)


def publish_dataset(parts: dict[str, Path], shards: dict[str, list[str]], funnel: dict, settings: dict,
                    sources: list[dict], name: str, out_dir: Path, results: Path = Path("results"), *,
                    url: str | None = None, version: str | None = None) -> dict:
    """The dataset directory `out_dir/dataset` from the pack parts ({source/pack: part directory}), the
    shards in each part ({source/pack: [source/shard, …]}), the corpus funnel ({"steps", "dropped",
    "inputs"}: hagane.report.plots.funnel_counts and the files it read, which the manifest records so that
    the audit follows them), the filter and dedup settings, and the sources as configured (name, type,
    licence fields)."""
    started = now()
    files = []
    rows_by_source: Counter = Counter()
    with atomic_path(out_dir / DATASET_DIR) as tmp:
        tmp.mkdir(parents=True)
        for pack_id in sorted(parts):
            part = Path(parts[pack_id]) / PART
            rows = pq.ParquetFile(part).metadata.num_rows
            rel = f"data/{pack_id}.parquet"
            _link_or_copy(part, tmp / rel)
            source = pack_id.split("/", 1)[0]
            rows_by_source[source] += rows
            files.append({"path": rel, "source": source, "rows": rows, "size": part.stat().st_size,
                          "sha256": sha256_file(part), "shards": shards[pack_id]})
        licence_files = copy_licences(sources, tmp)
        hashed: dict[Path, str | None] = {}
        chain = {shard: shard_chain(shard, results, hashed) for pack_id in sorted(shards) for shard in shards[pack_id]}
        # The corpus is as old as its last dedup (not the time this job ran): reruns of this job alone
        # give the same metadata.
        exact = results / "dedup" / "exact" / MANIFEST_NAME
        made = json.loads(exact.read_text())["finished_at"][:10] if exact.is_file() else None
        facts = {"name": name, "url": url, "version": version, "date": made, "files": files, "rows_by_source": dict(rows_by_source),
                 "funnel": funnel, "settings": settings,
                 "sources": sources, "licence_files": licence_files}
        write_json(tmp / "provenance.json", {"files": files, "shards": chain,
                                             "inputs_not_read_whole": funnel.get("files not read whole", [])})
        (tmp / "README.md").write_text(render_dataset_card(facts), encoding="utf-8")
        write_json(tmp / "croissant.json", croissant_metadata(facts))
    counts = {"rows": sum(rows_by_source.values()), "rows_by_source": dict(sorted(rows_by_source.items())),
              "files": len(files)}
    # Stage "publish": the audit starts its walk here and allows no file in the folder the manifest does not
    # record.
    write_manifest(out_dir, stage="publish", config={"name": name, "settings": settings},
                   inputs=[*(Path(parts[p]) / PART for p in sorted(parts)), *funnel.get("inputs", [])],
                   outputs=[out_dir / DATASET_DIR], counts=counts, started_at=started)
    print(f"published {out_dir / DATASET_DIR}: {counts['rows']:,} documents in {len(files)} Parquet file(s)")
    return counts


def copy_licences(sources: list[dict], dataset: Path) -> dict[str, list[str]]:
    """Each source's licence files into LICENSES/ (one copy of a text several sources share)."""
    copied: dict[str, list[str]] = {}
    for source in sources:
        names = []
        for file in source.get("license_files") or ():
            path = Path(file)
            if not path.is_file():
                raise HaganeError(f"source {source['name']!r}: licence file {path} does not exist")
            target = dataset / "LICENSES" / path.name
            if not target.exists():
                _link_or_copy(path, target)
            elif sha256_file(target) != sha256_file(path):
                raise HaganeError(f"source {source['name']!r}: two different licence files are named "
                                  f"{path.name}; rename one")
            names.append(f"LICENSES/{path.name}")
        copied[source["name"]] = names
    return copied


def _licence_ids(sources: list[dict]) -> list[str]:
    return sorted({s["license"] for s in sources if s.get("license")})


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_dataset_card(facts: dict) -> str:
    """The dataset card: Hugging Face's metadata header (licence, language, the Parquet files as the train
    split) and the facts a user needs before training on the corpus."""
    sources, funnel = facts["sources"], facts["funnel"]
    total = sum(facts["rows_by_source"].values())
    licences = _licence_ids(sources)
    # Hugging Face takes SPDX-like ids; a licence of one's own (SPDX's LicenseRef-…) is `other` there, with
    # its name and where to read it.
    custom = [s for s in sources if (s.get("license") or "").startswith("LicenseRef-")]
    hf_licences = sorted({"other" if lic.startswith("LicenseRef-") else lic for lic in licences})
    size = ("n<1K" if total < 1_000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000
            else "100K<n<1M" if total < 1_000_000 else "1M<n<10M" if total < 10_000_000 else "n>10M")
    header = ["---", "language:\n- ja", "license:" + "".join(f"\n- {lic}" for lic in hf_licences) if licences
              else "license: unknown",
              *([f"license_name: {custom[0]['license'].removeprefix('LicenseRef-').lower()}",
                 f"license_link: {_licence_target(custom[0], facts['licence_files'])}"] if custom else []),
              "task_categories:\n- text-generation", f"size_categories:\n- {size}",
              "tags:\n- hagane", "configs:\n- config_name: default\n  data_files:\n  - split: train\n"
              "    path: data/*/*.parquet", "---"]
    steps = funnel["steps"]
    parts = [
        *header, "",
        f"# {facts['name']}", "",
        f"A Japanese text corpus of {total:,} documents, curated with Hagane from the sources below: collected, "
        "filtered by language, Japanese heuristics and quality scores, and deduplicated (exact and MinHash). "
        "It is pretraining text: documents as they were published, with no instruction, translation or "
        "annotation added.", "",
        "## Loading", "",
        "```python\nfrom datasets import load_dataset\n"
        "corpus = load_dataset(\"parquet\", data_dir=\"data\", split=\"train\")\n```", "",
        "Columns: `id` (stable: a hash of the source name and the record's place in its raw file), `text`, "
        "`source` (the source's name below), `origin` (JSON: the raw file's path and sha256, the record's "
        "locator, and what its reader recorded — URL, title, WARC record id, line).", "",
        "## Sources and licences", "",
        _table(["source", "type", "documents", "licence", "attribution"],
               [[s["name"], s["type"], f"{facts['rows_by_source'].get(s['name'], 0):,}",
                 _licence_cell(s, facts["licence_files"]), s.get("attribution") or "—"] for s in sources]),
        "",
        "Each document stays under the licence of its source; this card and the metadata files are "
        "descriptions of the corpus and carry no licence of their own.", "",
        "## How it was made", "",
        _table(["step", "documents"], [[k, f"{v:,}"] for k, v in steps.items()]), "",
        "Dropped, skipped or quarantined, by reason:", "",
        _table(["reason", "documents"], [[k, f"{v:,}"] for k, v in funnel["dropped"].items()]) if funnel["dropped"]
        else "(none)", "",
        *_partial_files(funnel.get("files not read whole", [])),
        "Settings (Hagane's config sections):", "",
        "```json\n" + json.dumps(facts["settings"], ensure_ascii=False, indent=2, sort_keys=True) + "\n```", "",
        "## Checking it", "",
        "`croissant.json` lists every Parquet file with its sha256 (Croissant 1.1, with the Responsible-AI "
        "fields). `provenance.json` gives, for every shard in every file, the sha256 of each stage's manifest "
        "that made it (collect → score → select → exact dedup → near dedup) and the sha256 of the raw files it "
        "was collected from: compare those with your own copy of the sources. With the workflow's `results/`, "
        "`hagane audit verify results` recomputes the whole chain.", "",
        "## Limitations", "",
        "- Filtering is by automatic scores (language identification, heuristics, perplexity and a quality "
        "classifier): it removes much but not all boilerplate, spam and machine-written text, and it drops "
        "some good text.",
        f"- {_pii_statement(funnel)}",
        "- The corpus inherits the topics, registers and biases of its sources.", "",
    ]
    return "\n".join(parts)


def _pii_statement(funnel: dict) -> str:
    """What was done about personal information, from the redaction stage's counts in the funnel."""
    pii = funnel.get("pii")
    if pii is None:
        return ("Personal information was not redacted: e-mail addresses, telephone numbers, names and addresses "
                "in the sources remain.")
    found = ", ".join(f"{kind} {n:,}" for kind, n in pii.items())
    return (f"E-mail addresses, Japanese telephone numbers, postal codes, My Number, payment card numbers and IP "
            f"addresses of the kinds enabled were replaced by typed placeholders such as <EMAIL> ({found or 'none'}"
            " replaced). Names and street addresses are not detected and remain.")


def _partial_files(partial: list[dict], shown: int = 20) -> list[str]:
    """The input files collection did not read whole (quarantined, cut or damaged): a user of the corpus
    should know which parts of the sources are missing from it."""
    if not partial:
        return []
    rows = [[f["source"], f["path"], f.get("error") or ("cut short" if f["cut"] else
             f"{f['bytes_damaged']:,} bytes damaged")] for f in partial[:shown]]
    more = [f"… and {len(partial) - shown:,} more (`provenance.json`)."] if len(partial) > shown else []
    return [f"Input files not read whole ({len(partial):,}): their unread part is not in the corpus.", "",
            _table(["source", "file", "why"], rows), *more, ""]


def _licence_target(source: dict, licence_files: dict[str, list[str]]) -> str:
    return source.get("license_link") or next(iter(licence_files.get(source["name"]) or []), "README.md")


def _licence_cell(source: dict, licence_files: dict[str, list[str]]) -> str:
    text = source.get("license") or "not declared"
    if source.get("license_link"):
        text = f"[{text}]({source['license_link']})"
    files = licence_files.get(source["name"]) or []
    return text + (" (" + ", ".join(f"[{Path(f).name}]({f})" for f in files) + ")" if files else "")


def croissant_metadata(facts: dict) -> dict:
    """Croissant 1.1 JSON-LD: one FileObject per Parquet file (with its sha256), a FileSet over them, and
    one RecordSet of the four columns; the Responsible-AI fields describe collection and processing."""
    sources, funnel = facts["sources"], facts["funnel"]
    distribution = [{"@type": "cr:FileObject", "@id": f["path"], "name": f["path"], "contentUrl": f["path"],
                     "contentSize": f"{f['size']} B", "encodingFormat": "application/x-parquet",
                     "sha256": f["sha256"]} for f in facts["files"]]
    # The set the record set reads: files beside croissant.json that match `includes` (a FileSet contained
    # in nothing is read from the metadata's own folder). The FileObjects above pin each file's sha256.
    distribution.append({"@type": "cr:FileSet", "@id": "parquet-files", "name": "parquet-files",
                         "encodingFormat": "application/x-parquet", "includes": "data/*/*.parquet"})
    descriptions = {"id": "Stable document id: a hash of the source name and the record's place in its raw file.",
                    "text": "The document's text.", "source": "The name of the source it was collected from.",
                    "origin": "JSON: raw file path and sha256, locator, and reader-specific fields."}
    fields = [{"@type": "cr:Field", "@id": f"documents/{column}", "name": column, "description": text,
               "dataType": "sc:Text", "source": {"fileSet": {"@id": "parquet-files"},
                                                 "extract": {"column": column}}}
              for column, text in descriptions.items()]
    steps = ", ".join(f"{k}: {v:,}" for k, v in funnel["steps"].items())
    licences = [s.get("license_link") or s.get("license") for s in sources if s.get("license")]
    return {
        "@context": _CONTEXT,
        "@type": "sc:Dataset",
        "name": facts["name"],
        "description": f"Japanese pretraining corpus curated with Hagane ({sum(facts['rows_by_source'].values()):,}"
                       " documents).",
        "conformsTo": [CROISSANT_VERSION, CROISSANT_RAI],
        "inLanguage": "ja",
        "license": licences or "unknown",
        **({"url": facts["url"]} if facts.get("url") else {}),
        "version": facts.get("version") or "1.0.0",
        **({"datePublished": facts["date"]} if facts.get("date") else {}),
        "creator": {"@type": "sc:Organization", "name": "Hagane workflow"},
        "citeAs": "; ".join(s["attribution"] for s in sources if s.get("attribution")) or facts["name"],
        "distribution": distribution,
        "recordSet": [{"@type": "cr:RecordSet", "@id": "documents", "name": "documents",
                       "key": {"@id": "documents/id"}, "field": fields}],
        "rai:dataCollection": "Collected from the sources listed in the dataset card ("
                              + ", ".join(f"{s['name']}: {s['type']}" for s in sources)
                              + "); web pages' main text extracted with trafilatura.",
        "rai:dataCollectionType": "Web Scraping" if any(s["type"] in ("warc", "wet") for s in sources)
        else "Secondary Data Analysis",
        "rai:dataCollectionRawData": "; ".join(f"{s['name']}: {', '.join(s.get('paths') or [s.get('dataset') or ''])}"
                                               for s in sources),
        "rai:dataPreprocessingProtocol": [
            "Unicode normalisation and control-character removal per source",
            "language identification, Japanese heuristics, KenLM perplexity and fastText quality filtering",
            "exact and MinHash near-duplicate removal", f"documents at each step: {steps}"],
        "rai:dataManipulationProtocol": "No text was added or rewritten beyond normalisation.",
        "rai:dataAnnotationProtocol": "No human annotation: every score is automatic.",
        "rai:personalSensitiveInformation": _pii_statement(funnel),
        "rai:dataBiases": "Inherits the topics, registers and biases of its sources; quality filters favour "
                          "text that resembles their reference corpora.",
        "rai:dataLimitations": "Automatic filtering leaves some boilerplate, spam and machine-written text "
                               "and drops some good text.",
        "rai:dataUseCases": "Pretraining Japanese language models.",
        "rai:dataSocialImpact": "Better Japanese language models; misuse potential as for any web text.",
        "rai:dataReleaseMaintenancePlan": "Rebuilt by rerunning the workflow; no separate maintenance.",
    }


# The JSON-LD context Croissant 1.1 documents (its spec's "@context"): schema.org as the vocabulary, the cr:
# and rai: namespaces, and the Croissant terms this file uses.
_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
