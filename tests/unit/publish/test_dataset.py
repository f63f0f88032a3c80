"""The corpus as a dataset directory: Parquet parts per pack, a card, Croissant metadata that mlcroissant
accepts and reads back, a hash chain to the raw files, and `datasets` loading it."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hagane.errors import HaganeError
from hagane.io import sha256_file, write_jsonl_zst
from hagane.manifest import write_manifest
from hagane.publish.dataset import PART, publish_dataset, write_part

SOURCES = [
    {"name": "web", "type": "warc", "paths": ["raw/web.warc.gz"], "license": "CC-BY-SA-3.0",
     "license_link": "https://creativecommons.org/licenses/by-sa/3.0/", "attribution": "The Debian project"},
    {"name": "notes", "type": "text", "paths": ["raw/notes.txt"], "license": "GPL-2.0-or-later",
     "attribution": "SKK developers"},
]


def _docs(source: str, shard: str, n: int) -> list[dict]:
    return [{"id": f"{source}-{shard}-{i:04d}", "text": f"これは{source}の{i}番目の文書です。\n二行目。",
             "source": source, "origin": {"path": f"{shard}.raw", "sha256": "ab" * 32, "locator": f"line:{i}",
                                          **({"url": f"https://example.jp/{i}"} if source == "web" else {})}}
            for i in range(n)]


def _upstream(tmp: Path, shards: dict[str, int]) -> Path:
    """results/ with the manifests a shard's chain names and the near-dedup documents."""
    results = tmp / "results"
    raw = tmp / "raw"
    raw.mkdir(exist_ok=True)
    for shard, n in shards.items():
        source, name = shard.split("/")
        raw_file = raw / f"{name}.raw"
        raw_file.write_text(f"raw bytes of {name}\n")
        write_manifest(results / "collect" / shard, stage="collect", config={"roots": [str(raw)]},
                       inputs=[raw_file], outputs=[], counts={}, started_at="t")
        for stage in ("filter/score", "filter/select"):
            write_manifest(results / stage / shard, stage=stage, config={}, inputs=[], outputs=[], counts={},
                           started_at="t")
        out = results / "dedup" / shard
        write_jsonl_zst(out / "documents.jsonl.zst", _docs(source, name, n))
        write_manifest(out, stage="near", config={}, inputs=[], outputs=[out / "documents.jsonl.zst"],
                       counts={}, started_at="t")
    write_manifest(results / "dedup" / "exact", stage="dedup", config={}, inputs=[], outputs=[], counts={},
                   started_at="t")
    return results


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("CC-BY-SA-3.0", "GPL-2"):
        (tmp_path / name).write_text(f"licence text {name}\n")
    sources = [{**SOURCES[0], "license_files": ["CC-BY-SA-3.0"]}, {**SOURCES[1], "license_files": ["GPL-2"]}]
    shards = {"web/a": 5000, "web/b": 3, "notes/c": 0, "notes/d": 7}
    results = _upstream(tmp_path, shards)
    packs = {"web/pack-00000": ["web/a", "web/b"], "notes/pack-00000": ["notes/c", "notes/d"]}
    parts = {}
    for pack_id, members in packs.items():
        source, pack = pack_id.split("/")
        parts[pack_id] = results / "publish/corpus/parts" / source / pack
        write_part([results / "dedup" / s / "documents.jsonl.zst" for s in members], parts[pack_id])
    funnel = {"steps": {"records": 6000, "documents": 5500, "after near dedup": 5010},
              "dropped": {"filter: too_short": 400, "dedup: exact_duplicate": 90}, "pii": {"email": 3, "phone": 0}}
    counts = publish_dataset(parts, packs, funnel, {"filter": {"preset": "swallow_v1"}}, sources,
                             "hagane-demo-corpus", results / "publish/corpus", results=results)
    return results / "publish/corpus/dataset", counts


def test_parts_keep_every_document_in_order_with_the_schema(tmp_path):
    src = tmp_path / "docs.jsonl.zst"
    docs = _docs("web", "a", 10_000)
    write_jsonl_zst(src, docs)
    write_part([src], tmp_path / "part")
    table = pq.read_table(tmp_path / "part" / PART)
    assert table.column_names == ["id", "text", "source", "origin"]
    assert table.column("id").to_pylist() == [d["id"] for d in docs]
    assert json.loads(table.column("origin")[3].as_py()) == docs[3]["origin"]
    assert pq.ParquetFile(tmp_path / "part" / PART).metadata.num_row_groups == 3  # 4,096 rows each
    first = sha256_file(tmp_path / "part" / PART)
    write_part([src], tmp_path / "part")
    assert sha256_file(tmp_path / "part" / PART) == first  # same documents, same bytes


def test_datasets_loads_every_document(dataset):
    directory, counts = dataset
    import datasets

    assert counts["rows"] == 5010
    loaded = datasets.load_dataset("parquet", data_dir=str(directory / "data"), split="train")
    assert len(loaded) == 5010 and set(loaded["source"]) == {"web", "notes"}
    # The card's own metadata header names the files, so the folder loads as it is uploaded.
    by_card = datasets.load_dataset(str(directory), split="train")
    assert sorted(by_card["id"]) == sorted(loaded["id"])


def test_croissant_is_valid_and_reads_back(dataset):
    directory, _ = dataset
    import mlcroissant

    meta = json.loads((directory / "croissant.json").read_text())
    assert "http://mlcommons.org/croissant/1.1" in meta["conformsTo"]
    assert {"rai:dataCollection", "rai:personalSensitiveInformation", "rai:dataLimitations"} <= set(meta)
    ds = mlcroissant.Dataset(jsonld=str(directory / "croissant.json"))
    issues = ds.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    records = list(ds.records(record_set="documents"))
    assert len(records) == 5010
    assert records[0]["documents/source"] in (b"web", b"notes")
    files = {d["contentUrl"]: d["sha256"] for d in meta["distribution"] if d["@type"] == "cr:FileObject"}
    assert files == {p: sha256_file(directory / p) for p in files}


def test_card_states_licences_funnel_and_loading(dataset):
    directory, _ = dataset
    card = (directory / "README.md").read_text()
    assert "license:\n- CC-BY-SA-3.0\n- GPL-2.0-or-later" in card
    assert "The Debian project" in card and "| dedup: exact_duplicate | 90 |" in card
    assert "[GPL-2](LICENSES/GPL-2)" in card and (directory / "LICENSES" / "GPL-2").read_text().startswith("licence")
    assert "swallow_v1" in card and "load_dataset" in card
    assert "<EMAIL> (email 3, phone 0 replaced)" in card  # what redaction did, from the funnel


def test_provenance_chains_every_shard_to_its_raw_files(dataset, tmp_path):
    directory, _ = dataset
    provenance = json.loads((directory / "provenance.json").read_text())
    chain = provenance["shards"]["notes/d"]
    assert chain["raw_files"] == [{"path": "d.raw", "size": (tmp_path / "raw/d.raw").stat().st_size,
                                   "sha256": sha256_file(tmp_path / "raw/d.raw")}]
    assert chain["manifests"]["collect"] == sha256_file(tmp_path / "results/collect/notes/d/_manifest.json")
    assert set(chain["manifests"]) == {"collect", "score", "select", "exact_dedup", "near_dedup"}
    # Nothing but published files: no manifest or Snakemake marker goes into the folder.
    names = {p.name for p in directory.rglob("*") if p.is_file()}
    assert not {n for n in names if n.startswith((".", "_"))}


def test_a_missing_collect_manifest_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = _upstream(tmp_path, {"web/a": 2})
    (results / "collect/web/a/_manifest.json").unlink()
    part = results / "publish/corpus/parts/web/pack-00000"
    write_part([results / "dedup/web/a/documents.jsonl.zst"], part)
    funnel = {"steps": {}, "dropped": {}}
    with pytest.raises(HaganeError, match=r"collect/web/a/_manifest.json: missing"):
        publish_dataset({"web/pack-00000": part}, {"web/pack-00000": ["web/a"]}, funnel, {}, SOURCES[:1], "x",
                        results / "publish/corpus", results=results)
