"""FlashAttention 4 (the ``flash-attn-4`` package: CuTe-DSL kernels for Hopper and Blackwell GPUs)
as the causal attention of packed training blocks, chosen with ``train.attention: flash_attn_4``.

Why: at head dim 64, PyTorch's fastest SDPA backend on an H100/H200 (cuDNN) spends 15% of a 350M
model's training step in attention, its backward at about 200 TFLOP/s. The kernels are wrapped in
two torch custom ops (forward, backward) with their shapes declared, so ``torch.compile`` keeps them
inside its graphs (and CUDA graphs) instead of tracing into the package's Python.

The package is optional: it is not among the project's dependencies, since it runs only on SM90+
GPUs. Asking for it where it cannot run is an error that names the fix.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from ..errors import SanchaekError

PACKAGE = "flash-attn-4"


def unavailable_reason(device: torch.device) -> str | None:
    """Why FlashAttention 4 cannot run here, or None if it can."""
    if device.type != "cuda":
        return "it needs a CUDA GPU"
    if torch.cuda.get_device_capability(device)[0] < 9:
        return "it needs a Hopper (SM90) or newer GPU"
    if importlib.util.find_spec("flash_attn") is None or importlib.util.find_spec("flash_attn.cute") is None:
        return f"the {PACKAGE} package is not installed (pip install {PACKAGE})"
    return None


def require(device: torch.device) -> None:
    reason = unavailable_reason(device)
    if reason is not None:
        raise SanchaekError(
            f"train.attention: flash_attn_4 cannot run: {reason}; or set train.attention: sdpa"
        )


def _last_dim_contiguous(x: torch.Tensor) -> torch.Tensor:
    return x if x.stride(-1) == 1 else x.contiguous()


@torch.library.custom_op("sanchaek::flash4_causal_fwd", mutates_args=())
def flash4_causal_fwd(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention of ``(B, T, heads, D)`` q/k/v: the output, same layout, and the fp32
    log-sum-exp per ``(B, heads, T)`` that the backward needs."""
    from flash_attn.cute.interface import _flash_attn_fwd

    q, k, v = (_last_dim_contiguous(x) for x in (q, k, v))
    out, lse = _flash_attn_fwd(q, k, v, softmax_scale=scale, causal=True, return_lse=True)[:2]
    return out, lse


@flash4_causal_fwd.register_fake
def _(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    batch, seq, heads, _ = q.shape
    out = q.new_empty(batch, seq, heads, v.shape[-1])
    return out, q.new_empty(batch, heads, seq, dtype=torch.float32)


@torch.library.custom_op("sanchaek::flash4_causal_bwd", mutates_args=())
def flash4_causal_bwd(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    grad_out: torch.Tensor,
    lse: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from flash_attn.cute.interface import _flash_attn_bwd

    q, k, v, out, grad_out = (_last_dim_contiguous(x) for x in (q, k, v, out, grad_out))
    grad_q, grad_k, grad_v = _flash_attn_bwd(q, k, v, out, grad_out, lse, scale, True)[:3]
    return grad_q, grad_k, grad_v


@flash4_causal_bwd.register_fake
def _(q, k, v, out, grad_out, lse, scale):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _save_for_backward(ctx: Any, inputs: tuple, output: tuple) -> None:
    q, k, v, scale = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse)
    ctx.scale = scale


def _backward(ctx: Any, grad_out: torch.Tensor, _grad_lse: torch.Tensor | None) -> tuple:
    q, k, v, out, lse = ctx.saved_tensors
    grad_q, grad_k, grad_v = flash4_causal_bwd(q, k, v, out, grad_out, lse, ctx.scale)
    return grad_q, grad_k, grad_v, None


flash4_causal_fwd.register_autograd(_backward, setup_context=_save_for_backward)


def flash4_attention_forward(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """A Hugging Face attention function (``(B, heads, T, D)`` in, ``(B, T, heads, D)`` out).

    Unpadded causal blocks (no mask: see ``speed.use_packed_causal_attention``) go to FlashAttention
    4; a padded batch, dropout or a non-causal module go to SDPA, as before.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None or dropout > 0 or not getattr(module, "is_causal", True):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out, _ = flash4_causal_fwd(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), scale)
    return out, None
