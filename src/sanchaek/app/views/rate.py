"""Rate: blind pairwise comparison of two samples for one prompt, 1..N criterion scores, undo.

Experiment names stay hidden until the vote is stored; left/right order is random. Every vote goes
straight to SQLite (and the git-tracked snapshot) so that nothing is lost when the tab closes.
"""

from __future__ import annotations

import random

import pandas as pd
import streamlit as st

from ...errors import SanchaekError
from ...ratings import NewVote, Sample, aggregate, candidate_pairs, choose_pair, rated_pairs
from .. import project as proj
from . import common, promote_box

_RNG = random.SystemRandom()  # blinding must not be predictable from a seed
CHOICES = [
    ("a", "A가 더 좋다 · A is better"),
    ("tie", "비슷하다 · about the same"),
    ("b", "B가 더 좋다 · B is better"),
]


def render(project: proj.Project) -> None:
    st.title("평가 · Rate")
    st.caption("같은 프롬프트에 대한 두 글을 읽고 더 좋은 쪽을 고르세요. 실험 이름은 투표 뒤에 공개됩니다.")
    params = project.params.ratings
    store = common.store(project)
    state = st.session_state
    rater = st.text_input("평가자 이름 · your name", key="rater").strip()
    if state.get("rate_message"):
        kind, text = state.pop("rate_message")
        getattr(st, kind)(text)
    samples = common.samples(project)
    by_id = {s.sample_id: s for s in samples}
    try:
        votes = store.votes()
    except SanchaekError as exc:
        st.error(str(exc))
        return
    pairs = candidate_pairs(samples, params.pair_within_experiment)
    if not pairs:
        common.how_to_run("비교할 샘플 쌍(같은 프롬프트의 샘플 두 개 이상)이", "generate")
    else:
        pair = _current_pair(pairs, by_id, votes, rater)
        if pair is not None:
            _compare(project, store, pair, rater)
    _undo(store, rater, votes)
    _summary(project, votes)


def _current_pair(
    pairs: list[tuple[Sample, Sample]], by_id: dict[str, Sample], votes: list[dict], rater: str
) -> tuple[Sample, Sample] | None:
    state = st.session_state
    ids = state.get("rate_pair")
    if not ids or ids[0] not in by_id or ids[1] not in by_id:
        chosen = choose_pair(pairs, rated_pairs(votes, rater), _RNG)
        if chosen is None:
            return None
        state["rate_pair"] = (chosen[0].sample_id, chosen[1].sample_id)
        state["rate_voted"] = None
        ids = state["rate_pair"]
    return by_id[ids[0]], by_id[ids[1]]


def _compare(project: proj.Project, store, pair: tuple[Sample, Sample], rater: str) -> None:
    params = project.params.ratings
    left, right = pair
    voted = st.session_state.get("rate_voted")
    st.markdown("**프롬프트 · prompt**")
    st.markdown(common.text_block(left.prompt), unsafe_allow_html=True)
    if left.theme:
        st.caption(f"주제 theme: {left.theme}")
    pair_key = f"{left.sample_id}_{right.sample_id}"
    for column, side, sample in zip(st.columns(2), ("a", "b"), pair, strict=True):
        with column:
            st.markdown(f"### {side.upper()}" + (f" — `{sample.experiment}`" if voted else ""))
            st.markdown(common.text_block(sample.text), unsafe_allow_html=True)
            for criterion in params.criteria:
                st.radio(
                    common.criterion_label(criterion),
                    options=list(range(1, params.score_max + 1)),
                    index=None,
                    horizontal=True,
                    key=f"score_{pair_key}_{side}_{criterion}",
                    disabled=bool(voted),
                )
    choices = [c for c in CHOICES if params.allow_ties or c[0] != "tie"]
    if not rater:
        st.warning("투표하려면 이름을 먼저 입력하세요 · type your name to vote")
    for column, (winner, label) in zip(st.columns(len(choices)), choices, strict=True):
        column.button(
            label,
            key=f"vote_{winner}",
            disabled=bool(voted) or not rater,
            width="stretch",
            on_click=_vote,
            args=(store, pair, winner, rater, pair_key, params.criteria),
        )
    if voted:
        st.success(f"저장했습니다 (#{voted}) · A = {left.experiment}, B = {right.experiment}")
        st.button("다음 쌍 · next pair", key="next_pair", on_click=_next_pair, type="primary")


def _vote(
    store, pair: tuple[Sample, Sample], winner: str, rater: str, pair_key: str, criteria: list[str]
) -> None:
    state = st.session_state
    scores: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    for side in ("a", "b"):
        for criterion in criteria:
            value = state.get(f"score_{pair_key}_{side}_{criterion}")
            if value is not None:
                scores[side][criterion] = int(value)
    try:
        state["rate_voted"] = store.record(
            NewVote(rater=rater, a=pair[0], b=pair[1], winner=winner, scores=scores)
        )
    except SanchaekError as exc:
        state["rate_message"] = ("error", str(exc))


def _next_pair() -> None:
    st.session_state["rate_pair"] = None
    st.session_state["rate_voted"] = None


def _undo(store, rater: str, votes: list[dict]) -> None:
    mine = [v for v in votes if v["rater"] == " ".join(rater.split())] if rater else []
    st.divider()
    st.button(
        "내 마지막 투표 취소 · undo my last vote",
        key="undo_vote",
        disabled=not mine,
        on_click=_undo_last,
        args=(store, rater),
    )
    if mine:
        st.caption(f"내 투표 {len(mine)}개 · your votes: {len(mine)}")


def _undo_last(store, rater: str) -> None:
    state = st.session_state
    try:
        undone = store.undo_last(rater)
    except SanchaekError as exc:
        state["rate_message"] = ("error", str(exc))
        return
    if undone is None:
        state["rate_message"] = ("info", "취소할 투표가 없습니다 · no vote to undo")
        return
    if state.get("rate_voted") == undone["id"]:
        state["rate_voted"] = None  # the same pair can be judged again
    else:
        state["rate_pair"] = (undone["a"]["sample_id"], undone["b"]["sample_id"])
        state["rate_voted"] = None
    state["rate_message"] = ("info", f"투표 #{undone['id']}를 취소했습니다 · vote undone")


def _summary(project: proj.Project, votes: list[dict]) -> None:
    st.subheader("지금까지의 결과 · Results so far")
    if not votes:
        st.caption("아직 투표가 없습니다 · no votes yet")
        return
    params = project.params.ratings
    result = aggregate(votes, params)
    rows = []
    for name, e in result["experiments"].items():
        row = {
            "실험 experiment": name,
            "순위 rank": e.get("rank"),
            "비교 n": e["comparisons"],
            "승률 win rate": e["win_rate"],
            f"{params.confidence:.0%} 구간 low": e["win_rate_low"],
            "high": e["win_rate_high"],
            "BT 강도 strength": e["bt_strength"],
        }
        row.update({common.criterion_label(c): m for c, m in e["scores"].items()})
        rows.append(row)
    st.dataframe(
        pd.DataFrame(rows).sort_values("순위 rank", na_position="last"), hide_index=True, width="stretch"
    )
    st.caption(
        f"투표 {result['n_votes']} · 평가자 {result['n_raters']} · 프롬프트 {result['n_prompts']}. "
        "`sanchaek ratings export`(또는 `dvc repro ratings`)가 reports/ratings.json과 선호 쌍을 씁니다."
    )
    promote_box.render(project, key="rate", best=result["best_experiment"])
