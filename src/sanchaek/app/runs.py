"""The runs table and its plots, from ``dvc exp show`` rows: plain Python (pandas), no Streamlit.

Rows are the committed baseline (``main@<sha>``), its experiments (queued or failed ones with their
state) and the workspace only when it holds something no commit has. Columns are the params that
differ between rows, then the headline metrics (``app.headline_metrics`` order, whatever keys the
metrics files have), then the human win rate from ``reports/ratings.json``. Deltas are taken against
each row's own baseline; whether a change is better depends on the metric's direction.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from ..repo import ExpRow, differing_columns

RUN, STATE, COMMIT = "run", "state", "commit"
WIN, WIN_CI = "human win rate", "win-rate interval"
# Metric names (substrings) where a smaller number is the better run; every other metric: larger.
LOWER_IS_BETTER = ("loss", "perplexity", "bits", "bpc", "repetition", "copy", "seconds", "error")


def lower_is_better(metric: str) -> bool:
    name = metric.split(":")[-1].lower()
    return any(word in name for word in LOWER_IS_BETTER)


def runs_of(rows: list[ExpRow]) -> list[ExpRow]:
    """Baselines and experiments; the workspace only when it differs from every committed run."""
    committed = [r for r in rows if r.kind != "workspace"]
    out = list(committed)
    for ws in (r for r in rows if r.kind == "workspace"):
        if not any(r.params == ws.params and r.metrics == ws.metrics for r in committed):
            out.insert(0, ExpRow(**{**ws.__dict__, "name": "workspace (uncommitted)"}))
    return out


def metric_columns(rows: list[ExpRow], headline: list[str]) -> tuple[list[str], list[str]]:
    """(headline metric keys present, in the wanted order; every other numeric metric key, sorted)."""
    keys = {k for r in rows for k, v in r.metrics.items() if _number(v) is not None}
    first = [k for k in headline if k in keys]
    return first, sorted(keys - set(first))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def runs_frame(
    rows: list[ExpRow], metrics: list[str], ratings: dict | None
) -> tuple[pd.DataFrame, list[str]]:
    """The table (one row per run, index = run name) and its param columns (those that differ)."""
    param_keys = sorted({k for r in rows for k in r.params})
    records = [{k: _cell(r.params.get(k)) for k in param_keys} for r in rows]
    params = differing_columns(records, param_keys)
    by_exp = (ratings or {}).get("experiments") or {}
    table = []
    for row, record in zip(rows, records, strict=True):
        human = by_exp.get(row.name) or {}
        table.append(
            {
                RUN: row.name,
                STATE: row.state,
                **{k: record[k] for k in params},
                **{k: _number(row.metrics.get(k)) for k in metrics},
                WIN: human.get("win_rate"),
                WIN_CI: _interval(human),
                COMMIT: row.rev[:7] if row.kind != "workspace" else "",
            }
        )
    frame = pd.DataFrame(table, columns=[RUN, STATE, *params, *metrics, WIN, WIN_CI, COMMIT])
    if frame[WIN].isna().all():
        frame = frame.drop(columns=[WIN, WIN_CI])
    return frame, params


def _interval(human: dict) -> str:
    low, high = human.get("win_rate_low"), human.get("win_rate_high")
    if low is None or high is None:
        return "—"
    return f"[{low:.0%}, {high:.0%}] n={human.get('comparisons', 0)}"


def baseline_of(rows: list[ExpRow]) -> dict[str, str]:
    """run name -> the run it is compared with (an experiment: its baseline; others: the first baseline)."""
    baselines = [r.name for r in rows if r.kind == "baseline"]
    first = baselines[0] if baselines else ""
    return {r.name: (r.baseline or first) if r.kind != "baseline" else r.name for r in rows}


def _reference_rows(frame: pd.DataFrame, base: dict[str, str]) -> tuple[list[int], list[int]]:
    """(row positions that have a baseline row other than themselves, that baseline's positions)."""
    position = {run: i for i, run in enumerate(frame[RUN])}
    rows, refs = [], []
    for i, run in enumerate(frame[RUN]):
        ref = position.get(base.get(run, run))
        if ref is not None and ref != i:
            rows.append(i)
            refs.append(ref)
    return rows, refs


def _numeric(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def deltas(frame: pd.DataFrame, base: dict[str, str], columns: list[str]) -> pd.DataFrame:
    """Numeric ``columns`` minus the same column of each row's baseline (0 on a baseline row, NaN where
    either value is missing)."""
    values = _numeric(frame, columns)
    out = np.where(np.isnan(values), np.nan, 0.0)
    rows, refs = _reference_rows(frame, base)
    if rows:
        out[rows] = values[rows] - values[refs]
    result = pd.DataFrame(out, columns=columns)
    result.insert(0, RUN, frame[RUN].to_numpy())
    return result


def cell_colours(
    frame: pd.DataFrame, base: dict[str, str], params: list[str], metrics: list[str]
) -> pd.DataFrame:
    """CSS per cell: metrics better than the baseline green, worse red; changed params amber."""
    css = np.full(frame.shape, "", dtype=object)
    rows, refs = _reference_rows(frame, base)
    if not rows:
        return pd.DataFrame(css, index=frame.index, columns=frame.columns)
    if params:
        text = frame[params].astype(str).to_numpy()
        changed = text[rows] != text[refs]
        block = css[:, [frame.columns.get_loc(c) for c in params]]
        block[rows] = np.where(changed, "background-color: #fff3bf", "")
        css[:, [frame.columns.get_loc(c) for c in params]] = block
    if metrics:
        values = _numeric(frame, metrics)
        diff = values[rows] - values[refs]
        lower = np.array([lower_is_better(m) for m in metrics])
        better = np.where(lower, diff < 0, diff > 0)
        colour = np.where(np.isnan(diff) | (diff == 0), "", np.where(better, "background-color: #d3f9d8",
                                                                     "background-color: #ffe3e3"))  # fmt: skip
        block = css[:, [frame.columns.get_loc(c) for c in metrics]]
        block[rows] = colour
        css[:, [frame.columns.get_loc(c) for c in metrics]] = block
    return pd.DataFrame(css, index=frame.index, columns=frame.columns)


def curve_frame(curves: dict[str, list[dict[str, float]]], value_column, smoothing: float) -> pd.DataFrame:
    """Long rows (run, step, value) of one metric across runs; ``smoothing`` in [0, 1): EMA weight of the past."""
    parts = []
    for run, rows in curves.items():
        col = value_column(rows)
        if not col:
            continue
        points = pd.DataFrame([(r["step"], r[col]) for r in rows if col in r], columns=["step", "value"])
        if points.empty:
            continue
        points = points.sort_values("step")
        if smoothing > 0:
            points["value"] = points["value"].ewm(alpha=1 - smoothing, adjust=True).mean()
        points.insert(0, "run", run)
        parts.append(points)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "step", "value"])
