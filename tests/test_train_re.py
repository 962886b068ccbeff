"""``train.re_weight > 0``: LM and KLUE-RE losses train one shared backbone."""

from __future__ import annotations

import json
import math

import pytest
from test_train import make_project

from sanchaek.config import params_from_dict


def re_params(shared_dir, re_weight: float):
    return params_from_dict({
        "model": {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None},
        "train": {"seed": 7, "seq_len": 32, "micro_batch_size": 4, "max_steps": 6, "log_every": 3, "eval_every": 0,
                  "eval_max_blocks": 4, "checkpoint_every": 3, "mixed_precision": "no", "re_weight": re_weight},
        "evaluate": {"klue_re_dir": str(shared_dir / "data" / "klue-re"), "re_max_train_examples": 32,
                     "re_max_dev_examples": 16, "re_batch_size": 4, "re_max_length": 64},
    })  # fmt: skip


def test_joint_re_objective_trains_logs_and_resumes(tmp_path, shared_dir):
    from sanchaek.train import train

    plain = train(re_params(shared_dir, 0.0), make_project(tmp_path / "plain"), live_dir=None)
    layout = make_project(tmp_path / "joint")
    joint = train(re_params(shared_dir, 0.5), layout)
    metrics = json.loads((layout.report("train") / "metrics.json").read_text())
    assert math.isfinite(metrics["train"]["re_loss"]) and metrics["train"]["re_loss"] > 0
    # The RE gradient reaches the shared backbone: the LM trajectory changes.
    assert joint.final["val_loss"] != pytest.approx(plain.final["val_loss"], abs=1e-6)
    # The RE head and its batch cursor are checkpointed with the rest and resume exactly.
    again = make_project(tmp_path / "again")
    train(re_params(shared_dir, 0.5), again, stop_after_steps=4, live_dir=None)
    resumed = train(re_params(shared_dir, 0.5), again, live_dir=None)
    assert resumed.final["val_loss"] == pytest.approx(joint.final["val_loss"], abs=1e-5)
