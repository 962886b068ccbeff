"""The spine: params validation, atomic IO, CLI wiring, model loading by path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sanchaek.config import load_params, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.io import JsonlAppender, atomic_open, read_jsonl, write_jsonl

REPO = Path(__file__).resolve().parents[1]


def test_repo_params_yaml_is_valid():
    params = load_params(REPO / "params.yaml")
    assert params.crawl.sources


def test_unknown_key_names_dotted_key_and_allowed_keys():
    with pytest.raises(SanchaekError) as err:
        params_from_dict({"train": {"lrr": 0.1}}, "params.yaml")
    msg = str(err.value)
    assert "train.lrr" in msg and "unknown key" in msg and "lr" in msg
    assert "\n" not in msg


def test_wrong_type_names_key_value_and_expectation():
    with pytest.raises(SanchaekError) as err:
        params_from_dict({"train": {"lr": "fast"}}, "params.yaml")
    msg = str(err.value)
    assert "train.lr" in msg and "'fast'" in msg


def test_out_of_range_value_is_rejected():
    with pytest.raises(SanchaekError) as err:
        params_from_dict({"preprocess": {"passage_chars": 3}}, "params.yaml")
    assert "preprocess.passage_chars" in str(err.value) and "3" in str(err.value)


def test_unknown_section_is_rejected():
    with pytest.raises(SanchaekError, match="unknown key 'trian'"):
        params_from_dict({"trian": {}}, "params.yaml")


def test_malformed_yaml_reports_line(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("train:\n  lr: [1, 2\n", encoding="utf-8")
    with pytest.raises(SanchaekError, match=r"params.yaml:\d+"):
        load_params(bad)


def test_missing_params_file_says_how_to_fix(tmp_path):
    with pytest.raises(SanchaekError, match="run from the project root"):
        load_params(tmp_path / "nope.yaml")


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"a": 1}])
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("killed mid-write")
    assert list(read_jsonl(target)) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_read_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"a": 1}\n{broken\n')
    with pytest.raises(SanchaekError, match=r"raw.jsonl:2: broken JSON"):
        list(read_jsonl(path))
    skipped = []
    assert list(read_jsonl(path, on_error="skip", skipped=lambda n, r: skipped.append(n))) == [{"a": 1}]
    assert skipped == [2]


def test_read_jsonl_invalid_utf8(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(SanchaekError, match="raw.jsonl:1: invalid UTF-8"):
        list(read_jsonl(path))


def test_appender_repairs_torn_tail(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2, "tex')  # killed mid-line
    with JsonlAppender(path) as app:
        app.append([{"n": 2}])
    assert [r["n"] for r in read_jsonl(path)] == [1, 2]


def test_cli_lists_every_stage_and_reports_bad_params(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sanchaek.cli", "--help"], capture_output=True, text=True, check=True)
    for stage in ["crawl", "preprocess", "index", "query", "train", "evaluate", "generate", "compose"]:
        assert stage in out.stdout
    (tmp_path / "params.yaml").write_text("train:\n  lr: -1\n", encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "sanchaek.cli", "crawl", "--params", str(tmp_path / "params.yaml")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error:") and "train.lr" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_tiny_model_loads_by_path_like_a_hub_id(tiny_lm_dir):
    from sanchaek.model.loading import load_causal_lm

    model, tokenizer = load_causal_lm(str(tiny_lm_dir))
    ids = tokenizer("오늘 엄마가 죽었다", return_tensors="pt").input_ids
    assert model(ids).logits.shape[-1] == len(tokenizer)
    assert json.loads((tiny_lm_dir / "config.json").read_text())["model_type"] == "llama"


def test_missing_and_corrupt_model_are_named(tmp_path, tiny_lm_dir):
    import shutil

    from sanchaek.model.loading import load_causal_lm

    with pytest.raises(SanchaekError, match="not found"):
        load_causal_lm(str(tmp_path / "no-model"))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_lm_dir, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(SanchaekError, match="missing or corrupt"):
        load_causal_lm(str(broken))


def test_atomic_output_gets_normal_permissions(tmp_path):
    import os
    import stat

    target = tmp_path / "report.json"
    write_jsonl(target, [{"a": 1}])
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_replaced_folder_gets_normal_permissions_and_a_failed_fill_keeps_the_old_one(tmp_path):
    import os
    import stat

    from sanchaek.io import replace_dir

    target = tmp_path / "models" / "lm"
    replace_dir(target, lambda d: (d / "config.json").write_text("{}"))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's 0700

    def broken(d):
        (d / "config.json").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        replace_dir(target, broken)
    assert (target / "config.json").read_text() == "{}"
    assert sorted(p.name for p in target.parent.iterdir()) == ["lm"]  # no temp folder left behind
