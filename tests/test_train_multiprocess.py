"""Two CPU processes (gloo, torchrun) train exactly like one with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_train import make_project

TRAIN = {
    "seed": 7, "seq_len": 32, "max_steps": 8, "lr": 3e-3, "warmup_steps": 2, "log_every": 4, "eval_every": 4,
    "eval_max_blocks": 8, "eval_batch_size": 4, "checkpoint_every": 0, "mixed_precision": "no",
}  # fmt: skip
MODEL = {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None}


def run_stage(root: Path, processes: int, micro: int, accum: int, **train) -> dict:
    (root / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "model": MODEL,
                "train": {**TRAIN, "micro_batch_size": micro, "grad_accum_steps": accum, **train},
            }
        ),
        "utf-8",
    )
    bin_dir = Path(sys.executable).parent
    if processes == 1:
        cmd = [sys.executable, "-m", "sanchaek.cli", "train"]
    else:
        # `accelerate launch --cpu` runs N CPU processes only through mpirun; torchrun is the same
        # rendezvous (env://, gloo on CPU) that `accelerate launch --multi_gpu` uses on GPUs.
        cmd = [str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node", str(processes),
               "-m", "sanchaek.cli", "train"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((root / "reports" / "train" / "metrics.json").read_text())


def one_and_two_processes(
    tmp_path: Path, one: tuple[int, int], two: tuple[int, int], **train
) -> tuple[dict, dict]:
    """The stage's metrics with one process and with two; ``one``/``two`` are (micro batch, accum steps)."""
    runs = tuple(
        run_stage(make_project(tmp_path / name).root, processes, *shape, **train)
        for name, processes, shape in (("one", 1, one), ("two", 2, two))
    )
    print("1 vs 2 processes, train and val loss:", *(r[k]["loss"] for k in ("train", "val") for r in runs))
    return runs


@pytest.mark.slow
def test_two_processes_match_one_process_for_the_same_global_batch(tmp_path):
    one, two = one_and_two_processes(tmp_path, one=(2, 2), two=(2, 1))
    assert two["step"] == one["step"] == 8
    assert two["final"]["tokens"] == one["final"]["tokens"] == 8 * 4 * 32  # really 2 x (2 blocks) per step
    assert two["train"]["loss"] == pytest.approx(one["train"]["loss"], abs=1e-5)
    assert two["val"]["loss"] == pytest.approx(one["val"]["loss"], abs=1e-5)
    assert two["val"]["token_accuracy"] == pytest.approx(one["val"]["token_accuracy"], abs=1e-3)


@pytest.mark.slow
def test_bf16_master_under_ddp_follows_one_process(tmp_path):
    """MasterAdamW steps every rank's masters from DDP's all-reduced bf16 gradients (and clips by
    their norm): two processes must follow one with the same global batch, to bf16 rounding."""
    one, two = one_and_two_processes(tmp_path, one=(4, 1), two=(2, 1), mixed_precision="bf16-master")
    assert two["step"] == one["step"] == 8
    assert two["train"]["loss"] == pytest.approx(one["train"]["loss"], abs=2e-3)
    assert two["val"]["loss"] == pytest.approx(one["val"]["loss"], abs=2e-3)
