"""Run by tests/test_decode_attention.py in a fresh Python with ``TRITON_INTERPRET=1`` (Triton chooses
compiled or interpreted kernels at import): the decode-attention kernels against torch's SDPA over
the grouped heads, on the CPU, in fp32 (the interpreter's bf16 matrix products are wrong: a 16 x 16 bf16 ``tl.dot``
was off by 1e10 under triton's interpreter; the GPU tests check bf16). Prints one JSON object, case
name -> largest difference.

    TRITON_INTERPRET=1 python tests/decode_attention_interpreted.py
"""

from __future__ import annotations

import json

import torch

from sanchaek.model.decode_attention import attend, reference


def case(batch: int, heads: int, kv_heads: int, dim: int, width: int, mask: str, dtype: torch.dtype,
         chunk: int, seed: int, unwritten: int = 5) -> float:  # fmt: skip
    """A static cache of ``width`` positions whose last ``unwritten`` are not written yet, row 0
    left-padded by 3: the unwritten positions and the padding are masked."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, 1, dim, generator=gen).to(dtype)
    k = torch.randn(batch, kv_heads, width, dim, generator=gen).to(dtype)
    v = torch.randn(batch, kv_heads, width, dim, generator=gen).to(dtype)
    written = width - unwritten
    allowed = torch.zeros(batch, 1, 1, width, dtype=torch.bool)
    allowed[..., :written] = True
    allowed[0, ..., :3] = False
    attn_mask = {
        "none": None,
        "bool": allowed,
        "additive": torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min),
        "shared_bool": allowed[:1],  # one mask row for the whole batch
    }[mask]
    scale = dim**-0.5
    ours = attend(q, k, v, attn_mask, scale, chunk=chunk)
    theirs = reference(q.float(), k.float(), v.float(), None if attn_mask is None else attn_mask.float()
                       if attn_mask.dtype != torch.bool else attn_mask, scale)  # fmt: skip
    assert ours.shape == q.shape and ours.dtype == q.dtype
    return float((ours.float() - theirs).abs().max())


CASES = {
    # GQA as in Llama-3 (4 query heads per key/value head), one slice of the cache
    "gqa_bool_fp32": dict(batch=2, heads=8, kv_heads=2, dim=16, width=40, mask="bool", dtype=torch.float32, chunk=512),
    "gqa_additive_fp32": dict(batch=2, heads=8, kv_heads=2, dim=16, width=40, mask="additive", dtype=torch.float32,
                              chunk=512),
    "no_mask_fp32": dict(batch=2, heads=4, kv_heads=2, dim=16, width=33, mask="none", dtype=torch.float32, chunk=512),
    "shared_mask_fp32": dict(batch=3, heads=4, kv_heads=1, dim=32, width=20, mask="shared_bool", dtype=torch.float32,
                             chunk=512),
    # one key/value head per query head (GPT-NeoX, GPT-2), a head size that is no power of two
    "mha_odd_dim_fp32": dict(batch=2, heads=3, kv_heads=3, dim=24, width=70, mask="bool", dtype=torch.float32,
                             chunk=512),
    # a cache longer than a slice: partial softmaxes combined, one slice wholly masked (the unwritten end)
    "split_fp32": dict(batch=2, heads=8, kv_heads=2, dim=16, width=160, mask="bool", dtype=torch.float32, chunk=32,
                       unwritten=40),
    # slices of several loop iterations each
    "split_long_fp32": dict(batch=1, heads=8, kv_heads=2, dim=32, width=300, mask="bool", dtype=torch.float32,
                            chunk=128, unwritten=10),
}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps({name: case(**kw, seed=i) for i, (name, kw) in enumerate(CASES.items())}))
