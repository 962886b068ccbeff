"""A ``sanchaek train`` killed with SIGKILL resumes from its last checkpoint to the same loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_train import make_project

PARAMS = {
    "model": {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None},
    "train": {"seed": 7, "seq_len": 32, "micro_batch_size": 4, "max_steps": 40, "lr": 3e-3, "warmup_steps": 2,
              "log_every": 4, "eval_every": 0, "eval_max_blocks": 8, "checkpoint_every": 4, "keep_checkpoints": 2,
              "mixed_precision": "no"},
}  # fmt: skip
CMD = [sys.executable, "-m", "sanchaek.cli", "train"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def project(root: Path) -> Path:
    make_project(root)
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS), "utf-8")
    return root


def final_metrics(root: Path) -> dict:
    return json.loads((root / "reports" / "train" / "metrics.json").read_text())


@pytest.mark.slow
def test_sigkilled_run_resumes_to_the_same_loss(tmp_path):
    whole = project(tmp_path / "whole")
    subprocess.run(CMD, cwd=whole, env=ENV, check=True, capture_output=True, timeout=300)

    killed = project(tmp_path / "killed")
    proc = subprocess.Popen(CMD, cwd=killed, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (killed / "models" / "checkpoints" / "step_8").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before its step-8 checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "models" / "lm").exists()  # it really died mid-run

    res = subprocess.run(CMD, cwd=killed, env=ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resumed from" in res.stdout
    a, b = final_metrics(whole), final_metrics(killed)
    assert b["step"] == a["step"] == 40
    assert b["val"]["loss"] == pytest.approx(a["val"]["loss"], abs=1e-5)
    assert b["train"]["loss"] == pytest.approx(a["train"]["loss"], abs=1e-5)
    # The plot has one row per logged step, none doubled by the resume.
    rows = (
        (killed / "reports" / "train" / "plots" / "metrics" / "train" / "loss.tsv")
        .read_text()
        .splitlines()[1:]
    )
    steps = [int(r.split("\t")[0]) for r in rows]
    assert steps == list(range(4, 41, 4))
