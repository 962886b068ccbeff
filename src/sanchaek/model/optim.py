"""AdamW with decoupled weight decay on matrices only, and warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool,
) -> torch.optim.AdamW:
    """nanoGPT's split: weight decay on >= 2-D tensors (matmuls, embeddings), none on norms and biases."""
    trainable = [p for p in params if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused=True runs one CUDA kernel for all parameters; it does not exist on CPU.
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused or None)


def cosine_with_warmup(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the base lr at ``step``: linear warmup to 1, cosine down to ``min_lr_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> Any:
    from functools import partial

    factor = partial(
        cosine_with_warmup, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class MasterWeights:
    """fp32 master copies of a model's parameters, for training with the model itself in bf16.

    Why: under autocast the weights stay fp32, so every forward casts them and the residual stream,
    the norms and their backward run on fp32 tensors: memory-bound kernels that move twice the bytes
    of the bf16 compute around them. ``train.mixed_precision: bf16-master`` (Megatron's bf16 mode)
    keeps weights, activations and gradients in bf16, while AdamW updates these fp32 copies, so
    updates smaller than a bf16 step are not rounded away; after each step the model takes the bf16
    rounding of its master weights. Gradients arrive in bf16 (DDP reduces them in bf16 too) and are
    widened here before clipping and the optimizer step.

    Built before ``accelerator.prepare``: it casts the model's parameters in place (buffers such as
    RoPE tables keep their dtype) and puts the masters on ``device``, where prepare moves the model.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], device: torch.device, dtype=torch.bfloat16):
        self.params = [p for p in params if p.requires_grad]
        self.master = [
            torch.nn.Parameter(p.detach().to(device, torch.float32, copy=True)) for p in self.params
        ]
        self._grads = [torch.zeros_like(m) for m in self.master]  # reused every step: no allocations
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.to(dtype)

    def grads_to_master(self) -> None:
        """Widen the model's bf16 gradients into the masters' ``.grad`` and free the bf16 ones.
        A parameter without a gradient leaves its master without one (AdamW then skips it, as it
        would have skipped the parameter)."""
        have = [i for i, p in enumerate(self.params) if p.grad is not None]
        if have:
            torch._foreach_copy_([self._grads[i] for i in have], [self.params[i].grad for i in have])
        for i, (m, p) in enumerate(zip(self.master, self.params, strict=True)):
            m.grad = self._grads[i] if p.grad is not None else None
            p.grad = None

    @torch.no_grad()
    def master_to_model(self) -> None:
        torch._foreach_copy_([p.data for p in self.params], self.master)

    @torch.no_grad()
    def restore_full_precision(self) -> None:
        """Give the model its fp32 master weights back (before saving it: users load full precision)."""
        for p, m in zip(self.params, self.master, strict=True):
            p.data = m.detach().to(p.device, copy=True)

    # Accelerate's register_for_checkpointing saves and restores these with the rest of the state.
    def state_dict(self) -> dict[str, Any]:
        return {"master": [m.detach() for m in self.master]}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["master"]
        if len(saved) != len(self.master) or any(
            s.shape != m.shape for s, m in zip(saved, self.master, strict=True)
        ):
            raise ValueError("master weights in the checkpoint do not match this model's parameters")
        for m, s in zip(self.master, saved, strict=True):
            m.copy_(s)
        self.master_to_model()
