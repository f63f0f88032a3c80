"""Packs (hagane.packs): the plan, list files, and pack jobs that give the same bytes as one job per shard,
redo only unfinished shards, and fail naming the shard that failed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hagane.cli import build_parser
from hagane.config import Shard, source_shards
from hagane.errors import HaganeError
from hagane.packs import (
    Pack,
    pack_record,
    plan_file,
    plan_packs,
    read_packs,
    read_plan,
    write_plan,
    write_shard_list,
)
from conftest import ja_document

SOURCE = {"name": "notes", "type": "text", "separator": "blank_line", "group_mb": 0}


def shards_of(names):
    return {"a": {n: Shard((Path(f"{n}.txt"),), None, (Path("."),)) for n in names}}


def test_packs_are_consecutive_shards_of_one_source():
    shards = {**shards_of(["s1", "s2", "s3", "s4", "s5"]), "b": {"t1": Shard((Path("t1.txt"),), None, (Path("."),))}}
    packs = plan_packs(shards, 2)
    assert packs == [Pack("a", "pack-00000", ("s1", "s2")), Pack("a", "pack-00001", ("s3", "s4")),
                     Pack("a", "pack-00002", ("s5",)), Pack("b", "pack-00000", ("t1",))]
    assert [p.id for p in plan_packs(shards, 64)] == ["a/pack-00000", "b/pack-00000"]
    with pytest.raises(HaganeError, match="at least 1"):
        plan_packs(shards, 0)
    with pytest.raises(HaganeError, match="_packs"):
        plan_packs(shards_of(["_packs"]), 2)


def test_the_plan_is_rewritten_only_when_it_changes(tmp_path):
    shards = shards_of(["s1", "s2", "s3"])
    root = tmp_path / "plan"
    assert write_plan(shards, plan_packs(shards, 2), root) == 3  # two packs and the list
    first = plan_file("a/pack-00000", root)
    stamp = first.stat().st_mtime_ns
    assert write_plan(shards, plan_packs(shards, 2), root) == 0
    assert first.stat().st_mtime_ns == stamp
    plan = read_plan(first)
    assert (plan.id, [s.name for s in plan.shards], plan.shards[0].files) == ("a/pack-00000", ["s1", "s2"],
                                                                              (Path("s1.txt"),))
    # One pack of three: the second pack's file goes, the first changes.
    assert write_plan(shards, plan_packs(shards, 3), root) == 3
    assert not plan_file("a/pack-00001", root).exists()
    assert read_packs(root) == [Pack("a", "pack-00000", ("s1", "s2", "s3"))]
    with pytest.raises(HaganeError, match="no such pack plan"):
        read_plan(root / "a" / "pack-00009.json")


def test_list_files_stand_for_arguments(tmp_path):
    packs = plan_packs(shards_of(["s1", "s2"]), 1)
    path = write_shard_list(packs, "scores", "results/filter/score/{shard}/scores.parquet", root=tmp_path)
    assert path.read_text() == ("results/filter/score/a/s1/scores.parquet\n"
                                "results/filter/score/a/s2/scores.parquet\n")
    args = build_parser().parse_args(["filter", "thresholds", "--filter-json", "{}", "--scores", f"@{path}",
                                      "--out-dir", "x"])
    assert args.scores == [Path("results/filter/score/a/s1/scores.parquet"),
                           Path("results/filter/score/a/s2/scores.parquet")]
    assert write_shard_list(packs, "none", "{shard}", sources=["b"], root=tmp_path).read_text() == ""


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """Four text files of a source, planned in packs of 3 (two packs), in a workflow-like directory."""
    monkeypatch.chdir(tmp_path)
    for i in range(4):
        path = tmp_path / "raw" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n\n".join(ja_document(i + k) for k in range(3)) + "\n", encoding="utf-8")
    source = {**SOURCE, "paths": ["raw/*.txt"]}
    shards = source_shards({"collect": {"sources": [source]}})
    write_plan(shards, plan_packs(shards, 3), Path("results/plan"))
    return source


def hagane(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "hagane", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def collect_pack(source, pack, workers):
    record = pack_record("results/collect", f"notes/{pack}")
    return hagane("collect", "run", "--source-json", json.dumps(source), "--pack", f"results/plan/notes/{pack}.json",
                  "--workers", workers, "--record", record, check=False), record


@pytest.mark.slow
def test_a_pack_job_gives_the_bytes_of_one_job_per_shard(corpus, tmp_path):
    proc, record = collect_pack(corpus, "pack-00000", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shards = json.loads(record.read_text())["shards"]
    assert sorted(shards) == ["f0", "f1", "f2"]
    for i in range(3):
        single = tmp_path / "single" / f"f{i}"
        hagane("collect", "run", "--source-json", json.dumps(corpus), "--input", f"raw/f{i}.txt", "--out-dir", single)
        packed = Path(f"results/collect/notes/f{i}")
        assert (packed / "documents.jsonl.zst").read_bytes() == (single / "documents.jsonl.zst").read_bytes()
        assert shards[f"f{i}"]["counts"]["documents"] == 3


@pytest.mark.slow
def test_a_pack_redoes_only_what_is_not_done_and_names_a_failed_shard(corpus):
    Path("raw/f4.txt").write_bytes(b"")  # an empty input: a failed download
    Path("raw/f5.txt").write_text(ja_document(5) + "\n", encoding="utf-8")
    shards = source_shards({"collect": {"sources": [{**corpus, "paths": ["raw/*.txt"]}]}})
    write_plan(shards, plan_packs(shards, 3), Path("results/plan"))
    corpus = {**corpus, "on_file_error": "fail"}  # a bad file fails its shard (the default quarantines it)
    proc, record = collect_pack(corpus, "pack-00001", 2)
    assert proc.returncode == 2
    assert "1 of 3 shard(s) failed" in proc.stderr and "f4: raw/f4.txt: empty file (0 bytes)" in proc.stderr
    assert not record.exists()  # no record: Snakemake sees the job failed
    done = Path("results/collect/notes/f3/documents.jsonl.zst")
    assert done.is_file() and Path("results/collect/notes/f5/_done.json").is_file()
    stamp = done.stat().st_mtime_ns
    Path("raw/f4.txt").write_text(ja_document(4) + "\n", encoding="utf-8")  # fetched again
    proc, record = collect_pack(corpus, "pack-00001", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 shard(s), 2 already done, 1 to do" in proc.stdout
    assert done.stat().st_mtime_ns == stamp
    # A changed input is made again; so is a shard whose output was damaged or removed.
    os.utime("raw/f3.txt", ns=(stamp + 10**9, stamp + 10**9))
    Path("results/collect/notes/f5/documents.jsonl.zst").unlink()
    proc, _ = collect_pack(corpus, "pack-00001", 1)
    assert "3 shard(s), 1 already done, 2 to do" in proc.stdout


def test_pack_mode_takes_its_options_whole():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["collect", "run", "--pack"])
    proc = hagane("filter", "score", "--filter-json", "{}", "--pack", "p.json", "--documents", "d", check=False)
    assert proc.returncode == 2 and "pack mode takes --pack, --record, --documents-root" in proc.stderr
