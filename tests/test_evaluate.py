"""``sanchaek evaluate`` end to end on a temp project: tiny model, small val split, the real KLUE-RE folder."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import KOREAN_LINES

from sanchaek.cli import cli
from sanchaek.errors import SanchaekError
from sanchaek.evaluate import RE_KEYS, resolve_model_path

NUMERIC_KEYS = [
    "val_loss",
    "perplexity",
    "token_accuracy",
    "re_micro_f1",
    "re_auprc",
    "re_accuracy",
    "re_dev_loss",
]


def make_project(root: Path, tiny_lm_dir: Path, shared_dir: Path, **evaluate) -> Path:
    shutil.copytree(tiny_lm_dir, root / "models" / "lm")
    processed = root / "data" / "processed"
    processed.mkdir(parents=True)
    with (processed / "val.jsonl").open("w", encoding="utf-8") as fh:
        for i, line in enumerate(KOREAN_LINES * 3):
            fh.write(json.dumps({"passage_id": f"p{i}", "text": line}, ensure_ascii=False) + "\n")
    params = {
        "train": {"seq_len": 32},
        "evaluate": {
            "klue_re_dir": str(shared_dir / "data" / "klue-re"),
            "lm_batch_size": 4,
            "re_max_train_examples": 48,
            "re_max_dev_examples": 40,
            "re_max_length": 48,
            "re_batch_size": 8,
            "re_max_steps": 6,
            **evaluate,
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return root


def run_evaluate(root: Path, monkeypatch) -> object:
    monkeypatch.chdir(root)
    return CliRunner().invoke(cli, ["evaluate", "--params", "params.yaml"])


def test_evaluate_command_writes_every_metric(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(tmp_path, tiny_lm_dir, shared_dir)
    weights = (root / "models" / "lm" / "model.safetensors").read_bytes()
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    for key in NUMERIC_KEYS:
        assert isinstance(report[key], float) and math.isfinite(report[key]), key
    assert report["perplexity"] == pytest.approx(math.exp(report["val_loss"]))
    assert 0 <= report["token_accuracy"] <= 1 and report["val_tokens"] > 0 and report["lm_seq_len"] == 32
    assert 0 <= report["re_micro_f1"] <= 100 and 0 < report["re_auprc"] <= 100
    assert report["re_source"] == "partial" and "stratified 0.2" in report["re_split"]
    assert report["re_files"]["train"]["path"].endswith("train_subset_6494_labeled.json")
    assert (report["re_n_train"], report["re_n_dev"], report["re_steps"]) == (48, 40, 6)
    assert report["re_labels_in_dev"] == 30 and report["seconds"] > 0
    assert "KLUE-RE micro-F1" in result.output
    # the RE fine-tune works on an in-memory copy: the model on disk is untouched
    assert (root / "models" / "lm" / "model.safetensors").read_bytes() == weights


def test_evaluate_lm_only_and_model_path_override(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(
        tmp_path, tiny_lm_dir, shared_dir, re_enabled=False, model_path="models/other", lm_seq_len=16
    )
    shutil.move(root / "models" / "lm", root / "models" / "other")
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    assert report["model_path"] == "models/other" and report["lm_seq_len"] == 16
    assert all(report[key] is None for key in RE_KEYS) and math.isfinite(report["val_loss"])


def test_missing_model_and_unscorable_dev_are_one_line_errors(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(
        tmp_path,
        tiny_lm_dir,
        shared_dir,
        re_source="files",
        re_train_file="partial/train_subset_6494_labeled.json",
        re_dev_file="partial/dev_7765_unlabeled.json",
    )
    (root / "reports").mkdir()
    (root / "reports" / "eval.json").write_text('{"old": 1}\n', encoding="utf-8")
    result = run_evaluate(root, monkeypatch)
    assert isinstance(result.exception, SanchaekError)
    assert "cannot be scored" in str(result.exception) and "\n" not in str(result.exception)
    assert json.loads((root / "reports" / "eval.json").read_text()) == {"old": 1}  # old output intact

    shutil.rmtree(root / "models" / "lm")
    with pytest.raises(SanchaekError, match="models/lm not found: run `dvc repro train`"):
        resolve_model_path("models/lm", root)
    assert resolve_model_path("someone/korean-gpt", root) == "someone/korean-gpt"  # a hub id passes through
