"""The language-model head and its cross-entropy as one autograd step, around one Triton kernel.

Why: at a 32k vocabulary the (tokens x vocab) logits are the largest tensor of a training step
(1 GiB in bf16 at 16k tokens). The compiled loss reads them twice in the forward (max, then sum of
exp) and, in the backward, reads them again and writes their gradient: four passes over 1 GiB.
Here one kernel, in the forward, reads each row of logits from memory once (its later reads find
the row in L2) and writes the row's loss and, over the row itself, the gradient of the mean loss
with respect to it: two passes over memory, and no second (tokens x vocab) buffer. The backward is
then the head's matmuls alone (one when the head is frozen); the incoming gradient scales a
(tokens x hidden) tensor, never the logits.

Applies to models whose logits are exactly ``lm_head(last_hidden_state)`` with a bias-free head
(``lm_eval.supports_fused_cross_entropy``); training picks it with ``train.fused_cross_entropy``.
Without a GPU the kernel runs under Triton's interpreter (``TRITON_INTERPRET=1``), which is how the
tests compare it with ``F.cross_entropy`` on the CPU.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

# Logits per loop iteration of one row, and warps per row: the kernel alone on an H200 at 16k x 32k
# bf16 logits (bench/loss_gpu.py --sweep, reports/bench/loss_gpu_h200.json) took 0.69 ms at 4096 and
# 16 warps, 0.76 at 4096 and 8, 0.68 at 8192 and 16 (kept at 4096: less padding for small vocabularies).
BLOCK = 4096
NUM_WARPS = 16


@triton.jit
def _cross_entropy_rows_and_grad_kernel(
    logits_ptr,
    targets_ptr,
    losses_ptr,
    n_cols: tl.constexpr,
    logits_row_stride,
    grad_scale,
    BLOCK: tl.constexpr,
):
    """One row per program: its cross-entropy (fp32), then ``grad_scale * (softmax - onehot)``
    written over the row.

    Three passes over the row, the first from memory and the other two from L2 (the row is 64 KiB
    at a 32k bf16 vocabulary). Each pass keeps one running value per lane and reduces across the
    block once, after its loop: an online max-and-sum would reduce across warps every iteration
    (a barrier each time) or pay a second exp per logit. The vocabulary size is a compile-time
    constant: one compile per model, and loops of known length.
    """
    row = tl.program_id(0).to(tl.int64)
    logits_row = logits_ptr + row * logits_row_stride
    cols = tl.arange(0, BLOCK)
    lane_max = tl.full((BLOCK,), float("-inf"), tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + cols
        x = tl.load(logits_row + offs, mask=offs < n_cols, other=float("-inf")).to(tl.float32)
        lane_max = tl.maximum(lane_max, x)
    row_max = tl.max(lane_max, axis=0)
    lane_sum = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n_cols, BLOCK):
        offs = start + cols
        x = tl.load(logits_row + offs, mask=offs < n_cols, other=float("-inf")).to(tl.float32)
        lane_sum += tl.exp(x - row_max)
    logsumexp = row_max + tl.log(tl.sum(lane_sum, axis=0))
    target = tl.load(targets_ptr + row)
    # Read before the row is overwritten. Masked: an id outside the vocabulary must not read another
    # row's memory.
    target_logit = tl.load(logits_row + target, mask=(target >= 0) & (target < n_cols), other=0.0).to(
        tl.float32
    )
    tl.store(losses_ptr + row, logsumexp - target_logit)
    for start in range(0, n_cols, BLOCK):
        offs = start + cols
        mask = offs < n_cols
        x = tl.load(logits_row + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.exp(x - logsumexp) - tl.where(offs == target, 1.0, 0.0)
        tl.store(logits_row + offs, (g * grad_scale).to(logits_ptr.dtype.element_ty), mask=mask)


def cross_entropy_rows_and_grad_(
    logits: torch.Tensor, targets: torch.Tensor, grad_scale: float
) -> torch.Tensor:
    """The kernel: per-row cross-entropy of contiguous ``(N, V)`` logits against ``(N,)`` ids,
    returned in fp32, and their gradient times ``grad_scale`` written over ``logits``."""
    n_rows, n_cols = logits.shape
    losses = torch.empty(n_rows, dtype=torch.float32, device=logits.device)
    _cross_entropy_rows_and_grad_kernel[(n_rows,)](
        logits, targets, losses, n_cols, logits.stride(0), grad_scale, BLOCK=BLOCK, num_warps=NUM_WARPS
    )
    return losses


@torch.library.custom_op("sanchaek::linear_cross_entropy_rows_and_grad", mutates_args=())
def linear_cross_entropy_rows_and_grad(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, grad_scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row cross-entropy of the logits ``hidden @ weight.T`` (``(N, d)`` by ``(V, d)``) against
    ``(N,)`` ids, and their gradient times ``grad_scale``, written over the logits (their buffer is
    the op's own, so nothing outside sees it change). One opaque op, matmul and kernel together, so
    that ``torch.compile`` (and its CUDA graphs) keeps the in-place write as written: no copy of
    the logits for a functional form, and no second (N, V) buffer at the peak of the step."""
    logits = hidden @ weight.t()
    return cross_entropy_rows_and_grad_(logits, targets, grad_scale), logits


@linear_cross_entropy_rows_and_grad.register_fake
def _(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, grad_scale: float):
    n_rows, n_cols = hidden.size(0), weight.size(0)
    return hidden.new_empty(n_rows, dtype=torch.float32), hidden.new_empty(n_rows, n_cols)


class LinearCrossEntropy(torch.autograd.Function):
    """``mean(cross_entropy(hidden @ weight.T, targets))`` with d loss / d logits made in the forward."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses, grad_logits = linear_cross_entropy_rows_and_grad(
            hidden, weight, targets, 1.0 / hidden.size(0)
        )
        ctx.save_for_backward(hidden, weight, grad_logits)
        return losses.mean()

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        hidden, weight, grad_logits = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = (grad_logits @ weight) * grad_loss
        # A frozen head (LoRA and QLoRA keep it so) takes no gradient: skipping it skips a matmul as
        # large as the forward's (4.3 TFLOP a step at the 8B shape, 2 x 2048 tokens). The incoming
        # gradient scales the (tokens x hidden) operand, not the (vocab x hidden) product.
        if ctx.needs_input_grad[1]:
            grad_weight = grad_logits.t() @ (hidden * grad_loss)
        return grad_hidden, grad_weight, None


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``hidden @ weight.T`` (``(N, d)`` by ``(V, d)``) against ``(N,)`` ids.

    Under autocast both operands are cast to its dtype first, as the head's ``nn.Linear`` would be
    (the casts stay outside the autograd function, so their gradients reach fp32 weights as usual).
    """
    device_type = hidden.device.type
    if torch.is_autocast_enabled(device_type):
        dtype = torch.get_autocast_dtype(device_type)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
    return LinearCrossEntropy.apply(hidden, weight, targets.contiguous())


def fused_lm_loss(model: Any, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``lm_eval.lm_loss`` for a model that ``lm_eval.supports_fused_cross_entropy``: the same mean
    cross-entropy, from the last hidden state and the head's weight. What waits for the backward is
    the logits' gradient (their size), not the logits."""
    hidden = model.base_model(input_ids=inputs, use_cache=False).last_hidden_state
    weight = model.get_output_embeddings().weight
    return linear_cross_entropy(hidden.reshape(-1, hidden.size(-1)), weight, targets.reshape(-1))
