"""AdamW with decoupled weight decay on matrices only, and warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def decay_groups(params: Iterable[torch.nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's split: weight decay on >= 2-D tensors (matmuls, embeddings), none on norms and biases."""
    trainable = [p for p in params if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    fused: bool,
) -> torch.optim.AdamW:
    # fused=True runs one CUDA kernel for all parameters; it does not exist on CPU.
    return torch.optim.AdamW(
        decay_groups(params, weight_decay), lr=lr, betas=betas, eps=eps, fused=fused or None
    )


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
    keeps weights, activations and gradients in bf16, while ``MasterAdamW`` updates these fp32
    copies, so updates smaller than a bf16 step are not rounded away; after each step the model
    takes the bf16 rounding of its master weights. Gradients arrive in bf16 (DDP reduces them in
    bf16 too) and are widened inside the update.

    Built before ``accelerate.prepare``: it casts the model's parameters in place (buffers such as
    RoPE tables keep their dtype) and puts the masters on ``device``, where prepare moves the model.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], device: torch.device, dtype=torch.bfloat16):
        self.params = [p for p in params if p.requires_grad]
        self.master = [
            torch.nn.Parameter(p.detach().to(device, torch.float32, copy=True)) for p in self.params
        ]
        with torch.no_grad():
            for p in self.params:
                p.data = p.data.to(dtype)

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


@torch.no_grad()
def adamw_master_update(
    masters: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    weights: list[torch.Tensor],
    lr: torch.Tensor,
    grad_scale: torch.Tensor,
    *,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """One AdamW step of fp32 ``masters`` from low-precision ``grads`` times ``grad_scale`` (the
    clipping coefficient), then ``weights`` (the model's bf16 parameters) take the new masters.

    The arithmetic is torch's AdamW (its capturable foreach branch: step counts and lr are tensors,
    so neither a new lr nor a new step recompiles). Compiled, Inductor fuses it into foreach kernels
    that read each gradient, master and moment once and write master, moments and weight once.
    """
    torch._foreach_add_(steps, 1)
    grads = torch._foreach_mul([g.float() for g in grads], grad_scale)
    if weight_decay:
        torch._foreach_mul_(masters, 1 - lr * weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    bias_correction1 = torch._foreach_pow(beta1, steps)
    bias_correction2 = torch._foreach_pow(beta2, steps)
    torch._foreach_sub_(bias_correction1, 1)
    torch._foreach_sub_(bias_correction2, 1)
    torch._foreach_neg_(bias_correction2)
    torch._foreach_div_(bias_correction1, lr)
    torch._foreach_reciprocal_(bias_correction1)  # -lr / (1 - beta1^t): the negated step size
    torch._foreach_sqrt_(bias_correction2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bias_correction2)
    torch._foreach_add_(denom, eps)
    torch._foreach_div_(denom, bias_correction1)
    torch._foreach_addcdiv_(masters, exp_avgs, denom)
    torch._foreach_copy_(weights, masters)


class MasterAdamW(torch.optim.Optimizer):
    """AdamW over ``MasterWeights``: reads the model's bf16 gradients, clips by their global norm,
    steps the fp32 masters and writes the model's bf16 weights, in one pass over memory.

    Why: torch's fused AdamW steps fp32 parameters with fp32 gradients, so bf16-master first widened
    every gradient into an fp32 copy, ``clip_grad_norm_`` read and rescaled those copies, and the
    new masters were narrowed into the model afterwards: five passes, 52 bytes moved per parameter.
    Here the norm reads the bf16 gradients (2 bytes) and one compiled update reads gradient, master
    and both moments and writes master, moments and weight (28 bytes). Its state per master (step,
    exp_avg, exp_avg_sq) and its param groups are AdamW's, so the LR scheduler and checkpoints work
    unchanged. ``grad_norm`` holds the last step's total gradient norm (before clipping), on device.
    """

    def __init__(
        self,
        master: MasterWeights,
        *,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        eps: float,
        max_grad_norm: float | None,
        compiled: bool,
    ):
        # capturable: what torch's load_state_dict reads to keep each step count an fp32 tensor on the
        # masters' device (as saved), where the update expects it, instead of moving it to the CPU.
        defaults = {"lr": lr, "betas": betas, "eps": eps, "capturable": True}
        super().__init__(decay_groups(master.master, weight_decay), defaults)
        self.max_grad_norm = max_grad_norm
        self._model_param = {id(m): p for m, p in zip(master.master, master.params, strict=True)}
        device = master.master[0].device
        self._lr = torch.zeros((), dtype=torch.float32, device=device)
        self._one = torch.ones((), dtype=torch.float32, device=device)
        self.grad_norm = torch.zeros((), dtype=torch.float32, device=device)
        # dynamic=False: the two groups are two fixed lists of shapes, each compiled once.
        self._update = torch.compile(adamw_master_update, dynamic=False) if compiled else adamw_master_update

    def _clip_scale(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """clip_grad_norm_'s coefficient (its formula), from norms taken in fp32 over bf16 gradients."""
        if not grads:
            return self._one
        self.grad_norm = torch.linalg.vector_norm(
            torch.stack(torch._foreach_norm(grads, 2.0, dtype=torch.float32))
        )
        if self.max_grad_norm is None:
            return self._one
        return torch.clamp(self.max_grad_norm / (self.grad_norm + 1e-6), max=1.0)

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:
        if closure is not None:
            raise ValueError("MasterAdamW does not take a closure")
        grads = [p.grad for p in self._model_param.values() if p.grad is not None]
        scale = self._clip_scale(grads)
        for group in self.param_groups:
            # A master whose parameter got no gradient is skipped, weight decay included, as AdamW does.
            masters = [m for m in group["params"] if self._model_param[id(m)].grad is not None]
            if not masters:
                continue
            states = [self._state_for(m) for m in masters]
            weights = [self._model_param[id(m)] for m in masters]
            self._lr.fill_(group["lr"])
            beta1, beta2 = group["betas"]
            self._update(
                masters, [w.grad for w in weights], [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states], [s["step"] for s in states], [w.data for w in weights],
                self._lr, scale, beta1=beta1, beta2=beta2, eps=group["eps"], weight_decay=group["weight_decay"],
            )  # fmt: skip
        for p in self._model_param.values():
            p.grad = None  # the bf16 gradients are spent: free them before the next forward

    def _state_for(self, master: torch.Tensor) -> dict[str, torch.Tensor]:
        state = self.state[master]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=master.device)
            state["exp_avg"] = torch.zeros_like(master, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(master, memory_format=torch.preserve_format)
        return state
