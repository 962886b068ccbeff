"""The training loss on its own, on a GPU: fp32 cross-entropy forward + backward over bf16 logits
the size of one training step's (16 x 1024 tokens, 32k vocabulary), both compiled, in ONE run:

1. ``F.cross_entropy(logits.float(), targets)``: what the train loop compiled before;
2. ``lm_eval.token_cross_entropy``: ``torch.logsumexp`` minus the masked target logit (its
   decomposition guards the max against inf, so Inductor reads the logits twice in the forward);
3. the same with the logsumexp spelled out as max, exp, sum, the pattern Inductor rewrites into one
   online-softmax pass. Measured slower on an H200 (1.38 against 1.24 ms), so not what we train with.

Then the head and the loss together, as training runs them (``--hidden``: 768 for the 125m preset,
1024 for 350m), all compiled: ``hidden @ weight.T`` then

4. ``F.cross_entropy`` (the baseline) or ``token_cross_entropy`` (what trains without the kernel);
5. ``fused_ce.linear_cross_entropy``: the loss and its logits gradient from one Triton kernel in
   the forward, the head's two matmuls in the backward (``train.fused_cross_entropy``).

``--libraries`` also times the fused head + loss of two libraries on the same tensors, as they are
called (eager: their own Triton kernels): ``liger-kernel``'s ``liger_fused_linear_cross_entropy``
(chunked logits) and ``cut-cross-entropy``'s ``linear_cross_entropy`` (logits never materialised;
its default ``filter_eps`` skips gradient entries below bf16 resolution).

``--sweep`` first times the kernel alone over logits-per-iteration and warps per row, to choose
``fused_ce.BLOCK`` and ``NUM_WARPS``.

Reports milliseconds per forward + backward (median of 3 timed windows of 20 calls), the peak
memory each adds, and that they give the same loss and gradients.

    python bench/loss_gpu.py --hidden 768 --sweep --out reports/bench/loss_gpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from sanchaek.model import fused_ce
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


def time_fwd_bwd(
    fn, leaves: list[torch.Tensor], *args: torch.Tensor, calls: int = 20, compile: bool = True
) -> dict:
    """Compiled ``fn(*leaves, *args)`` forward + backward; ``leaves`` are what gradients flow to."""
    torch._dynamo.reset()  # each form compiles afresh (and sees fused_ce's kernel settings of now)
    compiled = torch.compile(fn, dynamic=False) if compile else fn

    def step() -> torch.Tensor:
        for leaf in leaves:
            leaf.grad = None
        loss = compiled(*leaves, *args)
        loss.backward()
        return loss

    for _ in range(3):  # compile and warm up
        step()
    for leaf in leaves:
        leaf.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()  # what one forward + backward holds at its peak, gradients included
    torch.cuda.synchronize()
    extra_peak = torch.cuda.max_memory_allocated() - base
    windows = []
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            loss = step()
        end.record()
        torch.cuda.synchronize()
        windows.append(start.elapsed_time(end) / calls)
    return {
        "ms_fwd_bwd": statistics.median(windows),
        "extra_peak_memory_gib": extra_peak / 2**30,
        "loss": float(loss.detach()),
        "grads": [leaf.grad.float().clone() for leaf in leaves],
    }


def head_then(loss_fn):
    def head_and_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return loss_fn(hidden @ weight.t(), targets)

    return head_and_loss


def rel_grad_diff(ours: dict, base: dict) -> list[float]:
    return [
        float((a - b).abs().max() / b.abs().max()) for a, b in zip(ours["grads"], base["grads"], strict=True)
    ]


def sweep_kernel(logits: torch.Tensor, targets: torch.Tensor) -> list[dict]:
    """The kernel alone, eager, per (logits per iteration, warps per row). It writes the gradient
    over ``logits``, so later calls read gradients, not logits: the same work (no branch depends on
    the values)."""
    from triton.testing import do_bench

    rows = []
    for block in (1024, 2048, 4096, 8192):
        for warps in (4, 8, 16, 32):
            fused_ce.BLOCK, fused_ce.NUM_WARPS = block, warps
            ms = do_bench(lambda: fused_ce.cross_entropy_rows_and_grad_(logits, targets, 1.0), rep=200)
            # Bytes that must cross memory: the logits read once, their gradient written once.
            gbps = 2 * logits.numel() * logits.element_size() / (ms * 1e-3) / 1e9
            rows.append({"block": block, "num_warps": warps, "ms": ms, "effective_GBps": gbps})
            print(rows[-1], flush=True)
    return rows


def library_losses(leaves: list[torch.Tensor], targets: torch.Tensor, baseline: dict, ours: dict) -> dict:
    """liger-kernel's and cut-cross-entropy's head + loss against ours (``fused_ce``), same tensors."""
    rows: dict = {"ours_fused_linear_cross_entropy_ms": ours["ms_fwd_bwd"]}
    forms = {}
    try:
        from liger_kernel.transformers.functional import liger_fused_linear_cross_entropy

        forms["liger_fused_linear_cross_entropy"] = liger_fused_linear_cross_entropy
    except ImportError as exc:
        rows["liger_fused_linear_cross_entropy"] = {"error": str(exc)}
    try:
        from cut_cross_entropy import linear_cross_entropy

        forms["cut_cross_entropy"] = linear_cross_entropy
    except ImportError as exc:
        rows["cut_cross_entropy"] = {"error": str(exc)}
    for name, fn in forms.items():
        try:
            res = time_fwd_bwd(fn, leaves, targets, compile=False)
        except Exception as exc:  # a library that fails here is reported, the others still run
            rows[name] = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"}
            continue
        res["abs_loss_diff_vs_baseline"] = abs(res["loss"] - baseline["loss"])
        res["max_rel_grad_diff_hidden_weight"] = rel_grad_diff(res, baseline)
        res["ours_speedup"] = res["ms_fwd_bwd"] / ours["ms_fwd_bwd"]
        rows[name] = res
        print(name, {k: v for k, v in res.items() if k != "grads"}, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=16 * 1024)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument(
        "--hidden", type=int, default=768, help="the head's input width (125m: 768, 350m: 1024)"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="time the kernel's block and warp settings first"
    )
    parser.add_argument(
        "--libraries",
        action="store_true",
        help="also time liger-kernel's and cut-cross-entropy's fused losses",
    )
    parser.add_argument("--out", default="reports/bench/loss_gpu.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    report = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__, "tokens": args.tokens,
              "vocab": args.vocab, "hidden": args.hidden}  # fmt: skip
    logits = (4 * torch.randn(args.tokens, args.vocab, device="cuda")).bfloat16().requires_grad_(True)
    targets = torch.randint(0, args.vocab, (args.tokens,), device="cuda")
    if args.sweep:
        chosen = fused_ce.BLOCK, fused_ce.NUM_WARPS
        report["kernel_sweep"] = sweep_kernel(logits.detach().clone(), targets)
        fused_ce.BLOCK, fused_ce.NUM_WARPS = chosen
    report["kernel"] = {"block": fused_ce.BLOCK, "num_warps": fused_ce.NUM_WARPS}

    # The loss alone, over given logits.
    base = time_fwd_bwd(plain, [logits], targets)
    ours = time_fwd_bwd(token_cross_entropy, [logits], targets)
    online = time_fwd_bwd(online_softmax_form, [logits], targets)
    report["logits_only"] = {
        "baseline_F_cross_entropy_fp32": base,
        "ours_token_cross_entropy": ours,
        "rejected_online_softmax_form": online,
        "speedup": base["ms_fwd_bwd"] / ours["ms_fwd_bwd"],
        "speedup_vs_online_softmax_form": online["ms_fwd_bwd"] / ours["ms_fwd_bwd"],
        "abs_loss_diff": abs(ours["loss"] - base["loss"]),
        "max_rel_grad_diff": rel_grad_diff(ours, base),
    }
    del logits

    # The head and the loss, as training runs them.
    hidden = torch.randn(args.tokens, args.hidden, device="cuda").bfloat16().requires_grad_(True)
    weight = (
        (torch.randn(args.vocab, args.hidden, device="cuda") / args.hidden**0.25)
        .bfloat16()
        .requires_grad_(True)
    )
    leaves = [hidden, weight]
    head_plain = time_fwd_bwd(head_then(plain), leaves, targets)
    head_ours = time_fwd_bwd(head_then(token_cross_entropy), leaves, targets)
    fused = time_fwd_bwd(fused_ce.linear_cross_entropy, leaves, targets)
    report["head_and_loss"] = {
        "baseline_head_F_cross_entropy": head_plain,
        "head_token_cross_entropy": head_ours,
        "fused_linear_cross_entropy": fused,
        "speedup_vs_baseline": head_plain["ms_fwd_bwd"] / fused["ms_fwd_bwd"],
        "speedup_vs_token_cross_entropy": head_ours["ms_fwd_bwd"] / fused["ms_fwd_bwd"],
        "ms_saved_per_step": head_ours["ms_fwd_bwd"] - fused["ms_fwd_bwd"],
        "abs_loss_diff": abs(fused["loss"] - head_plain["loss"]),
        "max_rel_grad_diff_hidden_weight": rel_grad_diff(fused, head_plain),
        "token_cross_entropy_max_rel_grad_diff_hidden_weight": rel_grad_diff(head_ours, head_plain),
    }
    if args.libraries:
        report["libraries"] = library_losses(leaves, targets, head_plain, fused)
    for section in ("logits_only", "head_and_loss", "libraries"):
        if section not in report:
            continue
        for row in report[section].values():
            if isinstance(row, dict):
                row.pop("grads", None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
