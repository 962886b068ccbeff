"""Samples: generated texts side by side across experiments, with their automatic proxies."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import project as proj
from . import common

MAX_COLUMNS = 4


def render(project: proj.Project) -> None:
    st.title("샘플 · Samples")
    aggregates = common.report(project, "generate")
    if aggregates is not None:
        with st.expander("생성 요약 · generate.json"):
            st.dataframe(
                pd.DataFrame([{"metric": k, "value": v} for k, v in proj.numbers(aggregates).items()]),
                hide_index=True,
            )
    samples = common.samples(project)
    if not samples:
        common.how_to_run("생성된 샘플(reports/samples.jsonl)이", "generate")
        return
    prompts = list(dict.fromkeys(s.prompt for s in samples))
    prompt = st.selectbox(
        "프롬프트 · prompt",
        prompts,
        format_func=lambda p: p if len(p) <= 80 else p[:80] + "…",
        key="samples_prompt",
    )
    experiments = list(dict.fromkeys(s.experiment for s in samples if s.prompt == prompt))
    chosen = st.multiselect(
        "실행 · runs",
        experiments,
        default=experiments[:MAX_COLUMNS],
        key="samples_exps",
        max_selections=MAX_COLUMNS,
    )
    if not chosen:
        return
    for column, experiment in zip(st.columns(len(chosen)), chosen, strict=True):
        with column:
            st.markdown(f"#### {experiment}")
            for sample in (s for s in samples if s.prompt == prompt and s.experiment == experiment):
                if sample.theme:
                    st.caption(f"주제 theme: {sample.theme}")
                st.markdown(common.text_block(sample.text), unsafe_allow_html=True)
                proxies = proj.sample_proxies(sample.record)
                if proxies:
                    st.dataframe(
                        pd.DataFrame([{"proxy": k, "value": v} for k, v in proxies.items()]), hide_index=True
                    )
                settings = proj.sample_settings(sample.record)
                if settings:
                    st.caption(" · ".join(f"{k}={common.as_cell(v)}" for k, v in settings.items()))
                st.divider()
