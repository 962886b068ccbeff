"""A LoRA run on two CPU processes (gloo, torchrun) trains exactly like one with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_lora import save_tiny, tokenizer_dir  # noqa: F401  (the fixture)
from test_train import make_project
from test_train_multiprocess import TRAIN


def run_lora_stage(root: Path, model_dir: Path, processes: int, micro: int, accum: int) -> dict:
    train = {**TRAIN, "micro_batch_size": micro, "grad_accum_steps": accum, "lr": 3e-2, "method": "lora",
             "lora": {"rank": 4, "alpha": 8.0}}  # fmt: skip
    (root / "params.yaml").write_text(
        yaml.safe_dump({"model": {"name_or_path": str(model_dir)}, "train": train}), "utf-8"
    )
    if processes == 1:
        cmd = [sys.executable, "-m", "sanchaek.cli", "train"]
    else:
        cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", str(processes),
               "-m", "sanchaek.cli", "train"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    res = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((root / "reports" / "train" / "metrics.json").read_text())


@pytest.mark.slow
def test_two_process_lora_matches_one_process(tmp_path, tokenizer_dir):
    model_dir = save_tiny("llama", tmp_path / "base", tokenizer_dir)
    one = run_lora_stage(make_project(tmp_path / "one").root, model_dir, 1, micro=2, accum=2)
    two = run_lora_stage(make_project(tmp_path / "two").root, model_dir, 2, micro=2, accum=1)
    assert two["step"] == one["step"] == 8
    assert two["train"]["loss"] == pytest.approx(one["train"]["loss"], abs=1e-5)
    assert two["val"]["loss"] == pytest.approx(one["val"]["loss"], abs=1e-5)
    # The two-process run wrote the adapter folder like the one-process run.
    assert (tmp_path / "two" / "models" / "lm" / "adapter_config.json").exists()
