"""KLUE-RE on the Overview: the model's F1 beside its baselines and control, and what that means.

Reads ``reports/eval.json`` (numbers) and ``reports/eval_detail.json`` (split, markers, verdicts).
Self-contained: ``rows_and_notes`` is pure (tested without Streamlit), ``render`` only draws it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from .. import project as proj

DETAIL_FILE = "reports/eval_detail.json"
SYSTEM_LABELS = {
    "model": "모델 model (LM-trained backbone)",
    "type_prior": "개체 유형 사전확률 entity-type prior",
    "char_ngram": "글자 n-gram 로지스틱 회귀 char n-gram LR",
    "control": "무작위 초기화 대조군 random-init control",
}


def _interval(scores: dict[str, Any], metric: str) -> str:
    lo, hi = scores.get(f"{metric}_lo"), scores.get(f"{metric}_hi")
    return f"{lo:.1f}–{hi:.1f}" if lo is not None and hi is not None else ""


def rows_and_notes(report: Any, detail: Any) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Table rows (F1 and AUPRC in %, intervals, the model's gain) and ``(level, text)`` notes."""
    if not isinstance(report, dict) or report.get("re_micro_f1") is None:
        return [], []
    re_detail = (detail or {}).get("re", {}) if isinstance(detail, dict) else {}
    model = {k[3:]: v for k, v in report.items() if k.startswith("re_") and isinstance(v, (int, float))}
    systems = {"model": model, **(report.get("re_baselines") or {})}
    # the gains with their paired intervals are in the detail file; eval.json keeps the F1 gain alone
    gains = re_detail.get("gain") or report.get("re_gain") or {}
    rows = []
    for name, scores in systems.items():
        gain = gains.get(f"over_{name}")
        rows.append(
            {
                "시스템 system": SYSTEM_LABELS.get(name, name),
                "micro-F1 (%)": round(scores["micro_f1"], 1),
                "95% 구간 interval": _interval(scores, "micro_f1"),
                "AUPRC (%)": round(scores["auprc"], 1),
                "모델 − 이것 model minus this (F1)": ""
                if gain is None
                else f"{gain['micro_f1']:+.1f} ({gain['micro_f1_lo']:+.1f}…{gain['micro_f1_hi']:+.1f})",
            }
        )
    notes: list[tuple[str, str]] = []
    not_beaten = [name for name, g in gains.items() if g["micro_f1_lo"] <= 0]
    for key in not_beaten:
        name = key.removeprefix("over_")
        worse = gains[key]["micro_f1_hi"] < 0
        notes.append(
            (
                "error" if worse else "warning",
                f"모델이 {SYSTEM_LABELS.get(name, name)}{'보다 낮습니다' if worse else '를 확실히 넘지 못합니다'} · "
                f"the model {'scores below' if worse else 'does not clearly beat'} the {name.replace('_', ' ')} "
                "(95% interval of the gain " + ("below 0)" if worse else "includes 0)"),
            )
        )
    if gains and not not_beaten:
        notes.append(
            ("success", "모델이 모든 기준선을 넘습니다 · the model beats every baseline and the control")
        )
    if re_detail.get("partial_split"):
        notes.append(
            (
                "info",
                "부분 분할 partial split: RE-dev는 공개된 라벨 부분집합에서 문장 단위로 나눈 것이라 "
                "KLUE 공식 점수와 비교할 수 없습니다 · RE-dev is cut from the labelled partial subset "
                "(by sentence), not KLUE's official dev: not comparable with published KLUE scores",
            )
        )
    skipped = (re_detail.get("systems") or {}).get("control", {}).get("skipped")
    if skipped:
        notes.append(("info", f"대조군 생략 · control skipped: {skipped}"))
    if re_detail.get("marker_style"):
        notes.append(("caption", f"개체 표지 markers: {re_detail['marker_style']}"))
    return rows, notes


def render(project: proj.Project) -> None:
    """The KLUE-RE comparison table and its notes; nothing when the evaluate stage has not run RE."""
    report = proj.read_json_file(project.root / proj.REPORTS["eval"])
    detail = proj.read_json_file(Path(project.root) / DETAIL_FILE)
    rows, notes = rows_and_notes(report, detail)
    if not rows:
        return
    st.subheader("KLUE 관계 추출 · KLUE-RE against its baselines")
    st.caption(
        "micro-F1: 29개 관계(no_relation 제외)의 F1, 백분율 · F1 over the 29 relations (no_relation "
        "excluded), in %; AUPRC over all 30 classes, in %. Intervals: 95% bootstrap over RE-dev."
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for level, text in notes:
        getattr(st, level)(text)
