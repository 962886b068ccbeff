"""The training loss on its own, on a GPU: fp32 cross-entropy forward + backward over bf16 logits
the size of one training step's (16 x 1024 tokens, 32k vocabulary), both compiled, in ONE run:

1. ``F.cross_entropy(logits.float(), targets)``: what the train loop compiled before;
2. ``lm_eval.token_cross_entropy``: ``torch.logsumexp`` minus the masked target logit (its
   decomposition guards the max against inf, so Inductor reads the logits twice in the forward);
3. the same with the logsumexp spelled out as max, exp, sum, the pattern Inductor rewrites into one
   online-softmax pass. Measured slower on an H200 (1.38 against 1.24 ms), so not what we train with.

Reports milliseconds per forward + backward (median of 3 timed windows of 20 calls), the peak
memory each adds, and that both give the same loss and gradient.

    python bench/loss_gpu.py --out reports/bench/loss_gpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from sanchaek.model.lm_eval import token_cross_entropy


def plain(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), targets)


def online_softmax_form(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    x = logits.float()
    row_max = x.amax(dim=-1, keepdim=True).detach()  # only shifts the exponent: its gradient cancels
    logsumexp = (row_max + (x - row_max).exp().sum(dim=-1, keepdim=True).log()).squeeze(-1)
    vocab = torch.arange(x.size(-1), device=x.device)
    target_logit = torch.where(vocab == targets[:, None], x, 0.0).sum(-1)
    return (logsumexp - target_logit).mean()


def time_fwd_bwd(fn, logits: torch.Tensor, targets: torch.Tensor, calls: int = 20) -> dict:
    compiled = torch.compile(fn, dynamic=False)
    for _ in range(3):  # compile and warm up
        logits.grad = None
        compiled(logits, targets).backward()
    logits.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    compiled(logits, targets).backward()  # what one forward + backward holds at its peak, grad included
    torch.cuda.synchronize()
    extra_peak = torch.cuda.max_memory_allocated() - base
    windows = []
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            logits.grad = None
            loss = compiled(logits, targets)
            loss.backward()
        end.record()
        torch.cuda.synchronize()
        windows.append(start.elapsed_time(end) / calls)
    return {
        "ms_fwd_bwd": statistics.median(windows),
        "extra_peak_memory_gib": extra_peak / 2**30,
        "loss": float(loss.detach()),
        "grad": logits.grad.float().clone(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=16 * 1024)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--out", default="reports/bench/loss_gpu.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    logits = (4 * torch.randn(args.tokens, args.vocab, device="cuda")).bfloat16().requires_grad_(True)
    targets = torch.randint(0, args.vocab, (args.tokens,), device="cuda")
    base = time_fwd_bwd(plain, logits, targets)
    ours = time_fwd_bwd(token_cross_entropy, logits, targets)
    online = time_fwd_bwd(online_softmax_form, logits, targets)
    base_grad = base.pop("grad")
    grad_diff = float((ours.pop("grad") - base_grad).abs().max())
    online.pop("grad")
    report = {
        "card": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "tokens": args.tokens,
        "vocab": args.vocab,
        "baseline_F_cross_entropy_fp32": base,
        "ours_token_cross_entropy": ours,
        "rejected_online_softmax_form": online,
        "speedup": base["ms_fwd_bwd"] / ours["ms_fwd_bwd"],
        "speedup_vs_online_softmax_form": online["ms_fwd_bwd"] / ours["ms_fwd_bwd"],
        "abs_loss_diff": abs(ours["loss"] - base["loss"]),
        "max_abs_grad_diff": grad_diff,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
