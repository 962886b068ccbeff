"""Overview: pipeline status per stage, headline metrics, and how to run when outputs are missing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import project as proj
from . import common, re_compare

# (report, dotted key candidates, label) in the order a reader cares about.
HEADLINES = [
    ("preprocess", ("passages.out", "passages", "n_passages"), "문단 passages"),
    ("preprocess", ("characters_out", "characters"), "글자 characters"),
    ("eval", ("perplexity", "val_perplexity"), "퍼플렉서티 perplexity"),
    ("eval", ("loss", "val_loss"), "검증 손실 val loss"),
    ("eval", ("token_accuracy", "accuracy"), "토큰 정확도 token acc."),
    ("eval", ("bits_per_char",), "글자당 비트 bits/char"),
    ("eval", ("re_micro_f1", "klue_re_micro_f1"), "KLUE-RE micro-F1"),
    ("eval", ("re_auprc", "klue_re_auprc"), "KLUE-RE AUPRC"),
    ("index", ("docs", "documents", "count"), "색인 문단 indexed"),
    ("query", ("coverage",), "주제 커버리지 coverage"),
    ("ratings", ("n_votes",), "투표 수 votes"),
]

STATUS_LABELS = {None: "알 수 없음 unknown", True: "최신 up to date", False: "변경됨 changed"}

HOW_TO_RUN = """
아직 파이프라인 결과가 없습니다. 프로젝트 폴더에서 다음을 실행하세요:

```bash
make run            # 설치 + dvc repro (crawl → preprocess → index → query → train → evaluate → generate → compose)
dvc repro generate  # 한 단계까지만
make app            # 이 앱 (http://127.0.0.1:8501)
```
No pipeline outputs yet: run `make run` (or `dvc repro`) in the project root.
"""


def render(project: proj.Project) -> None:
    st.title("산책 · sanchaek")
    st.caption(
        "한국어 문학 글쓰기 모델을 조정하고 산책소설을 짓는 파이프라인 · a pipeline that tunes a Korean LM"
    )
    if project.params_error:
        st.warning(f"params.yaml을 쓸 수 없어 기본값으로 보여 줍니다 · {project.params_error}")
    if not proj.has_any_output(project.root):
        st.markdown(HOW_TO_RUN)
    _status(project)
    _headlines(project)
    re_compare.render(project)


def _status(project: proj.Project) -> None:
    st.subheader("파이프라인 상태 · Pipeline status")
    rows, why = common.dvc_status(project)
    if why:
        st.info(f"단계 상태를 알 수 없습니다 · status unknown: {why}")
    if not rows:
        st.caption("dvc.yaml에 단계가 없습니다 · no stages in dvc.yaml")
        return
    table = pd.DataFrame(
        [
            {
                "단계 stage": r.stage,
                "상태 status": STATUS_LABELS[r.up_to_date],
                "변경 내용 changes": r.changes,
            }
            for r in rows
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")


def _headlines(project: proj.Project) -> None:
    st.subheader("주요 지표 · Headline metrics")
    if proj.has_any_output(project.root):
        st.caption(f"작업 공간의 결과 · numbers of the workspace, run `{common.workspace_run(project)}`")
    shown = []
    for name, keys, label in HEADLINES:
        flat = proj.numbers(common.report(project, name))
        value = next((flat[k] for k in keys if k in flat), None)
        if value is not None:
            shown.append((label, value))
    ratings = common.report(project, "ratings")
    best = proj.pick(ratings, "best_experiment")
    if not shown and not best:
        st.caption("지표가 아직 없습니다 · no metrics yet (`dvc repro evaluate`)")
        return
    cols = st.columns(4)
    for i, (label, value) in enumerate(shown):
        cols[i % 4].metric(label, f"{value:,.4g}" if isinstance(value, float) else f"{value:,}")
    if best:
        st.success(f"사람 평가 1위 · best-rated run: **{best}**")
