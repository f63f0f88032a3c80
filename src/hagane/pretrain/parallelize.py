"""Parallelism applied to a plain model from outside (STYLE.md): the model knows nothing of it."""

from __future__ import annotations

import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def parallelize(model: nn.Module, strategy: str = "ddp") -> nn.Module:
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return model
    if strategy == "ddp":
        return DistributedDataParallel(model)
    raise ValueError(f"unknown parallelism {strategy!r}")
