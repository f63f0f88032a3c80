"""Benchmark: HTML pages of a WARC file to main text, Hagane's collect against datatrove's, one process each.

Three measurements over the same file, one after the other:

1. floor     — warcio alone: iterate the records and read every response body. No stage can beat it.
2. Hagane    — hagane.collect.collect_file on a `warc` source: warcio, charset, trafilatura,
               normalisation, and the zstd shard with its manifest.
3. datatrove — datatrove 0.10.1's WarcReader → Trafilatura (its defaults) → JsonlWriter (zstd), under
               LocalPipelineExecutor(tasks=1, workers=1), in its own virtual environment at
               .build/bench-datatrove (made on first use, a minute or two; reused while its requirements
               are unchanged). benchmarks/collect_warc_datatrove.py is the part that runs there.

Throughput is pages (response records of the file) per wall second and per CPU second. CPU seconds are
user + system time of the process and of the children it reaped, because datatrove runs trafilatura in a
child process. Both tools are single-task here, so pages per CPU second is the honest per-core figure.
Interpreter start and imports are outside every timing.

It also compares the text: pages both tools extracted are matched by URL; it counts those whose text is
identical after whitespace normalisation, and prints three Japanese pages side by side.

    .venv/bin/python benchmarks/collect_warc.py                  # the demo WARC, once
    .venv/bin/python benchmarks/collect_warc.py --repeat 4       # the same file 4 times over, a longer run
    .venv/bin/python benchmarks/collect_warc.py --rounds 3       # each tool 3 times, interleaved; best kept
    .venv/bin/python benchmarks/collect_warc.py --hagane-source '{"japanese_precheck": false}'

Writes benchmarks/collect_warc.results.json and benchmarks/collect_warc.results.md. The machine has two
vCPUs: run it while nothing else is busy. It records the load average before the run and, for each
measurement, the CPU that other processes used meanwhile, and warns when either says the run was shared.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from importlib.metadata import version
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from common import BUSY_LOAD, Watch, git_revision, load_average, machine

from hagane.collect import DOCUMENTS, collect_file
from hagane.config import SourceConfig, source_config
from hagane.io import read_jsonl_zst

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WARC = ROOT / "data/demo/web/debian-docs.warc.gz"
DATATROVE_VENV = ROOT / ".build/bench-datatrove"
DATATROVE_HELPER = Path(__file__).with_name("collect_warc_datatrove.py")
RESULTS_JSON = Path(__file__).with_name("collect_warc.results.json")
RESULTS_MD = Path(__file__).with_name("collect_warc.results.md")

# The least that makes datatrove's WarcReader, Trafilatura extractor and JsonlWriter run: each step's
# `_requires_dependencies`, not the `[io]` and `[processing]` extras, which bring datasets, pyarrow, nltk,
# tokenizers and more that this pipeline never imports.
DATATROVE_REQUIREMENTS = [
    "datatrove==0.10.1",
    "warcio", "faust-cchardet", "python-magic",  # WarcReader
    "orjson", "zstandard",                       # JsonlWriter, and fsspec's zstd codec
    "lxml_html_clean",                           # lxml >= 5.2 ships lxml.html.clean apart; jusText needs it
    "xxhash<4", "tokenizers",                    # MinHash (dedup_minhash.py); datatrove 0.10.1 hashes str, which xxhash 4 refuses
    "spacy>=3.8,<3.9", "sudachipy", "sudachidict_core",  # Japanese words for its quality filters (filter_heuristics.py)
]
# datatrove's `[processing]` extra pins trafilatura to this range: the version a datatrove user has.
DATATROVE_TRAFILATURA = "trafilatura>=1.8.0,<1.12.0"

# Cores' worth of CPU that other processes may use during a measurement before it is flagged. On two
# vCPUs that share a physical core, a neighbour slows us down even in CPU seconds, not only in wall time.
BUSY_NEIGHBOURS = 0.1
HIRAGANA = re.compile("[\u3041-\u309f]")
KANA = re.compile("[\u3041-\u30ff]")
EXAMPLES = 3
EXAMPLE_CHARS = 400


# ------------------------------------------------------------------------------------------- helpers

def repeated(warc: Path, times: int, folder: Path) -> Path:
    """`warc` concatenated `times` times: gzip members and WARC records both follow one another freely.
    Record ids repeat, which no step here minds."""
    if times == 1:
        return warc
    target = folder / f"{warc.name.split('.')[0]}.x{times}{''.join(warc.suffixes)}"
    with open(target, "wb") as sink:
        for _ in range(times):
            with open(warc, "rb") as source:
                shutil.copyfileobj(source, sink)
    return target


def timed(name: str, pages: int, documents: int, wall_s: float, cpu_s: float, **extra) -> dict:
    return {"tool": name, "pages": pages, "documents": documents, "wall_s": round(wall_s, 3),
            "cpu_s": round(cpu_s, 3), "pages_per_s": round(pages / wall_s, 2),
            "pages_per_cpu_s": round(pages / cpu_s, 2), **extra}


# -------------------------------------------------------------------------------------- measurements

def measure_floor(warc: Path) -> dict:
    records = pages = 0
    with Watch() as watch, open(warc, "rb") as stream:
        for record in ArchiveIterator(stream):
            records += 1
            if record.rec_type == "response":
                record.content_stream().read()
                pages += 1
    return timed("floor (warcio read)", pages, pages, watch.wall_s, watch.cpu_s, records_seen=records,
                 others_cores=watch.others_cores)


def measure_hagane(source: SourceConfig, warc: Path, pages: int, out: Path) -> tuple[dict, list[dict]]:
    with Watch() as watch:
        accounting = collect_file(source, warc, warc.parent, out)
    documents = [{"url": d["origin"].get("url"), "text": d["text"]} for d in read_jsonl_zst(out / DOCUMENTS)]
    counts = accounting.as_dict()
    return timed("Hagane collect", pages, counts["documents"], watch.wall_s, watch.cpu_s,
                 records_seen=counts["records_seen"], skipped=counts["skipped"], quarantined=counts["quarantined"],
                 others_cores=watch.others_cores), documents


def datatrove_python(base_python: str, trafilatura: str) -> Path:
    """datatrove's virtual environment, made (or remade) when its requirement list changed since the last run."""
    requirements = [*DATATROVE_REQUIREMENTS, trafilatura]
    stamp = DATATROVE_VENV / "hagane-bench.stamp"
    python = DATATROVE_VENV / "bin/python"
    if stamp.is_file() and stamp.read_text() == "\n".join(requirements) + "\n" and python.exists():
        return python
    shutil.rmtree(DATATROVE_VENV, ignore_errors=True)
    log = DATATROVE_VENV.with_name(DATATROVE_VENV.name + ".install.log")
    print(f"making datatrove's environment at {DATATROVE_VENV} (a minute or two; pip log: {log})")
    DATATROVE_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as log_file:
        for command in ([base_python, "-m", "venv", str(DATATROVE_VENV)],
                        [str(python), "-m", "pip", "install", *requirements]):
            if subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"error: `{' '.join(command)}` failed; see {log}")
    stamp.write_text("\n".join(requirements) + "\n")
    return python


def measure_datatrove(python: Path, warc: Path, pages: int, out: Path) -> tuple[dict, list[dict], dict]:
    log = out.with_name(out.name + ".log")
    # The timing comes from inside the subprocess; the watch, around all of it, only looks at the neighbours.
    with Watch() as watch, open(log, "w") as log_file:
        done = subprocess.run([str(python), str(DATATROVE_HELPER), "--warc", str(warc), "--out", str(out)],
                              stdout=subprocess.PIPE, stderr=log_file, text=True)
    if done.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-20:])
        sys.exit(f"error: the datatrove run failed (exit {done.returncode}); the end of its log:\n{tail}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with open(out / "documents.jsonl", encoding="utf-8") as lines:
        documents = [json.loads(line) for line in lines]
    if result["pages"] != pages:
        print(f"note: datatrove's reader passed on {result['pages']} pages of the {pages} response records",
              file=sys.stderr)
    return timed("datatrove", pages, result["documents"], result["wall_s"], result["cpu_s"],
                 extractor=result["extractor"], others_cores=watch.others_cores), documents, result["versions"]


# ---------------------------------------------------------------------------------------- comparison

def squeeze(text: str) -> str:
    return " ".join(text.split())


def voiced_kana_share(texts: list[str]) -> dict:
    """Kana, and the share of them with a dakuten or handakuten (が, パ): an extractor or normaliser that
    loses voiced marks shows up as a lower share on the same pages."""
    kana = voiced = 0
    for text in texts:
        for char in KANA.findall(text):
            kana += 1
            voiced += any(mark in unicodedata.normalize("NFD", char) for mark in "\u3099\u309a")
    return {"kana": kana, "voiced": voiced, "voiced_share": round(voiced / kana, 4) if kana else None}


def compare(hagane: list[dict], datatrove: list[dict]) -> dict:
    # With --repeat every URL comes several times with the same text; the first stands for all.
    by_url_h, by_url_d = {}, {}
    for doc in hagane:
        by_url_h.setdefault(doc["url"], doc["text"])
    for doc in datatrove:
        by_url_d.setdefault(doc["url"], doc["text"])
    both = sorted(set(by_url_h) & set(by_url_d))
    same = sum(squeeze(by_url_h[u]) == squeeze(by_url_d[u]) for u in both)
    # Hagane applies NFKC (full-width ASCII → ASCII); counted apart so that difference alone is visible.
    same_nfkc = sum(squeeze(by_url_h[u]) == squeeze(unicodedata.normalize("NFKC", by_url_d[u])) for u in both)
    datatrove_inside = sum(squeeze(unicodedata.normalize("NFKC", by_url_d[u])) in squeeze(by_url_h[u])
                           for u in both)
    japanese = [u for u in both if HIRAGANA.search(by_url_h[u]) and HIRAGANA.search(by_url_d[u])]
    # Evenly spaced over the Japanese pages, so the examples are not three neighbours in one manual.
    picks = [japanese[i * (len(japanese) - 1) // max(EXAMPLES - 1, 1)] for i in range(EXAMPLES)] if japanese else []
    return {
        "urls_hagane": len(by_url_h), "urls_datatrove": len(by_url_d), "urls_both": len(both),
        "only_hagane": sorted(set(by_url_h) - set(by_url_d)), "only_datatrove": sorted(set(by_url_d) - set(by_url_h)),
        "identical_whitespace_normalised": same, "identical_after_nfkc_too": same_nfkc,
        "datatrove_text_within_hagane_text": datatrove_inside,
        "japanese_pages_both": len(japanese),
        "chars_both": {"hagane": sum(len(by_url_h[u]) for u in both),
                       "datatrove": sum(len(by_url_d[u]) for u in both)},
        "kana_both": {"hagane": voiced_kana_share([by_url_h[u] for u in both]),
                      "datatrove": voiced_kana_share([by_url_d[u] for u in both])},
        "examples": [{"url": u, "hagane": by_url_h[u][:EXAMPLE_CHARS], "datatrove": by_url_d[u][:EXAMPLE_CHARS]}
                     for u in dict.fromkeys(picks)],
    }


# ------------------------------------------------------------------------------------------- report

def markdown(result: dict) -> str:
    m, v, c = result["machine"], result["versions"], result["comparison"]
    _, hagane_run, datatrove_run = result["runs"]
    rows = []
    for n, r in enumerate(result["runs"]):
        every_round = ", ".join(f"{round_[n]['cpu_s']:.2f}" for round_ in result["all_rounds"])
        others = "–" if r["others_cores"] is None else f"{r['others_cores']:.2f}"
        rows.append(f"| {r['tool']} | {r['pages']} | {r['documents']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                    f"{r['pages_per_s']:.1f} | {r['pages_per_cpu_s']:.1f} | {others} | {every_round} |")
    lines = [
        "# collect: WARC → text, Hagane and datatrove",
        "",
        f"Made by `{result['command']}` on {result['finished_at']} at revision `{result['revision']}`.",
        f"Input: `{result['warc']}` ({result['warc_bytes']:,} bytes; the demo file ×{result['repeat']}).",
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['cpu_model']}; Python {m['python']}. "
        f"Load average before the run: {result['load_before']:.2f}.",
    ]
    if result["warnings"]:
        lines += ["", *[f"**Warning:** {w}" for w in result["warnings"]]]
    lines += [
        "",
        f"Versions — Hagane's environment: trafilatura {v['hagane']['trafilatura']}, warcio {v['hagane']['warcio']}, "
        f"lxml {v['hagane']['lxml']}. datatrove's: datatrove {v['datatrove']['datatrove']}, trafilatura "
        f"{v['datatrove']['trafilatura']}, warcio {v['datatrove']['warcio']}, lxml {v['datatrove']['lxml']}, "
        f"from `pip install {shlex.join(result['datatrove_install'])}`.",
        "",
        "## Speed",
        "",
        "Pages are the response records of the file; CPU seconds include reaped child processes "
        "(datatrove extracts in one). Both tools run one task. Others' cores: CPU that other processes "
        "used meanwhile, per wall second (from /proc/stat; – under a second); above 0.1 the row is suspect."
        + (f" Best of {result['rounds']} interleaved rounds (least CPU) per tool; every round is in the JSON."
           if result["rounds"] > 1 else ""),
        "",
        "| run | pages | documents out | wall s | CPU s | pages/s | pages/CPU-s | others' cores | CPU s, every round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Hagane ÷ datatrove: **{result['ratio_hagane_datatrove']['per_cpu_s']:.2f}×** pages per CPU second, "
        f"{result['ratio_hagane_datatrove']['per_wall_s']:.2f}× pages per wall second.",
        "",
        f"Hagane's source options beyond name/type/paths: `{json.dumps(result['hagane_source_options'])}`. "
        f"Hagane skipped {json.dumps(hagane_run['skipped'], ensure_ascii=False)} and quarantined "
        f"{json.dumps(hagane_run['quarantined'])}; datatrove's extractor counted "
        f"{json.dumps(datatrove_run['extractor'])}.",
        "",
        "The extractors are configured differently, so the text differs by design: datatrove calls "
        "`trafilatura.extract(favor_precision=True, include_comments=False, deduplicate=True)`; Hagane's call "
        "is `hagane.collect.warc.extract_text`, then NFKC normalisation (`hagane.collect.normalize`).",
        "",
        "## Text",
        "",
        f"Pages with text: Hagane {c['urls_hagane']}, datatrove {c['urls_datatrove']}, both {c['urls_both']} "
        f"(matched by URL; {c['japanese_pages_both']} of them have hiragana in both).",
        f"Identical after whitespace normalisation: **{c['identical_whitespace_normalised']} of {c['urls_both']}**; "
        f"also after NFKC on datatrove's side: {c['identical_after_nfkc_too']}; datatrove's text contained in "
        f"Hagane's: {c['datatrove_text_within_hagane_text']}.",
        f"Characters on the shared pages: Hagane {c['chars_both']['hagane']:,}, datatrove {c['chars_both']['datatrove']:,}.",
        f"Voiced kana (が, パ …) among all kana on the shared pages: Hagane "
        f"{c['kana_both']['hagane']['voiced']:,}/{c['kana_both']['hagane']['kana']:,} "
        f"({c['kana_both']['hagane']['voiced_share']}), datatrove {c['kana_both']['datatrove']['voiced']:,}/"
        f"{c['kana_both']['datatrove']['kana']:,} ({c['kana_both']['datatrove']['voiced_share']}).",
    ]
    for example in c["examples"]:
        lines += ["", f"### {example['url']}", ""]
        for tool in ("hagane", "datatrove"):
            text = example[tool].replace("```", "'''")
            lines += [f"{'Hagane' if tool == 'hagane' else 'datatrove'}, first {EXAMPLE_CHARS} characters:", "",
                      "```text", text, "```", ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warc", type=Path, default=DEFAULT_WARC, help="gzipped WARC of HTML responses "
                        "(default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="concatenate the file this many times (default: 1)")
    parser.add_argument("--rounds", type=int, default=1, help="measure each tool this many times, interleaved, "
                        "and report each tool's round with the least CPU time (default: 1)")
    parser.add_argument("--hagane-source", type=json.loads, default={}, metavar="JSON",
                        help="extra keys for Hagane's source entry, e.g. '{\"japanese_precheck\": false}'")
    parser.add_argument("--python", default="python3", help="interpreter that makes datatrove's venv (default: python3)")
    parser.add_argument("--datatrove-trafilatura", default=DATATROVE_TRAFILATURA,
                        help="trafilatura requirement for datatrove's venv; changing it remakes the venv "
                             "(default: %(default)r, the range datatrove's [processing] extra pins)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (outputs of both tools)")
    args = parser.parse_args()
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be 1 or more")
    if not isinstance(args.hagane_source, dict):
        parser.error("--hagane-source must be a JSON object")
    if not args.warc.is_file():
        parser.error(f"--warc {args.warc}: no such file")

    # Made first, so a long pip install does not sit between the measurements.
    datatrove_py = datatrove_python(args.python, args.datatrove_trafilatura)
    load_before = load_average()
    work = Path(tempfile.mkdtemp(prefix="hagane-bench-warc-"))
    try:
        warc = repeated(args.warc.resolve(), args.repeat, work)
        # Validated before anything is timed, so a wrong --hagane-source fails at once.
        source = source_config({"name": "bench", "type": "warc", "paths": [str(warc)], **args.hagane_source})
        # Interleaved rounds: a neighbour that starts or stops mid-run then disturbs every tool, not one.
        rounds = []
        for n in range(args.rounds):
            floor = measure_floor(warc)
            hagane, hagane_docs = measure_hagane(source, warc, floor["pages"], work / f"hagane-{n}")
            datatrove, datatrove_docs, datatrove_versions = measure_datatrove(datatrove_py, warc, floor["pages"],
                                                                             work / f"datatrove-{n}")
            rounds.append([floor, hagane, datatrove])
    finally:
        if args.keep:
            print(f"working folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    # Per tool, the round that used the least CPU: the one least disturbed by anything else.
    runs = [min(per_tool, key=lambda run: run["cpu_s"]) for per_tool in zip(*rounds)]
    floor, hagane, datatrove = runs
    warnings = []
    if load_before > BUSY_LOAD:
        warnings.append(f"the load average was {load_before:.2f} (> {BUSY_LOAD}) before the run")
    busiest = max(run["others_cores"] or 0.0 for run in runs)
    if busiest > BUSY_NEIGHBOURS:
        warnings.append(f"other processes used up to {busiest:.2f} cores during a reported measurement: "
                        "they shared the 2 cores and the figures read low")
    try:
        warc_shown = args.warc.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        warc_shown = str(args.warc)
    result = {
        "command": shlex.join([".venv/bin/python", "benchmarks/collect_warc.py", *sys.argv[1:]]),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "revision": git_revision(),
        "warc": warc_shown, "warc_bytes": args.warc.stat().st_size * args.repeat, "repeat": args.repeat,
        "rounds": args.rounds, "hagane_source_options": args.hagane_source,
        "machine": machine(), "load_before": load_before, "warnings": warnings,
        "versions": {"hagane": {name: version(name) for name in ("trafilatura", "warcio", "lxml")},
                     "datatrove": datatrove_versions},
        "datatrove_install": [*DATATROVE_REQUIREMENTS, args.datatrove_trafilatura],
        "runs": runs,
        "all_rounds": rounds,
        "ratio_hagane_datatrove": {"per_cpu_s": round(hagane["pages_per_cpu_s"] / datatrove["pages_per_cpu_s"], 3),
                                   "per_wall_s": round(hagane["pages_per_s"] / datatrove["pages_per_s"], 3)},
        "comparison": compare(hagane_docs, datatrove_docs),
    }
    RESULTS_JSON.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    RESULTS_MD.write_text(markdown(result), encoding="utf-8")

    print()
    for run in runs:
        print(f"{run['tool']:<22} {run['pages']:>6} pages {run['documents']:>6} docs  {run['wall_s']:>8.2f} s wall "
              f"{run['cpu_s']:>8.2f} s CPU  {run['pages_per_s']:>8.1f} pages/s  {run['pages_per_cpu_s']:>8.1f} pages/CPU-s"
              f"  (others: {'–' if run['others_cores'] is None else run['others_cores']} cores)")
    ratio, c = result["ratio_hagane_datatrove"], result["comparison"]
    print(f"Hagane ÷ datatrove: {ratio['per_cpu_s']:.2f}× per CPU second, {ratio['per_wall_s']:.2f}× per wall second")
    print(f"text identical (whitespace-normalised) on {c['identical_whitespace_normalised']} of {c['urls_both']} "
          f"shared pages")
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
