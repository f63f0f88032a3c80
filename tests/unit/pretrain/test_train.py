"""The trainer under torchrun with 2 gloo ranks (DDP), checked against stored golden losses, and
resumed from a DCP checkpoint with the same numbers as an uninterrupted run."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from hagane.pretrain.checkpoint import STATE_FILE, read_state

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "debug_losses.json")
DEBUG = {"model": {"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 128},
         "seq_len": 32, "global_batch_size": 8, "steps": 12, "lr": 0.003, "min_lr": 0.0003, "warmup_steps": 2,
         "seed": 7, "nproc": 2, "threads_per_rank": 1, "checkpoint_every": 6, "log_every": 1}


def train_command(toy_corpus, out_dir, ranks=2, launcher=None, cfg=DEBUG, valid=False):
    return [sys.executable, "-m", "hagane", "pretrain", "train", "--pretrain-json", json.dumps(cfg),
            "--ranks", str(ranks), "--shards", str(toy_corpus / "tokens" / "train"),
            "--tokenizer", str(toy_corpus / "tokenizer" / "spm.model"), "--out-dir", str(out_dir),
            *(["--valid-shards", str(toy_corpus / "tokens" / "valid")] if valid else []),
            *(["--launcher", launcher] if launcher else [])]


def read_metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def run_train(toy_corpus, out_dir, ranks=2, launcher=None, env=None, cfg=DEBUG, valid=False):
    cmd = train_command(toy_corpus, out_dir, ranks, launcher, cfg, valid)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return read_metrics(out_dir), proc.stdout


@pytest.fixture(scope="module")
def first_run(toy_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    metrics, log = run_train(toy_corpus, out)
    return out, metrics, log


def test_two_gloo_ranks_reproduce_the_golden_losses(first_run):
    out, metrics, log = first_run
    assert "2 rank(s) via torchrun" in log
    losses = [m["loss"] for m in metrics]
    assert [m["step"] for m in metrics] == list(range(1, 13))
    with open(GOLDEN) as f:
        golden = json.load(f)
    assert golden["config"] == DEBUG, "the debug config changed: regenerate tests/fixtures/debug_losses.json"
    assert losses == pytest.approx(golden["losses"], rel=1e-5)
    assert losses[-1] < losses[0] - 0.3  # it learns
    state = read_state(out / "checkpoints" / "step_0000012")
    assert state["step"] == 12 and state["model_args"]["dim"] == 64
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["counts"]["world_size"] == 2 and manifest["counts"]["steps"] == 12


def test_mpiexec_ranks_give_the_same_losses_as_torchrun(first_run, toy_corpus, tmp_path):
    """Open MPI's mpiexec (Debian's openmpi-bin, installed by make) starting 2 ranks that meet over gloo."""
    if shutil.which("mpiexec") is None:
        pytest.fail("mpiexec not found: `make setup` installs Debian's openmpi-bin")
    # Open MPI refuses root and more ranks than cores unless told; a site would not need these.
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
    metrics, log = run_train(toy_corpus, tmp_path / "mpi", launcher="mpiexec", env=env)
    assert "2 rank(s) via openmpi" in log
    assert [m["loss"] for m in metrics] == [m["loss"] for m in first_run[1]]


def test_resume_from_checkpoint_gives_the_same_losses(first_run, toy_corpus, tmp_path):
    out, metrics, _ = first_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    # As if the job had been killed after step 9, past the step-6 checkpoint: metrics.jsonl holds lines
    # the resumed run will log again (by hand), or is gone (Snakemake deletes a failed job's outputs).
    shutil.rmtree(resumed / "checkpoints" / "step_0000012")
    lines = (resumed / "metrics.jsonl").read_text().splitlines()[:9]
    (resumed / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    again, log = run_train(toy_corpus, resumed)
    assert "resuming from" in log and "step_0000006" in log
    assert [m["loss"] for m in again] == [m["loss"] for m in metrics]  # bit for bit
    assert [m["step"] for m in again] == list(range(1, 13))  # no step logged twice


def test_resume_after_snakemake_removed_the_metrics(first_run, toy_corpus, tmp_path):
    out, metrics, _ = first_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step_0000012")
    (resumed / "metrics.jsonl").unlink()
    again, _ = run_train(toy_corpus, resumed)
    assert [m["loss"] for m in again] == [m["loss"] for m in metrics]


def test_resume_on_another_number_of_ranks(first_run, toy_corpus, tmp_path):
    out, metrics, _ = first_run
    resumed = tmp_path / "resumed"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step_0000012")
    again, log = run_train(toy_corpus, resumed, ranks=1)
    assert "resuming from" in log
    # The same samples in the same order (the ranks' gathered window starts hash the same, step by step);
    # only the reduction order of the gradients differs.
    assert [m["samples_sha"] for m in again] == [m["samples_sha"] for m in metrics]
    assert [m["loss"] for m in again] == pytest.approx([m["loss"] for m in metrics], rel=1e-4)


def test_a_checkpoint_of_another_config_is_not_resumed(first_run, toy_corpus, tmp_path):
    out, _, _ = first_run
    other = tmp_path / "other"
    shutil.copytree(out / "checkpoints", other / "checkpoints")
    state_file = other / "checkpoints" / "step_0000012" / STATE_FILE
    state = json.loads(state_file.read_text())
    state["fingerprint"] = "0" * 16
    state_file.write_text(json.dumps(state))
    shutil.rmtree(other / "checkpoints" / "step_0000006")
    _, log = run_train(toy_corpus, other)
    assert "resuming from" not in log
    assert "(another config or data) aside" in log
    assert (other / "stale" / "step_0000012" / STATE_FILE).is_file()  # moved aside, not deleted


def test_audit_step_names_the_documents_and_tokens_of_a_step(first_run, toy_corpus, tmp_path):
    import numpy as np
    import sentencepiece as spm

    from hagane.io import read_jsonl_zst
    from hagane.pretrain.data import SampleStream

    out = first_run[0]
    proc = subprocess.run([sys.executable, "-m", "hagane", "audit", "step", "5", "--pretrain-dir", str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted({r["sample"] for r in rows}) == list(range(32, 40))  # step 5 of batch 8: samples 32 … 39
    data = SampleStream([toy_corpus / "tokens" / "train"], DEBUG["seq_len"], DEBUG["seed"])
    texts = {d["id"]: d["text"] for d in read_jsonl_zst(toy_corpus / "docs.jsonl.zst")}
    sp = spm.SentencePieceProcessor(model_file=str(toy_corpus / "tokenizer" / "spm.model"))
    index = data.stream.shards[0].index.set_index("doc_id")
    for sample in range(32, 40):
        pieces = [r for r in rows if r["sample"] == sample]
        # The documents' token ranges, read from the shard, are exactly the window the trainer used …
        traced = np.concatenate([data.stream.slice(r["stream_start"], r["stream_stop"]) for r in pieces])
        assert list(traced) == list(data.window(sample))
        for r in pieces:
            # … and each document id leads to the original text those tokens encode.
            doc = index.loc[r["doc_id"]]
            ids = data.stream.slice(doc.offset, doc.offset + doc.n_tokens)[1:-1]  # without BOS and EOS
            assert sp.encode(texts[r["doc_id"]]) == ids.tolist()
    text = subprocess.run([sys.executable, "-m", "hagane", "audit", "step", "5", "--pretrain-dir", str(out)],
                          capture_output=True, text=True, timeout=120).stdout
    assert text.startswith("step 5: 8 samples from ") and "sample 32: d0" in text


def test_audit_step_refuses_a_changed_shard(first_run, toy_corpus, tmp_path):
    manifest = json.loads((first_run[0] / "_manifest.json").read_text())
    idx = next(e for e in manifest["inputs"] if e["path"].endswith("train.idx.parquet"))
    idx["sha256"] = "0" * 64
    (tmp_path / "_manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run([sys.executable, "-m", "hagane", "audit", "step", "5", "--pretrain-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "changed since training" in proc.stderr


if __name__ == "__main__":
    # Regenerate the golden losses after a deliberate change to the model, data order or optimizer:
    #   python tests/unit/pretrain/test_train.py   (then review the diff of tests/fixtures/debug_losses.json)
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import conftest

    with tempfile.TemporaryDirectory() as tmp:
        corpus = conftest.toy_corpus.__wrapped__(type("F", (), {"mktemp": lambda self, n: Path(tempfile.mkdtemp(dir=tmp))})())
        metrics, _ = run_train(corpus, Path(tmp) / "run")
    with open(GOLDEN, "w") as f:
        json.dump({"config": DEBUG, "losses": [m["loss"] for m in metrics]}, f, indent=2)
        f.write("\n")
    print(f"wrote {GOLDEN}")
