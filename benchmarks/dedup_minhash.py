"""Benchmark: MinHash near-duplicate removal, Hagane against datatrove, on Debian's Japanese documentation
with injected duplicates of known similarity.

Corpus (benchmarks/corpus_debian_ja.py): about 12.7k documents of 300–3,000 characters from Debian's
Japanese man pages and manuals. First it is cleaned of its own near duplicates (every pair with a character
5-gram Jaccard similarity of 0.5 or more, found by a sensitive LSH of 32 bands × 3 rows and checked exactly,
loses its later document), so that the only duplicates left are the injected ones. Then, with a fixed seed:

- exact copies: 10 % of the documents, copied verbatim;
- near copies: another 10 %, copied with 1–3 sentences changed (a sentence replaced by one of another
  document, a sentence deleted, or one inserted). Each near copy's true Jaccard similarity with its
  original (character 5-grams, whitespace collapsed) is recorded.

Copies are shuffled in among the originals and the corpus is written as shards of SHARD_DOCS documents.
Both tools run with character 5-grams and the same bands × rows, each stage its own process, one at a
time (one core), as their workflows run them:

- Hagane: `hagane dedup signatures` per shard, `buckets` (one job, all bands), `clusters`, `near` per shard;
- datatrove 0.10.1 (its own virtual environment): MinhashDedupSignature → Buckets → Cluster → Filter
  (benchmarks/dedup_minhash_datatrove.py; character tokens over its simplified text).

Measured per tool and setting: wall time of all stages (process starts included: that is what a workflow
pays), the peak resident memory of the largest stage process, and against the ground truth:
recall = the share of injected copies whose pair lost one document (exact and near, near also by
similarity band); precision = the share of dropped documents whose duplicate partner survived. Both
tools run on the first half of the corpus and on all of it, to show how memory grows with the corpus.
Recall depends on the hash seed (each near copy is caught with the S-curve's probability at its
similarity): both tools also run the default setting with seeds 1–5 and are compared by their means.

    .venv/bin/python benchmarks/dedup_minhash.py                    # both settings and 5 seeds, about 20 minutes
    .venv/bin/python benchmarks/dedup_minhash.py --settings 14x8    # one setting
    .venv/bin/python benchmarks/dedup_minhash.py --seeds 0          # without the recall spread over seeds

Writes benchmarks/dedup_minhash.results.{json,md}. Run it while nothing else is busy (each row records the
CPU that other processes used meanwhile).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from collect_warc import DATATROVE_TRAFILATURA, datatrove_python
from common import ROOT, Watch, git_revision, load_average, machine
from corpus_debian_ja import build as build_corpus

sys.path.insert(0, str(ROOT / "src"))
from hagane.dedup.minhash import band_keys, permutations, shingle_hashes, signature  # noqa: E402
from hagane.io import read_jsonl_zst, write_jsonl_zst  # noqa: E402

HERE = Path(__file__).parent
RESULTS_JSON, RESULTS_MD = HERE / "dedup_minhash.results.json", HERE / "dedup_minhash.results.md"
WORK = ROOT / ".build" / "bench-minhash"
SHARD_DOCS = (7500, 2000)  # the larger: the biggest shards that still make two of the corpus (a workflow's
                           # shards, one per 256 MB of input, are bigger still); the smaller shows what
                           # each job's start costs
NGRAM = 5
CLEAN_THRESHOLD = 0.5
SIMILARITY_BANDS = [(0.9, 1.0), (0.8, 0.9), (0.7, 0.8), (0.0, 0.7)]
_SENTENCE = re.compile(r"(?<=[。！？!?])|\n")


# ------------------------------------------------------------------------------------------ corpus

def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def clean(docs: list[dict]) -> tuple[list[dict], int]:
    """The corpus without its own near duplicates (pairs at Jaccard ≥ CLEAN_THRESHOLD lose the later one)."""
    shingles = [shingle_hashes(d["text"], NGRAM) for d in docs]
    a, b = permutations(96, seed=12345)
    keys = band_keys(np.stack([signature(s, a, b) for s in shingles]), 32, 3)
    dropped = set()
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        column = keys[order, band]
        for start, stop in zip(*_runs(column)):
            members = sorted(order[start:stop])
            for i, first in enumerate(members):
                if first in dropped:
                    continue
                for other in members[i + 1:]:
                    if other not in dropped and jaccard(shingles[first], shingles[other]) >= CLEAN_THRESHOLD:
                        dropped.add(other)
    return [d for i, d in enumerate(docs) if i not in dropped], len(dropped)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of two or more equal keys."""
    edges = np.flatnonzero(np.diff(sorted_keys)) + 1
    starts, stops = np.concatenate([[0], edges]), np.concatenate([edges, [len(sorted_keys)]])
    keep = stops - starts > 1
    return starts[keep], stops[keep]


def near_copy(text: str, donors: list[str], rng: np.random.Generator) -> str:
    """`text` with 1–3 sentences replaced by another document's, deleted, or a sentence inserted."""
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    for _ in range(int(rng.integers(1, 4))):
        donor = [s for s in _SENTENCE.split(donors[int(rng.integers(len(donors)))]) if s.strip()]
        foreign = donor[int(rng.integers(len(donor)))]
        op = int(rng.integers(3)) if len(sentences) > 2 else 2
        at = int(rng.integers(len(sentences)))
        if op == 0:
            sentences[at] = foreign
        elif op == 1:
            del sentences[at]
        else:
            sentences.insert(at, foreign)
    return "\n".join(sentences) if "\n" in text else "".join(sentences)


def make_corpus(base: list[dict], seed: int = 7) -> tuple[list[dict], dict]:
    """The cleaned base with injected copies, shuffled; truth: copy id → (original id, kind, similarity)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(base))
    n = len(base) // 10
    exact, near = order[:n], order[n:2 * n]
    donors = [base[i]["text"] for i in order[2 * n:]]
    copies, truth = [], {}
    for i in exact:
        doc = base[i]
        copies.append({**doc, "id": doc["id"] + "~exact"})
        truth[doc["id"] + "~exact"] = (doc["id"], "exact", 1.0)
    for i in near:
        doc = base[i]
        text = near_copy(doc["text"], donors, rng)
        similarity = jaccard(shingle_hashes(doc["text"], NGRAM), shingle_hashes(text, NGRAM))
        copies.append({**doc, "id": doc["id"] + "~near", "text": text})
        truth[doc["id"] + "~near"] = (doc["id"], "near", round(similarity, 4))
    corpus = [base[i] for i in range(len(base))] + copies
    corpus = [corpus[i] for i in rng.permutation(len(corpus))]
    return corpus, truth


def write_shards(docs: list[dict], folder: Path, size: int) -> list[Path]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for k in range(0, len(docs), size):
        path = folder / f"part-{k // size:04d}.jsonl.zst"
        write_jsonl_zst(path, docs[k:k + size])
        paths.append(path)
    return paths


def shard_sets(corpus: list[dict], size: int) -> dict[str, list[Path]]:
    """The corpus in shards of `size` documents ('full') and its first half of the shards ('half')."""
    full = write_shards(corpus, WORK / f"shards-{size}", size)
    half_dir = WORK / f"shards-{size}-half"
    shutil.rmtree(half_dir, ignore_errors=True)
    half_dir.mkdir()
    for path in full[:len(full) // 2]:
        os.link(path, half_dir / path.name)
    return {"half": sorted(half_dir.glob("*.jsonl.zst")), "full": full}


# ------------------------------------------------------------------------------------------ tools

# Runs the command and prints its peak resident memory last. A child's ru_maxrss starts from the memory of
# the process it was forked from (Linux keeps the high-water mark across exec), so the command is started
# from this small interpreter, not from the benchmark, which holds the corpus.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"__maxrss_kb__ {usage.ru_maxrss}", flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd: list[str], **kwargs) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of one command."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"`{' '.join(cmd[:4])} …` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return wall, int(proc.stdout.rsplit("__maxrss_kb__ ", 1)[1]) * 1024


def name(shard: Path) -> str:
    return shard.name.split(".")[0]


def run_hagane(shards: list[Path], work: Path, bands: int, rows: int, seed: int = 1) -> tuple[dict, set[str]]:
    shutil.rmtree(work, ignore_errors=True)
    cfg = json.dumps({"near": {"enabled": True, "ngram": NGRAM, "normalize": False, "bands": bands, "rows": rows,
                               "seed": seed}})
    hagane = [sys.executable, "-m", "hagane", "dedup"]
    stages = {"signatures": [], "buckets": [], "clusters": [], "filter": []}
    for shard in shards:
        stages["signatures"].append(run_measured([*hagane, "signatures", "--dedup-json", cfg, "--documents", str(shard),
                                                  "--out-dir", str(work / "sig" / name(shard))]))
    signatures = [work / "sig" / name(s) / "signatures.parquet" for s in shards]
    stages["buckets"].append(run_measured([*hagane, "buckets", "--dedup-json", cfg, "--signatures", *map(str, signatures),
                                           "--bands", *map(str, range(bands)), "--out-dir", str(work / "buckets")]))
    stages["clusters"].append(run_measured([*hagane, "clusters", "--dedup-json", cfg, "--signatures",
                                            *[f"{name(s)}={p}" for s, p in zip(shards, signatures)],
                                            "--edges", str(work / "buckets/edges.npz"), "--out-dir", str(work / "clusters")]))
    for shard in shards:
        stages["filter"].append(run_measured([*hagane, "near", "--dedup-json", cfg, "--shard", name(shard), "--documents",
                                              str(shard), "--clusters", str(work / "clusters/clusters.parquet"),
                                              "--out-dir", str(work / "near" / name(shard))]))
    removed = {d["id"] for s in shards for d in read_jsonl_zst(work / "near" / name(s) / "dropped.jsonl.zst")}
    return summarize(stages), removed


def run_datatrove(python: Path, shards: list[Path], work: Path, bands: int, rows: int,
                  seed: int = 1) -> tuple[dict, set[str]]:
    shutil.rmtree(work, ignore_errors=True)
    script = str(HERE / "dedup_minhash_datatrove.py")
    stages = {}
    for stage in ("signatures", "buckets", "clusters", "filter"):
        stages[stage] = [run_measured([str(python), script, stage, "--shards", str(shards[0].parent), "--work", str(work),
                                       "--bands", str(bands), "--rows", str(rows), "--ngram", str(NGRAM),
                                       "--seed", str(seed)])]
    removed = {json.loads(line)["id"] for f in sorted((work / "removed").glob("*.jsonl"))
               for line in f.read_text().splitlines()}
    return summarize(stages), removed


def summarize(stages: dict[str, list[tuple[float, int]]]) -> dict:
    return {"wall_s": round(sum(w for runs in stages.values() for w, _ in runs), 2),
            "peak_rss_mb": round(max(m for runs in stages.values() for _, m in runs) / 2**20, 1),
            "stages": {name: {"wall_s": round(sum(w for w, _ in runs), 2),
                              "peak_rss_mb": round(max(m for _, m in runs) / 2**20, 1), "processes": len(runs)}
                       for name, runs in stages.items()}}


def score(removed: set[str], truth: dict, corpus_ids: set[str]) -> dict:
    """Recall per kind (and near copies per similarity band) and precision, against the injected truth."""
    partner = {}
    for copy, (original, _, _) in truth.items():
        if copy in corpus_ids and original in corpus_ids:
            partner[copy], partner[original] = original, copy
    pairs = {c: t for c, t in truth.items() if c in partner}
    caught = {c for c in pairs if c in removed or pairs[c][0] in removed}
    correct = sum(1 for d in removed if d in partner and partner[d] not in removed)
    out = {"removed": len(removed), "precision": round(correct / len(removed), 4) if removed else None}
    for kind in ("exact", "near"):
        ids = [c for c, t in pairs.items() if t[1] == kind]
        out[f"recall_{kind}"] = round(sum(c in caught for c in ids) / len(ids), 4) if ids else None
        out[f"pairs_{kind}"] = len(ids)
    out["recall_near_by_similarity"] = {}
    for low, high in SIMILARITY_BANDS:
        ids = [c for c, t in pairs.items() if t[1] == "near" and low <= t[2] < high + (high == 1.0)]
        out["recall_near_by_similarity"][f"{low:.1f}–{high:.1f}"] = \
            [round(sum(c in caught for c in ids) / len(ids), 4) if ids else None, len(ids)]
    return out


def expected_recall(truth: dict, bands: int, rows: int) -> float:
    """The near recall an ideal MinHash would have on average over hash seeds: each near copy is caught
    with the S-curve's probability 1 − (1 − s^rows)^bands at its true similarity s."""
    s = np.array([t[2] for t in truth.values() if t[1] == "near"])
    return round(float(np.mean(1 - (1 - s ** rows) ** bands)), 4)


def seed_spread(python: Path, files: list[Path], truth: dict, setting: str, seeds: int) -> dict:
    """Both tools on the full corpus with hash seeds 1..`seeds`, interleaved: a single seed's recall
    differs from the next by about a point (each near copy is a coin toss at its similarity), more than the
    tools differ, so they are compared by their mean over seeds."""
    bands, rows = map(int, setting.split("x"))
    ids = {d["id"] for f in files for d in read_jsonl_zst(f)}
    runs = []
    for seed in range(1, seeds + 1):
        for tool in ("Hagane", "datatrove"):
            work = WORK / f"seed-{tool.lower()}-{setting}"
            if tool == "Hagane":
                figures, removed = run_hagane(files, work, bands, rows, seed)
            else:
                figures, removed = run_datatrove(python, files, work, bands, rows, seed)
            s = score(removed, truth, ids)
            runs.append({"seed": seed, "tool": tool, "wall_s": figures["wall_s"], "recall_exact": s["recall_exact"],
                         "recall_near": s["recall_near"], "precision": s["precision"], "removed": s["removed"]})
            print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for tool in ("Hagane", "datatrove"):
        near = np.array([r["recall_near"] for r in runs if r["tool"] == tool])
        precision = np.array([r["precision"] for r in runs if r["tool"] == tool])
        summary[tool] = {"recall_near_mean": round(float(near.mean()), 4), "recall_near_sd": round(float(near.std(ddof=1)), 4)
                         if len(near) > 1 else None, "recall_near_min": float(near.min()), "recall_near_max": float(near.max()),
                         "precision_mean": round(float(precision.mean()), 4), "precision_min": float(precision.min())}
    return {"setting": setting, "shard_docs": SHARD_DOCS[0], "seeds": seeds,
            "expected_recall_near": expected_recall(truth, bands, rows), "runs": runs, "summary": summary}


# ------------------------------------------------------------------------------------------ report

def markdown(result: dict) -> str:
    c = result["corpus"]
    lines = [
        "# MinHash near dedup: Hagane against datatrove",
        "",
        f"Run {result['date']} at {result['git']} on {result['machine']['cpu_model']} ({result['machine']['cpus_usable']} "
        f"usable CPUs); datatrove {result['datatrove']}. Load average before: {result['load_before']}.",
        f"Corpus: {c['base_documents']:,} documents from Debian's Japanese documentation "
        f"({', '.join(c['packages'])}); {c['cleaned_away']:,} of them dropped as the base's own near duplicates "
        f"(Jaccard ≥ {CLEAN_THRESHOLD}); {c['exact_copies']:,} exact and {c['near_copies']:,} near copies injected "
        f"(near copies' similarity to their originals: median {c['near_similarity_median']}, 10th percentile "
        f"{c['near_similarity_p10']}); {c['documents']:,} documents, in shards of {' or '.join(f'{n:,}' for n in SHARD_DOCS)} "
        "documents; 'half' is the first half of the shards.",
        f"Character {NGRAM}-grams; each stage its own process, one at a time; wall time includes process starts.",
        "",
        "| setting | shard docs | corpus | tool | wall s | docs/s | peak RSS MB | recall exact | recall near | near ≥0.9 | 0.8–0.9 | 0.7–0.8 | <0.7 | precision | dropped | others' cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pct = lambda x: f"{x:.1%}" if x is not None else "–"  # noqa: E731
    for r in result["rows"]:
        s = r["score"]
        by = [pct(v[0]) for v in s["recall_near_by_similarity"].values()]
        lines.append(f"| {r['setting']} | {r['shard_docs']:,} | {r['corpus']} | {r['tool']} | {r['wall_s']} | {r['documents'] / r['wall_s']:,.0f} | "
                     f"{r['peak_rss_mb']} | {pct(s['recall_exact'])} | {pct(s['recall_near'])} | {' | '.join(by)} | "
                     f"{pct(s['precision'])} | {s['removed']:,} | {r['others_cores']} |")
    lines += ["", "Near copies per similarity band (full corpus): " + ", ".join(
        f"{k} {v[1]}" for k, v in result["rows"][-1]["score"]["recall_near_by_similarity"].items()) + "."]
    lines += ["", "Per stage (full corpus): wall s / peak RSS MB"]
    for r in result["rows"]:
        if r["corpus"] == "full":
            lines.append(f"- {r['setting']}, shards of {r['shard_docs']:,}, {r['tool']}: " + "; ".join(
                f"{k} {v['wall_s']} / {v['peak_rss_mb']} ({v['processes']} processes)" for k, v in r["stages"].items()))
    if "seeds" in result:
        sp = result["seeds"]
        lines += ["", f"## Recall over hash seeds ({sp['setting']}, full corpus, shards of {sp['shard_docs']:,}, seeds 1–{sp['seeds']})",
                  "", "| tool | recall near: mean | sd | min | max | precision: mean | min |", "|---|---|---|---|---|---|---|"]
        for tool, m in sp["summary"].items():
            sd = pct(m["recall_near_sd"]) if m["recall_near_sd"] is not None else "–"
            lines.append(f"| {tool} | {pct(m['recall_near_mean'])} | {sd} | {pct(m['recall_near_min'])} | "
                         f"{pct(m['recall_near_max'])} | {pct(m['precision_mean'])} | {pct(m['precision_min'])} |")
        lines += ["", "Per seed, recall near (Hagane / datatrove): " + "; ".join(
            f"{seed}: {pct(h['recall_near'])} / {pct(d['recall_near'])}"
            for seed, (h, d) in enumerate(zip(sp["runs"][::2], sp["runs"][1::2]), start=1)) + ".",
                  f"An ideal MinHash catches {pct(sp['expected_recall_near'])} of the near copies on average over seeds (each "
                  "copy with the S-curve's probability 1 − (1 − s^rows)^bands at its true similarity s; datatrove "
                  "shingles its simplified text, whose similarities differ a little)."]
    lines += ["", "recall: share of injected copies whose pair lost one of its two documents; precision: share of "
              "dropped documents whose duplicate partner was kept. 'others' cores': CPU used by other processes during "
              "the row, per wall second (above 0.1 the row is suspect)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", default=["20x40", "14x8"], help="bands×rows")
    parser.add_argument("--seeds", type=int, default=5, help="hash seeds for the recall spread (0: none)")
    parser.add_argument("--seed-setting", default="14x8", help="bands×rows of the recall spread")
    args = parser.parse_args()
    load_before = load_average()
    source = build_corpus()
    base = list(read_jsonl_zst(source))
    cleaned, cleaned_away = clean(base)
    corpus, truth = make_corpus(cleaned)
    near = sorted(t[2] for t in truth.values() if t[1] == "near")
    sets = {size: shard_sets(corpus, size) for size in SHARD_DOCS}
    python = datatrove_python("python3", DATATROVE_TRAFILATURA)  # the environment collect_warc.py uses
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "git": git_revision(), "machine": machine(),
              "load_before": load_before, "datatrove": "0.10.1",
              "corpus": {"base_documents": len(base), "cleaned_away": cleaned_away,
                         "packages": sorted(json.loads((source.parent / "debian-ja.json").read_text())["packages"]),
                         "exact_copies": sum(t[1] == "exact" for t in truth.values()), "near_copies": len(near),
                         "near_similarity_median": near[len(near) // 2], "near_similarity_p10": near[len(near) // 10],
                         "documents": len(corpus)},
              "rows": []}
    for setting in args.settings:
        bands, rows = map(int, setting.split("x"))
        for size, (label, files) in ((size, item) for size in SHARD_DOCS for item in sets[size].items()):
            ids = {d["id"] for f in files for d in read_jsonl_zst(f)}
            for tool in ("Hagane", "datatrove"):
                work = WORK / f"{tool.lower()}-{setting}-{size}-{label}"
                with Watch() as watch:
                    if tool == "Hagane":
                        figures, removed = run_hagane(files, work, bands, rows)
                    else:
                        figures, removed = run_datatrove(python, files, work, bands, rows)
                row = {"setting": setting, "shard_docs": size, "corpus": label, "tool": tool, "documents": len(ids),
                       "shards": len(files), **figures,
                       "score": score(removed, truth, ids), "others_cores": watch.others_cores}
                print(json.dumps({k: v for k, v in row.items() if k != "stages"}), flush=True)
                result["rows"].append(row)
    if args.seeds:
        result["seeds"] = seed_spread(python, sets[SHARD_DOCS[0]]["full"], truth, args.seed_setting, args.seeds)
    RESULTS_JSON.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    RESULTS_MD.write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
