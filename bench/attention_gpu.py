"""Causal attention of one training layer on a GPU, forward + backward, in ONE run:

1. ``F.scaled_dot_product_attention(is_causal=True)`` as PyTorch picks its backend (cuDNN on an
   H100/H200 at head dim 64): what training uses with ``train.attention: sdpa`` (the baseline);
2. the same pinned to PyTorch's flash backend (FlashAttention 2);
3. ``flash4.flash4_causal_fwd`` (FlashAttention 4 through sanchaek's custom ops), what
   ``train.attention: flash_attn_4`` uses.

Shapes are the scratch presets' at batch 16: 125m (12 heads) and 350m (16 heads), head dim 64, at
seq 1024 and 2048. Reports milliseconds per forward + backward (``triton.testing.do_bench``),
TFLOP/s (causal: half of 4·B·heads·T²·D forward, 2.5 times that backward), and the largest
difference of output and gradients from the baseline.

    python bench/attention_gpu.py --out reports/bench/attention_gpu.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, T, heads, D) in and out, like the others; SDPA itself takes (B, heads, T, D)."""
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
    )
    return out.transpose(1, 2)


def sdpa_flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return sdpa(q, k, v)


def flash4(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    from sanchaek.model.flash4 import flash4_causal_fwd

    return flash4_causal_fwd(q, k, v, q.shape[-1] ** -0.5)[0]


def fwd_bwd(fn, q, k, v, grad):
    for x in (q, k, v):
        x.grad = None
    out = fn(q, k, v)
    out.backward(grad)
    return out


def measure(fn, q, k, v, grad, flops: float) -> dict:
    from triton.testing import do_bench

    out = fwd_bwd(fn, q, k, v, grad)
    result = (out.detach().float(), *(x.grad.float() for x in (q, k, v)))
    ms = do_bench(lambda: fwd_bwd(fn, q, k, v, grad), rep=300)
    return {"ms_fwd_bwd": ms, "tflops": flops / (ms * 1e-3) / 1e12, "_result": result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="reports/bench/attention_gpu.json")
    args = parser.parse_args()
    forms = {"sdpa_default": sdpa, "sdpa_flash2": sdpa_flash, "flash_attn_4": flash4}
    report = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
    for size, heads in (("125m", 12), ("350m", 16)):
        for seq in (1024, 2048):
            torch.manual_seed(0)
            q, k, v = (
                torch.randn(16, seq, heads, 64, device="cuda", dtype=torch.bfloat16).requires_grad_(True)
                for _ in range(3)
            )
            grad = torch.randn_like(q)
            flops = 3.5 * 4 * 16 * heads * seq * seq * 64 / 2
            row = {"size": size, "heads": heads, "seq": seq, "batch": 16, "head_dim": 64}
            for name, fn in forms.items():
                try:
                    row[name] = measure(fn, q, k, v, grad, flops)
                except Exception as exc:  # a form that cannot run here is reported, not fatal
                    row[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            base = row["sdpa_default"].get("_result")
            for name in forms:
                got = row[name].pop("_result", None)
                if got is not None and base is not None:
                    row[name]["max_abs_diff_out_dq_dk_dv"] = [
                        float((a - b).abs().max()) for a, b in zip(got, base, strict=True)
                    ]
                    row[name]["speedup_vs_sdpa_default"] = (
                        row["sdpa_default"]["ms_fwd_bwd"] / row[name]["ms_fwd_bwd"]
                    )
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
