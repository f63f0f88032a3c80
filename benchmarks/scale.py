"""The scale run: collect → filter → dedup (exact + MinHash) → tokenizer → tokenize over a corpus of N
documents (benchmarks/scale_corpus.py), as a user runs it — `snakemake --profile workflow/profiles/local
--until tokenize_documents` — measured from the jobs' own benchmark files and the shards' markers.

    .venv/bin/python benchmarks/scale.py --documents 100000 1000000

For each size: wall and CPU per stage (Snakemake's benchmark: files, summed over the stage's jobs), the
peak memory of the stage's largest job, documents per second per core end to end; what the workflow and
the jobs cost beyond the work itself (the work: CPU seconds of each shard's stage function, recorded in
its _done.json; the jobs: their CPU; end to end: the run's wall × cores); dedup recall and precision on
the injected copies; and, between sizes, whether time grows linearly and memory stays flat. The corpus
is the demo's two sources (the KenLM and quality models' reference, as in the demo) plus N generated
documents in files of 10,000. Writes benchmarks/scale.results.{json,md} (a benchmark, not part of
`make test`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import ROOT, git_revision, load_average, machine  # noqa: E402
from scale_corpus import build as build_corpus  # noqa: E402

SOURCE = "web_scale"
STAGES = {  # benchmark folder → stage name in the tables
    "collect": "collect", "filter/kenlm": "train_kenlm", "filter/quality": "train_quality",
    "filter/score": "score", "filter/thresholds": "thresholds", "filter/select": "select",
    "dedup/exact": "dedup_exact", "dedup/minhash/signatures": "minhash_signatures",
    "dedup/minhash/buckets": "minhash_buckets", "dedup/minhash/clusters": "minhash_clusters",
    "dedup/near": "dedup_near", "tokenizer/train": "train_tokenizer", "tokenize": "tokenize",
}
# Stages that see the whole corpus in one job: their memory per document is what README states.
WHOLE_CORPUS = ("train_quality", "dedup_exact", "minhash_buckets", "minhash_clusters", "train_tokenizer")


def stage_of(tsv: Path, root: Path) -> str:
    rel = tsv.relative_to(root).as_posix()
    for prefix in sorted(STAGES, key=len, reverse=True):
        if rel == f"{prefix}.tsv" or rel.startswith(prefix + "/"):
            return STAGES[prefix]
    return rel


def job_figures(work: Path) -> dict[str, dict]:
    """Per stage: jobs, wall and CPU seconds summed, the largest job's peak RSS (MB)."""
    stages: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0})
    root = work / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
        if not rows:
            continue
        row = rows[-1]
        stage = stages[stage_of(tsv, root)]
        stage["jobs"] += 1
        stage["wall_s"] += float(row["s"])
        stage["cpu_s"] += float(row["cpu_time"] or 0)
        stage["max_rss_mb"] = max(stage["max_rss_mb"], float(row["max_rss"] or 0))
    return {k: {kk: round(vv, 2) if isinstance(vv, float) else vv for kk, vv in v.items()} for k, v in stages.items()}


# What each pack stage's resources are computed from (rules/*.smk: pack_resources): the raw files, or the
# record of an earlier stage's pack.
UPSTREAM = {"score": "collect", "select": "collect", "minhash_signatures": "filter/select", "dedup_near": "filter/select",
            "tokenize": "dedup"}
PACK_STAGES = {"collect": "collect", "score": "filter/score", "select": "filter/select",
               "minhash_signatures": "dedup/minhash/signatures", "dedup_near": "dedup/near", "tokenize": "tokenize"}


def resource_fit(work: Path) -> dict[str, dict]:
    """Per pack stage, over its jobs: input MB read, CPU s and peak RSS, and what hagane.resources models
    from them: MB per CPU second of one worker, and peak RSS against the largest shard's MB."""
    from hagane.packs import read_plan, record_bytes

    fit = {}
    for stage, bench in PACK_STAGES.items():
        rows = []
        for tsv in sorted((work / "benchmarks" / bench).glob("*/pack-*.tsv")):
            source, pack = tsv.parent.name, tsv.stem
            if stage == "collect":
                sizes = [f.stat().st_size for s in read_plan(work / "results/plan" / source / f"{pack}.json").shards
                         for f in (work / p for p in s.files)]
                total, largest = sum(sizes), max(sizes, default=0)
            else:
                total, largest = record_bytes(work / "results" / UPSTREAM[stage] / source / "_packs" / f"{pack}.json")
            row = list(csv.DictReader(tsv.open(), delimiter="\t"))[-1]
            rows.append((total / 2**20, largest / 2**20, float(row["cpu_time"] or 0), float(row["max_rss"] or 0)))
        big = [r for r in rows if r[0] >= 1] or rows
        mb, cpu = sum(r[0] for r in big), sum(r[2] for r in big)
        fit[stage] = {"jobs": len(rows), "input_mb": round(sum(r[0] for r in rows), 1),
                      "mb_per_cpu_s": round(mb / cpu, 3) if cpu else None,
                      "peak_rss_mb": round(max((r[3] for r in rows), default=0), 1),
                      "largest_shard_mb": round(max((r[1] for r in rows), default=0), 2)}
    return fit


def work_seconds(work: Path) -> dict[str, float]:
    """CPU seconds of the shards' own work (the stage function), per pack stage, from their _done.json."""
    roots = {stage: work / "results" / folder for stage, folder in PACK_STAGES.items()}
    roots["dedup_near"] = work / "results" / "dedup"  # near dedup's shards sit in results/dedup/<source>/
    totals = {}
    for stage, root in roots.items():
        markers = [m for m in root.glob("*/*/_done.json")]
        totals[stage] = round(sum(json.loads(m.read_text()).get("work_cpu_s", 0.0) for m in markers), 2)
    return totals


def overheads(row: dict, work: Path) -> dict:
    """Where the CPU went beyond the work itself. Snakemake's benchmark files sample a job's CPU every 30 s
    and lose the last interval, so job CPU is taken from them only for the whole-corpus jobs (a lower bound,
    which makes the overhead below an upper bound); the shards' own work is measured in-process, the run's
    total CPU from the operating system."""
    by_stage = work_seconds(work)
    shard_work = sum(by_stage.values())
    whole_cpu = sum(v["cpu_s"] for s, v in row["stages"].items() if s not in PACK_STAGES)
    # One-worker pack jobs that run one thread: their wall is their CPU; what their shards did not use is the
    # job's own cost (start-up, imports, reuse checks, record). tokenize's SentencePiece runs two threads.
    single = [s for s in PACK_STAGES if s != "tokenize" and s in row["stages"]]
    pack_wall = sum(row["stages"][s]["wall_s"] for s in single)
    pack_work = sum(by_stage[s] for s in single)
    n = row["documents"]
    return {"shard_work_cpu_s": round(shard_work, 1), "shard_work_cpu_s_by_stage": by_stage,
            "whole_corpus_jobs_cpu_s": round(whole_cpu, 1),
            "beyond_work_cpu_s": round(row["cpu_s"] - shard_work - whole_cpu, 1),
            "beyond_work_share": round((row["cpu_s"] - shard_work - whole_cpu) / row["cpu_s"], 3),
            "pack_job_overhead_share": round(1 - pack_work / pack_wall, 3) if pack_wall else None,
            "idle_core_share": round(1 - row["cpu_s"] / (row["wall_s"] * row["cores"]), 3),
            "docs_per_work_cpu_s": {s: round(n / v) for s, v in by_stage.items() if v}}


def record_ids(path: Path) -> list[str]:
    from hagane.io import read_jsonl_zst

    return [doc["origin"].get("record_id") for doc in read_jsonl_zst(path)]


def dedup_quality(work: Path, truth: dict) -> dict:
    """Recall of the injected copies whose two documents both passed the filter; precision of the drops."""
    results = work / "results"
    kept = set()
    for path in (results / "filter" / "select" / SOURCE).glob("*/kept.jsonl.zst"):
        kept.update(record_ids(path))
    exact = set(record_ids(results / "dedup" / "exact" / "dropped.jsonl.zst"))
    near = set()
    for path in (results / "dedup" / SOURCE).glob("*/dropped.jsonl.zst"):
        near.update(record_ids(path))
    out = {}
    for kind in ("exact", "near"):
        pairs = [uid for uid, t in truth.items() if t["kind"] == kind and uid in kept and t["of"] in kept]
        found = [uid for uid in pairs if uid in exact or uid in near]
        out[f"{kind}_copies_after_filter"] = len(pairs)
        out[f"{kind}_recall"] = round(len(found) / len(pairs), 4) if pairs else None
    dropped = (exact | near) - {None}
    wrong = [uid for uid in dropped if uid not in truth]  # an original dropped: no copy explains it
    out["dropped"] = len(dropped)
    out["precision"] = round(1 - len(wrong) / len(dropped), 4) if dropped else None
    out["exact_dropped"], out["near_dropped"] = len(exact - {None}), len(near - {None})
    return out


def run(n: int, base: Path, shards_per_job: int) -> dict:
    corpus = build_corpus(base / "corpus", n)
    work = base / "work"
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    (work / "data").symlink_to(ROOT / "data")
    (work / "corpus").symlink_to(base / "corpus" / "docs")
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text(encoding="utf-8"))
    config["collect"]["sources"].append({"name": SOURCE, "type": "jsonl", "paths": ["corpus/*.jsonl"],
                                         "text_field": "text", "id_field": "uid", "group_mb": 0})
    config["shards_per_job"] = shards_per_job
    # A larger corpus: the MinHash bands bucketed two jobs' worth, as config/README.md advises.
    config["dedup"]["near"]["band_jobs"] = 2
    (work / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    started, cpu0 = time.perf_counter(), os.times()
    proc = subprocess.run([str(bin_dir / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
                           "--configfile", str(work / "config.yaml"), "--profile", str(ROOT / "workflow/profiles/local"),
                           "--until", "tokenize_documents", "--quiet", "rules"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    cpu1 = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"the workflow failed at {n} documents:\n{proc.stderr[-5000:]}")
    cores = os.cpu_count() or 1
    stages = job_figures(work)
    all_cpu = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)
    truth = json.loads((base / "corpus" / "truth.json").read_text())
    whole = {s: round(stages[s]["max_rss_mb"] * 2**20 / n, 1) for s in WHOLE_CORPUS if s in stages}
    return {
        "documents": n, "corpus": corpus, "shards_per_job": shards_per_job, "cores": cores,
        "wall_s": round(wall, 1), "cpu_s": round(all_cpu, 1),
        "docs_per_core_s": round(n / (wall * cores), 1),
        "stages": stages,
        "whole_corpus_job_bytes_per_document": whole,
        "dedup": dedup_quality(work, truth),
        "resource_fit": resource_fit(work),
        "work_dir": str(work),
    }


def write_markdown(results: dict) -> None:
    runs = results["runs"]
    lines = ["# The scale run, written by benchmarks/scale.py", "",
             f"Machine: {results['machine']}; code {results['code']}; load before {results['load_average_before']}. "
             "`snakemake --profile workflow/profiles/local --until tokenize_documents` over the demo's two sources "
             "plus the generated corpus (benchmarks/scale_corpus.py: Debian's Japanese sentences recombined, 5 % "
             "exact and 5 % near copies).", ""]
    lines += ["| documents | text GB | shards_per_job | packs per stage | wall s | CPU s | docs/s per core end to end |",
              "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['documents']:,} | {r['corpus']['text_bytes'] / 1e9:.2f} | {r['shards_per_job']} | "
                     f"{r['stages']['score']['jobs']} | {r['wall_s']} | {r['cpu_s']} | {r['docs_per_core_s']} |")
    lines += ["", "Where the CPU went (s): the shards' own work (the stage functions, measured in-process), the "
              "whole-corpus jobs (Snakemake's benchmark files, which sample every 30 s: a lower bound), and the rest "
              "of the run's CPU (operating system's count): Snakemake's main process, the plan, every job's start-up "
              "and bookkeeping — the workflow's and the jobs' overhead; the one-thread pack jobs' wall not spent in "
              "their shards; the share of wall × cores no process used (the whole-corpus jobs run one at a time, "
              "and the last wave of packs leaves a core idle):", "",
              "| documents | shard work | whole-corpus jobs | the rest | its share of all CPU | pack-job overhead "
              "| idle cores |", "|---|---|---|---|---|---|---|"]
    for r in runs:
        o = r.get("overheads")
        if o:
            lines.append(f"| {r['documents']:,} | {o['shard_work_cpu_s']} | {o['whole_corpus_jobs_cpu_s']} | "
                         f"{o['beyond_work_cpu_s']} | {o['beyond_work_share']:.1%} | {o['pack_job_overhead_share']:.1%} | "
                         f"{o['idle_core_share']:.1%} |")
    bench = json.loads((ROOT / "benchmarks" / "filter_score.results.json").read_text())
    full_pass = next(r for r in bench["rows"] if r["row"] == "Hagane full scoring pass")
    lines += ["", "Documents per CPU second of each stage's own work in this run (per stage benchmark beside it: "
              f"benchmarks/filter_score.py's full scoring pass, {full_pass['docs_per_core_s']} documents/s on the "
              "Debian corpus):", ""]
    for r in runs:
        o = r.get("overheads")
        if o:
            lines.append(f"- {r['documents']:,}: " + ", ".join(f"{k} {v:,}" for k, v in o["docs_per_work_cpu_s"].items()))
    stages = list(dict.fromkeys(s for r in runs for s in r["stages"]))
    lines += ["", "Per stage (jobs; wall s summed over jobs; CPU s as Snakemake's benchmark files sample it, low for "
              "short jobs; the largest job's peak RSS MB):", "",
              "| stage | " + " | ".join(f"{r['documents']:,} docs" for r in runs) + " |",
              "|---|" + "---|" * len(runs)]
    for s in stages:
        cells = []
        for r in runs:
            f = r["stages"].get(s)
            cells.append(f"{f['jobs']} jobs, {f['wall_s']} s, {f['cpu_s']} CPU s, {f['max_rss_mb']} MB" if f else "—")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Whole-corpus jobs, peak RSS per document (bytes):", ""]
    for r in runs:
        lines.append(f"- {r['documents']:,}: " + ", ".join(f"{k} {v}" for k, v in r["whole_corpus_job_bytes_per_document"].items()))
    lines += ["", "Dedup on the injected copies (both documents past the filter):", ""]
    for r in runs:
        d = r["dedup"]
        lines.append(f"- {r['documents']:,}: exact recall {d['exact_recall']} of {d['exact_copies_after_filter']:,}, "
                     f"near recall {d['near_recall']} of {d['near_copies_after_filter']:,}, precision {d['precision']} "
                     f"({d['dropped']:,} dropped: {d['exact_dropped']:,} exact, {d['near_dropped']:,} near)")
    lines += ["", "What src/hagane/resources.py is fitted to (pack jobs: input MB, MB per CPU second of one worker, "
              "peak RSS against the largest shard):", ""]
    for r in runs:
        lines.append(f"- {r['documents']:,}: " + "; ".join(
            f"{k} {v['input_mb']} MB in {v['jobs']} jobs, {v['mb_per_cpu_s']} MB/s, {v['peak_rss_mb']} MB peak at a "
            f"{v['largest_shard_mb']} MB shard" for k, v in r["resource_fit"].items()))
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        ratio = b["documents"] / a["documents"]
        lines += ["", f"Growth from {a['documents']:,} to {b['documents']:,} documents (×{ratio:g}): wall ×"
                  f"{b['wall_s'] / a['wall_s']:.2f}, CPU ×{b['cpu_s'] / a['cpu_s']:.2f}; the largest job per stage:"]
        for s in stages:
            if s in a["stages"] and s in b["stages"]:
                lines.append(f"- {s}: CPU ×{b['stages'][s]['cpu_s'] / max(a['stages'][s]['cpu_s'], 0.01):.2f}, "
                             f"peak RSS {a['stages'][s]['max_rss_mb']} → {b['stages'][s]['max_rss_mb']} MB")
    (ROOT / "benchmarks" / "scale.results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--base", type=Path, default=ROOT / ".build" / "scale")
    parser.add_argument("--files-per-job", type=int, default=0,
                        help="shards_per_job (default: the corpus's files over 8, so that both cores stay busy)")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute the derived figures of scale.results.json from its runs' folders, run nothing")
    args = parser.parse_args()
    if args.recompute:
        results = json.loads((ROOT / "benchmarks" / "scale.results.json").read_text())
        for row in results["runs"]:
            work = Path(row.get("work_dir") or args.base / str(row["documents"]) / "work")
            row["work_dir"] = str(work)
            row["resource_fit"] = resource_fit(work)
            row["overheads"] = overheads(row, work)
        (ROOT / "benchmarks" / "scale.results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)
        return
    results = {"machine": machine(), "code": git_revision(), "load_average_before": load_average(), "runs": []}
    for n in args.documents:
        files = -(-n // 10_000)
        per_job = args.files_per_job or max(1, files // 8)
        row = run(n, args.base / str(n), per_job)
        row["overheads"] = overheads(row, Path(row["work_dir"]))
        results["runs"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("stages", "resource_fit")}), flush=True)
        (ROOT / "benchmarks" / "scale.results.json").write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)


if __name__ == "__main__":
    main()
