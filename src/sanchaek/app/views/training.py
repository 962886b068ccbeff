"""Training: dvclive curves (overlay experiments) and the `dvc exp` table, filterable to differing params."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import project as proj
from . import common, promote_box

MAX_OVERLAY = 6  # curves drawn by default; more stay selectable


def render(project: proj.Project) -> None:
    st.title("학습 · Training")
    rows, why = common.exp_rows(project)
    if why:
        st.info(f"실험 목록을 불러올 수 없습니다 · no `dvc exp show`: {why}")
    _metrics(project)
    _curves(project, rows)
    _table(rows)
    if any(r.kind == "experiment" for r in rows):
        promote_box.render(project, key="training")


def _metrics(project: proj.Project) -> None:
    metrics = common.report(project, "train")
    if metrics is None:
        common.how_to_run("학습 지표(reports/train/metrics.json)가", "train")
        return
    flat = proj.numbers(metrics)
    cols = st.columns(min(4, max(1, len(flat))))
    for i, (key, value) in enumerate(list(flat.items())[:8]):
        cols[i % len(cols)].metric(key, f"{value:,.4g}")


def _curves(project: proj.Project, rows: list) -> None:
    st.subheader("학습 곡선 · Curves")
    if not rows:  # no dvc: the workspace alone
        from ...repo import ExpRow

        rows = [ExpRow(name="workspace", rev="workspace", kind="workspace")]
    names = [r.name for r in rows]
    chosen = st.multiselect(
        "겹쳐 볼 실험 · experiments to overlay", names, default=names[:1], key="curve_exps"
    )
    curves = {r.name: common.curves_of(project, r) for r in rows if r.name in chosen}
    metrics = sorted({m for c in curves.values() for m in c})
    if not metrics:
        st.caption("dvclive 곡선이 없습니다 · no dvclive TSVs under reports/train/plots/metrics")
        return
    default = [m for m in metrics if m.endswith("loss")] or metrics[:1]
    picked = st.multiselect("지표 · metrics", metrics, default=default[:2], key="curve_metrics")
    for metric in picked:
        frame = pd.DataFrame()
        for name, by_metric in curves.items():
            rows_ = by_metric.get(metric) or []
            col = proj.metric_value_column(rows_)
            if col:
                series = pd.Series({r["step"]: r[col] for r in rows_ if col in r}, name=name)
                frame = frame.join(series, how="outer") if not frame.empty else series.to_frame()
        if frame.empty:
            continue
        frame.index.name = "step"
        st.markdown(f"**{metric}**")
        st.line_chart(frame)


def _table(rows: list) -> None:
    st.subheader("실험 비교 · `dvc exp show`")
    if not rows:
        st.caption("실험이 없습니다. `dvc exp run -S train.lr=3e-4`로 만드세요 · no experiments yet")
        return
    only = st.toggle("다른 파라미터만 보기 · only params that differ", value=True, key="exp_only_diff")
    records, shown = proj.exp_table(rows, only)
    st.dataframe(pd.DataFrame(records).map(common.as_cell), hide_index=True, width="stretch")
    if only:
        st.caption(f"다른 파라미터 {len(shown)}개 · {len(shown)} differing params")
