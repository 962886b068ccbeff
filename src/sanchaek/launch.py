"""``sanchaek train`` as the DVC stage runs it: how many processes, launched how, run how reproducibly.

``train.num_processes`` (1, N or auto) and ``train.distributed`` (ddp | fsdp) decide the launch, so
``dvc exp run -S train.num_processes=2`` needs no edit of ``dvc.yaml``:

- one process: the training loop runs here, in this process;
- N GPUs: ``accelerate launch`` with ``configs/accelerate/multi_gpu.yaml`` (DDP) or ``fsdp.yaml``
  (FSDP2), each process running ``sanchaek train`` again, which then trains (it finds itself launched);
- N CPU processes: ``torchrun --standalone`` with gloo (``accelerate launch --cpu`` needs mpirun for
  more than one process), the rendezvous Accelerate's own GPU launch uses.

On CPU the loop runs with PyTorch's deterministic algorithms: the same params and data give the same
model and metrics, run after run, on one machine (other machines may differ in the last digits: the
CI check states its tolerance).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from .cli import params_option
from .config import load_params
from .config.model import TrainParams
from .errors import SanchaekError

ACCELERATE_CONFIGS = {"ddp": "configs/accelerate/multi_gpu.yaml", "fsdp": "configs/accelerate/fsdp.yaml"}
# Set by torchrun and accelerate launch in every process they start.
LAUNCHED_ENV = ("WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Launch:
    processes: int
    device: str  # cuda | cpu
    argv: list[str]  # empty: train in this process
    env: dict[str, str]


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_processes(num_processes: int | str, gpus: int) -> int:
    """``auto`` -> every visible GPU (1 on CPU); a number is checked against the GPUs there are."""
    if num_processes == "auto":
        return max(gpus, 1)
    n = int(num_processes)
    if gpus and n > gpus:
        raise SanchaekError(
            f"train.num_processes = {n} but {gpus} GPU(s) are visible: lower it or set train.num_processes: auto"
        )
    return n


def already_launched(environ: dict[str, str] | os._Environ) -> bool:
    return all(key in environ for key in LAUNCHED_ENV)


def plan_launch(
    train: TrainParams, params_path: str, *, gpus: int, root: Path, environ: dict[str, str] | os._Environ
) -> Launch:
    """What to run for ``train``'s process count on this machine (pure: tests call it directly)."""
    n = resolve_processes(train.num_processes, gpus)
    device = "cuda" if gpus else "cpu"
    if n == 1 or already_launched(environ):
        return Launch(n, device, [], {})
    stage = ["-m", "sanchaek.cli", "train", "--params", params_path]
    if device == "cpu":
        if train.distributed == "fsdp":
            raise SanchaekError(
                "train.distributed: fsdp shards over GPUs and none is visible: use train.distributed: ddp "
                "for CPU processes, or train.num_processes: 1"
            )
        argv = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(n),
            *stage,
        ]
        return Launch(n, device, argv, {"ACCELERATE_USE_CPU": "true"})
    config = root / ACCELERATE_CONFIGS[train.distributed]
    if not config.is_file():
        raise SanchaekError(
            f"{config} not found (train.distributed: {train.distributed}): restore it from git"
        )
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
            "--num_processes", str(n), *stage]  # fmt: skip
    return Launch(n, device, argv, {})


def make_deterministic(device: str) -> None:
    """Same inputs, same bits on one machine: deterministic kernels on CPU (GPU runs keep their fast
    kernels, whose reductions may reorder; their curves are compared with a tolerance instead)."""
    import torch

    if device == "cpu":
        torch.use_deterministic_algorithms(True)


@click.command(help="Fine-tune or train the causal LM with Accelerate on train.num_processes processes.")
@params_option
@click.option(
    "--plan", "plan_only", is_flag=True,
    help="Print the memory plan per GPU for train.num_processes processes and exit (loads no weights).",
)  # fmt: skip
def command(params_path: str, plan_only: bool) -> None:
    from .train import command as train_command

    params = load_params(params_path)
    if plan_only:
        from .model.memory_plan import plan_report

        # a plan may be made on a machine without the GPUs: `auto` counts the visible ones (at least one)
        n = params.train.num_processes
        processes = max(visible_gpus(), 1) if n == "auto" else int(n)
        click.echo(plan_report(params, processes, params.train.distributed == "fsdp" and processes > 1))
        return
    launch = plan_launch(params.train, params_path, gpus=visible_gpus(), root=Path("."), environ=os.environ)
    if not launch.argv:
        make_deterministic(launch.device)
        click.get_current_context().invoke(train_command, params_path=params_path)
        return
    click.echo(
        f"launching {launch.processes} {launch.device} processes: {' '.join(launch.argv[1:])}", err=True
    )
    returncode = subprocess.call(launch.argv, env={**os.environ, **launch.env})
    if returncode != 0:
        raise SanchaekError(
            f"training on {launch.processes} processes failed (exit {returncode}; the log above names the "
            "process and the cause); checkpoints already written are kept for train.resume: auto"
        )
