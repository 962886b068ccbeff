"""GPU training throughput, side by side in ONE run on the same card, model, packed data and batch:

1. Hugging Face ``Trainer`` with ``bf16=True`` and its defaults otherwise (the baseline);
2. ``Trainer`` with ``torch_compile=True``;
3. a plain Accelerate loop in the style of ``run_clm_no_trainer.py``;
4. sanchaek's loop (``sanchaek.train.train``) with the GPU params a user would set, under
   ``train.mixed_precision: bf16`` (autocast, ``sanchaek``) and ``bf16-master`` (``sanchaek_master``),
   and bf16-master with ``train.compile_mode: reduce-overhead`` (CUDA graphs, ``sanchaek_graphs``) or
   ``max-autotune-no-cudagraphs`` (Triton matmul templates timed against cuBLAS, ``sanchaek_autotune``).
   All use the fused head + loss kernel (``train.fused_cross_entropy``) except the ``*_unfused`` ones;
   the ``*_fa4`` ones use FlashAttention 4 (``train.attention: flash_attn_4``) instead of SDPA.

Each variant runs in its own subprocess (clean memory peak, no shared compile state) on the same
saved scratch model (same initial weights) and the same ``load_blocks`` output. Steady-state
throughput is timed between step ``warmup`` and ``warmup + steps`` with the device synchronized
at both ends. MFU uses FLOPs/token = 6·N + 12·layers·d_model·seq (N = parameters, tied embeddings
counted once) over the bf16 dense peak: the 989 TFLOP/s datasheet figure (the targets' basis) and
the peak measured here by an 8192³ bf16 matmul.

``--curve SIZE:SEQ:STEPS`` also trains that model for STEPS steps three ways (autocast without
compile, the unoptimised path; autocast compiled; bf16-master compiled) and records their validation
loss curves side by side: the speed-ups must leave the curve unchanged within noise.

    python bench/train_gpu.py --corpus .carry/works.jsonl --sizes 125m --seqs 1024 --out reports/bench/train_gpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASHEET_BF16_DENSE_TFLOPS = 989.0  # H100/H200 SXM
# Our variants: the train params each sets (all compile the model).
OURS = {
    "sanchaek": {"mixed_precision": "bf16"},
    "sanchaek_master": {"mixed_precision": "bf16-master"},
    "sanchaek_graphs": {"mixed_precision": "bf16-master", "compile_mode": "reduce-overhead"},
    "sanchaek_autotune": {"mixed_precision": "bf16-master", "compile_mode": "max-autotune-no-cudagraphs"},
    # bf16-master (with and without CUDA graphs) on FlashAttention 4 (train.attention: flash_attn_4).
    "sanchaek_master_fa4": {"mixed_precision": "bf16-master", "attention": "flash_attn_4"},
    "sanchaek_graphs_fa4": {
        "mixed_precision": "bf16-master",
        "compile_mode": "reduce-overhead",
        "attention": "flash_attn_4",
    },
    # The same two without the fused head + loss kernel (train.fused_cross_entropy: false).
    "sanchaek_master_unfused": {"mixed_precision": "bf16-master", "fused_cross_entropy": False},
    "sanchaek_graphs_unfused": {
        "mixed_precision": "bf16-master",
        "compile_mode": "reduce-overhead",
        "fused_cross_entropy": False,
    },
}
VARIANTS = ["trainer", "trainer_compiled", "plain_accelerate", *OURS]
# The loss-curve check: the train params of each mode. The first is the unoptimised path the others
# must follow; --curve-modes picks which run (the first always does).
CURVE_MODES = {
    "autocast_eager": {"mixed_precision": "bf16", "compile": False, "fused_cross_entropy": False},
    "autocast_compiled": {"mixed_precision": "bf16", "compile": True, "fused_cross_entropy": True},
    "master_compiled": {"mixed_precision": "bf16-master", "compile": True, "fused_cross_entropy": True},
    "master_compiled_fa4": {
        "mixed_precision": "bf16-master", "compile": True, "fused_cross_entropy": True, "attention": "flash_attn_4",
    },
}  # fmt: skip
CURVE_REFERENCE = next(iter(CURVE_MODES))


def flops_per_token(n_params: int, n_layers: int, d_model: int, seq: int) -> float:
    return 6.0 * n_params + 12.0 * n_layers * d_model * seq


def model_shape(model_dir: Path) -> tuple[int, int, int]:
    """(parameters, layers, d_model) of a saved model: what ``flops_per_token`` needs besides seq."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return (
        sum(p.numel() for p in model.parameters()),
        model.config.num_hidden_layers,
        model.config.hidden_size,
    )


def measured_bf16_peak_tflops() -> float:
    import torch

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return 2 * 8192**3 / times[len(times) // 2] / 1e12


# ----------------------------------------------------------------------------- shared setup


def prepare(workdir: Path, corpus: Path, size: str, vocab_size: int) -> Path:
    """A project folder with train/val JSONL and one saved scratch model (same init for every variant)."""
    from sanchaek.io import read_jsonl, write_jsonl
    from sanchaek.model.scratch import save_scratch

    texts = [r["text"] for r in read_jsonl(corpus) if r.get("text", "").strip()]
    processed = workdir / "data" / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    write_jsonl(processed / "train.jsonl", ({"text": t} for t in texts[20:]))
    write_jsonl(processed / "val.jsonl", ({"text": t} for t in texts[:20]))
    model_dir = workdir / f"model-{size}"
    if not (model_dir / "config.json").exists():
        save_scratch(texts, size, vocab_size, model_dir, seed=0)
    return model_dir


def blocks_for(workdir: Path, model_dir: Path, seq: int):
    from sanchaek.model.data import load_blocks
    from sanchaek.model.loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    blocks = load_blocks(workdir / "data/processed/train.jsonl", tokenizer, seq, workdir / "data/cache")
    return blocks, tokenizer


class StepTimer:
    """Wall time between optimizer step ``warmup`` and ``warmup + steps``, device synchronized."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps = warmup, steps
        self.t0 = self.t1 = None

    def at_step(self, done: int) -> None:
        import torch

        if done in (self.warmup, self.warmup + self.steps) and torch.cuda.is_available():
            torch.cuda.synchronize()
        if done == self.warmup:
            self.t0 = time.perf_counter()
        elif done == self.warmup + self.steps:
            self.t1 = time.perf_counter()

    @property
    def seconds(self) -> float:
        if self.t0 is None or self.t1 is None:
            raise RuntimeError("the timed window was not reached")
        return self.t1 - self.t0


class KernelProfile:
    """``torch.profiler`` over ``steps`` optimizer steps after the timed window: the top kernels by
    device time, written as a table (where the step's time goes, to choose the next lever), then how
    much of that window the GPU sat idle and which host code the late launches came from."""

    def __init__(self, start: int, steps: int, out: Path):
        self.start, self.stop, self.out = start, start + steps, out
        self.prof = None

    def at_step(self, done: int) -> None:
        from torch.profiler import ProfilerActivity, profile

        if done == self.start:
            self.prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
            self.prof.__enter__()
        elif done == self.stop and self.prof is not None:
            import torch

            torch.cuda.synchronize()
            self.prof.__exit__(None, None, None)
            table = self.prof.key_averages().table(
                sort_by="cuda_time_total", row_limit=40, max_name_column_width=90
            )
            trace = self.out.with_suffix(".trace.json")
            self.prof.export_chrome_trace(str(trace))
            idle = gpu_idle(json.loads(trace.read_text(encoding="utf-8")))
            trace.unlink()
            self.out.write_text(
                f"{self.stop - self.start} steps\n{table}\n\nGPU idle\n{json.dumps(idle, indent=1)}\n",
                encoding="utf-8",
            )


def gpu_idle(trace: dict, min_gap_us: float = 5.0, top: int = 12) -> dict:
    """From a chrome trace: the share of the window (first kernel start to last kernel end) with no
    kernel, copy or memset running, and the idle time grouped by the host code that launched the
    work ending each gap late (its launch came after the gap began: the CPU, not the GPU, was behind).
    Gaps whose work was launched in time are grouped as "launched early" (a dependency, e.g. a wait).
    """
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    device = sorted(
        (e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")), key=lambda e: e["ts"]
    )
    if not device:
        return {"error": "no device events in the trace"}
    launches = {e["args"]["correlation"]: e for e in events
                if e.get("cat") == "cuda_runtime" and "correlation" in e.get("args", {})}  # fmt: skip
    cpu_ops = [e for e in events if e.get("cat") in ("cpu_op", "user_annotation", "python_function")]
    busy_end, busy, idle_by_cause, gaps = device[0]["ts"], 0.0, {}, 0
    for ev in device:
        start, end = ev["ts"], ev["ts"] + ev["dur"]
        gap = start - busy_end
        if gap > min_gap_us:
            gaps += 1
            launch = launches.get(ev.get("args", {}).get("correlation"))
            cause = "launched early (waited on a dependency)"
            if launch is not None and launch["ts"] > busy_end:
                cause = host_stack(cpu_ops, launch)
            idle_by_cause[cause] = idle_by_cause.get(cause, 0.0) + gap
        busy += max(0.0, end - max(start, busy_end))
        busy_end = max(busy_end, end)
    window = busy_end - device[0]["ts"]
    worst = sorted(idle_by_cause.items(), key=lambda kv: -kv[1])[:top]
    return {
        "window_ms": window / 1e3,
        "busy_fraction": busy / window,
        "gaps_over_min": gaps,
        "idle_ms_by_late_launch_site": {k: round(v / 1e3, 3) for k, v in worst},
    }


def host_stack(cpu_ops: list[dict], launch: dict, depth: int = 3) -> str:
    """The outermost ``depth`` host ops (same thread) enclosing a launch, outermost first."""
    enclosing = [e for e in cpu_ops if e.get("tid") == launch.get("tid")
                 and e["ts"] <= launch["ts"] <= e["ts"] + e["dur"]]  # fmt: skip
    enclosing.sort(key=lambda e: -e["dur"])
    return " > ".join(e["name"][:60] for e in enclosing[:depth]) or launch.get("name", "?")


class BlockDataset:
    """HF-style items over packed blocks: ``input_ids`` = ``labels`` = the first ``seq`` tokens,
    cycled up to ``length`` items. Why: with fewer blocks than the run's steps x batch (the small
    corpus at seq 2048), an epoch would end inside the timed window on a short last batch, and
    ``Trainer`` + compile would time a recompile for that shape instead of its training step."""

    def __init__(self, blocks, seq: int, length: int):
        self.blocks, self.seq, self.length = blocks, seq, max(length, len(blocks))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        import torch

        ids = torch.as_tensor(self.blocks[i % len(self.blocks)][: self.seq].astype("int64"))
        return {"input_ids": ids, "labels": ids}


# ----------------------------------------------------------------------------- variants


def run_trainer(
    workdir: Path, model_dir: Path, seq: int, batch: int, timer: StepTimer, compiled: bool
) -> None:
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    blocks, _ = blocks_for(workdir, model_dir, seq)
    model = AutoModelForCausalLM.from_pretrained(model_dir)

    class Timing(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            timer.at_step(state.global_step)

    args = TrainingArguments(
        output_dir=str(workdir / "trainer-out"),
        per_device_train_batch_size=batch,
        max_steps=timer.warmup + timer.steps,
        bf16=True,
        torch_compile=compiled,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    Trainer(
        model=model,
        args=args,
        train_dataset=BlockDataset(blocks, seq, (timer.warmup + timer.steps) * batch),
        callbacks=[Timing()],
    ).train()


def run_plain_accelerate(workdir: Path, model_dir: Path, seq: int, batch: int, timer: StepTimer) -> None:
    """The loop of ``run_clm_no_trainer.py``: Accelerator(bf16), AdamW with decay groups, linear schedule."""
    import torch
    from accelerate import Accelerator
    from transformers import AutoModelForCausalLM, default_data_collator, get_scheduler

    blocks, _ = blocks_for(workdir, model_dir, seq)
    accelerator = Accelerator(mixed_precision="bf16")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    loader = torch.utils.data.DataLoader(
        BlockDataset(blocks, seq, (timer.warmup + timer.steps) * batch),
        shuffle=True,
        collate_fn=default_data_collator,
        batch_size=batch,
    )
    no_decay = ["bias", "layer_norm.weight", "norm.weight"]
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(nd in n for nd in no_decay)],
            "weight_decay": 0.0,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(nd in n for nd in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=5e-5)
    total = timer.warmup + timer.steps
    scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0, num_training_steps=total)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    model.train()
    done = 0
    while done < total:
        for batch_ in loader:
            outputs = model(**batch_)
            accelerator.backward(outputs.loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            done += 1
            timer.at_step(done)
            if done >= total:
                break


def sanchaek_params(
    model_dir: Path, seq: int, batch: int, steps: int, precision: str, compile: bool, **train
):
    from sanchaek.config import params_from_dict

    return params_from_dict(
        {
            "model": {"name_or_path": str(model_dir), "tokenizer_extra_text": None},
            "train": {
                "seq_len": seq, "micro_batch_size": batch, "grad_accum_steps": 1, "max_steps": steps,
                "warmup_steps": 5, "mixed_precision": precision, "compile": compile, "eval_every": 0,
                "checkpoint_every": 0, "log_every": steps, "resume": "never", **train,
            },
        },
        "bench",
    )  # fmt: skip


def run_sanchaek(
    workdir: Path, model_dir: Path, seq: int, batch: int, timer: StepTimer, profile: KernelProfile | None,
    train_overrides: dict,
) -> None:  # fmt: skip
    from sanchaek.paths import Layout
    from sanchaek.train import train

    steps = profile.stop if profile else timer.warmup + timer.steps
    overrides = dict(train_overrides)
    params = sanchaek_params(
        model_dir, seq, batch, steps, overrides.pop("mixed_precision"), True, **overrides
    )

    def on_step(done: int) -> None:
        timer.at_step(done)
        if profile is not None:
            profile.at_step(done)

    train(params, Layout(workdir), save_final_model=False, checkpoints=False, live_dir=False, on_step=on_step)


def run_curve(workdir: Path, model_dir: Path, seq: int, batch: int, steps: int, mode: str) -> dict:
    """Validation loss every steps/5 steps (64 blocks) and the last train loss, for one CURVE_MODES entry."""
    from sanchaek.paths import Layout
    from sanchaek.train import train

    train_params = dict(CURVE_MODES[mode])
    precision, compile = train_params.pop("mixed_precision"), train_params.pop("compile")
    params = sanchaek_params(
        model_dir, seq, batch, steps, precision, compile, lr=1e-3, warmup_steps=steps // 10,
        eval_every=max(1, steps // 5), eval_max_blocks=64, log_every=max(1, steps // 5), seed=1,
        **train_params,
    )  # fmt: skip
    result = train(params, Layout(workdir), save_final_model=False, checkpoints=False, live_dir=False)
    return {
        "mode": mode,
        "val_loss": [(h["step"], h["val_loss"]) for h in result.history],
        "final_train_loss": result.final["train_loss"],
        "loop_seconds": result.loop_seconds,
    }


def run_one(args: argparse.Namespace) -> dict:
    import torch

    workdir, size, seq = Path(args.workdir), args.size, args.seq
    model_dir = workdir / f"model-{size}"
    if args.run.startswith("curve:"):
        return run_curve(workdir, model_dir, seq, args.batch, args.steps, args.run.split(":", 1)[1])
    timer = StepTimer(args.warmup, args.steps)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    if args.run == "trainer":
        run_trainer(workdir, model_dir, seq, args.batch, timer, compiled=False)
    elif args.run == "trainer_compiled":
        run_trainer(workdir, model_dir, seq, args.batch, timer, compiled=True)
    elif args.run == "plain_accelerate":
        run_plain_accelerate(workdir, model_dir, seq, args.batch, timer)
    else:
        profile = None
        if args.profile_dir:
            out = Path(args.profile_dir) / f"profile-{args.run}-{size}-seq{seq}.txt"
            profile = KernelProfile(args.warmup + args.steps, 5, out)
        run_sanchaek(workdir, model_dir, seq, args.batch, timer, profile, OURS[args.run])
    tokens = args.steps * args.batch * seq
    return {
        "variant": args.run,
        "seconds": timer.seconds,
        "step_time_s": timer.seconds / args.steps,
        "tokens_per_s": tokens / timer.seconds,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


# ----------------------------------------------------------------------------- driver


def run_child(args: argparse.Namespace, workdir: Path, run: str, size: str, seq: int, steps: int) -> dict:
    """One variant in its own process (clean memory peak, no shared compile state): its RESULT line."""
    cmd = [sys.executable, __file__, "--run", run, "--workdir", str(workdir), "--size", size, "--seq", str(seq),
           "--batch", str(args.batch), "--warmup", str(args.warmup), "--steps", str(steps)]  # fmt: skip
    if args.profile_dir and run in OURS:
        cmd += ["--profile-dir", args.profile_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"{size} seq{seq} {run}: FAILED {err}", flush=True)
        return {"error": err}
    return json.loads(lines[-1][len("RESULT ") :])


def add_speedups(row: dict) -> None:
    """Each of our variants against each baseline; the row's headline is our faster variant."""
    measured = [v for v in OURS if row.get(v, {}).get("tokens_per_s")]
    for ours in measured:
        for base in ("trainer", "trainer_compiled", "plain_accelerate"):
            other = row.get(base, {}).get("tokens_per_s")
            if other:
                row[ours][f"speedup_vs_{base}"] = row[ours]["tokens_per_s"] / other
    if not measured:
        return
    best = max(measured, key=lambda v: row[v]["tokens_per_s"])
    row["ours"] = best
    row["tokens_per_s"], row["mfu"] = row[best]["tokens_per_s"], row[best]["mfu"]
    row.update({k: v for k, v in row[best].items() if k.startswith("speedup_vs_")})


def max_curve_difference(curve: list, reference: list) -> float | None:
    """Largest |val loss - the reference's| over the eval steps both ``(step, loss)`` curves share."""
    by_step = dict(map(tuple, reference))
    diffs = [abs(loss - by_step[step]) for step, loss in curve if step in by_step]
    return max(diffs) if diffs else None


def curve_differences(modes: dict) -> dict:
    """Largest |val loss - the unoptimised path's| over the shared eval steps, per optimised mode."""
    reference = modes.get(CURVE_REFERENCE, {}).get("val_loss", [])
    return {
        mode: max_curve_difference(res["val_loss"], reference)
        for mode, res in modes.items()
        if mode != CURVE_REFERENCE and "val_loss" in res and reference
    }


def write_report(
    args: argparse.Namespace, card: str, peak: float, results: list[dict], curve: dict | None = None
) -> None:
    import torch

    from sanchaek.io import write_json

    report = {
        "card": card,
        "torch": torch.__version__,
        "measured_bf16_peak_tflops": peak,
        "datasheet_bf16_dense_tflops": DATASHEET_BF16_DENSE_TFLOPS,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "results": results,
    }
    if curve is not None:
        report["loss_curve_check"] = curve
    write_json(args.out, report)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    parser.add_argument("--sizes", default="125m,350m")
    parser.add_argument("--seqs", default="1024,2048")
    parser.add_argument("--batch", type=int, default=16, help="micro-batch per step (global batch, one GPU)")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default="reports/bench/train_gpu.json")
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--profile-dir", default=None, help="write sanchaek's top kernels over 5 steps after the timed window"
    )
    parser.add_argument(
        "--curve", default=None, help="SIZE:SEQ:STEPS: compare the loss curves of the precision/compile modes"
    )
    parser.add_argument(
        "--curve-modes",
        default="autocast_eager,autocast_compiled,master_compiled",
        help=f"which of {', '.join(CURVE_MODES)} --curve runs ({CURVE_REFERENCE} always does)",
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:  # child process: one variant, one JSON line on stdout
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return

    import torch

    card = torch.cuda.get_device_name(0)
    peak = measured_bf16_peak_tflops()
    print(f"card {card}: measured bf16 matmul peak {peak:.0f} TFLOP/s", flush=True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sanchaek-bench-"))
    results, curve = [], None
    if args.curve:
        size, seq, steps = args.curve.split(":")
        prepare(workdir, Path(args.corpus), size, args.vocab_size)
        curve = {"size": size, "seq_len": int(seq), "steps": int(steps), "batch": args.batch, "modes": {}}
        asked = set(args.curve_modes.split(",")) | {CURVE_REFERENCE}
        if unknown := asked - set(CURVE_MODES):
            parser.error(
                f"--curve-modes: unknown {', '.join(sorted(unknown))}; known: {', '.join(CURVE_MODES)}"
            )
        for mode in (m for m in CURVE_MODES if m in asked):
            res = run_child(args, workdir, f"curve:{mode}", size, int(seq), steps=int(steps))
            curve["modes"][mode] = res
            print(f"curve {mode}: {res.get('val_loss', res)}", flush=True)
        curve[f"max_abs_val_loss_diff_vs_{CURVE_REFERENCE}"] = curve_differences(curve["modes"])
        write_report(args, card, peak, results, curve)
    for size in (s for s in args.sizes.split(",") if s):
        model_dir = prepare(workdir, Path(args.corpus), size, args.vocab_size)
        n_params, n_layers, d_model = model_shape(model_dir)
        for seq in (int(s) for s in args.seqs.split(",")):
            fpt = flops_per_token(n_params, n_layers, d_model, seq)
            row = {
                "size": size,
                "n_params": n_params,
                "seq_len": seq,
                "batch": args.batch,
                "flops_per_token": fpt,
            }
            for variant in args.variants.split(","):
                started = time.perf_counter()
                res = run_child(args, workdir, variant, size, seq, steps=args.steps)
                row[variant] = res
                if "error" not in res:
                    res["mfu"] = res["tokens_per_s"] * fpt / (DATASHEET_BF16_DENSE_TFLOPS * 1e12)
                    res["mfu_vs_measured_peak"] = res["tokens_per_s"] * fpt / (peak * 1e12)
                    res["wall_s_incl_compile"] = time.perf_counter() - started
                    print(f"{size} seq{seq} {variant}: {res['tokens_per_s']:,.0f} tok/s MFU {res['mfu']:.1%} "
                          f"peak {res['peak_memory_gib']:.1f} GiB", flush=True)  # fmt: skip
                add_speedups(row)
                # After every variant: a run stopped at its time limit keeps what it measured.
                write_report(args, card, peak, [*results, row], curve)
            results.append(row)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
