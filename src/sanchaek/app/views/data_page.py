"""Data: the three selection criteria per source, drops per filter reason, passage lengths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from .. import project as proj
from . import common

HISTOGRAM_BINS = 30


def render(project: proj.Project) -> None:
    st.title("데이터 · Data")
    _sources(project)
    _drops(project)
    _lengths(project)


def _sources(project: proj.Project) -> None:
    st.subheader("출처별 기준 · Sources by quality, fit, quantity")
    st.caption("문장의 질(quality) · 목표 글과의 적합성(fit) · 양(quantity): 자료를 고르는 세 기준")
    report = common.report(project, "sources")
    rows = proj.per_source_rows(report)
    if not rows:
        common.how_to_run("출처 보고서(reports/sources.json)가", "preprocess")
    else:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    genres = proj.per_source_rows({"sources": proj.pick(report, "per_genre", "genres", default={})})
    if genres:
        st.markdown("**장르별 · per genre**")
        st.dataframe(
            pd.DataFrame(genres).rename(columns={"source": "genre"}), hide_index=True, width="stretch"
        )
    criteria = proj.pick(report, "criteria")
    if isinstance(criteria, dict):
        st.caption(" · ".join(f"**{k}**: {v}" for k, v in criteria.items()))
    crawl = common.report(project, "crawl")
    if crawl is not None:
        with st.expander("수집 보고서 · crawl report"):
            st.json(crawl)


def _drops(project: proj.Project) -> None:
    st.subheader("필터별 제거 수 · Drops per filter reason")
    report = common.report(project, "preprocess")
    if report is None:
        common.how_to_run("전처리 보고서(reports/preprocess.json)가", "preprocess")
        return
    drops = proj.drop_rows(report)
    if drops:
        table = pd.DataFrame(drops).sort_values(["level", "dropped"], ascending=[True, False])
        st.bar_chart(table, x="reason", y="dropped", color="level", horizontal=True)
        st.dataframe(table, hide_index=True)
    else:
        st.caption("제거된 항목이 없습니다 · nothing was dropped")
    per_source = proj.per_source_counts(report)
    if per_source:
        st.markdown("**출처별 수 · counts per source**")
        st.dataframe(pd.DataFrame(per_source), hide_index=True, width="stretch")


def _lengths(project: proj.Project) -> None:
    st.subheader("문단 길이 분포 · Passage lengths")
    lengths = common.passages(project).lengths
    if not lengths:
        common.how_to_run("문단 파일(data/interim/passages.jsonl)이", "preprocess")
        return
    counts, edges = np.histogram(lengths, bins=min(HISTOGRAM_BINS, max(1, len(set(lengths)))))
    hist = pd.DataFrame({"글자 수 chars": [int(e) for e in edges[:-1]], "문단 수 passages": counts})
    st.bar_chart(hist, x="글자 수 chars", y="문단 수 passages")
    c1, c2, c3 = st.columns(3)
    c1.metric("문단 passages", f"{len(lengths):,}")
    c2.metric("평균 글자 mean chars", f"{np.mean(lengths):,.0f}")
    c3.metric("중앙값 median", f"{np.median(lengths):,.0f}")
