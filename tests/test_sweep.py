"""``sanchaek sweep``: grid expansion, early-curve ranking, promotion of the best run."""

from __future__ import annotations

import json

import pytest
import yaml
from test_train import make_project

from sanchaek.config import load_params, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.sweep import apply_best_run, apply_overrides, early_auc, expand_grid, sweep

PARAMS_YAML = """\
model:
  name_or_path: scratch:tiny   # keep this comment
  vocab_size: 300
  tokenizer_extra_text: null
train:
  seed: 7
  seq_len: 32
  micro_batch_size: 4
  lr: 0.003          # peak lr
  warmup_steps: 2
  eval_max_blocks: 8
  eval_batch_size: 8
  mixed_precision: 'no'
sweep:
  grid:
    train.lr: [0.00001, 0.01]
  steps: 8
  early_steps: 4
  eval_every: 2
"""


def test_expand_grid_is_the_cartesian_product_in_written_order():
    points = expand_grid({"train.lr": [1, 2], "train.warmup_steps": [0, 5]})
    assert points == [
        {"train.lr": 1, "train.warmup_steps": 0},
        {"train.lr": 1, "train.warmup_steps": 5},
        {"train.lr": 2, "train.warmup_steps": 0},
        {"train.lr": 2, "train.warmup_steps": 5},
    ]
    with pytest.raises(SanchaekError, match="sweep.grid is empty"):
        expand_grid({})


def test_overrides_are_validated_like_params_yaml():
    params = params_from_dict({})
    assert apply_overrides(params, {"train.lr": 0.5}).train.lr == 0.5
    with pytest.raises(SanchaekError, match="train.lrr"):
        apply_overrides(params, {"train.lrr": 0.5})
    with pytest.raises(SanchaekError, match="train.lr"):
        apply_overrides(params, {"train.lr": -1})


def test_early_auc_is_the_mean_val_loss_over_the_window():
    history = [{"step": 2, "val_loss": 4.0}, {"step": 4, "val_loss": 2.0}, {"step": 8, "val_loss": 1.0}]
    assert early_auc(history, 4) == pytest.approx(3.0)  # trapezoid (4+2)/2 over [2, 4]
    assert early_auc(history, 6) == pytest.approx((2 * 3.0 + 2 * 1.75) / 4)  # interpolated 1.5 at step 6
    assert early_auc(history[:1], 4) == 4.0


def test_sweep_ranks_the_fast_learner_first_and_promotes_it(tmp_path, monkeypatch):
    layout = make_project(tmp_path)
    (tmp_path / "params.yaml").write_text(PARAMS_YAML, "utf-8")
    params = load_params(tmp_path / "params.yaml")
    report = sweep(params, layout)
    runs = report["runs"]
    assert [r["overrides"] for r in runs] == [{"train.lr": 0.00001}, {"train.lr": 0.01}]
    assert all(len(r["history"]) == 4 and r["error"] is None for r in runs)
    assert report["ranking"] == [1, 0] and report["best"]["overrides"] == {"train.lr": 0.01}
    assert runs[1]["early_auc"] < runs[0]["early_auc"]
    assert not layout.model_dir.exists() and not layout.checkpoints_dir.exists()  # sweeps leave no model

    (tmp_path / "reports").mkdir(exist_ok=True)
    (tmp_path / "reports" / "sweep.json").write_text(json.dumps(report), "utf-8")
    monkeypatch.chdir(tmp_path)
    from click.testing import CliRunner

    from sanchaek.sweep import command

    res = CliRunner().invoke(command, ["--no-run", "--apply-best"])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "params.yaml").read_text("utf-8")
    assert "# keep this comment" in text and yaml.safe_load(text)["train"]["lr"] == 0.01
    assert load_params(tmp_path / "params.yaml").train.lr == 0.01


def test_apply_best_refuses_a_value_params_would_reject(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_YAML, "utf-8")
    with pytest.raises(SanchaekError, match="train.lr"):
        apply_best_run({"best": {"overrides": {"train.lr": -3}}}, path)
    assert path.read_text("utf-8") == PARAMS_YAML
