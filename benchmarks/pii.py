"""Benchmark: Japanese PII detection and redaction (hagane.pii) against datatrove's PIIFormatter.

Accuracy, on the labelled set tests/fixtures/pii/labelled.jsonl (made by make_labelled.py beside it):
precision and recall per kind, a found span counting only when its kind, start and end all equal a
labelled one. datatrove's PIIFormatter finds e-mail and IPv4 addresses only (its IP pattern is a dotted
quad, checked with `ipaddress`); it is run with its default (`only_remove_public_ips=True`) and with every
address, since the labelled set counts private and documentation addresses too. The formatter returns
text, not spans: its spans here are its own two replacers' patterns and validators (`emails_replacer`,
`ip_replacer`) run over the original text, which is what `format` replaces except for an IP inside an
e-mail address.

Speed, on the Debian corpus (benchmarks/corpus_debian_ja.py, ~12.7k documents of 300–3,000 characters):
documents per CPU second of `Redactor.redact` in this one process (one core), the median of --rounds
rounds; each kind alone, once; and datatrove's `PIIFormatter.format` over the same texts in its own virtual
environment, one process, the same rounds. Reading the corpus is outside the clock for both.

    .venv/bin/python benchmarks/pii.py               # about a minute; makes datatrove's env the first time

Writes benchmarks/pii.results.{json,md}. Run it while nothing else is busy: each timing records the CPU
other processes used meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import ROOT, Watch, git_revision, load_average, machine

sys.path.insert(0, str(ROOT / "src"))
from hagane.io import read_jsonl_zst  # noqa: E402
from hagane.pii import KINDS, Redactor  # noqa: E402

HERE = Path(__file__).parent
RESULTS_JSON, RESULTS_MD = HERE / "pii.results.json", HERE / "pii.results.md"
LABELLED = ROOT / "tests/fixtures/pii/labelled.jsonl"
CORPUS = ROOT / ".build/bench-corpus/debian-ja.jsonl.zst"
WORK = ROOT / ".build/bench-pii"
# The formatter needs datatrove and `regex` (imported by datatrove.utils.text), nothing of the heavy
# extras; filter_score.py's environment (.build/bench-datatrove) serves when it is there.
DATATROVE_REQUIREMENTS = ["datatrove==0.10.1", "regex"]
DATATROVE_VENVS = [ROOT / ".build/bench-datatrove", ROOT / ".build/bench-datatrove-pii"]

# Runs inside datatrove's environment: argv = labelled.jsonl, texts.jsonl, rounds. Prints one JSON line.
DATATROVE_HELPER = r'''
import json, resource, statistics, sys
from importlib.metadata import version
from datatrove.pipeline.formatters import PIIFormatter

def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime

labelled = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
texts = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
rounds = int(sys.argv[3])
out = {"version": version("datatrove"), "spans": {}, "speed": {}}
for public_only in (True, False):
    f = PIIFormatter(only_remove_public_ips=public_only)
    spans = []
    for line in labelled:
        found = []
        for kind, replacer in (("email", f.emails_replacer), ("ipv4", f.ip_replacer)):
            for m in replacer.regex.finditer(line["text"]):
                if replacer.validator is None or replacer.validator(m.group(0)):
                    found.append([kind, m.start(), m.end()])
        spans.append(found)
    key = "public_ips_only" if public_only else "all_ips"
    out["spans"][key] = spans
    rates = []
    for _ in range(rounds):
        started = cpu()
        for text in texts:
            f.format(text)
        rates.append(len(texts) / (cpu() - started))
    out["speed"][key] = {"docs_per_cpu_s": round(statistics.median(rates)), "rounds": [round(r) for r in rates]}
print(json.dumps(out))
'''


def datatrove_python() -> Path:
    for venv in DATATROVE_VENVS:
        python = venv / "bin/python"
        probe = [str(python), "-c", "from datatrove.pipeline.formatters import PIIFormatter"]
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            return python
    venv = DATATROVE_VENVS[-1]
    log = venv.with_name(venv.name + ".install.log")
    print(f"making datatrove's environment at {venv} (a minute; pip log: {log})")
    with open(log, "w") as log_file:
        for command in ([sys.executable, "-m", "venv", str(venv)],
                        [str(venv / "bin/python"), "-m", "pip", "install", *DATATROVE_REQUIREMENTS]):
            if subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"error: `{' '.join(command)}` failed; see {log}")
    return venv / "bin/python"


def corpus_texts() -> list[str]:
    if not CORPUS.exists():
        from corpus_debian_ja import build
        build(CORPUS)  # apt-get download of Debian's Japanese documentation packages, once
    return [record["text"] for record in read_jsonl_zst(CORPUS)]


# ------------------------------------------------------------------------------------------ accuracy
def score(lines: list[dict], predicted: list[list[tuple[str, int, int]]], kinds) -> dict:
    true_pos, false_pos, false_neg = Counter(), Counter(), Counter()
    examples: dict[str, list] = {"false_positives": [], "false_negatives": []}
    for line, found in zip(lines, predicted):
        gold = {(s["type"], s["start"], s["end"]) for s in line["spans"] if s["type"] in kinds}
        found = {tuple(span) for span in found}
        for kind, *_ in found & gold:
            true_pos[kind] += 1
        for kind, start, end in found - gold:
            false_pos[kind] += 1
            examples["false_positives"].append({"type": kind, "found": line["text"][start:end], "text": line["text"]})
        for kind, start, end in gold - found:
            false_neg[kind] += 1
            examples["false_negatives"].append({"type": kind, "missed": line["text"][start:end], "text": line["text"]})
    per_kind = {}
    for kind in kinds:
        tp, fp, fn = true_pos[kind], false_pos[kind], false_neg[kind]
        per_kind[kind] = {"true_pos": tp, "false_pos": fp, "false_neg": fn,
                          "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                          "recall": round(tp / (tp + fn), 4) if tp + fn else None}
    return {"per_kind": per_kind, **examples}


# ------------------------------------------------------------------------------------------ speed
def hagane_speed(texts: list[str], rounds: int) -> dict:
    redactor = Redactor(KINDS)
    rates, others = [], []
    for _ in range(rounds):
        with Watch() as watch:
            for text in texts:
                redactor.redact(text)
        rates.append(len(texts) / watch.cpu_s)
        others.append(watch.others_cores)
    counts: Counter = Counter()
    changed = 0
    for text in texts:
        new, per_kind = redactor.redact(text)
        counts.update(per_kind)
        changed += new is not text
    per_kind_alone = {}
    for kind in KINDS:
        alone = Redactor([kind])
        started = time.process_time()
        for text in texts:
            alone.redact(text)
        per_kind_alone[kind] = round(len(texts) / (time.process_time() - started))
    return {"docs_per_cpu_s": round(statistics.median(rates)), "rounds": [round(r) for r in rates],
            "others_cores": others, "each_kind_alone_docs_per_cpu_s": per_kind_alone,
            "documents_changed": changed, "spans_per_kind": {k: counts[k] for k in KINDS}}


def markdown(result: dict) -> str:
    h = result["hagane"]
    d = result["datatrove"]
    lines = [
        "# PII detection and redaction: Hagane against datatrove",
        "",
        f"Written by `benchmarks/pii.py` (`.venv/bin/python benchmarks/pii.py`) at {result['finished']}, "
        f"code {result['code_version']}, on {result['machine']['cpu_model']} "
        f"({result['machine']['cpus_usable']} cores usable), "
        f"load average {result['load_average_before']} before the run.",
        "",
        f"## Accuracy on the labelled set ({result['labelled']['lines']} lines: "
        f"{result['labelled']['spans']} labelled spans, {result['labelled']['negative_lines']} hard negatives)",
        "",
        "A found span counts when its kind, start and end equal a labelled one. datatrove finds e-mail and "
        "IPv4 only; its column is shown with every address (`only_remove_public_ips=False`) and, after "
        "the slash, with its default (public addresses only).",
        "",
        "| kind | labelled | Hagane precision | Hagane recall | datatrove precision | datatrove recall |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def fmt(x):
        return "–" if x is None else f"{x:.3f}"

    for kind in KINDS:
        ours = h["accuracy"]["per_kind"][kind]
        labelled = ours["true_pos"] + ours["false_neg"]
        if kind in d["accuracy"]["all_ips"]["per_kind"]:
            a = d["accuracy"]["all_ips"]["per_kind"][kind]
            p = d["accuracy"]["public_ips_only"]["per_kind"][kind]
            peer = (f"{fmt(a['precision'])} / {fmt(p['precision'])}", f"{fmt(a['recall'])} / {fmt(p['recall'])}")
        else:
            peer = ("not detected", "0")
        lines.append(f"| {kind} | {labelled} | {fmt(ours['precision'])} | {fmt(ours['recall'])} "
                     f"| {peer[0]} | {peer[1]} |")
    lines += ["", "Hagane's misses and false alarms on the set:", ""]
    for item in h["accuracy"]["false_negatives"]:
        lines.append(f"- missed {item['type']}: `{item['missed']}` in 「{item['text']}」")
    for item in h["accuracy"]["false_positives"]:
        lines.append(f"- false {item['type']}: `{item['found']}` in 「{item['text']}」")
    s = h["speed"]
    lines += [
        "",
        f"## Speed on the Debian corpus ({result['corpus']['documents']} documents, "
        f"{result['corpus']['characters']} characters)",
        "",
        "Documents per CPU second, one process (one core), median of the rounds; reading the corpus outside.",
        "",
        "| what | documents / CPU s | rounds |",
        "|---|---:|---|",
        f"| Hagane `Redactor(KINDS).redact` (all seven kinds) | {s['docs_per_cpu_s']:,} | {s['rounds']} |",
        f"| datatrove `PIIFormatter.format` (e-mail + IPv4, all addresses) "
        f"| {d['speed']['all_ips']['docs_per_cpu_s']:,} | {d['speed']['all_ips']['rounds']} |",
        f"| datatrove `PIIFormatter.format` (default: public IPs only) "
        f"| {d['speed']['public_ips_only']['docs_per_cpu_s']:,} | {d['speed']['public_ips_only']['rounds']} |",
        "",
        f"Goal: ≥ 10,000 documents/s per core — {'met' if s['docs_per_cpu_s'] >= 10_000 else 'NOT met'}. "
        f"CPU used by other processes during Hagane's rounds (cores): {s['others_cores']}.",
        "",
        "Each kind alone (documents / CPU s): "
        + ", ".join(f"{k} {v:,}" for k, v in s["each_kind_alone_docs_per_cpu_s"].items()) + ".",
        "",
        f"What Hagane found in the corpus: {s['documents_changed']} documents changed; spans per kind "
        + ", ".join(f"{k} {v}" for k, v in s["spans_per_kind"].items())
        + " (the corpus is Debian's manuals: maintainers' addresses and example networks).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    load = load_average()
    lines = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    texts = corpus_texts()

    redactor = Redactor(KINDS)
    ours = score(lines, [[tuple(span) for span in redactor.find(line["text"])] for line in lines], KINDS)
    print("hagane accuracy:", json.dumps(ours["per_kind"]))
    speed = hagane_speed(texts, args.rounds)
    print("hagane speed:", speed["docs_per_cpu_s"], "docs/CPU s", speed["rounds"])

    WORK.mkdir(parents=True, exist_ok=True)
    texts_file = WORK / "debian-texts.jsonl"
    texts_file.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    python = datatrove_python()
    with Watch() as watch:
        done = subprocess.run([str(python), "-c", DATATROVE_HELPER, str(LABELLED), str(texts_file), str(args.rounds)],
                              capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the datatrove run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    peer = json.loads(done.stdout.strip().splitlines()[-1])
    peer_kinds = ("email", "ipv4")
    datatrove = {
        "version": peer["version"],
        "accuracy": {key: score(lines, spans, peer_kinds) for key, spans in peer["spans"].items()},
        "speed": peer["speed"],
        "others_cores": watch.others_cores,
    }
    for key, acc in datatrove["accuracy"].items():
        print(f"datatrove ({key}) accuracy:", json.dumps(acc["per_kind"]))
    print("datatrove speed:", json.dumps(peer["speed"]))

    result = {
        "benchmark": "pii",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code_version": git_revision(),
        "machine": machine(),
        "load_average_before": load,
        "labelled": {"file": str(LABELLED.relative_to(ROOT)), "lines": len(lines),
                     "spans": sum(len(line["spans"]) for line in lines),
                     "negative_lines": sum(1 for line in lines if not line["spans"])},
        "corpus": {"file": str(CORPUS.relative_to(ROOT)), "documents": len(texts),
                   "characters": sum(map(len, texts))},
        "hagane": {"accuracy": ours, "speed": speed},
        "datatrove": datatrove,
    }
    RESULTS_JSON.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    RESULTS_MD.write_text(markdown(result))
    print(f"wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
