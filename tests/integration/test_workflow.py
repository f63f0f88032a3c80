"""The whole workflow, run by Snakemake on the shipped demo corpus with a reduced config.

Checks what a user relies on: every stage leaves a manifest, the audit passes (and fails on a changed
byte), the converted model loads in transformers, the model learned (held-out loss below the unigram
entropy), a second run does nothing, and a config change reruns exactly the stage it belongs to and
what follows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("config.yaml")
STAGES = ["collect", "filter", "dedup", "tokenizer", "tokenize", "pretrain", "convert", "evaluate"]
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, config: Path = CONFIG) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--profile", str(REPO / "workflow" / "profiles" / "local"), "--configfile", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    (workdir / "data").symlink_to(REPO / "data")
    (workdir / "config").symlink_to(REPO / "config")
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    return workdir


def test_every_stage_leaves_a_manifest_and_the_audit_passes(run):
    for stage in STAGES:
        manifests = list((run / "results" / stage).rglob("_manifest.json"))
        assert manifests, f"no manifest under results/{stage}"
        for m in manifests:
            data = json.loads(m.read_text())
            assert data["outputs"] and data["environment"]["python"]
            assert re.fullmatch(r"[0-9a-f]{40}", data["code"]["git_commit"])
    assert (run / "results" / "audit" / "verify.txt").read_text().startswith("audit passed")
    report = (run / "results" / "audit" / "verify.txt").read_text()
    assert "data/demo/web/debian-docs.warc.gz" in report and "data/demo/text/skk-manual-ja.txt" in report


def test_the_funnel_accounts_for_every_document(run):
    collected = 0
    for m in (run / "results" / "collect").rglob("_manifest.json"):
        counts = json.loads(m.read_text())["counts"]
        assert counts["records_seen"] == counts["documents"] + sum(counts["skipped"].values()) + sum(counts["quarantined"].values())
        collected += counts["documents"]
    web = json.loads((run / "results/collect/debian_web/debian-docs/_manifest.json").read_text())["counts"]
    # The English pages of the handbook never reach trafilatura: the pre-check skips them.
    assert web["skipped"] == {"precheck_not_japanese": 31, "warc_warcinfo_record": 1}
    kept = 0
    for c in (run / "results" / "filter" / "select").rglob("counts.json"):
        counts = json.loads(c.read_text())
        assert counts["documents_in"] == counts["kept"] + sum(counts["dropped"].values())
        kept += counts["kept"]
    assert collected == 463 and 250 < kept < collected
    dedup = json.loads((run / "results" / "dedup" / "exact" / "counts.json").read_text())
    assert dedup["documents_in"] == kept
    near = [json.loads(c.read_text()) for c in sorted((run / "results" / "dedup").glob("*/*/counts.json"))]
    assert len(near) == 2 and sum(c["documents_in"] for c in near) == dedup["kept"]
    assert all(c["documents_in"] == c["kept"] + sum(c["dropped"].values()) for c in near)
    funnel = json.loads((run / "results" / "report" / "funnel.json").read_text())
    assert funnel["steps"] == {"records": 495, "documents": collected, "after filter": kept,
                               "after exact dedup": dedup["kept"], "after near dedup": sum(c["kept"] for c in near)}
    assert (run / "results" / "report" / "funnel.png").stat().st_size > 10_000
    assert (run / "results" / "report" / "training.png").stat().st_size > 10_000
    assert (run / "results" / "report" / "tokenizer.png").stat().st_size > 10_000


def test_the_model_learned_and_every_checkpoint_is_converted_and_evaluated(run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    summary = json.loads((run / "results" / "evaluate" / "summary.json").read_text())
    assert [row["step"] for row in summary] == [100, 200] and summary[1]["tokens"] == 200 * 16 * 64
    final = json.loads((run / "results" / "evaluate" / "step_0000200" / "metrics.json").read_text())
    held = final["held_out"]
    assert held["loss_nats_per_token"] < held["unigram_entropy_nats_per_token"] - 0.5
    assert 0 < held["bits_per_char"] < 8 and set(held["by_source"]) == {"debian_web", "manuals_text"}
    assert summary[1]["bits_per_char"] < summary[0]["bits_per_char"]  # more training, less surprise
    # The continuation task: the true next passage among 4 is picked well above chance (0.25).
    continuation = final["tasks"]["continuation"]
    assert continuation["samples"] == 300 and continuation["chance"] == 0.25
    assert continuation["acc"] - 2 * continuation["acc_stderr"] > 0.25
    assert continuation["acc_mutual_info"] > 0.25
    generations = (run / "results" / "evaluate" / "step_0000200" / "generations.jsonl").read_text().splitlines()
    assert [json.loads(g)["prompt"] for g in generations][0] == "日本の首都は"
    assert (run / "results" / "report" / "evaluation.png").stat().st_size > 10_000
    assert (run / "results" / "evaluate" / "summary.csv").read_text().startswith("step,tokens,loss_nats_per_token")

    for step in ("step_0000100", "step_0000200"):
        gate = json.loads((run / "results" / "convert" / step / "_manifest.json").read_text())["counts"]
        assert gate["max_abs_logit_diff"] <= 1e-4 and gate["step"] == int(step[5:])
    model_dir = run / "results" / "publish" / "model"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    ids = tok("ガイドブックをダウンロードする", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tok.bos_token_id
    assert model(input_ids=ids).logits.shape[-1] == 2000
    card = (model_dir / "README.md").read_text()
    assert "# hagane-integration-test" in card and "| manuals_text |" in card
    assert f"| continuation | acc | {continuation['acc']:.4f} |" in card


def test_a_second_run_does_nothing(run):
    proc = snakemake(run, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr


def changed_config(tmp_path, edit) -> Path:
    cfg = yaml.safe_load(CONFIG.read_text())
    edit(cfg)
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def test_changing_the_vocabulary_reruns_the_tokenizer_and_after_only(run, tmp_path):
    cfg = changed_config(tmp_path, lambda c: c["tokenizer"].update(vocab_size=1800))
    proc = snakemake(run, "--dry-run", config=cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Two shards: the WARC file, and the two manual files grouped into one (group_mb).
    assert planned_jobs(proc.stdout) == {"train_tokenizer": 1, "tokenize_documents": 2, "pretrain_model": 1,
                                         "convert_to_hf": 2, "build_continuation_task": 1, "evaluate_checkpoint": 2,
                                         "summarize_evaluation": 1, "publish_model": 1, "verify_provenance": 1,
                                         "plot_tokenizer": 1, "plot_training": 1, "plot_evaluation": 1, "all": 1}


def test_changing_a_threshold_reselects_without_rescoring(run, tmp_path):
    cfg = changed_config(tmp_path, lambda c: c["filter"]["select"]["thresholds"].update(n_chars={"min": 300}))
    proc = snakemake(run, "--dry-run", config=cfg)
    jobs = planned_jobs(proc.stdout)
    assert jobs["select_documents"] == 2 and "score_documents" not in jobs and "collect_documents" not in jobs


def test_a_percentile_bound_adds_one_thresholds_job_over_every_shard_before_selecting(run, tmp_path):
    # The test config is whole (merged over config/config.yaml, which is empty): its absolute max is replaced.
    cfg = changed_config(tmp_path, lambda c: c["filter"]["select"]["thresholds"].update(kenlm_ppl={"max": None, "max_percentile": 90}))
    proc = snakemake(run, "--dry-run", config=cfg)
    jobs = planned_jobs(proc.stdout)
    assert jobs["filter_thresholds"] == 1 and jobs["select_documents"] == 2 and "score_documents" not in jobs
    assert proc.stdout.count("results/filter/score/") >= 2  # the thresholds job reads both shards' scores


def test_changing_a_minhash_setting_reruns_near_dedup_but_not_exact(run, tmp_path):
    cfg = changed_config(tmp_path, lambda c: c["dedup"].setdefault("near", {}).update(bands=20, rows=40))
    jobs = planned_jobs(snakemake(run, "--dry-run", config=cfg).stdout)
    assert jobs["minhash_signatures"] == 2 and jobs["minhash_clusters"] == 1 and jobs["dedup_near"] == 2
    assert "dedup_exact" not in jobs and "select_documents" not in jobs


def test_a_typo_in_the_config_stops_the_workflow_naming_the_key(run, tmp_path):
    cfg = changed_config(tmp_path, lambda c: c["pretrain"].update(stpes=10))
    proc = snakemake(run, "--dry-run", config=cfg)
    assert proc.returncode != 0 and "stpes" in proc.stdout + proc.stderr


def test_the_audit_names_a_changed_file(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run / "results", copy / "results", ignore=shutil.ignore_patterns("checkpoints"))
    (copy / "data").symlink_to(REPO / "data")
    shutil.copytree(run / "results" / "pretrain" / "checkpoints", copy / "results" / "pretrain" / "checkpoints")
    target = copy / "results" / "dedup" / "debian_web" / "debian-docs" / "documents.jsonl.zst"
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "hagane", "audit", "verify", "results"], cwd=copy,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "results/dedup/debian_web/debian-docs/documents.jsonl.zst has sha256" in proc.stderr


def test_the_same_config_gives_the_same_bytes(run, tmp_path):
    """Rerun the tokenizer and one shard's collect and tokenize by hand, as the rules would, and compare."""
    cfg = yaml.safe_load(CONFIG.read_text())
    hagane = [sys.executable, "-m", "hagane"]
    docs = sorted((run / "results" / "dedup").glob("*/*/documents.jsonl.zst"))  # near dedup's output
    subprocess.run([*hagane, "tokenizer", "train", "--tokenizer-json", json.dumps(cfg["tokenizer"]), "--split-json",
                    json.dumps(cfg["split"]), "--documents", *map(str, docs), "--out-dir", str(tmp_path / "tok")],
                   check=True, capture_output=True, cwd=run)
    for name in ("spm.model", "hf/tokenizer.json"):
        assert (tmp_path / "tok" / name).read_bytes() == (run / "results" / "tokenizer" / name).read_bytes(), name
    source = json.dumps(cfg["collect"]["sources"][0])
    subprocess.run([*hagane, "collect", "run", "--source-json", source, "--input", "data/demo/web/debian-docs.warc.gz",
                    "--out-dir", str(tmp_path / "collect")], check=True, capture_output=True, cwd=run)
    shard = run / "results" / "collect" / "debian_web" / "debian-docs"
    assert (tmp_path / "collect" / "documents.jsonl.zst").read_bytes() == (shard / "documents.jsonl.zst").read_bytes()
    tokenized = run / "results" / "tokenize" / "debian_web" / "debian-docs"
    subprocess.run([*hagane, "tokenize", "encode", "--tokenize-json", json.dumps(cfg["tokenize"]), "--split-json",
                    json.dumps(cfg["split"]), "--documents", str(run / "results/dedup/debian_web/debian-docs/documents.jsonl.zst"),
                    "--tokenizer", str(tmp_path / "tok" / "spm.model"), "--out-dir", str(tmp_path / "tokens")],
                   check=True, capture_output=True, cwd=run)
    for name in ("train.bin", "valid.bin", "train.idx.parquet"):
        assert (tmp_path / "tokens" / name).read_bytes() == (tokenized / name).read_bytes(), name
