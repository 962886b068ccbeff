#!/usr/bin/env python3
"""Does the commit describe what its code makes? Two checks, run by .ci/run around `make run`.

    check_lock.py status      on the clean checkout, before anything runs: `dvc status` may only
                              report missing data (outputs not in this workspace or cache); any stage
                              whose code, params, command or committed report differs from
                              dvc.lock fails the check ("run `dvc repro` and commit dvc.lock").
    check_lock.py after-run   after `dvc repro`: the working tree must equal the commit. Data stages
                              (every stage not downstream of train) must write the same bytes and
                              lock entries. Model stages (train and every stage downstream of it)
                              may differ across machines, as float sums on other CPUs round
                              differently, but only within a tolerance on their metrics:
                              |new - committed| <= atol + rtol * |committed| for floats
                              (--atol 0.01 --rtol 0.05 by default), integers and strings exactly.

Each differing file or metric is named with the stage that owns it and whether it is allowed.
Exit status 0: honest; 1: not; 2: the check itself could not run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

MODEL_ROOTS = ("train",)  # stages whose outputs may differ across machines, with all stages downstream
MISSING = {"deleted", "not in cache"}  # what `dvc status` says of data that is simply not here


@dataclass
class Stage:
    name: str
    deps: list[str]
    outs: list[str]  # outs, metrics and plots
    metrics: list[str]
    model: bool = False


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)


# ------------------------------------------------------------------------------------------ the graph


def _paths(entries: list | None) -> list[str]:
    out = []
    for entry in entries or []:
        out.append(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return out


def read_stages(root: Path, model_roots: tuple[str, ...] = MODEL_ROOTS) -> dict[str, Stage]:
    """The stages of dvc.yaml (paths as written; interpolated deps resolved through dvc.lock)."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    lock = (
        read_lock_text((root / "dvc.lock").read_text(encoding="utf-8"))
        if (root / "dvc.lock").exists()
        else {}
    )
    stages = {}
    for name, body in (spec.get("stages") or {}).items():
        locked_deps = [d["path"] for d in lock.get(name, {}).get("deps", [])]
        deps = [d for d in _paths(body.get("deps")) if "${" not in d] + locked_deps
        metrics = _paths(body.get("metrics"))
        outs = _paths(body.get("outs")) + metrics + _paths(body.get("plots"))
        stages[name] = Stage(name, sorted(set(deps)), outs, metrics)
    mark_model_stages(stages, model_roots)
    return stages


def _under(path: str, out: str) -> bool:
    return path == out or PurePosixPath(path).is_relative_to(PurePosixPath(out))


def mark_model_stages(stages: dict[str, Stage], roots: tuple[str, ...]) -> None:
    """A model stage is a root or depends (through any chain) on an output of one."""
    frontier = [s for s in roots if s in stages]
    for name in frontier:
        stages[name].model = True
    while frontier:
        name = frontier.pop()
        for other in stages.values():
            if other.model:
                continue
            if any(_under(dep, out) or _under(out, dep) for dep in other.deps for out in stages[name].outs):
                other.model = True
                frontier.append(other.name)


def owner(path: str, stages: dict[str, Stage]) -> Stage | None:
    for stage in stages.values():
        if any(_under(path, out) for out in stage.outs):
            return stage
    return None


# -------------------------------------------------------------------------------------- dvc status


def git_tracked(root: Path) -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    return {p for p in out.split("\0") if p}


def _is_tracked(path: str, tracked: set[str]) -> bool:
    return path in tracked or any(t.startswith(path.rstrip("/") + "/") for t in tracked)


def judge_status(status: dict, tracked: set[str], params_files: set[str] | None = None) -> Verdict:
    """What `dvc status --json` says, split into missing data (fine) and real changes (not)."""
    params_files = params_files or {"params.yaml"}
    verdict = Verdict()
    for stage, changes in sorted(status.items()):
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed", ...
                verdict.fail(f"{stage}: {change}")
                continue
            for kind, entries in change.items():
                for path, state in entries.items():
                    if isinstance(state, dict) or path in params_files:  # params.yaml: {section: modified}
                        keys = (
                            ", ".join(f"{k} {v}" for k, v in state.items())
                            if isinstance(state, dict)
                            else state
                        )
                        verdict.fail(f"{stage}: params {path}: {keys}")
                    elif _is_tracked(path, tracked):
                        verdict.fail(f"{stage}: {kind}: {path} {state} (committed with the code)")
                    elif state in MISSING:
                        verdict.note(f"{stage}: {path} {state} (missing data: fine)")
                    else:
                        verdict.fail(f"{stage}: {kind}: {path} {state}")
    return verdict


def check_status(root: Path) -> Verdict:
    proc = subprocess.run(["dvc", "status", "--json"], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dvc status failed: {proc.stderr.strip()[-2000:]}")
    return judge_status(json.loads(proc.stdout or "{}"), git_tracked(root))


# ------------------------------------------------------------------------------------ after a run


def read_lock_text(text: str) -> dict[str, dict]:
    return (yaml.safe_load(text) or {}).get("stages", {}) or {}


def _entries(items: list[dict] | None) -> dict[str, dict]:
    return {item["path"]: item for item in items or []}


def compare_locks(committed: dict, made: dict, stages: dict[str, Stage]) -> Verdict:
    verdict = Verdict()
    for name in sorted(set(committed) | set(made)):
        if name not in committed or name not in made:
            verdict.fail(f"dvc.lock: stage {name} {'added' if name in made else 'removed'} by the run")
            continue
        old, new = committed[name], made[name]
        stage = stages.get(name)
        model = stage is not None and stage.model
        if old.get("cmd") != new.get("cmd") or old.get("params") != new.get("params"):
            verdict.fail(f"dvc.lock: {name}: command or params differ from the commit")
        for kind in ("deps", "outs"):
            before, after = _entries(old.get(kind)), _entries(new.get(kind))
            for path in sorted(set(before) | set(after)):
                if before.get(path) == after.get(path):
                    continue
                made_by = owner(path, stages) if kind == "deps" else stage
                if made_by is not None and made_by.model:
                    verdict.note(
                        f"dvc.lock: {name}: {path} differs (made by model stage {made_by.name}: allowed)"
                    )
                elif model and kind == "outs":
                    verdict.note(f"dvc.lock: {name}: {path} differs (model stage: allowed)")
                else:
                    verdict.fail(f"dvc.lock: {name}: {kind[:-1]} {path} differs from the commit (data stage)")
    return verdict


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def compare_metrics(path: str, committed: dict, made: dict, atol: float, rtol: float) -> Verdict:
    verdict = Verdict()
    old, new = _leaves(committed), _leaves(made)
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        floats = isinstance(a, float) or isinstance(b, float)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        if floats and numbers and (math.isfinite(a) and math.isfinite(b)):
            limit = atol + rtol * abs(a)
            where = f"{path}:{key} {a:.6g} -> {b:.6g} (|diff| {abs(b - a):.3g}, tolerance {limit:.3g})"
            if abs(b - a) <= limit:
                verdict.note(f"{where}: within tolerance")
            else:
                verdict.fail(f"{where}: outside tolerance")
        else:
            verdict.fail(f"{path}:{key} {a!r} -> {b!r}: must be equal")
    return verdict


def git_show(root: Path, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=root, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def changed_files(root: Path) -> list[tuple[str, str]]:
    """(status, path) of every file `git status` lists (modified, deleted or untracked, not ignored)."""
    out = subprocess.run(
        ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [(entry[:2].strip(), entry[3:]) for entry in out.split("\0") if entry]


def check_after_run(
    root: Path, atol: float, rtol: float, model_roots: tuple[str, ...] = MODEL_ROOTS
) -> Verdict:
    stages = read_stages(root, model_roots)
    verdict = Verdict()
    committed_lock = git_show(root, "dvc.lock")
    if committed_lock is None:
        verdict.fail("dvc.lock is not committed: run `dvc repro` and commit it")
        return verdict
    made_lock = read_lock_text((root / "dvc.lock").read_text(encoding="utf-8"))
    lock_verdict = compare_locks(read_lock_text(committed_lock), made_lock, stages)
    verdict.problems += lock_verdict.problems
    verdict.notes += lock_verdict.notes
    for state, path in changed_files(root):
        if path == "dvc.lock":
            continue  # judged entry by entry above
        stage = owner(path, stages)
        if state == "??":
            verdict.fail(f"{path}: untracked file left by the run: commit it or git-ignore it")
        elif stage is None:
            verdict.fail(f"{path}: changed by the run but no stage declares it")
        elif not stage.model:
            verdict.fail(f"{path}: data stage {stage.name} wrote other bytes than the commit holds")
        else:
            verdict.note(f"{path}: differs (model stage {stage.name}: allowed within the metrics' tolerance)")
    for stage in stages.values():
        if not stage.model:
            continue
        for metrics_path in stage.metrics:
            old, new = git_show(root, metrics_path), root / metrics_path
            if old is None or not new.exists():
                continue  # untracked/missing files are reported above
            sub = compare_metrics(
                metrics_path, json.loads(old), json.loads(new.read_text("utf-8")), atol, rtol
            )
            verdict.problems += sub.problems
            verdict.notes += sub.notes
    return verdict


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check", choices=["status", "after-run"])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--atol", type=float, default=0.01, help="absolute tolerance of model-stage metrics")
    parser.add_argument("--rtol", type=float, default=0.05, help="relative tolerance of model-stage metrics")
    parser.add_argument(
        "--model-stage", action="append", default=None,
        help=f"a stage whose outputs may differ across machines (with all below it); default {MODEL_ROOTS}",
    )  # fmt: skip
    args = parser.parse_args(argv)
    roots = tuple(args.model_stage) if args.model_stage else MODEL_ROOTS
    try:
        if args.check == "status":
            verdict = check_status(args.root)
        else:
            verdict = check_after_run(args.root, args.atol, args.rtol, roots)
    except (RuntimeError, OSError, subprocess.CalledProcessError, yaml.YAMLError) as exc:
        print(f"check_lock {args.check}: cannot check: {exc}", file=sys.stderr)
        return 2
    for line in verdict.notes:
        print(f"  ok   {line}")
    for line in verdict.problems:
        print(f"  FAIL {line}")
    if verdict.problems:
        fix = (
            "run `dvc repro` and commit dvc.lock with the reports it writes"
            if args.check == "status"
            else "a data stage is not deterministic, or a model metric moved beyond the tolerance"
        )
        print(f"check_lock {args.check}: {len(verdict.problems)} problem(s): {fix}", file=sys.stderr)
        return 1
    print(f"check_lock {args.check}: the commit matches what its code makes ({len(verdict.notes)} notes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
