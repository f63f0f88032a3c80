"""Parallelism applied to a plain model from outside (STYLE.md): the model knows nothing of it.

Activation checkpointing and torch.compile replace each block's `forward` / call in place, so parameter
names (and with them checkpoints and the Hugging Face adapter) stay those of the plain model.
"""

from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint

from hagane.pretrain.model import Transformer


def _checkpoint_activations(block: nn.Module) -> None:
    plain = block.forward

    def forward(*args):
        return checkpoint(plain, *args, use_reentrant=False)

    block.forward = forward


def parallelize(model: Transformer, *, strategy: str = "ddp", device: torch.device,
                activation_checkpointing: bool = False, compile: bool = False,
                bf16_params: bool = False) -> nn.Module:
    """The module to call in training. For FSDP that is `model` itself, sharded in place (build the
    optimizer afterwards); for DDP a wrapper around it; on one rank the model. `bf16_params`: FSDP computes
    in bf16 from fp32 master weights and reduces gradients in fp32 (elsewhere bf16 is autocast's job)."""
    for block in model.layers:
        if activation_checkpointing:
            _checkpoint_activations(block)
        if compile:
            block.compile()
    if strategy not in ("ddp", "fsdp"):
        raise ValueError(f"unknown parallelism {strategy!r}")
    # FSDP2 also on a group of one rank (init_distributed made it): one GPU trains as each of many would.
    if not dist.is_initialized() or (strategy == "ddp" and dist.get_world_size() == 1):
        return model
    if strategy == "fsdp":
        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16_params else None,
                                      reduce_dtype=torch.float32)
        for block in model.layers:  # one all-gather per block, freed again after its use
            fully_shard(block, mesh=mesh, mp_policy=policy)
        fully_shard(model, mesh=mesh, mp_policy=policy)
        return model
    return DistributedDataParallel(model)


def gradient_sync(wrapped: nn.Module, sync: bool):
    """A context for one micro batch's forward and backward: gradients are reduced over the ranks only on
    the last micro batch of a step (DDP's no_sync; FSDP2's requires_gradient_sync)."""
    if isinstance(wrapped, FSDPModule):
        wrapped.set_requires_gradient_sync(sync)
        return contextlib.nullcontext()
    if isinstance(wrapped, DistributedDataParallel) and not sync:
        return wrapped.no_sync()
    return contextlib.nullcontext()
