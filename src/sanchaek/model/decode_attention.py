"""A one-token step's attention over a static KV cache as one Triton kernel per layer.

Why: in a compiled one-token step of the Llama-3.1-8B shape on an H100, Hugging Face's SDPA path
costs 10.9 µs a layer (reports/gpu/2026-12-06-h100/, fifth part): two copies of the layer's cache to
every query head (``repeat_kv``, 4.3 µs: SDPA is given a mask, and with a mask Hugging Face copies
instead of passing ``enable_gqa``) and cuDNN's kernel (6.6 µs) over the copies. Here one program per
(row, key/value head, slice of the cache) reads that head's keys and values once and attends with
all the query heads that share it, as the rows of one small matrix product; a cache longer than
``CHUNK`` positions is cut into slices whose partial results a second kernel combines (the
flash-decoding split). On an H100 the 8B step got 0.23 ms shorter: 177.3 tokens/s against 170.4
with SDPA (bench/lora_gpu.py --gen-variants base,fused_attention; the report's sixth part).

``decode_attention(q, k, v, mask, scale)`` is a torch custom op, so that ``torch.compile`` keeps it
in the compiled step (and its CUDA graph) as one call: the Triton kernel on CUDA tensors, the same
attention in torch (SDPA over the grouped heads) on others. ``tests/decode_attention_interpreted.py``
runs the kernel under Triton's interpreter on the CPU against that reference.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

# Cache positions per program: one program per key/value head reads the whole cache of the common
# case (prompt + new tokens of a pipeline call, <= 512); longer caches are split across programs.
CHUNK = 512
BLOCK_N = 64  # positions per loop iteration
MASK_NONE, MASK_BOOL, MASK_ADDITIVE = 0, 1, 2


@triton.jit
def _attend_kernel(
    q_ptr, k_ptr, v_ptr, mask_ptr, out_ptr, part_acc_ptr, part_ml_ptr,
    scale, n_kv,
    q_sb, q_sh, k_sb, k_sh, k_sn, v_sb, v_sh, v_sn, m_sb, m_sn, o_sb, o_sh,
    GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr,
    CHUNK: tl.constexpr, BLOCK_N: tl.constexpr, MASK: tl.constexpr, SPLITS: tl.constexpr,
    IEEE: tl.constexpr,
):  # fmt: skip
    """Program (row b, key/value head h, slice s): the GROUPS query heads of h (padded to GP rows,
    the smallest a matrix product takes) against cache positions [s * CHUNK, (s + 1) * CHUNK), with
    an online softmax. Unsplit, it writes the normalised output; split, the slice's running max,
    sum and unnormalised output for ``_combine_kernel``."""
    b = tl.program_id(0)
    h = tl.program_id(1)
    s = tl.program_id(2)
    g = tl.arange(0, GP)
    d = tl.arange(0, DP)
    g_ok = g < GROUPS
    d_ok = d < D
    heads = h * GROUPS + g
    q = tl.load(
        q_ptr + b * q_sb + heads[:, None] * q_sh + d[None, :], mask=g_ok[:, None] & d_ok[None, :], other=0.0
    )
    m_i = tl.full((GP,), float("-inf"), tl.float32)
    l_i = tl.zeros((GP,), tl.float32)
    acc = tl.zeros((GP, DP), tl.float32)
    # A loop of constant length (the slice), positions past the cache masked: the launcher sizes an
    # unsplit call's slice to the cache, so no iteration is wasted there.
    for start in range(0, CHUNK, BLOCK_N):
        offs = start + tl.arange(0, BLOCK_N)
        n = s * CHUNK + offs
        n_ok = (offs < CHUNK) & (n < n_kv)
        kv_mask = n_ok[:, None] & d_ok[None, :]
        # both loads first: the values' read overlaps the scores' work
        k = tl.load(k_ptr + b * k_sb + h * k_sh + n[:, None] * k_sn + d[None, :], mask=kv_mask, other=0.0)
        v = tl.load(v_ptr + b * v_sb + h * v_sh + n[:, None] * v_sn + d[None, :], mask=kv_mask, other=0.0)
        if IEEE:
            scores = tl.dot(q, tl.trans(k), input_precision="ieee")
        else:
            scores = tl.dot(q, tl.trans(k))
        scores = scores * scale
        allowed = n_ok
        if MASK == 1:
            keep = tl.load(mask_ptr + b * m_sb + n * m_sn, mask=n_ok, other=0)
            allowed = allowed & (keep != 0)
        if MASK == 2:
            bias = tl.load(mask_ptr + b * m_sb + n * m_sn, mask=n_ok, other=0.0).to(tl.float32)
            scores = scores + bias[None, :]
        scores = tl.where(allowed[None, :], scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a row with nothing allowed yet
        alpha = tl.exp(m_i - m_safe)
        p = tl.exp(scores - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        if IEEE:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    rows = g_ok[:, None] & d_ok[None, :]
    if SPLITS > 1:
        slot = (b * tl.num_programs(1) + h) * SPLITS + s
        tl.store(part_acc_ptr + slot * GP * DP + g[:, None] * DP + d[None, :], acc)
        tl.store(part_ml_ptr + slot * GP * 2 + g * 2, m_i)
        tl.store(part_ml_ptr + slot * GP * 2 + g * 2 + 1, l_i)
    else:
        out = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
        tl.store(
            out_ptr + b * o_sb + heads[:, None] * o_sh + d[None, :],
            out.to(out_ptr.dtype.element_ty),
            mask=rows,
        )


@triton.jit
def _combine_kernel(
    part_acc_ptr, part_ml_ptr, out_ptr, o_sb, o_sh,
    SPLITS: tl.constexpr, GROUPS: tl.constexpr, GP: tl.constexpr, D: tl.constexpr, DP: tl.constexpr,
):  # fmt: skip
    """Program (row b, key/value head h): the slices' partial softmaxes merged into the output."""
    b = tl.program_id(0)
    h = tl.program_id(1)
    g = tl.arange(0, GP)
    d = tl.arange(0, DP)
    first = (b * tl.num_programs(1) + h) * SPLITS
    m = tl.full((GP,), float("-inf"), tl.float32)
    for s in range(0, SPLITS):
        m = tl.maximum(m, tl.load(part_ml_ptr + (first + s) * GP * 2 + g * 2))
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    total = tl.zeros((GP,), tl.float32)
    acc = tl.zeros((GP, DP), tl.float32)
    for s in range(0, SPLITS):
        slot = first + s
        weight = tl.exp(tl.load(part_ml_ptr + slot * GP * 2 + g * 2) - m_safe)
        total += weight * tl.load(part_ml_ptr + slot * GP * 2 + g * 2 + 1)
        acc += weight[:, None] * tl.load(part_acc_ptr + slot * GP * DP + g[:, None] * DP + d[None, :])
    out = acc / tl.where(total == 0.0, 1.0, total)[:, None]
    heads = h * GROUPS + g
    rows = (g < GROUPS)[:, None] & (d < D)[None, :]
    tl.store(
        out_ptr + b * o_sb + heads[:, None] * o_sh + d[None, :], out.to(out_ptr.dtype.element_ty), mask=rows
    )


def _mask_rows(mask: torch.Tensor | None, batch: int) -> tuple[int, torch.Tensor | None, int, int]:
    """(kind, the (B or 1, kv) mask of the query's row, its row stride, its position stride)."""
    if mask is None:
        return MASK_NONE, None, 0, 0
    rows = mask[:, 0, -1, :]  # (B or 1, 1, q_len, kv) -> the last query position's row
    kind = MASK_BOOL if rows.dtype == torch.bool else MASK_ADDITIVE
    return kind, rows, (rows.stride(0) if rows.shape[0] == batch else 0), rows.stride(1)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float,
           *, chunk: int | None = None) -> torch.Tensor:  # fmt: skip
    """The kernels on any tensors Triton can address (CUDA, or the CPU under its interpreter).
    q (B, H, 1, D); k and v (B, H_kv, W, D); mask (B or 1, 1, q_len, W), bool (True: attend) or
    additive, or None; returns (B, H, 1, D) in q's dtype, contiguous. ``chunk``: cache positions per
    program (``CHUNK``)."""
    batch, heads, _, dim = q.shape
    kv_heads, n_kv = k.shape[1], k.shape[2]
    groups = heads // kv_heads
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    chunk = chunk or CHUNK
    kind, rows, m_sb, m_sn = _mask_rows(mask, batch)
    gp, dp = max(16, triton.next_power_of_2(groups)), max(16, triton.next_power_of_2(dim))
    n_splits = max(1, triton.cdiv(n_kv, chunk))
    split = n_splits > 1
    if not split:  # one slice as long as the cache, in whole loop iterations: one compile per length
        chunk = triton.cdiv(n_kv, BLOCK_N) * BLOCK_N
    # the slices' partial results; unsplit, the kernel never touches them and ``out`` stands in
    part_acc = part_ml = out
    if split:
        parts = batch * kv_heads * n_splits
        part_acc = torch.empty((parts, gp, dp), dtype=torch.float32, device=q.device)
        part_ml = torch.empty((parts, gp, 2), dtype=torch.float32, device=q.device)
    _attend_kernel[(batch, kv_heads, n_splits)](
        q, k, v, rows if rows is not None else q, out, part_acc, part_ml,
        float(scale), n_kv,
        q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        m_sb, m_sn, out.stride(0), out.stride(1),
        GROUPS=groups, GP=gp, D=dim, DP=dp, CHUNK=chunk, BLOCK_N=BLOCK_N, MASK=kind, SPLITS=n_splits,
        IEEE=q.dtype == torch.float32,
    )  # fmt: skip
    if split:
        _combine_kernel[(batch, kv_heads)](
            part_acc,
            part_ml,
            out,
            out.stride(0),
            out.stride(1),
            SPLITS=n_splits,
            GROUPS=groups,
            GP=gp,
            D=dim,
            DP=dp,
        )
    return out


def reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """The same attention in torch: SDPA with the query heads grouped by their key/value head."""
    batch, heads, _, dim = q.shape
    rows = q.reshape(batch, k.shape[1], heads // k.shape[1], dim)
    row_mask = None if mask is None else mask[:, :, -1:, :]
    out = torch.nn.functional.scaled_dot_product_attention(rows, k, v, attn_mask=row_mask, scale=scale)
    return out.reshape(batch, heads, 1, dim)


@torch.library.custom_op("sanchaek::decode_attention", mutates_args=())
def decode_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """One query position against a cache: the kernels on CUDA, ``reference`` elsewhere."""
    if q.is_cuda:
        return attend(q, k, v, mask, scale)
    return reference(q, k, v, mask, scale)


@decode_attention.register_fake
def _decode_attention_fake(q, k, v, mask, scale):
    return torch.empty(q.shape, dtype=q.dtype, device=q.device)  # contiguous, as both paths return it


def applies(query: Any, key: Any, attention_mask: Any, dropout: float, kwargs: dict) -> bool:
    """Whether a call of Hugging Face's attention is one this op computes exactly: one query
    position, no dropout, and none of the variants it does not implement (sliding windows, logit
    soft-capping, attention sinks, position biases)."""
    if query.shape[2] != 1 or dropout or query.shape[1] % key.shape[1]:
        return False
    if attention_mask is not None and attention_mask.shape[-1] != key.shape[2]:
        return False
    return all(kwargs.get(name) is None for name in ("sliding_window", "softcap", "s_aux", "position_bias"))
