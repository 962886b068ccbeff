"""The whole DVC graph, for real: a git + DVC repo in a temp dir, every stage through `dvc repro`
on a small slice of the public-domain corpus with tiny settings, then a second `dvc repro` that must
do nothing, an experiment with `dvc exp run -S`, two queued experiments through `dvc queue start`
(they run in copies of the repo under .dvc/tmp/exps/, where only DVC-tracked data exists), and the
train stage on two CPU processes through `dvc repro train`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = ["crawl", "preprocess", "index", "query", "train", "evaluate", "generate", "ratings", "compose"]

pytestmark = pytest.mark.slow

TINY = {
    "model": {"name_or_path": "scratch:tiny", "vocab_size": 600},
    "train": {"seq_len": 64, "micro_batch_size": 4, "max_steps": 8, "warmup_steps": 2, "log_every": 4,
              "eval_every": 4, "eval_max_blocks": 8, "checkpoint_every": 4},
    "evaluate": {"re_max_train_examples": 32, "re_max_dev_examples": 32, "re_max_steps": 3, "re_max_length": 64},
    "generate": {"samples_per_prompt": 1, "sampling": {"max_new_tokens": 8}},
    "compose": {"candidates": 1},
}  # fmt: skip


def deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory, shared_dir) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("pipeline")
    proj = root / "sanchaek"
    # The tracked files of this checkout, as a fresh clone would have them.
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        src = REPO / rel
        if src.is_file():
            (proj / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, proj / rel)
    # ../shared beside the project: a 24-work slice of the corpus, the KLUE data where it lies.
    data = root / "shared" / "data"
    (data / "corpus").mkdir(parents=True)
    works = (shared_dir / "data/corpus/works.jsonl").read_text(encoding="utf-8").splitlines()
    (data / "corpus/works.jsonl").write_text("\n".join(works[:12] + works[-12:]) + "\n", encoding="utf-8")
    for name in ("klue-re", "klue-text"):
        os.symlink(shared_dir / "data" / name, data / name)
    params = yaml.safe_load((proj / "params.yaml").read_text(encoding="utf-8"))
    (proj / "params.yaml").write_text(yaml.safe_dump(deep_update(params, TINY), allow_unicode=True), "utf-8")

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    env.pop("ELASTICSEARCH_URL", None)
    run(["git", "init", "-q", "-b", "main"], proj, env)
    # A fresh clone has the imports' .dvc files but not their data: `make data` imports it again
    # (here from the slice, so the pinned hashes move, as they would for new shared data).
    run(["dvc", "update", "-q", *sorted(str(p.relative_to(proj)) for p in (proj / "data/external").glob("*.dvc"))],
        proj, env)  # fmt: skip
    run(["git", "add", "-A"], proj, env)
    run(["git", "commit", "-qm", "fresh clone"], proj, env)
    return proj, env


@pytest.fixture(scope="module")
def reproduced(project) -> tuple[Path, dict, str]:
    """The project after its first ``dvc repro`` (run once per module), and that run's output."""
    proj, env = project
    return proj, env, run(["dvc", "repro"], proj, env).stdout


def test_repro_runs_every_stage_then_does_nothing(reproduced):
    proj, env, first = reproduced
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first, first[-2000:]
    for out in ["data/raw/corpus.jsonl", "data/interim/passages.jsonl", "data/index", "data/processed/train.jsonl",
                "models/lm/config.json", "reports/eval.json", "reports/samples.jsonl", "reports/work.md",
                "reports/ratings.json", "reports/train/metrics.json"]:  # fmt: skip
        assert (proj / out).exists(), out
    evaluation = json.loads((proj / "reports/eval.json").read_text(encoding="utf-8"))
    assert evaluation["val_loss"] > 0 and 0 <= evaluation["re_micro_f1"] <= 100

    second = run(["dvc", "repro"], proj, env).stdout
    assert "Running stage" not in second, second
    assert "is cached" in second or "didn't change" in second
    status = run(["dvc", "status", "--json"], proj, env).stdout
    assert json.loads(status) == {}


def test_experiment_with_a_changed_param_reruns_only_what_depends_on_it(reproduced):
    proj, env, _ = reproduced
    run(["git", "add", "-A"], proj, env)
    run(["git", "commit", "-qm", "baseline run"], proj, env)
    out = run(["dvc", "exp", "run", "-S", "generate.seed=7", "--name", "seed7"], proj, env).stdout
    assert "Running stage 'generate'" in out and "Running stage 'train'" not in out
    shown = json.loads(run(["dvc", "exp", "show", "--json"], proj, env).stdout)
    assert "seed7" in json.dumps(shown)


def commit_all(proj: Path, env: dict, message: str) -> None:
    run(["git", "add", "-A"], proj, env)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=proj).returncode != 0:
        run(["git", "commit", "-qm", message], proj, env)


def wait_for_queue(proj: Path, env: dict, timeout_s: float = 1200) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], proj, env).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(5)
    raise AssertionError(f"queue still busy after {timeout_s} s:\n{status}")


# Minutes of CPU training per experiment on a shared 2-core machine.
@pytest.mark.timeout(1800)
def test_queued_experiments_run_to_completion_and_compare_in_few_columns(reproduced):
    proj, env, _ = reproduced
    commit_all(proj, env, "baseline run")
    run(["dvc", "exp", "run", "--queue", "-S", "train.lr=0.001,0.01"], proj, env)
    run(["dvc", "queue", "start", "-j", "1"], proj, env)
    status = wait_for_queue(proj, env)
    assert status.count("Success") == 2 and "Failed" not in status, status
    shown = json.loads(run(["dvc", "exp", "show", "--json"], proj, env).stdout)
    runs = [exp for commit in shown for exp in commit.get("experiments") or []]
    lrs = set()
    for exp in runs:
        data = exp["revs"][0]["data"]
        metrics = data["metrics"]
        assert metrics["reports/metrics/train.json"]["data"]["val_loss"] > 0, exp
        assert "reports/metrics/generate.json" in metrics
        lrs.add(data["params"]["params.yaml"]["data"]["train"]["lr"])
    assert lrs == {0.001, 0.01}
    # No wall-clock value in any metrics file (evaluate writes its headline, eval.json, itself; the
    # other stages write through sanchaek.report).
    timed = [
        f"{path}:{key}"
        for exp in runs
        for path, content in exp["revs"][0]["data"]["metrics"].items()
        for key in json.dumps(content.get("data", {})).split('"')
        if "seconds" in key or "per_s" in key
    ]
    assert not timed, timed
    # One changed param: a table a person can read (at most 30 columns). The workspace row
    # is hidden: it alone resolves the imports' ../shared source paths, two columns per import.
    # The CSV adds rev and typ (identifiers the table folds into its Experiment column).
    out = run(["dvc", "exp", "show", "--only-changed", "--hide-workspace", "--csv"], proj, env).stdout
    columns = [c for c in out.splitlines()[0].split(",") if c not in ("rev", "typ", "parent")]
    print("dvc exp show --only-changed --hide-workspace:", len(columns), "columns:", columns)
    assert len(columns) <= 30, columns


# Minutes of CPU training per experiment on a shared 2-core machine.
@pytest.mark.timeout(1800)
def test_two_cpu_processes_train_like_one_through_dvc_repro(reproduced, tmp_path):
    proj, env, _ = reproduced
    one = json.loads((proj / "reports/train/metrics.json").read_text(encoding="utf-8"))
    copy = tmp_path / "two"
    shutil.copytree(proj, copy, symlinks=True)
    params = yaml.safe_load((copy / "params.yaml").read_text(encoding="utf-8"))
    # Two processes of 2 blocks each: the same global batch as one process of 4 (TINY).
    params["train"].update({"num_processes": 2, "micro_batch_size": TINY["train"]["micro_batch_size"] // 2})
    (copy / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), "utf-8")
    out = run(["dvc", "repro", "train"], copy, {**env, "OMP_NUM_THREADS": "1"})
    assert "Running stage 'train'" in out.stdout and "launching 2 cpu processes" in out.stdout + out.stderr
    two = json.loads((copy / "reports/train/metrics.json").read_text(encoding="utf-8"))
    assert two["step"] == one["step"] and two["train"]["tokens"] == one["train"]["tokens"]
    assert two["train"]["loss"] == pytest.approx(one["train"]["loss"], abs=1e-4)
    assert two["val"]["loss"] == pytest.approx(one["val"]["loss"], abs=1e-4)
    timings = json.loads((copy / "reports/timings/train.json").read_text(encoding="utf-8"))
    assert timings["processes"] == 2
