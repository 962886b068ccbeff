"""`sanchaek train` launches itself from train.num_processes / train.distributed, and trains the same
bits twice in a row on one machine."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_train import make_project

from sanchaek.config.model import TrainParams
from sanchaek.errors import SanchaekError
from sanchaek.launch import plan_launch, resolve_processes

ROOT = Path(__file__).resolve().parents[1]


def train_params(**kw) -> TrainParams:
    return TrainParams.model_validate(kw)


def test_auto_is_every_visible_gpu_and_one_on_cpu():
    assert resolve_processes("auto", 0) == 1
    assert resolve_processes("auto", 8) == 8
    assert resolve_processes(2, 0) == 2  # CPU processes (gloo)
    with pytest.raises(SanchaekError, match="train.num_processes = 4 but 2 GPU"):
        resolve_processes(4, 2)


def test_params_refuse_what_cannot_launch():
    with pytest.raises(ValueError, match="num_processes"):
        train_params(num_processes=0)
    with pytest.raises(ValueError, match="distributed"):
        train_params(distributed="deepspeed")


def test_one_process_or_an_already_launched_one_trains_here():
    assert plan_launch(train_params(), "params.yaml", gpus=0, root=ROOT, environ={}).argv == []
    launched = {"WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert (
        plan_launch(train_params(num_processes=2), "p.yaml", gpus=0, root=ROOT, environ=launched).argv == []
    )


def test_cpu_processes_run_under_torchrun_with_gloo():
    launch = plan_launch(train_params(num_processes=2), "p.yaml", gpus=0, root=ROOT, environ={})
    assert launch.argv[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert launch.argv[-5:] == ["-m", "sanchaek.cli", "train", "--params", "p.yaml"]
    assert launch.env == {"ACCELERATE_USE_CPU": "true"}
    with pytest.raises(SanchaekError, match="fsdp shards over GPUs"):
        plan_launch(
            train_params(num_processes=2, distributed="fsdp"), "p.yaml", gpus=0, root=ROOT, environ={}
        )


@pytest.mark.parametrize("distributed, config", [("ddp", "multi_gpu.yaml"), ("fsdp", "fsdp.yaml")])
def test_gpus_run_under_accelerate_with_the_matching_config(distributed, config):
    t = train_params(num_processes="auto", distributed=distributed)
    launch = plan_launch(t, "params.yaml", gpus=4, root=ROOT, environ={})
    assert launch.argv[1:3] == ["-m", "accelerate.commands.launch"]
    assert launch.argv[launch.argv.index("--config_file") + 1] == str(ROOT / "configs/accelerate" / config)
    assert launch.argv[launch.argv.index("--num_processes") + 1] == "4"


def _train_cli(root: Path) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    res = subprocess.run([sys.executable, "-m", "sanchaek.cli", "train"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    files = [*sorted((root / "models/lm").rglob("*")), *sorted((root / "reports/train").rglob("*"))]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()
    }


@pytest.mark.slow
def test_the_train_stage_writes_the_same_model_and_metrics_twice(tmp_path):
    root = make_project(tmp_path / "p").root
    params = {
        "model": {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None},
        "train": {"seed": 7, "seq_len": 32, "micro_batch_size": 4, "max_steps": 12, "warmup_steps": 2,
                  "log_every": 4, "eval_every": 4, "eval_max_blocks": 8, "checkpoint_every": 0, "resume": "never"},
    }  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params), "utf-8")
    first = _train_cli(root)
    assert "models/lm/model.safetensors" in first and "reports/train/metrics.json" in first
    assert (root / "reports/timings/train.json").exists()  # wall-clock, kept apart
    second = _train_cli(root)
    assert first == second
