"""Checkpoints through torch.distributed.checkpoint (DCP), written whole or not at all.

A checkpoint is `checkpoints/step_NNNNNNN/`: DCP's files for model and optimizer state and the torch
RNG state, plus `trainer_state.json` (the step, which is also the learning-rate schedule's position and
the data loader's, the model's arguments and a fingerprint of the run's config and data) and a copy of
`metrics.jsonl` up to that step. All ranks write into a hidden temporary directory; rank 0 renames it into
place after every rank finished, so a directory named `step_*` is always complete.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

STATE_FILE = "trainer_state.json"


def step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:07d}"


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def save_checkpoint(root: Path, step: int, model, optimizer, *, model_args, fingerprint: str, is_main: bool,
                    metrics: Path | None = None) -> Path:
    final = step_dir(root, step)
    tmp = root / f".{final.name}.tmp"
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd, "rng": torch.get_rng_state()}, checkpoint_id=str(tmp))
    if is_main:
        state = {"step": step, "model_args": dataclasses.asdict(model_args), "fingerprint": fingerprint}
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        if metrics is not None:
            shutil.copyfile(metrics, tmp / metrics.name)
    barrier()
    if is_main:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    barrier()
    return final


def read_state(ckpt: Path) -> dict:
    return json.loads((ckpt / STATE_FILE).read_text())


def latest_checkpoint(root: Path, fingerprint: str) -> Path | None:
    """The newest complete checkpoint made by this same run (same config and data), if any."""
    candidates = sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())
    matching = [p for p in candidates if read_state(p)["fingerprint"] == fingerprint]
    return matching[-1] if matching else None


def stale_checkpoints(root: Path, fingerprint: str) -> list[Path]:
    """Checkpoints left by a run with another config or other data: never resumed, removed."""
    return [p for p in sorted(root.glob("step_*")) if not (p / STATE_FILE).is_file()
            or read_state(p)["fingerprint"] != fingerprint]


def kept_checkpoints(root: Path) -> list[Path]:
    """Every complete checkpoint under `root`, oldest first (all are the run's own: stale ones are
    removed when a run starts)."""
    return sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())


def prune_checkpoints(root: Path, keep_last: int) -> list[Path]:
    """Remove all but the newest `keep_last` complete checkpoints; return what was removed."""
    complete = kept_checkpoints(root)
    removed = complete[:-keep_last]
    for old in removed:
        shutil.rmtree(old)
    return removed


def load_checkpoint(ckpt: Path, model, optimizer) -> int:
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd, "rng": torch.get_rng_state()}
    dcp.load(state, checkpoint_id=str(ckpt))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    torch.set_rng_state(state["rng"])
    return read_state(ckpt)["step"]


def load_model_weights(ckpt: Path, model) -> None:
    """Model weights only, in one process without a process group (conversion, evaluation)."""
    state = {"model": model.state_dict()}
    dcp.load(state, checkpoint_id=str(ckpt), planner=dcp.DefaultLoadPlanner(allow_partial_load=True))
    model.load_state_dict(state["model"])
