""".ci/check_lock.py on a real git + DVC repo in a temp dir: a data stage and a model stage below it.

The "machine" a run happens on is simulated through the environment: NOISE shifts the model stage's
loss (another CPU's rounding), WALL_CLOCK makes the data stage write the time (a nondeterministic stage).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("check_lock", REPO / ".ci" / "check_lock.py")
check_lock = importlib.util.module_from_spec(SPEC)
sys.modules["check_lock"] = check_lock  # dataclasses look their module up there
SPEC.loader.exec_module(check_lock)

DATA = """import os, yaml
p = yaml.safe_load(open("params.yaml"))
extra = str(__import__("time").time()) if os.environ.get("WALL_CLOCK") else ""
open("data.txt", "w").write("rows " * p["rows"] + extra)
"""
TRAIN = """import json, os
rows = open("data.txt").read().count("rows")
loss = 1.0 / rows + float(os.environ.get("NOISE", "0"))
os.makedirs("models", exist_ok=True)
open("models/lm.txt", "w").write(repr(loss))
json.dump({"loss": loss, "steps": 10}, open("train.json", "w"))
"""
DVC_YAML = """stages:
  data:
    cmd: python data.py
    deps: [data.py]
    params: [rows]
    outs: [data.txt]
  train:
    cmd: python train.py
    deps: [train.py, data.txt]
    outs: [models/lm.txt]
    metrics: [{train.json: {cache: false}}]
  report:
    cmd: python -c "open('report.txt','w').write(open('models/lm.txt').read())"
    deps: [models/lm.txt]
    outs: [{report.txt: {cache: false}}]
"""


def sh(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t", **env}  # fmt: skip
    proc = subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


@pytest.fixture
def origin(tmp_path) -> Path:
    """A committed project whose dvc.lock, train.json and report.txt are what its code makes."""
    root = tmp_path / "origin"
    root.mkdir()
    for name, text in {
        "data.py": DATA,
        "train.py": TRAIN,
        "dvc.yaml": DVC_YAML,
        "params.yaml": "rows: 4\n",
    }.items():
        (root / name).write_text(text)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["dvc", "init", "-q"], root)
    sh(["dvc", "repro", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "project"], root)
    return root


def clone(origin: Path, name: str) -> Path:
    """A fresh clone: the commit without any data (no DVC cache either)."""
    target = origin.parent / name
    sh(["git", "clone", "-q", str(origin), str(target)], origin.parent)
    return target


def test_a_fresh_clone_of_an_honest_commit_passes_with_only_missing_data(origin):
    root = clone(origin, "fresh")
    verdict = check_lock.check_status(root)
    assert verdict.problems == []
    assert any("data.txt" in note and "missing data" in note for note in verdict.notes)


@pytest.mark.parametrize(
    "edit, named",
    [
        (
            lambda r: (r / "train.py").write_text(TRAIN + "# tuned\n"),
            "train: changed deps: train.py modified",
        ),
        (lambda r: (r / "params.yaml").write_text("rows: 5\n"), "data: params params.yaml: rows modified"),
        (
            lambda r: (r / "train.json").write_text('{"loss": 0.1}'),
            "train: changed outs: train.json modified",
        ),
    ],
    ids=["code", "params", "committed-report"],
)
def test_a_commit_whose_lock_is_stale_fails_and_names_the_stage(origin, edit, named):
    edit(origin)
    sh(["git", "commit", "-qam", "changed without dvc repro"], origin)
    verdict = check_lock.check_status(clone(origin, "stale"))
    assert any(named in problem for problem in verdict.problems), verdict.problems


def test_the_same_run_again_leaves_the_commit_as_it_was(origin):
    root = clone(origin, "run")
    sh(["dvc", "repro", "-q"], root)
    verdict = check_lock.check_after_run(root, atol=0.01, rtol=0.05)
    assert verdict.problems == [] and verdict.notes == []
    assert check_lock.main(["after-run", "--root", str(root)]) == 0


def test_model_stage_metrics_may_move_within_the_tolerance_and_the_check_says_so(origin):
    root = clone(origin, "other-cpu")
    sh(["dvc", "repro", "-q"], root, NOISE="0.001")
    verdict = check_lock.check_after_run(root, atol=0.01, rtol=0.05)
    assert verdict.problems == []
    assert any("train.json:loss" in n and "within tolerance" in n for n in verdict.notes), verdict.notes
    assert any("report.txt" in n and "model stage report" in n for n in verdict.notes)  # downstream of train

    sh(["dvc", "repro", "-q", "--force"], root, NOISE="0.5")
    verdict = check_lock.check_after_run(root, atol=0.01, rtol=0.05)
    assert any("train.json:loss" in p and "outside tolerance" in p for p in verdict.problems), (
        verdict.problems
    )


def test_a_nondeterministic_data_stage_fails(origin):
    root = clone(origin, "wall-clock")
    sh(["dvc", "repro", "-q"], root, WALL_CLOCK="1")
    verdict = check_lock.check_after_run(root, atol=0.01, rtol=0.05)
    assert any("dvc.lock: data: out data.txt differs" in p for p in verdict.problems), verdict.problems
    assert any("dvc.lock: train: dep data.txt differs" in p for p in verdict.problems)
    assert check_lock.main(["after-run", "--root", str(root)]) == 1


def test_an_untracked_output_fails(origin):
    root = clone(origin, "untracked")
    sh(["dvc", "repro", "-q"], root)
    (root / "timings.json").write_text("{}")
    verdict = check_lock.check_after_run(root, atol=0.01, rtol=0.05)
    assert any("timings.json: untracked" in p for p in verdict.problems)


def test_model_stages_are_train_and_everything_below_it(origin):
    stages = check_lock.read_stages(origin)
    assert {name for name, s in stages.items() if s.model} == {"train", "report"}
