"""Run by tests/test_fused_ce.py in a fresh Python with ``TRITON_INTERPRET=1`` (Triton chooses
compiled or interpreted kernels at import): the fused head + loss against logits + F.cross_entropy
on the CPU. Prints one JSON object of the largest differences, which the test bounds.

    TRITON_INTERPRET=1 python tests/fused_ce_interpreted.py TINY_LM_DIR
"""

from __future__ import annotations

import json
import sys

import torch
import torch.nn.functional as F

from sanchaek.model.fused_ce import linear_cross_entropy
from sanchaek.model.lm_eval import lm_loss


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def head_and_loss(dtype: torch.dtype, vocab: int, scale: float, seed: int) -> dict[str, float]:
    """Loss and both gradients, fused vs plain, for a random head; the loss is multiplied by 3
    before backward so that the incoming gradient's scaling is checked too."""
    gen = torch.Generator().manual_seed(seed)
    hidden = (torch.randn(24, 32, generator=gen) * scale).to(dtype)
    weight = torch.randn(vocab, 32, generator=gen).to(dtype)
    targets = torch.randint(0, vocab, (24,), generator=gen)
    grads = []
    losses = []
    for fused in (True, False):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        loss = linear_cross_entropy(h, w, targets) if fused else F.cross_entropy((h @ w.t()).float(), targets)
        (3 * loss).backward()
        losses.append(loss.detach())
        grads.append((h.grad, w.grad))
    (fh, fw), (ph, pw) = grads
    return {
        "loss": abs(float(losses[0] - losses[1])),
        "loss_value": float(losses[1]),
        "grad_hidden": max_diff(fh, ph) / float(ph.float().abs().max()),
        "grad_weight": max_diff(fw, pw) / float(pw.float().abs().max()),
        "finite": bool(torch.isfinite(losses[0]) and torch.isfinite(fh).all() and torch.isfinite(fw).all()),
    }


def frozen_head(seed: int) -> dict:
    """A head that takes no gradient (LoRA's): the hidden state's gradient as with a trainable head,
    and the output shape of every matmul the backward runs (none may be the head's (vocab, d))."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class MatmulShapes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm):
                self.shapes.append(list(out.shape))
            return out

    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(24, 32, generator=gen)
    weight = torch.randn(5000, 32, generator=gen)
    targets = torch.randint(0, 5000, (24,), generator=gen)
    h = hidden.clone().requires_grad_()
    loss = linear_cross_entropy(h, weight, targets)
    with MatmulShapes() as seen:
        (3 * loss).backward()
    p = hidden.clone().requires_grad_()
    (3 * F.cross_entropy(p @ weight.t(), targets)).backward()
    return {
        "grad_hidden": max_diff(h.grad, p.grad) / float(p.grad.abs().max()),
        "backward_matmuls": seen.shapes,
    }


def tiny_llama(model_dir: str) -> dict[str, float]:
    """``lm_loss(fused=True)`` against ``lm_loss`` on a tiny tied-embedding Llama: loss and every
    parameter's gradient."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    blocks = torch.randint(0, model.config.vocab_size, (2, 17), generator=torch.Generator().manual_seed(1))
    results = []
    for fused in (True, False):
        model.zero_grad(set_to_none=True)
        loss = lm_loss(model, blocks, fused=fused)
        loss.backward()
        results.append((float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (fused_loss, fused_grads), (plain_loss, plain_grads) = results
    return {
        "loss": abs(fused_loss - plain_loss),
        "grad": max(
            max_diff(fused_grads[n], g) / max(float(g.abs().max()), 1e-12) for n, g in plain_grads.items()
        ),
        "tied": bool(model.config.tie_word_embeddings),
    }


def op_check() -> dict[str, str]:
    """``torch.library.opcheck`` of the custom op: its schema, its fake (shape-only) form, which
    ``torch.compile`` traces with, and that it stays out of autograd's way."""
    from sanchaek.model.fused_ce import linear_cross_entropy_rows_and_grad

    gen = torch.Generator().manual_seed(4)
    hidden, weight = torch.randn(24, 32, generator=gen), torch.randn(300, 32, generator=gen)
    targets = torch.randint(0, 300, (24,), generator=gen)
    return torch.library.opcheck(linear_cross_entropy_rows_and_grad, (hidden, weight, targets, 0.5))


if __name__ == "__main__":
    report = {
        # 5000 logits a row: one full block of fused_ce.BLOCK (4096) and one partial.
        "fp32_ragged_vocab": head_and_loss(torch.float32, vocab=5000, scale=1.0, seed=0),
        "fp32_one_block": head_and_loss(torch.float32, vocab=300, scale=1.0, seed=1),
        "fp32_huge_logits": head_and_loss(torch.float32, vocab=5000, scale=300.0, seed=2),
        "bf16": head_and_loss(torch.bfloat16, vocab=5000, scale=1.0, seed=3),
        "frozen_head": frozen_head(seed=5),
        "tiny_llama": tiny_llama(sys.argv[1]),
        "opcheck": op_check(),
    }
    print(json.dumps(report))
