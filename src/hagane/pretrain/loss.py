"""Cross-entropy of the output projection without holding the logits.

At a 32k vocabulary the logits of one batch are larger than the whole model (4,096 tokens × 32,000 ×
4 bytes = 0.5 GB), and softmax, its gradient and the copies around them stream that memory several
times per step. Here the projection, the loss and both gradients are computed together, a chunk of rows at
a time, during the forward pass; backward only scales the stored gradients. The FLOPs are the same three
matmuls; what is saved is memory and memory traffic (DESIGN.md: logits memory is what limits CPUs).
"""

from __future__ import annotations

import torch

CHUNK_ELEMENTS = 2**26  # logits held at a time: 256 MB in fp32, 2,048 rows at a 32k vocabulary


class LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        n = hidden.shape[0]
        acc = torch.promote_types(hidden.dtype, torch.float32)  # fp32 at least, whatever the compute dtype
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros(weight.shape, dtype=acc, device=weight.device)
        total = torch.zeros((), dtype=acc, device=hidden.device)
        # bf16 compute (weights cast by FSDP2's policy, or autocast): every GEMM stays in bf16. An in-place
        # addmm_ is outside autocast's reach and would run the weight gradient in fp32, on a GPU 15x slower.
        low_precision = hidden.dtype != acc or torch.is_autocast_enabled(hidden.device.type)
        for start in range(0, n, chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            logits = (h @ weight.T).to(acc)
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            # d(sum of losses)/d(logits) = softmax − one-hot, written over the logits in place.
            grad = logits.sub_(lse[:, None]).exp_()
            grad[torch.arange(len(t), device=t.device), t] -= 1.0
            grad = grad.to(hidden.dtype)
            grad_hidden[start:start + chunk] = grad @ weight
            if low_precision:  # a bf16 GEMM like the two above, its chunks summed in fp32
                grad_weight += (grad.T @ h).to(acc)
            else:
                grad_weight.addmm_(grad.T, h)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        ctx.n = n
        return total / n

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_output / ctx.n
        return grad_hidden * scale.to(grad_hidden.dtype), grad_weight * scale.to(grad_weight.dtype), None, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """mean over rows of cross_entropy(hidden @ weightᵀ, targets); hidden (N, d), weight (V, d), targets (N,)."""
    if not torch.is_grad_enabled():
        return torch.nn.functional.cross_entropy((hidden @ weight.T).float(), targets)
    return LinearCrossEntropy.apply(hidden, weight, targets, max(64, CHUNK_ELEMENTS // weight.shape[0]))
