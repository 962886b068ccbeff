"""Reading the pipeline's outputs for the app, tolerant of missing files and missing keys.

Plain Python (no Streamlit): every function returns data or an empty value, never raises on a
missing or malformed output, because the app must show what is there and a "how to run" hint for
the rest.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import repo
from ..config import Params, params_from_dict
from ..errors import SanchaekError
from ..paths import Layout

# Report files each page reads, relative to the project root (the DESIGN contracts).
REPORTS = {
    "crawl": "reports/crawl.json",
    "preprocess": "reports/preprocess.json",
    "sources": "reports/sources.json",
    "index": "reports/index.json",
    "query": "reports/query.json",
    "train": "reports/train/metrics.json",
    "eval": "reports/eval.json",
    "generate": "reports/generate.json",
    "work": "reports/work.json",
    "ratings": "reports/ratings.json",
}
PLOTS_DIR = "reports/train/plots/metrics"


@dataclass(frozen=True)
class Project:
    root: Path
    params: Params
    params_error: str = ""  # why params.yaml could not be used (defaults are shown instead)

    @property
    def layout(self) -> Layout:
        return Layout(self.root)


def open_project(root: Path) -> Project:
    """The project at ``root``; an unreadable params.yaml falls back to defaults with the reason kept."""
    from ..config import load_params

    path = root / "params.yaml"
    if not path.exists():
        return Project(root, params_from_dict({}), "")
    try:
        return Project(root, load_params(path))
    except SanchaekError as exc:
        return Project(root, params_from_dict({}), str(exc))


def read_json_file(path: Path) -> Any:
    """Parsed JSON, or None when the file is missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_jsonl_file(path: Path, limit: int | None = None) -> list[dict]:
    """Records of a JSON Lines file; broken lines are skipped, a missing file is empty."""
    out: list[dict] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if limit is not None and len(out) >= limit:
                    break
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    out.append(record)
    except OSError:
        return []
    return out


def numbers(obj: Any) -> dict[str, float]:
    """Flattened numeric leaves of a report (bools excluded)."""
    return {
        k: v
        for k, v in repo.flatten(obj if isinstance(obj, dict) else {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def pick(d: Any, *keys: str, default: Any = None) -> Any:
    """The first of ``keys`` present in ``d`` (reports from different versions name things differently)."""
    if isinstance(d, dict):
        for key in keys:
            if key in d and d[key] is not None:
                return d[key]
    return default


# ---- Data page ---------------------------------------------------------------------------------


def per_source_rows(report: Any) -> list[dict[str, Any]]:
    """Rows of a per-source report: {'sources': {name: {...}}}, {name: {...}} or a list with 'source'."""
    if not isinstance(report, (dict, list)):
        return []
    body = report
    if isinstance(report, dict):
        for key in PER_SOURCE_KEYS:
            if isinstance(report.get(key), (dict, list)):
                body = report[key]
                break
    rows: list[dict[str, Any]] = []
    if isinstance(body, list):
        for item in body:
            if isinstance(item, dict):
                rows.append(
                    {
                        "source": str(item.get("source", item.get("name", "?"))),
                        **_flat_without(item, "source"),
                    }
                )
    elif isinstance(body, dict):
        for name, value in body.items():
            if isinstance(value, dict):
                rows.append({"source": str(name), **_flat_without(value, "source")})
    return rows


def _flat_without(d: dict, drop: str) -> dict[str, Any]:
    flat = repo.flatten({k: v for k, v in d.items() if k != drop})
    return {
        k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v) for k, v in flat.items()
    }


def drop_rows(report: Any) -> list[dict[str, Any]]:
    """Drops per filter reason as rows ``{level, reason, dropped}``.

    Reads a top-level ``dropped`` mapping (level ``all``) and/or one per counting level
    (``documents``/``sentences``/``passages``: ``{in, out, dropped: {reason: n}}``); failing both,
    sums the per-source ``dropped`` mappings.
    """
    if not isinstance(report, dict):
        return []
    rows: list[dict[str, Any]] = []
    for key in DROP_KEYS:
        rows += [{"level": "all", "reason": r, "dropped": n} for r, n in _reason_map(report.get(key)).items()]
    for level, body in report.items():
        if isinstance(body, dict) and level not in PER_SOURCE_KEYS:
            for key in DROP_KEYS:
                rows += [
                    {"level": level, "reason": r, "dropped": n} for r, n in _reason_map(body.get(key)).items()
                ]
    if rows:
        return rows
    total: dict[str, float] = {}
    for row in _source_dicts(report):
        for key in DROP_KEYS:
            for reason, n in _reason_map(row.get(key)).items():
                total[reason] = total.get(reason, 0) + n
    return [{"level": "all", "reason": r, "dropped": n} for r, n in total.items()]


DROP_KEYS = ("dropped", "drops", "drop_reasons", "drop_counts", "dropped_by_reason")
PER_SOURCE_KEYS = ("sources", "per_source", "by_source")


def _reason_map(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    flat = numbers(value)
    return {k: v for k, v in flat.items() if k not in ("total", "all")}


def _source_dicts(report: dict) -> list[dict]:
    for key in PER_SOURCE_KEYS:
        body = report.get(key)
        if isinstance(body, dict):
            return [v for v in body.values() if isinstance(v, dict)]
        if isinstance(body, list):
            return [v for v in body if isinstance(v, dict)]
    return []


def per_source_counts(report: Any) -> list[dict[str, Any]]:
    """Per-source counts of a report: its own per-source section, or each level's (``documents.in``…)."""
    rows = per_source_rows(report) if any(k in (report or {}) for k in PER_SOURCE_KEYS) else []
    if rows or not isinstance(report, dict):
        return rows
    by_source: dict[str, dict[str, Any]] = {}
    for level, body in report.items():
        if not isinstance(body, dict):
            continue
        for row in per_source_rows({"per_source": body.get("per_source") or body.get("sources") or {}}):
            merged = by_source.setdefault(row["source"], {"source": row["source"]})
            merged.update({f"{level}.{k}": v for k, v in row.items() if k != "source"})
    return list(by_source.values())


# ---- Training page ------------------------------------------------------------------------------


def parse_tsv(text: str) -> list[dict[str, float]]:
    """A dvclive TSV (``step`` + one metric column, maybe ``timestamp``) -> rows of floats."""
    rows = []
    for rec in csv.DictReader(io.StringIO(text), delimiter="\t"):
        row = {}
        for key, value in rec.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        if "step" in row:
            rows.append(row)
    return rows


def metric_value_column(rows: list[dict[str, float]]) -> str | None:
    if not rows:
        return None
    for key in rows[0]:
        if key not in ("step", "timestamp"):
            return key
    return None


def workspace_curves(root: Path) -> dict[str, list[dict[str, float]]]:
    """metric name (path under the plots dir, e.g. 'train/loss') -> rows, from the workspace."""
    base = root / PLOTS_DIR
    out = {}
    if base.is_dir():
        for tsv in sorted(base.rglob("*.tsv")):
            try:
                out[tsv.relative_to(base).with_suffix("").as_posix()] = parse_tsv(
                    tsv.read_text(encoding="utf-8")
                )
            except (OSError, UnicodeDecodeError):
                continue
    return out


def commit_curves(root: Path, rev: str, timeout: float) -> dict[str, list[dict[str, float]]]:
    """The same curves from an experiment's commit (dvclive plots are git-tracked: cache: false)."""
    out = {}
    for path in repo.git_ls(root, rev, PLOTS_DIR, timeout):
        if path.endswith(".tsv"):
            text = repo.git_show(root, rev, path, timeout)
            if text is not None:
                out[path[len(PLOTS_DIR) + 1 : -len(".tsv")]] = parse_tsv(text)
    return out


# ---- Samples / Work pages -----------------------------------------------------------------------

SAMPLE_TEXT_KEYS = {"prompt", "theme", "text", "experiment", "model", "params", "sampling", "proxies"}


def sample_proxies(record: dict) -> dict[str, Any]:
    """Automatic quality proxies of a sample: its ``proxies`` dict, else its other numeric fields."""
    nested = record.get("proxies")
    if isinstance(nested, dict):
        return numbers(nested)
    return {
        k: v for k, v in numbers(record).items() if k.split(".")[0] not in SAMPLE_TEXT_KEYS and k != "seed"
    }


def sample_settings(record: dict) -> dict[str, Any]:
    """The sampling params a sample was made with (nested under 'params'/'sampling', or flat)."""
    for key in ("sampling", "params", "generation"):
        if isinstance(record.get(key), dict):
            return repo.flatten(record[key])
    flat = (
        "temperature",
        "top_p",
        "top_k",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "max_new_tokens",
        "seed",
    )
    return {k: record[k] for k in flat if k in record}


def beats(work: Any) -> list[dict]:
    if isinstance(work, dict):
        found = pick(work, "beats", "sections", "parts", default=[])
        return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []
    return [b for b in work if isinstance(b, dict)] if isinstance(work, list) else []


def beat_text(beat: dict) -> str:
    chosen = pick(beat, "text", "chosen", "output", "chosen_text", default="")
    if isinstance(chosen, dict):
        chosen = pick(chosen, "text", default="")
    return chosen if isinstance(chosen, str) else ""


def beat_passage_ids(beat: dict) -> list[str]:
    """Provenance passage ids of a beat, whether listed as ids or as passage records."""
    found = pick(
        beat,
        "passage_ids",
        "retrieved_passage_ids",
        "provenance",
        "passages",
        "retrieved",
        "retrieved_passages",
        default=[],
    )
    ids = []
    for item in found if isinstance(found, list) else []:
        if isinstance(item, dict):
            pid = pick(item, "passage_id", "id")
            if pid is not None:
                ids.append(str(pid))
        elif isinstance(item, (str, int)):
            ids.append(str(item))
    return ids


def has_any_output(root: Path) -> bool:
    return any((root / rel).exists() for rel in REPORTS.values()) or (root / "reports/samples.jsonl").exists()
