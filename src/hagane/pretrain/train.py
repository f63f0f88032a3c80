"""The training loop: one entry point for every launcher (see distributed.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor import DTensor

from hagane.config import PretrainConfig
from hagane.errors import HaganeError
from hagane.io import sha256_file, sha256_text
from hagane.manifest import now, write_manifest
from hagane.pretrain.checkpoint import (barrier, kept_checkpoints, latest_checkpoint, load_checkpoint,
                                       prune_checkpoints, save_checkpoint, stale_checkpoints, step_dir)
from hagane.pretrain.data import SampleStream, ValidationWindows
from hagane.pretrain.distributed import Topology, choose_backend, detect_topology, init_distributed
from hagane.pretrain.flops import flops_per_token, known_peak, measure_matmul_peak
from hagane.pretrain.model import ModelArgs, Transformer
from hagane.pretrain.parallelize import gradient_sync, parallelize

METRICS = "metrics.jsonl"


def learning_rate(step: int, cfg: PretrainConfig) -> float:
    """Linear warmup to `lr`; then cosine decay to `min_lr` at the last step, or (wsd) `lr` held until
    the last `decay_fraction` of the steps and decayed linearly to `min_lr` over them."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "wsd":
        decay_steps = max(1, round(cfg.decay_fraction * cfg.steps))
        decay_start = cfg.steps - decay_steps
        if step < decay_start:
            return cfg.lr
        return cfg.lr + (cfg.min_lr - cfg.lr) * (step + 1 - decay_start) / decay_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def build_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    # Decoupled weight decay on matrices only; norms' gains are not decayed.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    # fused=True: torch's default AdamW on CPU loops per tensor; fused is 3.5x faster (DESIGN.md).
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


# Settings that do not change what is computed: a run may resume with other values of these (on another
# number of ranks, say), since the data order depends only on the seed and the sample index.
NOT_IN_FINGERPRINT = {"nproc", "threads_per_rank", "checkpoint_every", "log_every", "micro_batch_size", "compile",
                      "deterministic", "backend", "validation_every", "validation_windows", "keep_last", "peak_flops"}
MODEL_NOT_IN_FINGERPRINT = {"preset", "activation_checkpointing"}


def run_fingerprint(cfg: PretrainConfig, shards: list[Path], tokenizer_model: Path) -> str:
    """Which run a checkpoint belongs to: the training maths and the exact data. Only matching ones resume."""
    maths = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_FINGERPRINT}
    maths["model"] = {k: v for k, v in maths["model"].items() if k not in MODEL_NOT_IN_FINGERPRINT}
    parts = [json.dumps(maths, sort_keys=True), sha256_file(tokenizer_model)]
    if cfg.init_from:
        init = Path(cfg.init_from)
        parts += [sha256_file(init / "config.json"), *(f"{f.name}:{f.stat().st_size}" for f in sorted(init.glob("*.safetensors")))]
    for prefix in sorted(shards):
        parts += [prefix.name, sha256_file(prefix.with_suffix(".idx.parquet"))]
    return sha256_text(*parts)[:16]


def batch_plan(cfg: PretrainConfig, world_size: int) -> tuple[int, int]:
    """(micro batch, micro batches per step) for each rank."""
    if cfg.global_batch_size % world_size:
        raise HaganeError(f"pretrain.global_batch_size {cfg.global_batch_size} is not divisible by "
                          f"the {world_size} ranks of this job")
    per_rank = cfg.global_batch_size // world_size
    micro = min(cfg.micro_batch_size or per_rank, per_rank)
    if per_rank % micro:
        raise HaganeError(f"pretrain.micro_batch_size {micro} does not divide the {per_rank} sequences each of "
                          f"the {world_size} ranks trains on per step (global_batch_size {cfg.global_batch_size})")
    return micro, per_rank // micro


def use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def peak_flops(cfg: PretrainConfig, device: torch.device, bf16: bool) -> tuple[float, str]:
    """One rank's peak FLOP/s and where the figure came from."""
    if cfg.peak_flops:
        return cfg.peak_flops, "pretrain.peak_flops"
    if found := known_peak(device, "bf16" if bf16 else "fp32"):
        return found[1], f"{found[0]} data sheet"
    if device.type == "cuda":
        return float("nan"), f"unknown GPU {torch.cuda.get_device_name(device)}: set pretrain.peak_flops"
    barrier()  # ranks sharing a node measure together, as they will train together
    return measure_matmul_peak(), f"fp32 matmul measured at start, {torch.get_num_threads()} thread(s)"


def samples_digest(data: SampleStream, samples: list[int], topo: Topology, expected: range) -> str | None:
    """sha256 of the window starts of every sample the ranks trained on since the last log line, in global
    sample order; checks that each expected sample was trained on exactly once, by exactly one rank."""
    gathered = [None] * topo.world_size if dist.is_initialized() else [samples]
    if dist.is_initialized():
        dist.all_gather_object(gathered, samples)
    if not topo.is_main:
        return None
    seen = sorted(g for part in gathered for g in part)
    if seen != list(expected):
        raise HaganeError(f"internal error: the ranks trained on samples {seen[:5]}… instead of {expected}")
    starts = np.asarray([data.window_start(g) for g in seen], dtype="<i8")
    return hashlib.sha256(starts.tobytes()).hexdigest()[:16]


def validation_loss(wrapped, windows: ValidationWindows, micro: int, topo: Topology, device, autocast) -> float:
    """Mean loss per token over the validation windows. Every rank runs the same number of forward passes
    (FSDP needs all of them in each), padding with window 0 at weight 0."""
    per_rank = math.ceil(windows.n / topo.world_size)
    mine = [topo.rank * per_rank + j for j in range(per_rank)]
    total = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for i in range(0, len(mine), micro):
            chunk = mine[i:i + micro]
            x, y = (t.to(device) for t in windows.batch([g if g < windows.n else 0 for g in chunk]))
            with autocast():
                logits = wrapped(x)
            losses = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                     reduction="none").view(len(chunk), -1).sum(-1).double().cpu()
            weight = torch.tensor([g < windows.n for g in chunk], dtype=torch.float64)
            total += torch.stack([(losses * weight).sum(), weight.sum() * windows.seq_len])
    if dist.is_initialized():
        dist.all_reduce(total)
    return float(total[0] / total[1])


def train(cfg: PretrainConfig, shards: list[Path], tokenizer_model: Path, out_dir: Path,
          valid_shards: list[Path] = (), backend: str | None = None) -> Path:
    started = now()
    topo = detect_topology()
    micro, accum = batch_plan(cfg, topo.world_size)
    torch.set_num_threads(cfg.threads_per_rank)
    backend = choose_backend(backend or cfg.backend)
    init_distributed(topo, backend, single_rank_group=cfg.parallelism == "fsdp")
    # Training runs where the collectives run: NCCL needs the model and batches on this rank's GPU.
    device = torch.device(f"cuda:{topo.local_rank}" if backend == "nccl" else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        if cfg.deterministic:
            # Atomic adds (flash attention's dQ, embedding gradients) and cuBLAS's split workspaces make GPU
            # runs differ in the last bits from run to run: on an H200 a rerun drifted 2e-3 in loss within 12
            # steps. cuBLAS reads its setting when its first handle is made, which is below.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
    bf16 = use_bf16(cfg.precision, device)
    ckpt_root = out_dir / "checkpoints"
    fingerprint = run_fingerprint(cfg, shards, tokenizer_model)

    data = SampleStream(shards, cfg.seq_len, cfg.seed, cfg.mixture)
    valid = ValidationWindows(valid_shards, cfg.seq_len, cfg.validation_windows) if valid_shards else None
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank, whatever the world size
    if cfg.init_from:
        from hagane.convert.llama import load_hf_checkpoint

        args, init_state = load_hf_checkpoint(cfg.init_from, max_seq_len=cfg.seq_len)
        if args.vocab_size != data.vocab_size:
            raise HaganeError(f"pretrain.init_from: {cfg.init_from} has {args.vocab_size} embeddings but the "
                              f"tokenizer {tokenizer_model} has {data.vocab_size} pieces; continue with the model's tokenizer")
        model = Transformer(args)
        model.load_state_dict(init_state)
    else:
        args = ModelArgs.from_config(cfg.model, vocab_size=data.vocab_size, max_seq_len=cfg.seq_len)
        model = Transformer(args)
    model.to(device)
    wrapped = parallelize(model, strategy=cfg.parallelism, device=device,
                          activation_checkpointing=cfg.model.activation_checkpointing, compile=cfg.compile,
                          bf16_params=bf16 and cfg.parallelism == "fsdp")
    bf16_autocast = bf16 and not isinstance(wrapped, FSDPModule)  # FSDP casts through its policy instead
    optimizer = build_optimizer(model, cfg)  # after sharding: FSDP replaced the parameters

    def autocast():
        if bf16_autocast:
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    start_step = 0
    resume = latest_checkpoint(ckpt_root, fingerprint) if ckpt_root.is_dir() else None
    barrier()  # every rank has chosen before rank 0 moves anything
    metrics_path = out_dir / METRICS
    if resume is not None:
        start_step = load_checkpoint(resume, model, optimizer)
        if topo.is_main:
            print(f"resuming from {resume} at step {start_step}", flush=True)
            # The metrics up to the checkpoint travel inside it: lines logged after it (by the run that
            # died) are dropped, and a metrics file deleted by Snakemake after the failure comes back.
            shutil.copyfile(resume / METRICS, metrics_path)
    elif topo.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics_path.unlink(missing_ok=True)
        if ckpt_root.is_dir():
            for stale in stale_checkpoints(ckpt_root, fingerprint):
                aside = out_dir / "stale" / stale.name
                print(f"moving checkpoint {stale} (another config or data) aside to {aside}", flush=True)
                shutil.rmtree(aside, ignore_errors=True)
                aside.parent.mkdir(parents=True, exist_ok=True)
                stale.rename(aside)

    peak, peak_source = peak_flops(cfg, device, bf16)
    fpt_all, fpt_nonemb = (flops_per_token(args, cfg.seq_len, include_head=h) for h in (True, False))
    if topo.is_main:
        metrics_path.touch()
        print(f"model: {model.num_parameters():,} parameters; {data.n_windows:,} windows of {cfg.seq_len} tokens; "
              f"{topo.world_size} rank(s) via {topo.launcher}, {backend}, {cfg.parallelism}, "
              f"{'bf16' if bf16 else 'fp32'}; {accum} micro batch(es) of {micro} per rank and step; "
              f"peak {peak / 1e9:,.1f} GFLOP/s per rank ({peak_source})", flush=True)

    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    train_time, last_step, samples = 0.0, start_step, []
    for step in range(start_step, cfg.steps):
        tick = time.perf_counter()
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = torch.zeros((), device=device)
        for i, (indices, x, y) in enumerate(data.micro_batches(step, cfg.global_batch_size, topo.rank,
                                                               topo.world_size, micro)):
            samples += indices
            x, y = x.to(device), y.to(device)
            with gradient_sync(wrapped, i == accum - 1):
                with autocast():
                    # The loss in fp32 whatever the compute precision; each micro batch weighs 1/accum.
                    loss = wrapped(x, y) / accum
                loss.backward()
            step_loss += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if isinstance(grad_norm, DTensor):
            grad_norm = grad_norm.full_tensor()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_time += time.perf_counter() - tick

        done = step + 1
        validate = valid is not None and (done == cfg.steps or cfg.validation_every and done % cfg.validation_every == 0)
        if done % cfg.log_every == 0 or done == cfg.steps or validate:
            if dist.is_initialized():
                dist.all_reduce(step_loss)
                step_loss /= topo.world_size
            digest = samples_digest(data, samples, topo, range(last_step * cfg.global_batch_size,
                                                               done * cfg.global_batch_size))
            tokens_per_s = (done - last_step) * tokens_per_step / train_time
            record = {"step": done, "loss": step_loss.item(), "lr": lr, "grad_norm": float(grad_norm),
                      "tokens": done * tokens_per_step, "tokens_per_s": tokens_per_s,
                      "mfu": tokens_per_s * fpt_all / (peak * topo.world_size),
                      "mfu_nonembedding": tokens_per_s * fpt_nonemb / (peak * topo.world_size),
                      "samples_sha": digest}
            if device.type == "cuda":  # the most this rank's tensors have held since the start
                record["gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
            if validate:
                wrapped.eval()
                record["val_loss"] = validation_loss(wrapped, valid, micro, topo, device, autocast)
                wrapped.train()
            if topo.is_main:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
            train_time, last_step, samples = 0.0, done, []
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(ckpt_root, done, model, optimizer, model_args=args, fingerprint=fingerprint,
                            is_main=topo.is_main, metrics=metrics_path)
            if topo.is_main and cfg.keep_last:
                for old in prune_checkpoints(ckpt_root, cfg.keep_last):
                    print(f"removed {old} (keep_last {cfg.keep_last})", flush=True)

    final = step_dir(ckpt_root, cfg.steps)
    if topo.is_main:
        inputs = [p for prefix in sorted([*shards, *valid_shards])
                  for p in (prefix.with_suffix(".bin"), prefix.with_suffix(".idx.parquet"))]
        write_manifest(out_dir, stage="pretrain",
                       config={"pretrain": dataclasses.asdict(cfg), "backend": backend},
                       inputs=[*inputs, tokenizer_model], outputs=[*kept_checkpoints(ckpt_root), metrics_path],
                       counts={"steps": cfg.steps, "tokens": cfg.steps * tokens_per_step,
                               "parameters": model.num_parameters(), "world_size": topo.world_size,
                               "launcher": topo.launcher, "micro_batches_per_step": accum,
                               "precision": "bf16" if bf16 else "fp32", "peak_flops_per_rank": peak,
                               "peak_flops_source": peak_source, "resumed_from_step": start_step,
                               "sources": data.source_counts(cfg.steps * cfg.global_batch_size)},
                       started_at=started)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return final
