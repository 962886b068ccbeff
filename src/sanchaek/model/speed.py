"""Training-time speed-ups for Hugging Face causal LMs, each undone before the model is saved.

Two fix what ``torch.compile`` makes of Hugging Face's eager-friendly code on packed blocks (no
padding, positions 0..T-1); the third merges Llama's parallel projections into single matmuls.
None changes the model's function. ``train`` applies them with ``fast_training``
and restores the model with the function it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MethodType
from typing import Any

import torch

# The attention implementation used while training on packed blocks (see use_packed_causal_attention).
PACKED_CAUSAL = "sanchaek_packed_causal"
# RoPE variants whose cos/sin depend on the position alone (not on the sequence length seen).
STATIC_ROPE_TYPES = {"default", "linear", "llama3", "yarn"}


def _packed_causal_mask(*, attention_mask: Any = None, **kwargs: Any) -> Any:
    """No mask at all for unpadded input: SDPA's ``is_causal`` flag is the whole mask then."""
    from transformers.masking_utils import sdpa_mask

    return None if attention_mask is None else sdpa_mask(attention_mask=attention_mask, **kwargs)


def use_packed_causal_attention(model: Any) -> str | None:
    """Switch a model that uses SDPA to an attention that never builds a mask for unpadded input.

    Why: under ``torch.compile`` Hugging Face cannot prove a batch unpadded, so it materialises a
    (B, 1, T, T) causal mask and hands it to SDPA, which then cannot use its flash kernel. Packed
    training blocks have no padding by construction, so plain causality is exactly right there and
    SDPA's ``is_causal`` path is both correct and much faster. A padded batch (the RE objective's)
    still gets Hugging Face's own mask. Models with sliding-window or chunked layers need more than
    causality and keep their attention. Returns the implementation to restore, or None if unchanged.
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


def _cat_linear(x: torch.Tensor, layers: list[torch.nn.Linear]) -> torch.Tensor:
    """``torch.cat([layer(x) for layer in layers], -1)`` as one matmul over the concatenated weights."""
    weight = torch.cat([layer.weight for layer in layers])
    bias = None if layers[0].bias is None else torch.cat([layer.bias for layer in layers])
    return torch.nn.functional.linear(x, weight, bias)


def _fused_llama_mlp_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """``LlamaMLP.forward`` with gate and up projected by one matmul."""
    gate, up = _cat_linear(x, [self.gate_proj, self.up_proj]).split(self.gate_proj.out_features, dim=-1)
    return self.down_proj(self.act_fn(gate) * up)


def _fused_llama_attention_forward(
    self: Any,
    hidden_states: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
    attention_mask: torch.Tensor | None = None,
    past_key_values: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``LlamaAttention.forward`` (transformers 5) with q, k and v projected by one matmul."""
    from transformers.models.llama.modeling_llama import (
        ALL_ATTENTION_FUNCTIONS,
        apply_rotary_pos_emb,
        eager_attention_forward,
    )

    input_shape = hidden_states.shape[:-1]
    hidden_shape = (*input_shape, -1, self.head_dim)
    sizes = [self.q_proj.out_features, self.k_proj.out_features, self.v_proj.out_features]
    q, k, v = (
        t.view(hidden_shape)
        for t in _cat_linear(hidden_states, [self.q_proj, self.k_proj, self.v_proj]).split(sizes, dim=-1)
    )
    # RoPE on the (B, T, heads, head_dim) layout of the fused output, transposed for attention only
    # afterwards, and v made dense: the attention's gradients then come back in that layout, and
    # writing them into the one (B, T, q+k+v) gradient is a coalesced copy, not a transposing one
    # (which made the fused step slower than three projections).
    cos, sin = position_embeddings
    q, k = apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)
    query_states, key_states, value_states = (
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.contiguous().transpose(1, 2),
    )
    if past_key_values is not None:
        key_states, value_states = past_key_values.update(key_states, value_states, self.layer_idx)
    attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
        self.config._attn_implementation, eager_attention_forward
    )
    attn_output, attn_weights = attention_interface(
        self, query_states, key_states, value_states, attention_mask,
        dropout=0.0 if not self.training else self.attention_dropout, scaling=self.scaling, **kwargs,
    )  # fmt: skip
    attn_output = attn_output.reshape(*input_shape, -1).contiguous()
    return self.o_proj(attn_output), attn_weights


PROJECTION_GROUPS = ("qkv", "gate_up")


def fuse_llama_projections(
    model: Any, groups: Iterable[str] = PROJECTION_GROUPS
) -> Callable[[], None] | None:
    """Give each Llama attention one q/k/v matmul (``qkv``) and each Llama MLP one gate/up matmul
    (``gate_up``).

    Why: three projections of the same input are three matmuls of a third of the width each, and
    their input gradients are three more matmuls plus the additions that sum them. One matmul over
    the concatenated weights (a copy of a few MB per layer) fills the GPU better and needs no sums.
    The weights stay the module's own parameters, so the optimizer, DDP and checkpoints see no
    change. Only modules that run transformers' own Llama forward are switched (other architectures
    keep theirs, whatever their layout); returns the function that puts the original forwards back,
    or None if nothing was switched.
    """
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaMLP

    available = {"qkv": (LlamaAttention.forward, _fused_llama_attention_forward),
                 "gate_up": (LlamaMLP.forward, _fused_llama_mlp_forward)}  # fmt: skip
    replacements = dict(available[g] for g in groups)
    switched = []
    for module in model.modules():
        fused = replacements.get(getattr(type(module), "forward", None))
        if fused is not None and "forward" not in vars(module):
            module.forward = MethodType(fused, module)
            switched.append(module)
    if not switched:
        return None

    def restore() -> None:
        for module in switched:
            del module.forward

    return restore


def fast_training(model: Any, seq_len: int, fuse_projections: Iterable[str]) -> Callable[[], None]:
    """Apply the speed-ups that fit ``model`` (``fuse_projections``: the PROJECTION_GROUPS to fuse);
    returns the function that undoes them (before saving)."""
    previous_attention = use_packed_causal_attention(model)
    max_positions = getattr(getattr(model, "config", None), "max_position_embeddings", None) or 0
    restore_rotary = cache_rotary_tables(model, max(seq_len, max_positions))
    restore_projections = fuse_llama_projections(model, fuse_projections)

    def restore() -> None:
        if restore_projections is not None:
            restore_projections()
        if restore_rotary is not None:
            restore_rotary()
        if previous_attention is not None:
            model.set_attn_implementation(previous_attention)

    return restore
