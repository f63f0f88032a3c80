"""Model presets (config/models.yaml), the FLOPs formula behind MFU, the memory estimate, the schedules."""

import subprocess
import sys

import pytest
import torch

from hagane.config import ModelConfig, build, model_presets, resolve_model, stage_config
from hagane.errors import HaganeError
from hagane.pretrain.flops import block_matmul_params, estimate_memory, flops_per_token, num_parameters
from hagane.pretrain.model import ModelArgs, Transformer
from hagane.pretrain.train import learning_rate


def preset_args(name, vocab=32000, seq_len=4096, **override):
    model = build(ModelConfig, resolve_model({"preset": name, **override}), "pretrain.model")
    return ModelArgs.from_config(model, vocab_size=vocab, max_seq_len=seq_len)


@pytest.mark.parametrize("name, published", [
    ("1b", 1_100_048_384),    # TinyLlama-1.1B (model card / config.json)
    ("7b", 6_738_415_616),    # Llama-2-7b-hf
    ("13b", 13_015_864_320),  # Llama-2-13b-hf
])
def test_big_presets_have_the_published_parameter_counts(name, published):
    args = preset_args(name)
    args.check()
    assert num_parameters(args) == published


def test_the_count_formula_matches_the_model():
    for name in ("debug", "small"):
        for tie in (True, False):
            args = preset_args(name, vocab=1000, seq_len=64, tie_embeddings=tie)
            assert Transformer(args).num_parameters() == num_parameters(args)


def test_presets_resolve_with_overrides_and_unknown_ones_fail():
    assert set(model_presets()) == {"debug", "small", "125m", "1b", "7b", "13b"}
    cfg = stage_config("pretrain", {"model": {"preset": "small", "n_layers": 2}}, origin="test")
    assert (cfg.model.dim, cfg.model.n_layers, cfg.model.preset) == (512, 2, "small")
    assert stage_config("pretrain", {}, origin="test").model.dim == 256  # debug by default
    with pytest.raises(HaganeError, match="preset '3b' is not a preset"):
        stage_config("pretrain", {"model": {"preset": "3b"}}, origin="test")
    with pytest.raises(HaganeError, match="unknown key 'layers'"):
        stage_config("pretrain", {"model": {"layers": 3}}, origin="test")


def test_flops_per_token_by_hand():
    args = ModelArgs(vocab_size=100, dim=8, n_layers=2, n_heads=2, n_kv_heads=1, ffn_dim=16, max_seq_len=32)
    # Per block: q and o 8×8 each, k and v 8×4 each, SwiGLU 3 × 8×16.
    assert block_matmul_params(args) == 2 * (64 + 64 + 32 + 32 + 3 * 128)
    blocks = 2 * 576
    assert flops_per_token(args, 32) == 6 * (blocks + 800) + 12 * 2 * 8 * 32
    assert flops_per_token(args, 32, include_head=False) == 6 * blocks + 12 * 2 * 8 * 32


def saved_activation_bytes(args, batch, seq_len, checkpointing):
    """What autograd really keeps for backward (each storage once), measured with saved-tensor hooks."""
    from hagane.pretrain.parallelize import parallelize

    model = Transformer(args)
    parallelize(model, device=torch.device("cpu"), activation_checkpointing=checkpointing)
    storages, params = {}, {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.randint(0, args.vocab_size, (batch, seq_len))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(x)
    return sum(storages.values()) - logits.numel() * 4  # logits are estimated apart


@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_activation_estimate_is_within_a_quarter_of_what_autograd_keeps(checkpointing):
    args = preset_args("debug", vocab=500, seq_len=128)
    measured = saved_activation_bytes(args, 2, 128, checkpointing)
    est = estimate_memory(args, seq_len=128, micro_batch=2, world_size=1, fsdp=False, precision="fp32",
                          activation_checkpointing=checkpointing)
    # With checkpointing only each block's input is kept during the forward pass; the estimate adds the
    # one block recomputed at a time in backward, which saved-tensor hooks do not see.
    expected = est.activations - (2 * 128 * (10 * 256 + 3 * 128 + 4 * 704) * 4 if checkpointing else 0)
    assert measured == pytest.approx(expected, rel=0.25)


def test_memory_estimate_shards_states_under_fsdp():
    args = preset_args("7b")
    ddp = estimate_memory(args, seq_len=4096, micro_batch=1, world_size=8, fsdp=False, precision="bf16",
                          activation_checkpointing=True)
    fsdp = estimate_memory(args, seq_len=4096, micro_batch=1, world_size=8, fsdp=True, precision="bf16",
                           activation_checkpointing=True)
    assert ddp.weights_grads_optimizer == 16 * 6_738_415_616
    assert fsdp.weights_grads_optimizer == 16 * 6_738_415_616 // 8
    assert fsdp.activations == ddp.activations


def test_estimate_command_prints_the_preset():
    proc = subprocess.run([sys.executable, "-m", "hagane", "pretrain", "estimate", "--preset", "7b", "--ranks", "8"],
                          capture_output=True, text=True, check=True)
    assert "6,738,415,616 parameters" in proc.stdout and "fsdp over 8 rank(s)" in proc.stdout


def schedule_cfg(**kw):
    base = {"steps": 100, "warmup_steps": 10, "lr": 1.0, "min_lr": 0.1}
    return stage_config("pretrain", {**base, **kw}, origin="test")


def test_cosine_and_wsd_schedules():
    cos = schedule_cfg()
    assert learning_rate(0, cos) == pytest.approx(0.1) and learning_rate(9, cos) == pytest.approx(1.0)
    assert learning_rate(55, cos) == pytest.approx(0.55)  # half way down the cosine
    assert learning_rate(100, cos) == pytest.approx(0.1)
    wsd = schedule_cfg(schedule="wsd", decay_fraction=0.2)
    assert [learning_rate(s, wsd) for s in (10, 50, 79)] == [1.0, 1.0, 1.0]  # stable until the last 20 steps
    assert learning_rate(80, wsd) == pytest.approx(1.0 - 0.9 / 20)
    assert learning_rate(89, wsd) == pytest.approx(0.55)
    assert learning_rate(99, wsd) == pytest.approx(0.1)  # the last step trains at min_lr
