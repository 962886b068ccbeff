"""git and dvc as subprocesses with a timeout: every failure becomes a value, never a traceback.

Shared by the app, the ratings stage (promote) and the vote machinery (samples of other
experiments). The app shows ``dvc status`` and ``dvc exp show`` and reads outputs of other experiments from their
git commits; a machine without git or dvc, a folder that is no repository, or a slow command gives
an empty state with one line of why.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    stdout: str = ""
    error: str = ""  # one line: why it failed


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    # dvc prints "ERROR: ..." last after progress noise; prefer that line.
    for ln in lines:
        if ln.startswith("ERROR"):
            return ln
    return lines[0] if lines else ""


def run_tool(args: list[str], cwd: Path, timeout: float, stdin: str | None = None) -> ToolResult:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_TERMINAL_PROMPT="0")
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **feed)
    except FileNotFoundError:
        return ToolResult(False, error=f"{args[0]} is not installed")
    except subprocess.TimeoutExpired:
        return ToolResult(False, error=f"`{' '.join(args[-3:])}` took longer than {timeout:g} s")
    except OSError as exc:
        return ToolResult(False, error=f"cannot run {args[0]}: {exc}")
    if proc.returncode != 0:
        why = _first_line(proc.stderr) or _first_line(proc.stdout) or f"exit status {proc.returncode}"
        return ToolResult(False, stdout=proc.stdout, error=why)
    return ToolResult(True, stdout=proc.stdout)


def dvc_command() -> list[str] | None:
    """dvc of this Python (the app may run without the venv on PATH), else one on PATH."""
    if importlib.util.find_spec("dvc") is not None:
        return [sys.executable, "-m", "dvc"]
    found = shutil.which("dvc")
    return [found] if found else None


def run_dvc(args: list[str], cwd: Path, timeout: float) -> ToolResult:
    cmd = dvc_command()
    if cmd is None:
        return ToolResult(False, error="dvc is not installed: run `make setup`")
    if not (cwd / ".dvc").is_dir():
        return ToolResult(
            False, error=f"{cwd} is not a DVC repository (no .dvc/): run `dvc init` or open the project root"
        )
    return run_tool([*cmd, *args], cwd, timeout)


def run_git(args: list[str], cwd: Path, timeout: float, stdin: str | None = None) -> ToolResult:
    return run_tool(["git", *args], cwd, timeout, stdin)


# ---- dvc status -------------------------------------------------------------------------------


def stage_names(root: Path) -> list[str]:
    """Stages in dvc.yaml order (empty when there is no readable dvc.yaml)."""
    try:
        data = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    stages = data.get("stages") if isinstance(data, dict) else None
    return list(stages) if isinstance(stages, dict) else []


@dataclass(frozen=True)
class StageStatus:
    stage: str
    up_to_date: bool | None  # None: unknown (dvc failed)
    changes: str = ""


def describe_changes(entries: Any) -> str:
    """``dvc status --json`` entries of one stage -> 'changed deps: a (modified); changed outs: b (deleted)'."""
    parts: list[str] = []
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, str):
            parts.append(entry)
        elif isinstance(entry, dict):
            for kind, what in entry.items():
                if isinstance(what, dict):
                    inner = ", ".join(
                        f"{k} ({v})" if not isinstance(v, dict) else str(k) for k, v in what.items()
                    )
                    parts.append(f"{kind}: {inner}")
                else:
                    parts.append(f"{kind}: {what}")
    return "; ".join(parts)


def dvc_status(root: Path, timeout: float) -> tuple[list[StageStatus], str]:
    """Per stage of dvc.yaml: up to date or what changed. Second item: why status is unknown ('' if known)."""
    names = stage_names(root)
    result = run_dvc(["status", "--json"], root, timeout)
    if not result.ok:
        return [StageStatus(n, None) for n in names], result.error
    try:
        changed = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        return [StageStatus(n, None) for n in names], "dvc status printed no JSON"
    if not isinstance(changed, dict):
        changed = {}
    rows = []
    for name in names:
        # Keys look like "train" or "dvc.yaml:train" depending on the dvc version.
        entries = changed.get(name, changed.get(f"dvc.yaml:{name}"))
        rows.append(StageStatus(name, entries is None, describe_changes(entries) if entries else ""))
    return rows, ""


# ---- dvc exp show -----------------------------------------------------------------------------


@dataclass
class ExpRow:
    name: str
    rev: str
    kind: str  # workspace | baseline | experiment
    baseline: str = ""
    state: str = "done"  # done, or the queue's state of a queued experiment: queued | running | failed
    timestamp: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists stay values."""
    if not isinstance(obj, dict):
        return {prefix: obj} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def _params_of(data: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for file, content in (data.get("params") or {}).items():
        values = (content or {}).get("data") if isinstance(content, dict) else None
        prefix = "" if file == "params.yaml" else f"{file}:"
        for key, value in flatten(values or {}).items():
            out[prefix + key] = (
                json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
            )
    return out


def metric_file_label(file: str) -> str:
    """reports/eval.json -> eval; reports/train/metrics.json -> train/metrics."""
    label = file[len("reports/") :] if file.startswith("reports/") else file
    return label[: -len(".json")] if label.endswith(".json") else label


def _metrics_of(data: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for file, content in (data.get("metrics") or {}).items():
        values = (content or {}).get("data") if isinstance(content, dict) else None
        for key, value in flatten(values or {}).items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                out[f"{metric_file_label(file)}:{key}"] = value
    return out


def _row(entry: dict, kind: str, baseline: str, state: str = "done") -> ExpRow:
    data = entry.get("data") or {}
    rev = str(entry.get("rev") or data.get("rev") or "")
    if kind == "baseline":
        name = baseline_label(str(entry.get("name") or ""), rev)
    else:
        name = entry.get("name") or (rev if kind == "workspace" else rev[:7])
    return ExpRow(
        name=str(name),
        rev=rev,
        kind=kind,
        baseline=baseline,
        state=state,
        timestamp=str(data.get("timestamp") or ""),
        params=_params_of(data),
        metrics=_metrics_of(data),
        error=str((entry.get("error") or {}).get("msg", "")) if isinstance(entry.get("error"), dict) else "",
    )


def parse_exp_show(payload: Any) -> list[ExpRow]:
    """The list ``dvc exp show --json`` prints (dvc 3) -> workspace, baselines and their experiments."""
    rows: list[ExpRow] = []
    for entry in payload if isinstance(payload, list) else []:
        if not isinstance(entry, dict):
            continue
        kind = "workspace" if entry.get("rev") == "workspace" else "baseline"
        base = _row(entry, kind, "")
        rows.append(base)
        for exp in entry.get("experiments") or []:
            executor = (exp or {}).get("executor") or {}
            state = str(executor.get("state") or "done") if isinstance(executor, dict) else "done"
            state = "done" if state == "success" else state
            for rev_entry in (exp or {}).get("revs") or []:
                rows.append(_row(rev_entry, "experiment", base.name, state))
    return rows


def exp_fingerprint(root: Path, timeout: float, files: list[str]) -> str:
    """What ``dvc exp show`` depends on, cheaply (two git calls and a few stats): the experiment refs
    and branches, HEAD, the queue's folders and ``files`` (params, dvc.lock, metrics). Equal
    fingerprints mean an equal table, so the app asks dvc again only when this changes."""
    refs = run_git(
        ["for-each-ref", "--format=%(objectname) %(refname)", "refs/exps/", "refs/heads/"], root, timeout
    )
    head_ = run_git(["rev-parse", "-q", "--verify", "HEAD"], root, timeout)
    stamps = []
    for rel in files:
        try:
            st = (root / rel).stat()
            stamps.append(f"{rel}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            stamps.append(f"{rel}:-")
    queue = root / ".dvc" / "tmp" / "exps"
    if queue.is_dir():
        for folder, _, _ in os.walk(queue):
            with contextlib.suppress(OSError):
                stamps.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
    return "\n".join([refs.stdout, head_.stdout, *stamps])


def exp_show(root: Path, timeout: float) -> tuple[list[ExpRow], str]:
    result = run_dvc(["exp", "show", "--json"], root, timeout)
    if not result.ok:
        return [], result.error
    try:
        return parse_exp_show(json.loads(result.stdout or "[]")), ""
    except json.JSONDecodeError:
        return [], "dvc exp show printed no JSON"


def differing_columns(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Columns whose value is not the same in every row (missing counts as a value)."""
    out = []
    for col in columns:
        values = {json.dumps(r.get(col), sort_keys=True, default=str) for r in rows}
        if len(values) > 1:
            out.append(col)
    return out


# ---- git: other experiments' committed outputs -------------------------------------------------


def exp_refs(root: Path, timeout: float) -> list[tuple[str, str]]:
    """(experiment name, commit) for every DVC experiment ref, oldest name order kept stable."""
    result = run_git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/"], root, timeout)
    if not result.ok:
        return []
    out = []
    for line in result.stdout.splitlines():
        ref, _, sha = line.partition(" ")
        parts = ref.split("/")
        # refs/exps/<2 hex>/<38 hex baseline>/<name>; skip refs/exps/exec/... and celery bookkeeping.
        if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
            out.append((parts[4], sha))
    return sorted(out)


def head(root: Path, timeout: float) -> tuple[str, str] | None:
    """(branch name or short sha, commit) of HEAD, or None outside a repo / before the first commit."""
    sha = run_git(["rev-parse", "--verify", "-q", "HEAD"], root, timeout)
    if not sha.ok or not sha.stdout.strip():
        return None
    name = run_git(["rev-parse", "--abbrev-ref", "HEAD"], root, timeout)
    label = name.stdout.strip() if name.ok and name.stdout.strip() not in ("", "HEAD") else sha.stdout[:7]
    return label, sha.stdout.strip()


def baseline_label(name: str, sha: str) -> str:
    """How a commit's run is named in the app and the ratings: 'main@1a2b3c4' (a detached HEAD: '1a2b3c4')."""
    short = sha[:7]
    return short if not name or name == short else f"{name}@{short}"


def workspace_run(root: Path, files: list[str], timeout: float) -> str:
    """Which run the workspace's ``files`` (metrics reports) come from: ``main@<sha>`` when they equal
    HEAD's, an experiment's name when they equal its commit's, else 'workspace (uncommitted)'.

    Two git calls whatever the number of experiments: ``hash-object`` of the files and one
    ``cat-file --batch-check`` of every candidate commit's copies.
    """
    files = [f for f in files if (root / f).is_file()]
    found = head(root, timeout)
    if found is None or not files:
        return "workspace"
    here = run_git(["hash-object", "--", *files], root, timeout)
    if not here.ok:
        return "workspace"
    wanted = here.stdout.split()
    candidates = [(baseline_label(*found), found[1]), *exp_refs(root, timeout)]
    query = "".join(f"{sha}:{f}\n" for _, sha in candidates for f in files)
    blobs = run_git(["cat-file", "--batch-check=%(objectname)"], root, timeout, stdin=query)
    if blobs.ok:
        lines = blobs.stdout.split("\n")
        for i, (label, _) in enumerate(candidates):
            got = [ln.split()[0] if ln.split() else "" for ln in lines[i * len(files) : (i + 1) * len(files)]]
            if got == wanted:
                return label
    return "workspace (uncommitted)"


def git_show(root: Path, rev: str, path: str, timeout: float) -> str | None:
    result = run_git(["show", f"{rev}:{path}"], root, timeout)
    return result.stdout if result.ok else None


def git_ls(root: Path, rev: str, prefix: str, timeout: float) -> list[str]:
    result = run_git(["ls-tree", "-r", "--name-only", rev, "--", prefix], root, timeout)
    return result.stdout.splitlines() if result.ok else []
