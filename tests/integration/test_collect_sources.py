"""Every source type through Snakemake's collect rule: a Wikipedia multistream dump cut into byte ranges
by its index, CC-100 style .xz text, JSON Lines through the `datasets` json builder, a saved Hugging
Face dataset read whole, and many small files grouped into a few jobs. Checks the jobs Snakemake plans
and the accounting of each."""

from __future__ import annotations

import json
import lzma

import datasets
import pytest
import yaml

from conftest import JA_PARAGRAPHS, ja_document
from hagane.io import read_jsonl_zst
from test_workflow import REPO, planned_jobs, snakemake
from wikidump import PAGES, write_multistream

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    work = tmp_path_factory.mktemp("sources")
    (work / "wiki").mkdir()
    write_multistream(work / "wiki" / "jawiki-20240501-pages-articles-multistream.xml.bz2", PAGES, index=True)
    (work / "cc100").mkdir()
    with lzma.open(work / "cc100" / "ja.txt.xz", "wt", encoding="utf-8") as f:
        f.write("\n\n".join(ja_document(i) for i in range(4)) + "\n")
    (work / "jsonl").mkdir()
    for i in range(6):  # six small files: two jobs of three at group_mb ≈ 3 files
        (work / "jsonl" / f"part-{i}.jsonl").write_text(
            json.dumps({"text": f"{i}番目の文書。" + JA_PARAGRAPHS[i % 4]}, ensure_ascii=False) + "\n", encoding="utf-8")
    datasets.Dataset.from_dict({"text": JA_PARAGRAPHS}).save_to_disk(str(work / "saved"))
    part_size = (work / "jsonl" / "part-0.jsonl").stat().st_size
    config = yaml.safe_load((REPO / "tests" / "integration" / "config.yaml").read_text())
    config["filter"]["kenlm"]["reference_sources"] = []  # their reference source is not among these
    config["filter"]["quality"]["reference_sources"] = []
    config["filter"]["select"]["thresholds"].pop("kenlm_ppl", None)  # no KenLM model without its sources
    config["shards_per_job"] = 2  # the three Wikipedia streams are two packs
    config["collect"]["sources"] = [
        {"name": "jawiki", "type": "wikipedia", "paths": ["wiki/*.xml.bz2"], "group_mb": 1e-6},  # a job per stream
        {"name": "cc100", "type": "text", "paths": ["cc100/*.txt.xz"]},
        {"name": "hf_json", "type": "huggingface", "dataset": "json", "paths": ["jsonl/*.jsonl"],
         "group_mb": 3.5 * part_size / 2**20},
        {"name": "hf_saved", "type": "huggingface", "dataset": "saved"},
    ]
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return work


def test_every_source_type_is_collected_by_its_own_jobs(sources):
    dry = snakemake(sources, "--until", "collect_documents", "-n", config=sources / "config.yaml")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    # 7 shards (3 wiki streams, cc100, 2 groups of jsonl, saved) in 5 packs of at most 2 shards of one source
    assert planned_jobs(dry.stdout)["collect_documents"] == 5
    proc = snakemake(sources, "--until", "collect_documents", config=sources / "config.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = sources / "results" / "collect"
    counts = {str(m.parent.relative_to(results)): json.loads(m.read_text())["counts"]
              for m in sorted(results.rglob("_manifest.json"))}
    # Every input file (or byte range of the dump) was read whole; the saved dataset is no file of a source.
    files = {shard: c.pop("files") for shard, c in counts.items()}
    assert all(f["complete"] and f["bytes_read"] == f["bytes"] for entries in files.values() for f in entries)
    assert [len(entries) for entries in files.values()] == [1, 3, 3, 0, 1, 1, 1]
    for shard in counts:
        assert (results / shard / "skipped.jsonl.zst").is_file()
    packs = sorted(str(p.relative_to(results)) for p in results.glob("*/_packs/*.json"))
    assert packs == ["cc100/_packs/pack-00000.json", "hf_json/_packs/pack-00000.json", "hf_saved/_packs/pack-00000.json",
                     "jawiki/_packs/pack-00000.json", "jawiki/_packs/pack-00001.json"]
    assert counts == {
        "cc100/ja": {"records_seen": 4, "documents": 4, "skipped": {}, "quarantined": {}},
        "hf_json/part-0--part-2": {"records_seen": 3, "documents": 3, "skipped": {}, "quarantined": {}},
        "hf_json/part-3--part-5": {"records_seen": 3, "documents": 3, "skipped": {}, "quarantined": {}},
        "hf_saved/all": {"records_seen": 4, "documents": 4, "skipped": {}, "quarantined": {}},
        "jawiki/jawiki-20240501-pages-articles-multistream.p00000": {
            "records_seen": 2, "documents": 1, "quarantined": {}, "skipped": {"wiki_redirect": 1}},
        "jawiki/jawiki-20240501-pages-articles-multistream.p00001": {
            "records_seen": 2, "documents": 0, "quarantined": {}, "skipped": {"wiki_not_article": 2}},
        "jawiki/jawiki-20240501-pages-articles-multistream.p00002": {
            "records_seen": 2, "documents": 1, "quarantined": {}, "skipped": {"empty_text": 1}},
    }
    grouped = list(read_jsonl_zst(results / "hf_json" / "part-3--part-5" / "documents.jsonl.zst"))
    assert [d["origin"]["path"] for d in grouped] == ["part-3.jsonl", "part-4.jsonl", "part-5.jsonl"]
    wiki = next(read_jsonl_zst(results / "jawiki" / "jawiki-20240501-pages-articles-multistream.p00000" / "documents.jsonl.zst"))
    assert wiki["origin"]["title"] == "玉鋼" and wiki["origin"]["page_id"] == 11
