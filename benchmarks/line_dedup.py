"""Benchmark: corpus-wide line dedup (src/hagane/dedup/lines.py) on Debian's Japanese documentation with
injected boilerplate of known extent, next to the MinHash stage and PII redaction on the same shards.

Corpus (benchmarks/corpus_debian_ja.py): about 12.7k documents of 300–3,000 characters from Debian's man
pages and manuals. With a fixed seed each document is given to one of SITES made-up sites; a site has a
header (2 lines: its name and menu, a "前のページ / 次のページ" navigation line) and a footer (a copyright
line and a contact line), and a share of documents gets a cookie notice (one of 3). Each document gets its
site's header with probability P_HEADER, its footer with P_FOOTER, a cookie notice with P_COOKIE: the
injected lines are known per document, and every one of them lands in hundreds of documents.

Ground truth: a removed line is right when it was injected. Precision = injected lines removed / lines
removed; recall = injected lines removed / injected lines. Lines removed that were not injected are
Debian's own repeats (shown with their counts: some are the manuals' own boilerplate, some content).

Each pass runs as its own process (`hagane dedup line-hashes | line-counts | lines`), one at a time, as
the workflow's jobs do; wall time includes the interpreter's start (that is what a job pays), peak memory
is the process's resident high-water mark. The corpus is run at 1× (the first half of its shards) and 2×
(all), with `partitions` P and 2P, so that a partition job sees the same share of distinct lines at both:
memory flat when the corpus doubles is what the per-shard passes and the partition jobs must show. The
MinHash stage (signatures, buckets, clusters, near: benchmarks/dedup_minhash.py's run) and PII redaction
(`hagane pii redact`) run on the same shards for comparison.

    .venv/bin/python benchmarks/line_dedup.py      # about 2–3 minutes on 2 cores

Writes benchmarks/line_dedup.results.{json,md}.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from common import ROOT, Watch, git_revision, load_average, machine
from corpus_debian_ja import build as build_corpus
from dedup_minhash import run_hagane as run_minhash
from dedup_minhash import run_measured, write_shards

sys.path.insert(0, str(ROOT / "src"))
from hagane.io import read_jsonl_zst  # noqa: E402

HERE = Path(__file__).parent
RESULTS_JSON, RESULTS_MD = HERE / "line_dedup.results.json", HERE / "line_dedup.results.md"
WORK = ROOT / ".build" / "bench-line-dedup"
SHARD_DOCS = 1600  # 8 shards of the corpus: 4 at 1×, 8 at 2×
SITES = 8
P_HEADER, P_FOOTER, P_COOKIE = 0.6, 0.5, 0.2
SEED = 11
# The defaults of line_dedup (workflow/schemas/config.schema.yaml), and the partitions at 1× (2× doubles them).
CONFIG = {"enabled": True, "min_documents": 5, "min_line_chars": 5, "min_document_chars": 200}
PARTITIONS = 4
COOKIES = ["当サイトではクッキー(Cookie)を使用しています。サイトの利用を続けることで同意したものとみなします。",
           "このウェブサイトは利便性向上のためにCookieを利用しています。詳しくはプライバシーポリシーをご覧ください。",
           "Cookieの設定を変更する | すべて許可する | 必要なもののみ"]


def site_lines(site: int) -> tuple[list[str], list[str]]:
    names = ["鋼の技術ノート", "でびあん道場", "Linux 管理者の手引き", "パッケージ作成講座", "ターミナル入門",
             "サーバ構築メモ", "日本語環境ガイド", "オープンソース図書館"]
    header = [f"{names[site]} | ホーム | 記事一覧 | タグ | お問い合わせ", f"前のページ / 次のページ / {names[site]} 目次"]
    footer = [f"Copyright © 2009-2024 {names[site]} All Rights Reserved.",
              f"{names[site]}へのご意見・ご感想はお問い合わせフォームからお寄せください。"]
    return header, footer


def inject(docs: list[dict]) -> tuple[list[dict], dict[str, Counter]]:
    """The documents with boilerplate added, and per document the multiset of lines added."""
    rng = np.random.default_rng(SEED)
    out, truth = [], {}
    for doc in docs:
        header, footer = site_lines(int(rng.integers(SITES)))
        top = header if rng.random() < P_HEADER else []
        bottom = footer if rng.random() < P_FOOTER else []
        cookie = [COOKIES[int(rng.integers(len(COOKIES)))]] if rng.random() < P_COOKIE else []
        added = [*top, *bottom, *cookie]
        out.append({**doc, "text": "\n".join([*top, doc["text"], *bottom, *cookie])})
        truth[doc["id"]] = Counter(added)
    return out, truth


def mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def stage_summary(runs: list[tuple[float, int]], input_mb: float | None = None) -> dict:
    out = {"processes": len(runs), "wall_s": round(sum(w for w, _ in runs), 2),
           "peak_rss_mb": round(max(m for _, m in runs) / 2**20, 1)}
    if input_mb is not None:
        out["input_mb"] = round(input_mb, 2)
    return out


def run_line_dedup(shards: list[Path], partitions: int, work: Path) -> tuple[dict, dict]:
    shutil.rmtree(work, ignore_errors=True)
    cfg = json.dumps({**CONFIG, "partitions": partitions})
    hagane = [sys.executable, "-m", "hagane", "dedup"]
    hashes = [run_measured([*hagane, "line-hashes", "--line_dedup-json", cfg, "--documents", str(s),
                            "--out-dir", str(work / "hash" / s.stem)]) for s in shards]
    hash_files = [work / "hash" / s.stem / "line_hashes.npy" for s in shards]
    counts = [run_measured([*hagane, "line-counts", "--line_dedup-json", cfg, "--hashes", *map(str, hash_files),
                            "--partition", str(p), "--out-dir", str(work / "count" / str(p))]) for p in range(partitions)]
    common = [work / "count" / str(p) / "common.npy" for p in range(partitions)]
    removes = [run_measured([*hagane, "lines", "--line_dedup-json", cfg, "--documents", str(s), "--common",
                             *map(str, common), "--out-dir", str(work / "remove" / s.stem)]) for s in shards]
    partition_counts = [json.loads((work / "count" / str(p) / "counts.json").read_text()) for p in range(partitions)]
    stages = {"1 line hashes (per shard)": stage_summary(hashes, mb(shards)),
              "2 line counts (per partition)": stage_summary(counts, mb(hash_files)),
              "3 line removal (per shard)": stage_summary(removes, mb(shards))}
    facts = {"partitions": partitions,
             "distinct_lines": sum(c["distinct_lines"] for c in partition_counts),
             "common_lines": sum(c["common_lines"] for c in partition_counts),
             "largest_partition_hashes": max(c["peak_hashes_held"] for c in partition_counts)}
    return stages, facts


def run_redact(shards: list[Path], work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    runs = [run_measured([sys.executable, "-m", "hagane", "pii", "redact", "--pii-json", "{}", "--documents", str(s),
                          "--out-dir", str(work / s.stem)]) for s in shards]
    pii = Counter()
    for s in shards:
        pii.update(json.loads((work / s.stem / "counts.json").read_text())["pii"])
    return {**stage_summary(runs, mb(shards)), "pii_found": dict(pii)}


def accuracy(shards: list[Path], work: Path, truth: dict[str, Counter]) -> dict:
    """Removed lines against the injected ones, by multiset difference of each document's lines."""
    tp = fp = fn = docs_dropped = 0
    not_injected = Counter()
    for s in shards:
        after = {d["id"]: d["text"] for d in read_jsonl_zst(work / "remove" / s.stem / "documents.jsonl.zst")}
        for d in read_jsonl_zst(work / "remove" / s.stem / "dropped.jsonl.zst"):
            after[d["id"]] = d["text"]
            docs_dropped += 1
        for doc in read_jsonl_zst(s):
            removed = Counter(doc["text"].split("\n")) - Counter(after[doc["id"]].split("\n"))
            injected = truth[doc["id"]]
            hit = removed & injected
            tp += sum(hit.values())
            fn += sum((injected - hit).values())
            extra = removed - hit
            fp += sum(extra.values())
            not_injected.update(extra)
    return {"injected_lines": tp + fn, "removed_lines": tp + fp, "removed_injected": tp,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None, "documents_dropped_too_short": docs_dropped,
            "removed_not_injected_distinct": len(not_injected),
            "removed_not_injected_top": [[line[:60], n] for line, n in not_injected.most_common(12)]}


def main() -> None:
    load = load_average()
    docs = list(read_jsonl_zst(build_corpus()))
    corpus, truth = inject(docs)
    shards = write_shards(corpus, WORK / "shards", SHARD_DOCS)
    sizes = {"1×": shards[:len(shards) // 2], "2×": shards}
    results = {"machine": machine(), "revision": git_revision(), "load_before": load, "config": CONFIG,
               "corpus": {"documents": len(corpus), "shard_documents": SHARD_DOCS, "sites": SITES,
                          "p_header": P_HEADER, "p_footer": P_FOOTER, "p_cookie": P_COOKIE,
                          "injected_lines": sum(sum(c.values()) for c in truth.values())},
               "runs": {}}
    for label, chosen in sizes.items():
        partitions = PARTITIONS * (2 if label == "2×" else 1)
        work = WORK / label
        with Watch() as watch:
            stages, facts = run_line_dedup(chosen, partitions, work / "lines")
            fixed, fixed_facts = run_line_dedup(chosen, PARTITIONS, work / "lines-fixed-p")
            minhash, _ = run_minhash(chosen, work / "minhash", bands=14, rows=8)
            redact = run_redact(chosen, work / "redact")
        n_docs = sum(1 for s in chosen for _ in read_jsonl_zst(s))
        results["runs"][label] = {
            "documents": n_docs, "shards": len(chosen), "input_mb": round(mb(chosen), 2),
            "line_dedup": {"stages": stages, **facts, "wall_s": round(sum(s["wall_s"] for s in stages.values()), 2),
                           "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
                           "accuracy": accuracy(chosen, work / "lines", truth)},
            "line_dedup_fixed_partitions": {"partitions": PARTITIONS,
                                            "largest_partition_hashes": fixed_facts["largest_partition_hashes"],
                                            "count_stage": fixed["2 line counts (per partition)"]},
            "minhash_14x8": minhash, "pii_redact": redact,
            "others_cores": watch.others_cores}
        print(json.dumps({label: results["runs"][label]}, ensure_ascii=False, indent=1), flush=True)
    RESULTS_JSON.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(render(results), encoding="utf-8")
    print(f"wrote {RESULTS_JSON} and {RESULTS_MD}")


def render(r: dict) -> str:
    c = r["corpus"]
    lines = ["# Line dedup on Debian's Japanese documentation with injected boilerplate", "",
             f"`benchmarks/line_dedup.py`, revision {r['revision']}, {r['machine']['cpu_model']} "
             f"({r['machine']['cpus_usable']} usable cores), load before {r['load_before']}.", "",
             f"{c['documents']:,} documents in shards of {c['shard_documents']:,}; {c['sites']} made-up sites, header "
             f"(2 lines) in {c['p_header']:.0%} of documents, footer (2 lines) in {c['p_footer']:.0%}, a cookie notice "
             f"in {c['p_cookie']:.0%}: {c['injected_lines']:,} injected lines in all. Settings: "
             f"`{json.dumps(r['config'])}`; partitions {PARTITIONS} at 1×, {2 * PARTITIONS} at 2×.", "",
             "| corpus | documents | input MB | lines removed | precision | recall | dropped too short | distinct lines | common lines | largest partition (hashes) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, run in r["runs"].items():
        ld, acc = run["line_dedup"], run["line_dedup"]["accuracy"]
        lines.append(f"| {label} | {run['documents']:,} | {run['input_mb']} | {acc['removed_lines']:,} | "
                     f"{acc['precision']:.2%} | {acc['recall']:.2%} | {acc['documents_dropped_too_short']} | "
                     f"{ld['distinct_lines']:,} | {ld['common_lines']:,} | {ld['largest_partition_hashes']:,} |")
    lines += ["", "Time (wall, all processes of the stage, one at a time, interpreter starts included) and peak "
              "memory of the largest process of each stage:", "",
              "| corpus | stage | processes | wall s | peak RSS MB |", "|---|---|---|---|---|"]
    for label, run in r["runs"].items():
        for name, s in run["line_dedup"]["stages"].items():
            lines.append(f"| {label} | line dedup: {name} | {s['processes']} | {s['wall_s']} | {s['peak_rss_mb']} |")
        fixed = run["line_dedup_fixed_partitions"]["count_stage"]
        held = run["line_dedup_fixed_partitions"]["largest_partition_hashes"]
        lines.append(f"| {label} | line dedup: 2 line counts, {PARTITIONS} partitions at both sizes "
                     f"(largest holds {held:,} hashes) | {fixed['processes']} | {fixed['wall_s']} | {fixed['peak_rss_mb']} |")
        for name, s in run["minhash_14x8"]["stages"].items():
            lines.append(f"| {label} | MinHash 14 × 8: {name} | {s['processes']} | {s['wall_s']} | {s['peak_rss_mb']} |")
        lines.append(f"| {label} | line dedup, all passes | | {run['line_dedup']['wall_s']} | {run['line_dedup']['peak_rss_mb']} |")
        lines.append(f"| {label} | MinHash, all stages | | {run['minhash_14x8']['wall_s']} | {run['minhash_14x8']['peak_rss_mb']} |")
        p = run["pii_redact"]
        lines.append(f"| {label} | PII redaction (per shard) | {p['processes']} | {p['wall_s']} | {p['peak_rss_mb']} |")
    last = list(r["runs"].values())[-1]
    lines += ["", "Lines removed that were not injected (2×: Debian's own repeats, line and documents):", ""]
    lines += [f"- {n} × `{line}`" for line, n in last["line_dedup"]["accuracy"]["removed_not_injected_top"]]
    lines += ["", f"PII found by redaction at 2×: {last['pii_redact']['pii_found']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
