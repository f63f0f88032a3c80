"""The corpus funnel and the training curve, as PNG files the Snakemake report shows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hagane.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on cluster nodes
    import matplotlib.pyplot as plt

    return plt


def funnel_counts(collect_manifests: list[Path], select_counts: list[Path], dedup_counts: Path,
                  near_counts: list[Path], redact_counts: list[Path] | None = None,
                  line_counts: list[Path] | None = None) -> dict:
    """Documents at each step and what each step dropped, by reason, over the whole corpus; with
    `redact_counts`, the PII replaced per kind ("pii"); with `line_counts` (line dedup ran), the step after
    it and the lines and characters it removed ("line dedup")."""
    records = documents = 0
    lost = Counter()
    partial = []  # input files not read whole: quarantined, cut or damaged (named, so a user can fetch them again)
    for m in collect_manifests:
        manifest = json.loads(m.read_text())
        counts = manifest["counts"]
        records += counts["records_seen"]
        documents += counts["documents"]
        lost.update({f"collect: {k}": v for k, v in {**counts["skipped"], **counts["quarantined"]}.items()})
        source = manifest.get("config", {}).get("source", {}).get("name")
        partial += [{"source": source, **f} for f in counts.get("files", []) if not f["complete"]]
    kept = 0
    for c in select_counts:
        counts = json.loads(c.read_text())
        kept += counts["kept"]
        lost.update({f"filter: {k}": v for k, v in counts["dropped"].items()})
    dedup = json.loads(dedup_counts.read_text())
    lost.update({f"dedup: {k}": v for k, v in dedup["dropped"].items()})
    cleaning = _cleaning_counts(redact_counts, line_counts, lost)
    near_kept = 0
    for c in near_counts:
        counts = json.loads(Path(c).read_text())
        near_kept += counts["kept"]
        lost.update({f"dedup: {k}": v for k, v in counts["dropped"].items()})
    steps = {"records": records, "documents": documents, "after filter": kept, "after exact dedup": dedup["kept"]}
    if "line dedup" in cleaning:
        steps["after line dedup"] = cleaning["line dedup"]["kept"]
    return {"steps": {**steps, "after near dedup": near_kept},
            **cleaning,
            "dropped": dict(sorted(lost.items())),
            "files not read whole": sorted(partial, key=lambda f: (f["source"] or "", f["path"]))}


def _cleaning_counts(redact_counts: list[Path] | None, line_counts: list[Path] | None, lost: Counter) -> dict:
    """PII per kind over the redacted shards; line dedup's totals (its drops go into `lost`)."""
    out = {}
    if redact_counts is not None:
        pii = Counter()
        for c in redact_counts:
            pii.update(json.loads(Path(c).read_text())["pii"])
        out["pii"] = dict(pii)  # in the kinds' order (hagane.pii.PRIORITY), zeros kept: one bar per kind asked for
    if line_counts is not None:
        totals = Counter()
        for c in line_counts:
            counts = json.loads(Path(c).read_text())
            totals.update({k: counts[k] for k in ("documents_in", "kept", "lines_removed", "chars_removed",
                                                   "documents_changed")})
            lost.update({f"dedup: {k}": v for k, v in counts["dropped"].items()})
        out["line dedup"] = dict(totals)
    return out


def plot_funnel(funnel: dict, out: Path) -> None:
    plt = _pyplot()
    pii = funnel.get("pii")
    # A third panel, the personal information replaced per kind, when the funnel counts redaction.
    widths = [1, 1.4] + ([0.8] if pii is not None else [])
    fig, axes = plt.subplots(1, len(widths), figsize=(11 + 4 * (pii is not None), 4), gridspec_kw={"width_ratios": widths})
    left, right = axes[0], axes[1]
    steps = funnel["steps"]
    left.bar(list(steps), list(steps.values()), color="#4a6fa5")
    for i, v in enumerate(steps.values()):
        left.annotate(f"{v:,}", (i, v), ha="center", va="bottom", fontsize=8)
    left.set_title("documents at each step")
    reasons = funnel["dropped"]
    right.barh(list(reasons), list(reasons.values()), color="#b5523b")
    right.invert_yaxis()
    partial = len(funnel.get("files not read whole", []))
    right.set_title("dropped, skipped or quarantined, by reason"
                    + (f"\n{partial:,} input file(s) not read whole: see funnel.json" if partial else ""))
    if pii is not None:
        axes[2].barh(list(pii), list(pii.values()), color="#6a8f4e")
        axes[2].invert_yaxis()
        for i, v in enumerate(pii.values()):
            axes[2].annotate(f"{v:,}", (v, i), va="center", fontsize=8)
        axes[2].set_title("personal information replaced, by kind")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_training(metrics: Path, evaluation: Path, out: Path) -> None:
    plt = _pyplot()
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    final = json.loads(evaluation.read_text())["held_out"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["tokens"] for r in rows], [r["loss"] for r in rows], label="training loss (mean over ranks)")
    val = [r for r in rows if "val_loss" in r]
    if val:
        ax.plot([r["tokens"] for r in val], [r["val_loss"] for r in val], "o-", color="#3b7bb5", ms=4,
                label="validation loss (fixed windows)")
    ax.axhline(final["unigram_entropy_nats_per_token"], ls="--", color="grey",
               label="unigram entropy of validation tokens")
    ax.scatter([rows[-1]["tokens"]], [final["loss_nats_per_token"]], color="#b5523b", zorder=3,
               label=f"held-out loss {final['loss_nats_per_token']:.3f} ({final['bits_per_char']:.3f} bits/char)")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("nats per token")
    ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_evaluation(summary: Path, out: Path) -> None:
    """Every checkpoint against training tokens: held-out bits per character (overall and per source) and
    the accuracy of each task, with the continuation task's chance level."""
    plt = _pyplot()
    rows = json.loads(Path(summary).read_text())
    tokens = [r["tokens"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(tokens, [r["bits_per_char"] for r in rows], "o-", color="#b5523b", label="all held-out text")
    for key in sorted(k for k in rows[0] if k.endswith("/bits_per_char")):
        left.plot(tokens, [r[key] for r in rows], "o--", ms=3, label=key.split("/")[0])
    left.set_xlabel("training tokens")
    left.set_ylabel("bits per character (held out)")
    left.legend(fontsize=8)
    accuracy = [k for k in rows[0] if k.split("/")[-1] in ("acc", "acc_mutual_info", "char_f1")]
    for key in accuracy:
        right.plot(tokens, [r[key] if r[key] is not None else float("nan") for r in rows], "o-", ms=4, label=key)
    if rows[0].get("continuation/chance"):
        right.axhline(rows[0]["continuation/chance"], ls="--", color="grey", label="continuation: chance")
    right.set_xlabel("training tokens")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _byte_label(source: str, held_out: dict) -> str:
    label = f"{source}\nbytes {held_out['byte_fallback_rate']:.1%}"
    if "byte_fallback_rate_without_newlines" in held_out:
        label += f"\n{held_out['byte_fallback_rate_without_newlines']:.1%} without newlines"
    return label


def plot_tokenizer(report: Path, out: Path) -> None:
    """The vocabulary at a glance: characters and bytes per token on held-out text per source, and the
    scripts its pieces are made of. (The longest pieces stay in report.json: matplotlib's default font has
    no Japanese glyphs.)"""
    plt = _pyplot()
    data = json.loads(Path(report).read_text())
    sources = list(data["held_out"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.4
    xs = range(len(sources))
    left.bar([x - width / 2 for x in xs], [data["held_out"][s]["characters_per_token"] for s in sources], width,
             label="characters per token", color="#3b7bb5")
    left.bar([x + width / 2 for x in xs], [data["held_out"][s]["bytes_per_token"] for s in sources], width,
             label="UTF-8 bytes per token", color="#b5523b")
    left.set_xticks(list(xs), [_byte_label(s, data["held_out"][s]) for s in sources], fontsize=8)
    left.set_ylabel("held-out text per token")
    left.set_ylim(0, 1.3 * max(data["held_out"][s]["bytes_per_token"] for s in sources))
    left.legend(fontsize=8, ncol=2, loc="upper center")
    vocab = data["vocabulary"]
    shares = vocab["script_share"]
    right.barh(list(shares), list(shares.values()), color="#6a8f3b")
    right.invert_yaxis()
    right.set_xlabel(f"share of the {vocab['pieces'].get('normal', 0):,} normal pieces "
                     f"({vocab['size']:,} in all, {vocab['pieces'].get('byte', 0)} byte pieces)")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
