"""Training: the runs table first (baseline + experiments, changed params, headline metrics, deltas),
then curves of the selected runs and a metric-vs-param scatter across experiments."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from ...repo import ExpRow
from .. import project as proj
from .. import runs as runs_mod
from . import common, promote_box

LR_LABEL = "마지막 lr · lr at the last step (after decay)"


def render(project: proj.Project) -> None:
    st.title("학습 · Training")
    rows, why = common.exp_rows(project)
    if why:
        st.info(f"실험 목록을 불러올 수 없습니다 · no `dvc exp show`: {why}")
    runs = runs_mod.runs_of(rows)
    selected = _runs_table(project, runs)
    _curves(project, runs, selected)
    _scatter(project, runs)
    _final_metrics(project)
    if any(r.kind == "experiment" for r in rows):
        promote_box.render(project, key="training")


def _runs_table(project: proj.Project, runs: list[ExpRow]) -> list[str]:
    """Draw the table; returns the names of the selected rows."""
    st.subheader("실행 비교 · Runs")
    if not runs:
        st.caption("실험이 없습니다. `dvc exp run -S train.lr=3e-4`로 만드세요 · no experiments yet")
        return []
    headline, rest = runs_mod.metric_columns(runs, project.params.app.headline_metrics)
    cols = st.columns(2)
    all_metrics = cols[0].toggle("모든 지표 · all metrics", value=not headline, key="runs_all_metrics")
    as_delta = cols[1].toggle("기준 대비 차이 · show Δ vs baseline", value=False, key="runs_delta")
    metrics = headline + (rest if all_metrics else [])
    frame, params = runs_mod.runs_frame(runs, metrics, common.report(project, "ratings"))
    base = runs_mod.baseline_of(runs)
    shown = frame
    if as_delta:
        diff = runs_mod.deltas(frame, base, metrics)
        shown = frame.copy()
        shown[metrics] = diff[metrics].to_numpy()
    css = runs_mod.cell_colours(frame, base, params, metrics)
    styled = shown.style.apply(lambda _: css, axis=None).format(
        {m: ("{:+.4g}" if as_delta else "{:.4g}") for m in metrics}, na_rep="—"
    )
    event = st.dataframe(
        styled,
        key="runs_table",
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        width="stretch",
        column_config={runs_mod.RUN: st.column_config.TextColumn(pinned=True)},
    )
    st.caption(
        f"바뀐 파라미터 {len(params)}개 · 지표 {len(metrics)}개. 초록 = 기준보다 좋음, 빨강 = 나쁨, 노랑 = 바뀐 파라미터; "
        "열 머리를 눌러 정렬, 행을 골라 곡선 비교 · green better than the baseline, red worse, amber a changed "
        "param; click a header to sort, select rows to compare their curves."
    )
    picked = event.selection.rows if event is not None and hasattr(event, "selection") else []
    return [str(frame.iloc[i][runs_mod.RUN]) for i in picked]


def _overlay(project: proj.Project, runs: list[ExpRow], selected: list[str]) -> list[ExpRow]:
    """The runs whose curves are drawn: the baseline(s) and the selected runs, else the first experiments."""
    done = [r for r in runs if r.state == "done"]
    if selected:
        base = runs_mod.baseline_of(runs)
        wanted = set(selected) | {base.get(s, "") for s in selected}
        return [r for r in done if r.name in wanted]
    experiments = [r for r in done if r.kind != "baseline"][: project.params.app.max_overlay]
    return [r for r in done if r.kind == "baseline"] + experiments


def _curves(project: proj.Project, runs: list[ExpRow], selected: list[str]) -> None:
    st.subheader("학습 곡선 · Curves")
    chosen = _overlay(project, runs, selected) or [
        ExpRow(name="workspace", rev="workspace", kind="workspace")
    ]
    st.caption("곡선 · curves of: " + ", ".join(f"`{r.name}`" for r in chosen))
    curves = {r.name: common.curves_of(project, r) for r in chosen}
    metrics = sorted({m for c in curves.values() for m in c})
    if not metrics:
        st.caption("dvclive 곡선이 없습니다 · no dvclive TSVs under reports/train/plots/metrics")
        return
    default = [m for m in metrics if m.endswith("loss")] or metrics[:1]
    picked = st.multiselect("지표 · metrics", metrics, default=default[:1], key="curve_metrics")
    cols = st.columns(2)
    smoothing = cols[0].slider("평활 · smoothing (EMA)", 0.0, 0.95, 0.0, 0.05, key="curve_smoothing")
    log = cols[1].toggle("로그 축 · log scale", value=False, key="curve_log")
    parts = []
    for metric in picked:
        long = runs_mod.curve_frame({n: c.get(metric) or [] for n, c in curves.items()},
                                    proj.metric_value_column, smoothing)  # fmt: skip
        parts.append(long.assign(metric=metric))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        return
    positive = bool((frame["value"] > 0).all())
    if log and not positive:
        runs = sorted(set(frame.loc[frame["value"] <= 0, "run"]))
        st.caption(
            f"로그 축은 양수만 · a log scale needs values > 0; linear instead ({', '.join(runs)} reach 0 or less)"
        )
    # A fixed size: width="stretch" makes the browser draw the chart twice (measured: +0.1-0.3 s).
    st.vega_lite_chart(frame, curves_spec(log and positive, picked), width="content")


def curves_spec(log: bool, metrics: list[str]) -> dict:
    """A Vega-Lite spec: runs as colours, the y-range from the data (not from 0); with several metrics
    one view with a panel per metric, each with its own y-range.

    One view (not a chart per metric) and a plain spec (Altair validates its schema on every rerun,
    ~0.1 s a chart) keep the page switch short; the default is one metric (val loss) because each
    panel costs the browser ~0.2 s more to draw.
    """
    line = {
        "mark": {"type": "line"},
        "encoding": {
            "x": {"field": "step", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative", "title": None,
                  "scale": {"zero": False, "type": "log" if log else "linear"}},
            "color": {"field": "run", "type": "nominal", "title": "run"},
            "tooltip": [
                {"field": "run", "type": "nominal"},
                {"field": "metric", "type": "nominal"},
                {"field": "step", "type": "quantitative"},
                {"field": "value", "type": "quantitative", "format": ".4f"},
            ],
        },
    }  # fmt: skip
    if len(metrics) == 1:
        return {**line, "title": metrics[0], "width": 860, "height": 300}
    return {
        "facet": {"field": "metric", "type": "nominal", "title": None},
        "columns": 2,
        "resolve": {"scale": {"y": "independent", "x": "independent"}},
        "spec": {"width": 420, "height": 260, **line},
    }


def _scatter(project: proj.Project, runs: list[ExpRow]) -> None:
    done = [r for r in runs if r.state == "done"]
    if len(done) < 2:
        return
    st.subheader("지표 대 파라미터 · Metric vs param")
    headline, rest = runs_mod.metric_columns(done, project.params.app.headline_metrics)
    frame, params = runs_mod.runs_frame(done, headline + rest, None)
    numeric = [p for p in params if pd.to_numeric(frame[p], errors="coerce").notna().sum() >= 2]
    if not numeric or not headline + rest:
        st.caption("숫자로 바뀐 파라미터가 없습니다 · no numeric param differs between runs")
        return
    cols = st.columns(2)
    metric = cols[0].selectbox("지표 · metric", headline + rest, key="scatter_metric")
    param = cols[1].selectbox("파라미터 · param", numeric, key="scatter_param")
    points = pd.DataFrame(
        {"run": frame["run"], "x": pd.to_numeric(frame[param], errors="coerce"), "y": frame[metric]}
    ).dropna()
    positive = bool(len(points)) and (points["x"] > 0).all()
    spread = positive and points["x"].max() / points["x"].min() >= 10
    encoding = {
        "x": {"field": "x", "type": "quantitative", "title": param,
              "scale": {"type": "log" if spread else "linear", "zero": False}},
        "y": {"field": "y", "type": "quantitative", "title": metric, "scale": {"zero": False}},
        "tooltip": [{"field": "run", "type": "nominal"}, {"field": "x", "type": "quantitative", "title": param},
                    {"field": "y", "type": "quantitative", "title": metric}],
    }  # fmt: skip
    spec = {
        "encoding": encoding,
        "layer": [
            {"mark": {"type": "circle", "size": 80}},
            {"mark": {"type": "text", "dx": 8, "align": "left"}, "encoding": {"text": {"field": "run"}}},
        ],
    }
    st.vega_lite_chart(points, spec, width="stretch")


def _final_metrics(project: proj.Project) -> None:
    metrics = common.report(project, "train")
    if metrics is None:
        common.how_to_run("학습 지표(reports/train/metrics.json)가", "train")
        return
    st.subheader(f"작업 공간의 학습 지표 · Train metrics of `{common.workspace_run(project)}`")
    flat = proj.numbers(metrics)
    shown = [(LR_LABEL if k.split(".")[-1] == "lr" else k, v) for k, v in flat.items()][:8]
    shown.append(("최대 lr · peak lr (params train.lr)", project.params.train.lr))
    cols = st.columns(4)
    for i, (key, value) in enumerate(shown):
        cols[i % 4].metric(
            key, "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.4g}"
        )
