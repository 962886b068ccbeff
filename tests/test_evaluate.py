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
    "bits_per_char",
    "bits_per_byte",
    "re_micro_f1",
    "re_auprc",
]
SCORE_KEYS = {"micro_f1", "micro_f1_lo", "micro_f1_hi", "auprc", "auprc_lo", "auprc_hi"}


def leaves(tree, prefix=""):
    """Every (dotted key, value) of a nested dict: what `dvc metrics show` lists."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


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


def test_evaluate_command_writes_model_baselines_control_and_bits(
    tmp_path, tiny_lm_dir, shared_dir, monkeypatch
):
    root = make_project(tmp_path, tiny_lm_dir, shared_dir)
    weights = (root / "models" / "lm" / "model.safetensors").read_bytes()
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    detail = json.loads((root / "reports" / "eval_detail.json").read_text(encoding="utf-8"))
    for key in NUMERIC_KEYS:
        assert isinstance(report[key], float) and math.isfinite(report[key]), key
    # the metrics file holds numbers only (no strings, timings or per-class tables)
    assert all(isinstance(v, (int, float)) for _, v in leaves(report)), [k for k, v in leaves(report)]
    assert not any("seconds" in k or "per_class" in k for k, _ in leaves(report))
    assert report["perplexity"] == pytest.approx(math.exp(report["val_loss"]))
    bits = report["val_loss"] * report["val_tokens"] / math.log(2)
    assert report["bits_per_char"] == pytest.approx(bits / report["val_chars"])
    assert report["bits_per_byte"] == pytest.approx(bits / report["val_bytes"])
    assert report["val_bytes"] > 2 * report["val_chars"]  # Hangul: 3 bytes a character in UTF-8
    assert (
        0 <= report["token_accuracy"] <= 1 and report["val_tokens"] > 0 and detail["lm"]["lm_seq_len"] == 32
    )
    # the model, each baseline and the control, each with an interval around the point
    systems = {"model": {k[3:]: report[k] for k in report if k[3:] in SCORE_KEYS}, **report["re_baselines"]}
    assert set(systems) == {"model", "type_prior", "char_ngram", "control"}
    for name, scores in systems.items():
        assert set(scores) == SCORE_KEYS, name
        assert scores["micro_f1_lo"] <= scores["micro_f1"] <= scores["micro_f1_hi"], name
        assert 0 <= scores["micro_f1"] <= 100 and 0 < scores["auprc"] <= 100, name
    for name in ("type_prior", "char_ngram", "control"):
        gain = detail["re"]["gain"][f"over_{name}"]
        assert report["re_gain"][f"over_{name}"] == {"micro_f1": gain["micro_f1"]}
        assert gain["micro_f1"] == pytest.approx(report["re_micro_f1"] - systems[name]["micro_f1"])
        assert gain["micro_f1_lo"] <= gain["micro_f1"] <= gain["micro_f1_hi"]
        assert detail["re"]["verdict"][name].startswith(("beats", "below", "no clear difference"))
    re_detail = detail["re"]
    assert re_detail["source"] == "partial" and re_detail["partial_split"] is True
    assert "sentence-grouped" in re_detail["split"] and re_detail["marker_style"] == "klue (untyped)"
    assert re_detail["files"]["train"]["path"].endswith("train_subset_6494_labeled.json")
    assert (report["re_n_train"], report["re_n_dev"]) == (48, 40)
    assert (
        re_detail["systems"]["model"]["fit"]["steps"] == 6 == re_detail["systems"]["control"]["fit"]["steps"]
    )
    assert set(re_detail["systems"]["char_ngram"]["per_class"]) == set(re_detail["dev_label_counts"]) | set(
        re_detail["systems"]["char_ngram"]["per_class"]
    )
    assert re_detail["bootstrap"]["resamples"] == 1000 and "seconds" not in detail
    timings = json.loads((root / "reports" / "timings" / "evaluate.json").read_text(encoding="utf-8"))
    assert timings["seconds"] > 0 and timings["re"]["systems"]["model"]["seconds"] > 0
    assert re_detail["warnings"] and "warning: KLUE-RE dev" in result.output  # 40 dev examples: thin classes
    assert "KLUE-RE micro-F1" in result.output and "partial split" in result.output
    assert "type_prior: micro-F1" in result.output and "control: micro-F1" in result.output
    # the RE fine-tune works on an in-memory copy: the model on disk is untouched
    assert (root / "models" / "lm" / "model.safetensors").read_bytes() == weights


def test_control_can_be_skipped_and_the_report_says_so(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(tmp_path, tiny_lm_dir, shared_dir, re_control=False, re_marker_style="typed_punct")
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    detail = json.loads((root / "reports" / "eval_detail.json").read_text(encoding="utf-8"))
    assert set(report["re_baselines"]) == {"type_prior", "char_ngram"}
    assert "re_control: false" in detail["re"]["systems"]["control"]["skipped"]
    assert "control: skipped" in result.output
    assert detail["re"]["marker_style"].startswith("typed_punct (typed")


def test_baselines_off_leaves_the_model_alone_and_says_so(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(tmp_path, tiny_lm_dir, shared_dir, re_baselines=False, re_bootstrap=200)
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    assert (
        "re_baselines" not in report
        and "re_gain" not in report
        and report["re_micro_f1_lo"] <= report["re_micro_f1"]
    )
    assert result.output.count("skipped (evaluate.re_baselines: false") == 3


def test_unknown_label_in_official_files_names_the_file_and_keeps_old_reports(
    tmp_path, tiny_lm_dir, shared_dir, monkeypatch
):
    folder = tmp_path / "klue-re"
    folder.mkdir()
    (folder / "relation_list.json").write_bytes((shared_dir / "data/klue-re/relation_list.json").read_bytes())
    rows = json.loads((shared_dir / "data/klue-re/partial/train_subset_6494_labeled.json").read_text())[:40]
    (folder / "klue-re-v1.1_train.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    rows[3]["label"] = "per:favourite_food"
    (folder / "klue-re-v1.1_dev.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    root = make_project(tmp_path / "p", tiny_lm_dir, shared_dir, klue_re_dir=str(folder))
    (root / "reports").mkdir()
    for name in ("eval.json", "eval_detail.json"):
        (root / "reports" / name).write_text('{"old": 1}\n', encoding="utf-8")
    result = run_evaluate(root, monkeypatch)
    message = str(result.exception)
    assert isinstance(result.exception, SanchaekError) and "\n" not in message
    assert "klue-re-v1.1_dev.json" in message and "'per:favourite_food' is not in relation_list" in message
    for name in ("eval.json", "eval_detail.json"):
        assert json.loads((root / "reports" / name).read_text()) == {"old": 1}


def test_evaluate_lm_only_and_model_path_override(tmp_path, tiny_lm_dir, shared_dir, monkeypatch):
    root = make_project(
        tmp_path, tiny_lm_dir, shared_dir, re_enabled=False, model_path="models/other", lm_seq_len=16
    )
    shutil.move(root / "models" / "lm", root / "models" / "other")
    result = run_evaluate(root, monkeypatch)
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((root / "reports" / "eval.json").read_text(encoding="utf-8"))
    detail = json.loads((root / "reports" / "eval_detail.json").read_text(encoding="utf-8"))
    assert detail["model_path"] == "models/other" and detail["lm"]["lm_seq_len"] == 16
    assert all(report[key] is None for key in RE_KEYS) and math.isfinite(report["val_loss"])
    assert "re_baselines" not in report and detail["re"] == {"skipped": "evaluate.re_enabled: false"}


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
