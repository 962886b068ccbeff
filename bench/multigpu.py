"""Multi-GPU training on one host, in ONE run: sanchaek's train stage (``sanchaek.train.train``, what
``sanchaek train`` calls) under ``accelerate launch`` on 1, 2, ... GPUs, same saved model (same initial
weights), same packed data, same global batch and seed:

1. Data parallel (``configs/accelerate/multi_gpu.yaml``; ``single_gpu.yaml`` for one GPU), each process
   training ``global_batch / N`` blocks per step: tokens/s, tokens/s per GPU, scaling efficiency (per-GPU
   tokens/s at N over the 1-GPU run's) and peak memory per GPU. Steady state is timed between step
   ``--warmup`` and ``--warmup + --timed`` with the device synchronized at both ends.
2. The same runs go on to ``--steps`` with an eval every ``--eval-every`` steps: their validation-loss
   curves side by side (the N-GPU runs must follow the 1-GPU one within noise).
3. FSDP (``configs/accelerate/fsdp.yaml``) for ``--fsdp-size`` on the most GPUs, against the same model
   on one GPU: memory per GPU and tokens/s.

``train.mixed_precision`` is ``auto`` throughout, as a user would leave it: bf16-master for DDP and one
GPU, bf16 autocast under FSDP (which brings its own mixed precision).

    python bench/multigpu.py --corpus .carry/works.jsonl --gpus 1,2 --out reports/bench/multigpu.json

``--cpu`` runs the same on CPU processes (gloo), without FSDP, to check the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_gpu import (  # noqa: E402
    DATASHEET_BF16_DENSE_TFLOPS,
    StepTimer,
    flops_per_token,
    max_curve_difference,
    model_shape,
    prepare,
    sanchaek_params,
)

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs" / "accelerate"


# ----------------------------------------------------------------------------- one launched process


def child(args: argparse.Namespace) -> None:
    """One process of one launch: train, then print this rank's RESULT line."""
    import torch

    from sanchaek.paths import Layout
    from sanchaek.train import train

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    workdir = Path(args.workdir)
    params = sanchaek_params(
        workdir / f"model-{args.size}", args.seq, args.global_batch // world, args.steps, "auto", args.compile,
        lr=1e-3, warmup_steps=max(1, args.steps // 10), eval_every=args.eval_every, eval_max_blocks=64,
        log_every=args.eval_every or args.steps, seed=1,
    )  # fmt: skip
    timer = StepTimer(args.warmup, args.timed)
    run_dir = workdir / f"run-{args.child}"
    result = train(
        params,
        Layout(run_dir),
        save_final_model=False,
        checkpoints=False,
        live_dir=False,
        on_step=timer.at_step,
    )
    tokens = args.timed * args.global_batch * args.seq
    out = {
        "rank": rank,
        "world": world,
        "tokens_per_s": tokens / timer.seconds,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
        "val_loss": [(h["step"], h["val_loss"]) for h in result.history],
        "final_train_loss": result.final.get("train_loss"),
    }
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- the driver


@dataclass(frozen=True)
class Job:
    """One launch of the train stage."""

    name: str
    size: str
    gpus: int
    fsdp: bool
    steps: int
    eval_every: int
    compile: bool


def launch_command(args: argparse.Namespace, job: Job, device: int | None) -> list[str]:
    """``device`` pins a 1-GPU run to that GPU (through ``--gpu_ids``: accelerate sets
    CUDA_VISIBLE_DEVICES from it, over the caller's)."""
    config = "fsdp.yaml" if job.fsdp else ("single_gpu.yaml" if job.gpus == 1 else "multi_gpu.yaml")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
           "--num_processes", str(job.gpus)]  # fmt: skip
    if args.cpu:
        cmd += ["--cpu"]
    elif device is not None:
        cmd += ["--gpu_ids", str(device)]
    return cmd + [
        __file__, "--child", job.name, "--workdir", str(args.workdir), "--size", job.size, "--seq", str(args.seq),
        "--global-batch", str(args.global_batch), "--steps", str(job.steps), "--warmup", str(args.warmup),
        "--timed", str(args.timed), "--eval-every", str(job.eval_every), *([] if job.compile else ["--no-compile"]),
    ]  # fmt: skip


def start(args: argparse.Namespace, job: Job, device: int | None) -> dict:
    """Launch one run in its own folder (the shared data linked in): runs side by side must not
    share a tokenisation cache."""
    run_dir = Path(args.workdir) / f"run-{job.name}"
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    if not (run_dir / "data" / "processed").exists():
        (run_dir / "data" / "processed").symlink_to(Path(args.workdir).resolve() / "data" / "processed")
    env = {**os.environ, "NCCL_NVLS_ENABLE": "0"}  # the device README: NVLink multicast stays off
    cmd = launch_command(args, job, device)
    log = open(Path(args.workdir) / f"{job.name}.log", "w", encoding="utf-8")  # noqa: SIM115 (closed in finish)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    return {
        "job": job,
        "proc": proc,
        "log": log,
        "started": time.perf_counter(),
        "command": " ".join(cmd[1:]),
    }


def finish(launched: dict) -> dict:
    """Wait for a run; its ranks' RESULT lines, or the error its log ends with."""
    job: Job = launched["job"]
    stdout, _ = launched["proc"].communicate()
    launched["log"].close()
    ranks = [json.loads(ln[len("RESULT ") :]) for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    run = {"size": job.size, "gpus": job.gpus, "fsdp": job.fsdp, "compile": job.compile, "steps": job.steps,
           "command": launched["command"], "wall_s_incl_compile": time.perf_counter() - launched["started"]}  # fmt: skip
    if launched["proc"].returncode != 0 or not ranks:
        lines = Path(launched["log"].name).read_text(encoding="utf-8").strip().splitlines() or ["?"]
        run["error"] = lines[-1]
        print(f"{job.name}: FAILED {lines[-1]}", flush=True)
        return run
    ranks.sort(key=lambda r: r["rank"])
    run.update(
        tokens_per_s=ranks[0]["tokens_per_s"],
        tokens_per_s_per_gpu=ranks[0]["tokens_per_s"] / job.gpus,
        peak_memory_gib_per_gpu=[r["peak_memory_gib"] for r in ranks],
        val_loss=ranks[0]["val_loss"],
        final_train_loss=ranks[0]["final_train_loss"],
    )
    print(f"{job.name}: {run['tokens_per_s']:,.0f} tok/s ({run['tokens_per_s_per_gpu']:,.0f} per GPU), "
          f"peak {run['peak_memory_gib_per_gpu']} GiB, val {run['val_loss']}", flush=True)  # fmt: skip
    return run


def run_all(args: argparse.Namespace, jobs: list[Job], save: Callable[[dict], None]) -> dict:
    """1-GPU runs two at a time, each on its own GPU (when there are two); the rest one at a time.
    A compiled FSDP run that fails is run again uncompiled (its error is kept beside it)."""
    runs: dict = {}
    singles = [j for j in jobs if j.gpus == 1]
    side_by_side = 1 if args.cpu else max(1, min(2, args.visible_gpus))
    for i in range(0, len(singles), side_by_side):
        batch = [
            start(args, job, None if args.cpu else k) for k, job in enumerate(singles[i : i + side_by_side])
        ]
        runs.update({launched["job"].name: finish(launched) for launched in batch})
        save(runs)
    for job in (j for j in jobs if j.gpus > 1):
        runs[job.name] = finish(start(args, job, None))
        save(runs)
        if job.fsdp and job.compile and "error" in runs[job.name]:
            retry = replace(job, name=f"{job.name}_uncompiled", compile=False)
            runs[retry.name] = finish(start(args, retry, None))
            save(runs)
    return runs


def summarise(runs: dict, sizes: dict) -> dict:
    """Scaling efficiency and curve differences against each size's 1-GPU data-parallel run."""
    for name, run in runs.items():
        base = runs.get(f"{run['size']}_1gpu", {})
        fpt = sizes[run["size"]]
        if "tokens_per_s" not in run:
            continue
        run["mfu_per_gpu"] = run["tokens_per_s_per_gpu"] * fpt / (DATASHEET_BF16_DENSE_TFLOPS * 1e12)
        if base.get("tokens_per_s") and name != f"{run['size']}_1gpu":
            run["scaling_efficiency"] = run["tokens_per_s_per_gpu"] / base["tokens_per_s"]
            run["max_abs_val_loss_diff_vs_1gpu"] = max_curve_difference(run["val_loss"], base["val_loss"])
            if base["peak_memory_gib_per_gpu"][0]:  # None on the CPU
                peak = max(run["peak_memory_gib_per_gpu"])
                run["peak_memory_ratio_vs_1gpu"] = peak / base["peak_memory_gib_per_gpu"][0]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    parser.add_argument("--size", default="350m", help="the data-parallel model (scratch preset)")
    parser.add_argument("--fsdp-size", default="1b", help="the FSDP model; empty for none")
    parser.add_argument("--gpus", default="1,2", help="GPU counts for data parallel; FSDP uses the largest")
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--global-batch", type=int, default=32, help="blocks per optimizer step, all GPUs")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--timed", type=int, default=30)
    parser.add_argument(
        "--eval-every", type=int, default=50, help="after the timed window, or it is timed too"
    )
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--workdir", default="/tmp/sanchaek-multigpu")
    parser.add_argument("--out", default="reports/bench/multigpu.json")
    parser.add_argument("--cpu", action="store_true", help="CPU processes (gloo): checks the harness")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--no-compile", dest="compile", action="store_false", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.eval_every and args.eval_every <= args.warmup + args.timed:
        parser.error("--eval-every must fall after the timed window (--warmup + --timed)")

    import torch

    from sanchaek.io import write_json

    args.visible_gpus = torch.cuda.device_count()
    counts = [int(n) for n in args.gpus.split(",")]
    if not args.cpu and max(counts) > args.visible_gpus:
        parser.error(f"--gpus {args.gpus}: only {args.visible_gpus} GPU(s) visible")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    jobs = [
        Job(f"{args.size}_{n}gpu", args.size, n, False, args.steps, args.eval_every, not args.cpu)
        for n in counts
    ]
    if args.fsdp_size and not args.cpu and max(counts) > 1:
        # Speed and memory only: the timed window, no evals.
        short = args.warmup + args.timed
        jobs += [Job(f"{args.fsdp_size}_1gpu", args.fsdp_size, 1, False, short, 0, True),
                 Job(f"{args.fsdp_size}_{max(counts)}gpu_fsdp", args.fsdp_size, max(counts), True, short, 0, True)]  # fmt: skip
    sizes = {}
    for size in {j.size for j in jobs}:
        model_dir = prepare(Path(args.workdir), Path(args.corpus), size, args.vocab_size)
        sizes[size] = flops_per_token(*model_shape(model_dir), args.seq)
    header = {
        "card": "cpu" if args.cpu else torch.cuda.get_device_name(0),
        "gpus_visible": args.visible_gpus,
        "torch": torch.__version__,
        "seq_len": args.seq,
        "global_batch": args.global_batch,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "timed_steps": args.timed,
        "eval_every": args.eval_every,
    }

    def save(runs: dict) -> None:  # after every run: a call stopped at its time limit keeps what it measured
        write_json(args.out, {**header, "runs": summarise(runs, sizes)})

    save(run_all(args, jobs, save))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
