"""Training-time speed-ups for any Hugging Face causal LM, each undone before the model is saved.

Both fix what ``torch.compile`` makes of Hugging Face's eager-friendly code on packed blocks (no
padding, positions 0..T-1); neither changes the model's function. ``train`` applies them with
``fast_training(model, seq_len)`` and restores the model with the function it returns.
``compile_mode_uses_cudagraphs`` is the one rule training and generation share for compile modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# The attention implementation used while training on packed blocks (see use_packed_causal_attention).
PACKED_CAUSAL = "sanchaek_packed_causal"
# RoPE variants whose cos/sin depend on the position alone (not on the sequence length seen).
STATIC_ROPE_TYPES = {"default", "linear", "llama3", "yarn"}


def compile_mode_uses_cudagraphs(mode: str) -> bool:
    """Whether ``torch.compile(mode=...)`` replays CUDA graphs (reduce-overhead, max-autotune): each
    replay overwrites the previous one's outputs, so callers mark every step's start and clone what
    they keep. Read from torch's own table of what each mode turns on, not from a list of names."""
    from torch._inductor import list_mode_options

    return bool(list_mode_options(mode).get("triton.cudagraphs", False))


def compile_for_training(model: Any, scope: str, mode: str) -> Any:
    """``torch.compile`` for the training loop. ``model``: one graph of the whole module (a wrapper;
    the caller keeps the module it wraps for saving). ``blocks``: Accelerate's regional compilation,
    in place: every repeated transformer block is compiled with the same code (one compilation
    serves all layers, so the warm-up stays that of one block at any depth) and every other leaf
    on its own; the module keeps its class and state-dict keys. dynamic=False: a second shape gets
    its own graph instead of turning the training graph dynamic."""
    if scope == "model":
        return torch.compile(model, dynamic=False, mode=mode)
    # In-place `module.compile()` per region: named for FSDP2, whose hooks it keeps, and right for any
    # wrapper (DDP too), since no module is replaced.
    from accelerate.utils.other import compile_regions_fsdp2

    return compile_regions_fsdp2(model, dynamic=False, mode=mode)


def _packed_causal_mask(*, attention_mask: Any = None, **kwargs: Any) -> Any:
    """No mask at all for unpadded input: SDPA's ``is_causal`` flag is the whole mask then."""
    from transformers.masking_utils import sdpa_mask

    return None if attention_mask is None else sdpa_mask(attention_mask=attention_mask, **kwargs)


def use_packed_causal_attention(model: Any, attention: str = "sdpa") -> str | None:
    """Switch a model that uses SDPA to an attention that never builds a mask for unpadded input.

    Why: under ``torch.compile`` Hugging Face cannot prove a batch unpadded, so it materialises a
    (B, 1, T, T) causal mask and hands it to SDPA, which then cannot use its flash kernel. Packed
    training blocks have no padding by construction, so plain causality is exactly right there and
    SDPA's ``is_causal`` path is both correct and much faster. A padded batch (the RE objective's)
    still gets Hugging Face's own mask. Models with sliding-window or chunked layers need more than
    causality and keep their attention. ``attention``: ``sdpa``, or ``flash_attn_4`` for
    FlashAttention 4's kernels on unpadded blocks (``flash4``). Returns the implementation to
    restore, or None if unchanged.
    """
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface

    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    windowed = getattr(config, "sliding_window", None) is not None and getattr(
        config, "use_sliding_window", True
    )
    can_set = getattr(model, "_can_set_attn_implementation", lambda: False)()
    if previous != "sdpa" or windowed or layer_types != {"full_attention"} or not can_set:
        return None
    if attention == "flash_attn_4":
        from .flash4 import flash4_attention_forward

        AttentionInterface.register(PACKED_CAUSAL, flash4_attention_forward)
    else:
        AttentionInterface.register(PACKED_CAUSAL, sdpa_attention_forward)
    AttentionMaskInterface.register(PACKED_CAUSAL, _packed_causal_mask)
    model.set_attn_implementation(PACKED_CAUSAL)
    return previous if model.config._attn_implementation == PACKED_CAUSAL else None


class CachedRotaryEmbedding(torch.nn.Module):
    """A rotary embedding whose cos/sin for positions ``0..size-1`` are computed once, then gathered.

    Why: Inductor fuses Hugging Face's cos/sin computation into every layer's RoPE kernel, forward
    and backward, so each q/k element pays two fp32 transcendentals (the profile showed the RoPE
    kernels at ~7% of a 125M model's step). A table turns that into a load. Longer inputs than the
    table (a static shape check, so it compiles away) fall back to the wrapped module.
    """

    def __init__(self, rotary: torch.nn.Module, size: int):
        super().__init__()
        self.rotary = rotary
        self.size = size
        device = rotary.inv_freq.device
        probe = torch.zeros(1, dtype=torch.float32, device=device)
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            cos, sin = rotary(probe, torch.arange(size, device=device)[None])
        self.register_buffer("cos", cos[0].float(), persistent=False)
        self.register_buffer("sin", sin[0].float(), persistent=False)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if position_ids.shape[-1] > self.size:
            return self.rotary(x, position_ids)
        return self.cos[position_ids].to(x.dtype), self.sin[position_ids].to(x.dtype)


def cache_rotary_tables(model: Any, size: int) -> Callable[[], None] | None:
    """Swap each model-level rotary embedding of a static RoPE type for a ``CachedRotaryEmbedding``.

    Returns the function that puts the original modules back, or None if the model has none.
    """
    swapped: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            rope_type = getattr(child, "rope_type", None)
            if type(child).__name__.endswith("RotaryEmbedding") and rope_type in STATIC_ROPE_TYPES:
                if hasattr(child, "inv_freq"):
                    setattr(parent, name, CachedRotaryEmbedding(child, size))
                    swapped.append((parent, name, child))
    if not swapped:
        return None

    def restore() -> None:
        for parent, name, child in swapped:
            setattr(parent, name, child)

    return restore


def fast_training(model: Any, seq_len: int, attention: str = "sdpa") -> Callable[[], None]:
    """Apply both speed-ups that fit ``model``; returns the function that undoes them (before saving)."""
    previous_attention = use_packed_causal_attention(model, attention)
    max_positions = getattr(getattr(model, "config", None), "max_position_embeddings", None) or 0
    restore_rotary = cache_rotary_tables(model, max(seq_len, max_positions))

    def restore() -> None:
        if restore_rotary is not None:
            restore_rotary()
        if previous_attention is not None:
            model.set_attn_implementation(previous_attention)

    return restore
