"""The training loop: one entry point for every launcher (see distributed.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from hagane.config import PretrainConfig
from hagane.errors import HaganeError
from hagane.io import sha256_file, sha256_text
from hagane.manifest import now, write_manifest
from hagane.pretrain.checkpoint import (barrier, latest_checkpoint, load_checkpoint, save_checkpoint,
                                       stale_checkpoints, step_dir)
from hagane.pretrain.data import SampleStream
from hagane.pretrain.distributed import choose_backend, detect_topology, init_distributed
from hagane.pretrain.model import ModelArgs, Transformer
from hagane.pretrain.parallelize import parallelize

METRICS = "metrics.jsonl"


def learning_rate(step: int, cfg: PretrainConfig) -> float:
    """Linear warmup to `lr`, then cosine decay to `min_lr` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
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
NOT_IN_FINGERPRINT = {"nproc", "threads_per_rank", "checkpoint_every", "log_every"}


def run_fingerprint(cfg: PretrainConfig, shards: list[Path], tokenizer_model: Path) -> str:
    """Which run a checkpoint belongs to: the training maths and the exact data. Only matching ones resume."""
    maths = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in NOT_IN_FINGERPRINT}
    parts = [json.dumps(maths, sort_keys=True), sha256_file(tokenizer_model)]
    for prefix in sorted(shards):
        parts += [prefix.name, sha256_file(prefix.with_suffix(".idx.parquet"))]
    return sha256_text(*parts)[:16]


def train(cfg: PretrainConfig, shards: list[Path], tokenizer_model: Path, out_dir: Path,
          backend: str = "auto") -> Path:
    started = now()
    topo = detect_topology()
    if cfg.global_batch_size % topo.world_size:
        raise HaganeError(f"pretrain.global_batch_size {cfg.global_batch_size} is not divisible by "
                          f"the {topo.world_size} ranks of this job")
    torch.set_num_threads(cfg.threads_per_rank)
    backend = choose_backend(backend)
    init_distributed(topo, backend)
    # Training runs where the collectives run: NCCL needs the model and batches on this rank's GPU.
    use_cuda = backend == "nccl"
    device = torch.device(f"cuda:{topo.local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    ckpt_root = out_dir / "checkpoints"
    fingerprint = run_fingerprint(cfg, shards, tokenizer_model)

    data = SampleStream(shards, cfg.seq_len, cfg.seed)
    args = ModelArgs.from_config(cfg.model, vocab_size=data.vocab_size, max_seq_len=cfg.seq_len)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank, whatever the world size
    model = Transformer(args).to(device)
    optimizer = build_optimizer(model, cfg)
    wrapped = parallelize(model)

    start_step = 0
    resume = latest_checkpoint(ckpt_root, fingerprint) if ckpt_root.is_dir() else None
    barrier()  # every rank has chosen before rank 0 moves anything
    metrics_path = out_dir / METRICS
    if resume is not None:
        start_step = load_checkpoint(resume, wrapped, optimizer)
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
    if topo.is_main:
        metrics_path.touch()
        n_params = model.num_parameters()
        print(f"model: {n_params:,} parameters; {data.n_windows:,} windows of {cfg.seq_len} tokens; "
              f"{topo.world_size} rank(s) via {topo.launcher}", flush=True)

    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    last_time, last_step = time.perf_counter(), start_step
    for step in range(start_step, cfg.steps):
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = (t.to(device) for t in data.batch(step, cfg.global_batch_size, topo.rank, topo.world_size))
        logits = wrapped(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            mean_loss = loss.detach().clone()
            if dist.is_initialized():
                dist.all_reduce(mean_loss)
                mean_loss /= topo.world_size
            elapsed = time.perf_counter() - last_time
            if topo.is_main:
                record = {"step": done, "loss": mean_loss.item(), "lr": lr, "grad_norm": float(grad_norm),
                          "tokens": done * tokens_per_step,
                          "tokens_per_s": (done - last_step) * tokens_per_step / elapsed}
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)
            last_time, last_step = time.perf_counter(), done
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(ckpt_root, done, wrapped, optimizer, model_args=args, fingerprint=fingerprint,
                            is_main=topo.is_main, metrics=metrics_path)

    final = step_dir(ckpt_root, cfg.steps)
    if topo.is_main:
        inputs = [p for prefix in sorted(shards) for p in (prefix.with_suffix(".bin"), prefix.with_suffix(".idx.parquet"))]
        write_manifest(out_dir, stage="pretrain", config={"pretrain": dataclasses.asdict(cfg), "backend": backend},
                       inputs=[*inputs, tokenizer_model], outputs=[final, metrics_path],
                       counts={"steps": cfg.steps, "tokens": cfg.steps * tokens_per_step,
                               "parameters": model.num_parameters(), "world_size": topo.world_size, "launcher": topo.launcher,
                               "resumed_from_step": start_step}, started_at=started)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return final
