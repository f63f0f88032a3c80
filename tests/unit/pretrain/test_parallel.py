"""The debug model on CPU with gloo: DDP, FSDP2, gradient accumulation, activation checkpointing and bf16
against one rank with the same global batch; validation, pruning, a real SIGKILL and resume; continual
pretraining from a Hugging Face directory.

Float tolerance: runs that only reduce gradients in another order (other rank counts, FSDP's
reduce-scatter, micro batches) agree to rel 1e-5 per step over these 12 steps; bf16 to rel 2e-3."""

import json
import os
import random
import signal
import subprocess
import time

import pytest
import torch

from test_train import DEBUG, run_train, train_command

VALIDATED = {**DEBUG, "validation_every": 6, "validation_windows": 16}


def losses(metrics):
    return [m["loss"] for m in metrics]


@pytest.fixture(scope="module")
def one_rank_run(toy_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    metrics, log = run_train(toy_corpus, out, ranks=1, cfg=VALIDATED, valid=True)
    assert "1 rank(s) via none" in log
    return out, metrics


@pytest.fixture(scope="module")
def one_rank(one_rank_run):
    return one_rank_run[1]


def final_weights(out):
    """The final checkpoint as conversion reads it: one process, no process group, a plain model."""
    from hagane.pretrain.checkpoint import load_model_weights, read_state
    from hagane.pretrain.model import ModelArgs, Transformer

    ckpt = out / "checkpoints" / "step_0000012"
    model = Transformer(ModelArgs(**read_state(ckpt)["model_args"]))
    load_model_weights(ckpt, model)
    return model.state_dict()


@pytest.mark.parametrize("name, ranks, extra", [
    ("ddp", 2, {}),
    ("fsdp", 2, {"parallelism": "fsdp", "keep_last": 1}),
    ("fsdp_accumulating", 2, {"parallelism": "fsdp", "micro_batch_size": 2}),
    ("ddp_accumulating_checkpointed", 2, {"micro_batch_size": 1, "model": {**DEBUG["model"], "activation_checkpointing": True}}),
])
def test_parallelisms_match_one_rank(one_rank_run, toy_corpus, tmp_path, name, ranks, extra):
    one_rank = one_rank_run[1]
    out = tmp_path / name
    metrics, log = run_train(toy_corpus, out, ranks=ranks, cfg={**VALIDATED, **extra}, valid=True)
    micro = extra.get("micro_batch_size") or 4
    assert f"{ranks} rank(s) via torchrun, gloo, {extra.get('parallelism', 'ddp')}, fp32; {4 // micro} micro batch(es)" in log
    assert [m["samples_sha"] for m in metrics] == [m["samples_sha"] for m in one_rank]  # the same samples
    assert losses(metrics) == pytest.approx(losses(one_rank), rel=1e-5)
    val = [(m["step"], m["val_loss"]) for m in metrics if "val_loss" in m]
    assert [s for s, _ in val] == [6, 12]
    assert [v for _, v in val] == pytest.approx([m["val_loss"] for m in one_rank if "val_loss" in m], rel=1e-5)
    assert val[1][1] < val[0][1]  # it generalises a little
    kept = sorted(p.name for p in (out / "checkpoints").glob("step_*"))
    assert kept == (["step_0000012"] if extra.get("keep_last") else ["step_0000006", "step_0000012"])
    # FSDP's sharded checkpoints load whole into one process, as the conversion stage loads them.
    ours, reference = final_weights(out), final_weights(one_rank_run[0])
    assert max((ours[k] - reference[k]).abs().max().item() for k in reference) < 1e-4


def test_bf16_on_fsdp_stays_near_fp32(one_rank, toy_corpus, tmp_path):
    """bf16 compute from fp32 master weights (FSDP2's mixed-precision policy); on a GPU the default. One rank
    in a group of one, as on a single GPU (FSDP2 over several ranks is checked above in fp32)."""
    metrics, log = run_train(toy_corpus, tmp_path / "bf16", ranks=1,
                             cfg={**VALIDATED, "parallelism": "fsdp", "precision": "bf16"}, valid=True)
    assert "1 rank(s) via none, gloo, fsdp, bf16" in log
    assert losses(metrics) == pytest.approx(losses(one_rank), rel=2e-3)
    assert losses(metrics) != losses(one_rank)  # bf16 really was used
    assert json.loads((tmp_path / "bf16" / "_manifest.json").read_text())["counts"]["precision"] == "bf16"


def test_sigkill_at_a_random_step_then_resume_is_bit_identical(toy_corpus, tmp_path):
    cfg = {**DEBUG, "steps": 40, "checkpoint_every": 5}
    reference, _ = run_train(toy_corpus, tmp_path / "reference", cfg=cfg)
    kill_at = random.SystemRandom().randint(6, 34)
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_command(toy_corpus, out, cfg=cfg), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        logged = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
        if len(logged) >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks, with no chance to clean up
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before step {kill_at} ({proc.returncode})"
    assert not (out / "checkpoints" / "step_0000040").exists()
    again, log = run_train(toy_corpus, out, cfg=cfg)
    assert "resuming from" in log
    assert losses(again) == losses(reference), f"killed after step {kill_at}"  # bit for bit
    assert [m["step"] for m in again] == list(range(1, 41))


def test_continual_pretraining_starts_from_the_hugging_face_weights(toy_corpus, tmp_path):
    from transformers import LlamaForCausalLM

    from hagane.convert.llama import hf_config
    from hagane.pretrain.data import SampleStream
    from hagane.pretrain.model import ModelArgs

    args = ModelArgs(vocab_size=1200, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=160, max_seq_len=64,
                     tie_embeddings=False)
    torch.manual_seed(3)
    hf = LlamaForCausalLM(hf_config(args, bos_id=1, eos_id=2, pad_id=0)).eval()
    hf.save_pretrained(tmp_path / "hf")
    cfg = {**DEBUG, "steps": 2, "warmup_steps": 1, "init_from": str(tmp_path / "hf")}
    metrics, log = run_train(toy_corpus, tmp_path / "run", ranks=1, cfg=cfg)
    data = SampleStream([toy_corpus / "tokens" / "train"], DEBUG["seq_len"], DEBUG["seed"])
    x, y = data.batch(data.step_samples(0, DEBUG["global_batch_size"]))
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(hf(x).logits.reshape(-1, 1200), y.reshape(-1)).item()
    assert metrics[0]["loss"] == pytest.approx(expected, rel=1e-5)  # step 1's loss is the HF model's
    state = json.loads((tmp_path / "run" / "checkpoints" / "step_0000002" / "trainer_state.json").read_text())
    assert state["model_args"]["ffn_dim"] == 160 and state["model_args"]["tie_embeddings"] is False


def test_init_from_a_model_with_another_vocabulary_fails(toy_corpus, tmp_path):
    from transformers import LlamaForCausalLM

    from hagane.convert.llama import hf_config
    from hagane.pretrain.model import ModelArgs

    args = ModelArgs(vocab_size=500, dim=32, n_layers=1, n_heads=2, n_kv_heads=2, ffn_dim=64, max_seq_len=64)
    LlamaForCausalLM(hf_config(args, bos_id=1, eos_id=2, pad_id=0)).save_pretrained(tmp_path / "hf")
    proc = subprocess.run(train_command(toy_corpus, tmp_path / "run", ranks=1,
                                        cfg={**DEBUG, "init_from": str(tmp_path / "hf")}),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "has 500 embeddings but the tokenizer" in proc.stderr


def test_compiled_blocks_give_the_same_losses(one_rank, toy_corpus, tmp_path):
    """torch.compile of each block (inductor's C++ kernels, built with the compiler make installs)."""
    metrics, _ = run_train(toy_corpus, tmp_path / "compiled", ranks=1, cfg={**VALIDATED, "compile": True}, valid=True)
    assert losses(metrics) == pytest.approx(losses(one_rank), rel=1e-4)
