"""The Rate page's results: ranking with intervals, rater agreement, flagged samples, promote."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ...errors import SanchaekError
from ...ratings import aggregate
from .. import project as proj
from . import common, promote_box


def render(project: proj.Project, store, votes: list[dict], flags: list[dict]) -> None:
    st.subheader("지금까지의 결과 · Results so far")
    params = project.params.ratings
    if not votes:
        st.caption("아직 투표가 없습니다 · no votes yet")
    else:
        result = aggregate(votes, params, flags)
        _ranking(result, params)
        _agreement(result)
        promote_box.render(project, key="rate", best=result["best_experiment"])
    _flagged(store, flags)


def _ranking(result: dict, params) -> None:
    rows = []
    for name, e in result["experiments"].items():
        row = {
            "실험 experiment": name,
            "순위 rank": e.get("rank"),
            "비교 n": e["comparisons"],
            "승률 win rate": common.fmt(e["win_rate"], ".0%"),
            f"{params.confidence:.0%} 구간 interval": common.interval(e["win_rate_low"], e["win_rate_high"]),
            "BT 강도 strength": common.fmt(e["bt_strength"], ".3f"),
        }
        for criterion, mean in e["scores"].items():
            row[common.criterion_label(criterion)] = common.fmt(mean, ".2f")
        rows.append(row)
    if rows:
        table = pd.DataFrame(rows).sort_values("순위 rank", na_position="last")
        table["순위 rank"] = [common.fmt(r, "d") for r in table["순위 rank"]]
        st.dataframe(table, hide_index=True, width="stretch", key="rate_ranking")
    else:  # every vote held a flagged sample: nothing is left to rank (an empty frame has no columns)
        st.info(
            "깨진 샘플을 빼면 남는 투표가 없습니다 · no vote is left to rank once flagged samples are left out"
        )
    flagged = result.get("n_votes_flagged", 0)
    st.caption(
        f"투표 {result['n_votes']} · 평가자 {result['n_raters']} · 프롬프트 {result['n_prompts']}"
        + (
            f" · 깨진 샘플이 든 투표 {flagged}개는 제외 · {flagged} votes with a flagged sample left out"
            if flagged
            else ""
        )
        + ". 점수가 없으면 '—' · '—' = no score given. "
        "`dvc repro ratings`가 reports/ratings.json과 선호 쌍을 씁니다."
    )
    if result["best_experiment"]:
        st.success(f"사람 평가 1위 · best-rated run: **{result['best_experiment']}**")


def _agreement(result: dict) -> None:
    agreement = result["agreement"]
    if agreement["krippendorff_alpha"] is not None:
        st.metric(
            f"평가자 일치도 · rater agreement (Krippendorff's α, {agreement['level']})",
            f"{agreement['krippendorff_alpha']:.2f}",
            help=f"{agreement['units']} pairs judged by {agreement['raters']} raters; 1 = full agreement, 0 = chance",
        )
    elif result["n_raters"] > 1:
        st.caption(f"평가자 일치도 · rater agreement: — ({agreement['why_missing']})")


def _flagged(store, flags: list[dict]) -> None:
    if not flags:
        return
    st.subheader(f"깨진 샘플 · Flagged samples ({len(flags)})")
    st.caption("순위와 선호 쌍에서 빠진 샘플 · left out of the ranking and the preference pairs")
    for flag in flags:
        cols = st.columns([5, 1])
        reason = f" — {flag['reason']}" if flag.get("reason") else ""
        cols[0].markdown(
            f"`{flag['experiment']}` · {flag['rater']}{reason}: {common.inline(flag['text'], 120)}"
        )
        cols[1].button(
            "되돌리기 · unflag", key=f"unflag_{flag['sample_id']}", on_click=_unflag, args=(store, flag)
        )


def _unflag(store, flag: dict) -> None:
    try:
        store.unflag(flag["sample_id"])
        st.session_state["rate_message"] = ("info", f"표시를 거두었습니다 · unflagged ({flag['experiment']})")
    except SanchaekError as exc:
        st.session_state["rate_message"] = ("error", str(exc))
