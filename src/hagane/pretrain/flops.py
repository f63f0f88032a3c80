"""Model FLOPs, device peaks and memory estimates: the one formula behind every MFU figure Hagane prints.

FLOPs per trained token, forward and backward (backward = 2 × forward):
  matmul     6 · (N_blocks + N_head)      N_blocks: the Linear weights of all blocks; N_head: vocab · dim
  attention  12 · n_layers · dim · seq_len  QKᵀ and AV, 2 · seq_len · dim each per token and layer forward,
                                            over the full square as PaLM and nanoGPT count it (a causal
                                            kernel could skip half)
The embedding lookup is no matmul and is not counted, nor are norms, rotary and softmax. `mfu` counts all
of the above; `mfu_nonembedding` leaves out the output head (N without embeddings, nanoGPT's and Kaplan's
N). Recomputation under activation checkpointing is not counted: these are model FLOPs, not hardware FLOPs.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import torch

from hagane.pretrain.model import ModelArgs

# Dense peak FLOP/s per device, from the vendors' data sheets: (bf16, fp32). A64FX at Fugaku's normal
# 2.0 GHz: 48 cores × 2 SVE pipes × 16 fp32 lanes × 2 (FMA); torch on A64FX trains in fp32.
PEAKS = {
    "A64FX": (12.288e12, 6.144e12),
    "A100": (312e12, 19.5e12),
    "H100 PCIe": (756e12, 51.2e12),
    "H100": (989.4e12, 66.9e12),  # SXM
    "H200": (989.4e12, 66.9e12),
}


def block_matmul_params(args: ModelArgs) -> int:
    kv = args.n_kv_heads * args.head_dim
    attention = args.dim * args.n_heads * args.head_dim * 2 + args.dim * kv * 2
    return args.n_layers * (attention + 3 * args.dim * args.ffn_dim)


def num_parameters(args: ModelArgs) -> int:
    """Every trained parameter, as Transformer.num_parameters() counts them (tied weights once)."""
    norms = (2 * args.n_layers + 1) * args.dim
    embeddings = args.vocab_size * args.dim * (1 if args.tie_embeddings else 2)
    return block_matmul_params(args) + norms + embeddings


def flops_per_token(args: ModelArgs, seq_len: int, *, include_head: bool = True) -> int:
    matmul = block_matmul_params(args) + (args.vocab_size * args.dim if include_head else 0)
    return 6 * matmul + 12 * args.n_layers * args.dim * seq_len


def known_peak(device: torch.device, precision: str) -> tuple[str, float] | None:
    """(device name, peak FLOP/s) when the device is in PEAKS."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif _is_a64fx():
        name = "A64FX"
    else:
        return None
    for key in sorted(PEAKS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if all(word in name for word in key.split()):
            bf16, fp32 = PEAKS[key]
            return key, bf16 if precision == "bf16" else fp32
    return None


def _is_a64fx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    if platform.machine() != "aarch64":
        return False
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    return "CPU implementer\t: 0x46" in text and "CPU part\t: 0x001" in text  # Fujitsu, A64FX


def measure_matmul_peak(n: int = 1024, seconds: float = 0.5) -> float:
    """fp32 matmul FLOP/s with this process's torch threads: the best of repeated n×n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm up the kernels and the allocator
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b, out=out)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start))
    return best


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per rank. Estimates: allocator slack, communication buffers and kernels' workspaces come on top."""

    parameters: int
    weights_grads_optimizer: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return self.weights_grads_optimizer + self.activations + self.logits


def estimate_memory(args: ModelArgs, *, seq_len: int, micro_batch: int, world_size: int, fsdp: bool,
                    activation_checkpointing: bool, precision: str) -> MemoryEstimate:
    """fp32 master weights, gradients and AdamW's two moments (16 bytes per parameter), sharded under FSDP;
    the tensors autograd keeps for the backward pass; the logits with their softmax gradient."""
    n = num_parameters(args)
    states = 16 * n // (world_size if fsdp else 1)
    act_bytes = 2 if precision == "bf16" else 4
    kv = args.n_kv_heads * args.head_dim
    # Kept per token and block: the norms' inputs and outputs, q/k/v before and after rotation, the
    # attention output and its projection's input; SwiGLU's gate, up, activation and product.
    per_token_block = 10 * args.dim + 3 * kv + 4 * args.ffn_dim
    tokens = micro_batch * seq_len
    head = 2 * args.dim  # the final norm's input and output
    if activation_checkpointing:  # each block's input, plus one block recomputed at a time
        activations = tokens * (args.n_layers * args.dim + per_token_block + head) * act_bytes
    else:
        activations = tokens * (args.n_layers * per_token_block + head) * act_bytes
    logits = tokens * args.vocab_size * 4 * 2  # fp32 logits and their gradient
    return MemoryEstimate(n, states, activations, logits)
