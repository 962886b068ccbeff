"""Rate: the rating desk. Each rater works through their own queue of blind pairs.

The rater is known first (the login with ``app.auth``, else a typed name), then their queue is drawn:
every offered pair once, never one they judged before, skipped pairs last, pairs with a flagged
sample never. Experiment names stay hidden until the vote is stored; left/right order is random.
Every vote, flag and skip goes straight to SQLite (votes and flags also to the git-tracked
snapshots), so nothing is lost when the tab closes. Keyboard: 1 / 2 / 3 = A / same / B, S = skip.
"""

from __future__ import annotations

import random

import streamlit as st

from ...errors import SanchaekError
from ...votes.queue import Queue, normal_rater, pair_key, rater_queue
from ...votes.samples import Sample, candidate_pairs, why_not_offered
from ...votes.store import NewVote
from .. import auth
from .. import project as proj
from . import common, rate_results

_RNG = random.SystemRandom()  # blinding must not be predictable from a seed
CHOICES = [
    ("a", "A가 더 좋다 · A is better", "1"),
    ("tie", "비슷하다 · about the same", "2"),
    ("b", "B가 더 좋다 · B is better", "3"),
]

GUIDELINES = """
**평가 지침 · Guidelines**

1. 프롬프트(회색 상자)는 두 글 모두에 주어진 시작 문장입니다. 그 **뒤에 이어진 글**만 비교하세요.
   · The prompt (grey box) was given to both; judge only what follows it.
2. **더 읽고 싶은 글**을 고르세요: 자연스러운 한국어(유창성), 문학적인 표현(문학성), 주제에 맞는 내용(주제 적합성).
   · Pick the text you would rather keep reading: fluent Korean, literary quality, fit to the theme.
3. 정말 우열을 가릴 수 없을 때만 "비슷하다"를 고르세요. · Choose "about the same" only when you truly cannot tell.
4. 글이 깨졌거나(빈 글, 같은 글자 반복, 다른 언어, 잘린 토큰) 읽을 수 없으면 **깨진 샘플로 표시**하세요:
   그 샘플은 모든 평가자의 대기열과 순위에서 빠집니다. · Flag a broken sample (empty, repeated characters,
   another language): it leaves every queue and the ranking.
5. 점수(1–N)는 선택 사항입니다. 판단이 어려운 쌍은 **건너뛰기** — 대기열 끝으로 갑니다.
   · Scores are optional. Skip a pair you cannot judge now: it moves to the end of your queue.

단축키 · keys: **1** A · **2** 비슷하다 · **3** B · **S** 건너뛰기 skip
"""


def render(project: proj.Project) -> None:
    st.title("평가 · Rate")
    st.caption("같은 프롬프트에 대한 두 글을 읽고 더 좋은 쪽을 고르세요. 실험 이름은 투표 뒤에 공개됩니다.")
    params = project.params.ratings
    store = common.store(project)
    state = st.session_state
    rater = _rater(project)
    if state.get("rate_message"):
        kind, text = state.pop("rate_message")
        getattr(st, kind)(text)
    try:
        votes, flags = store.votes(), store.flags()
        skipped = store.skipped(rater) if rater else set()
    except SanchaekError as exc:
        st.error(str(exc))
        return
    mine = [v for v in votes if v["rater"] == rater] if rater else []
    with st.expander("평가 지침 · guidelines", expanded=bool(rater) and not mine):
        st.markdown(GUIDELINES)
    samples = common.samples(project)
    offered = _offered(samples, params)
    pairs = candidate_pairs(offered, params.pair_within_experiment)
    if not pairs:
        common.how_to_run("비교할 샘플 쌍(같은 프롬프트의 샘플 두 개 이상)이", "generate")
    elif not rater:
        st.info("이름을 입력하면 대기열이 시작됩니다 · type your name to start your queue")
    else:
        flagged = {f["sample_id"] for f in flags}
        queue = rater_queue(pairs, votes, rater, flagged, skipped)
        _progress(queue)
        if queue.done:
            st.success(
                f"끝! 대기열의 {queue.total}쌍을 모두 판정했습니다 · done: you judged all {queue.total} pairs. "
                "결과는 아래에 · results below."
            )
        else:
            _compare(project, store, _current_pair(queue, rater), rater, queue)
    if rater:
        _undo(store, rater, mine)
    rate_results.render(project, store, votes, flags)


def _rater(project: proj.Project) -> str:
    """Who rates: the login (app.auth), else the typed name ('' until one is given)."""
    if project.params.app.auth:
        user = normal_rater(st.session_state.get(auth.SESSION_KEY) or "")
        st.caption(f"평가자 rater: **{user}** (로그인 login)")
        return user
    return normal_rater(st.text_input("평가자 이름 · your name", key="rater"))


def _offered(samples: list[Sample], params) -> list[Sample]:
    offered, left_out = [], []
    for sample in samples:
        why = why_not_offered(sample, params)
        (left_out if why else offered).append((sample, why))
    if left_out:
        with st.expander(f"제외된 샘플 {len(left_out)}개 · samples not offered (too short or degenerate)"):
            for sample, why in left_out:
                st.markdown(f"- `{sample.experiment}` · {why}: {common.inline(sample.text, 80)}")
    return [s for s, _ in offered]


def _progress(queue: Queue) -> None:
    share = queue.judged / queue.total if queue.total else 1.0
    text = f"{queue.judged} / {queue.total} 쌍 판정 · pairs judged"
    if queue.skipped:
        text += f" · 건너뛴 쌍 {queue.skipped}개는 마지막에 · {queue.skipped} skipped, shown last"
    st.progress(share, text=text)


def _current_pair(queue: Queue, rater: str) -> tuple[Sample, Sample]:
    """The pair on screen: kept across reruns while it is still pending, else the queue's next."""
    state = st.session_state
    by_key = {pair_key(a.sample_id, b.sample_id): (a, b) for a, b in queue.pending}
    kept = state.get("rate_pair")
    if kept and kept[0] == rater and pair_key(kept[1], kept[2]) in by_key:
        a, b = by_key[pair_key(kept[1], kept[2])]
        return (a, b) if a.sample_id == kept[1] else (b, a)
    a, b = queue.pending[0]
    left, right = (a, b) if _RNG.random() < 0.5 else (b, a)
    state["rate_pair"] = (rater, left.sample_id, right.sample_id)
    return left, right


def _compare(project: proj.Project, store, pair: tuple[Sample, Sample], rater: str, queue: Queue) -> None:
    params = project.params.ratings
    left, right = pair
    if queue.skipped and len(queue.pending) <= queue.skipped:
        st.caption("전에 건너뛴 쌍입니다 · you skipped this pair earlier")
    st.markdown("**프롬프트 · prompt**")
    st.markdown(common.prompt_block(left.prompt), unsafe_allow_html=True)
    if left.theme:
        st.caption(f"주제 theme: {left.theme}")
    pair_key_ = f"{left.sample_id}_{right.sample_id}"
    for column, side, sample in zip(st.columns(2), ("a", "b"), pair, strict=True):
        with column:
            st.markdown(f"### {side.upper()}")
            st.markdown(common.text_block(sample.text), unsafe_allow_html=True)
            for criterion in params.criteria:
                st.radio(
                    common.criterion_label(criterion),
                    options=list(range(1, params.score_max + 1)),
                    index=None,
                    horizontal=True,
                    key=f"score_{pair_key_}_{side}_{criterion}",
                )
            st.button(
                f"{side.upper()} 깨진 샘플 · flag {side.upper()} as broken",
                key=f"flag_{side}",
                icon=":material/flag:",
                on_click=_flag,
                args=(store, rater, sample, side.upper()),
                type="tertiary",
            )
    choices = [c for c in CHOICES if params.allow_ties or c[0] != "tie"]
    columns = st.columns(len(choices) + 1)
    for column, (winner, label, key) in zip(columns, choices, strict=False):
        column.button(
            label,
            key=f"vote_{winner}",
            width="stretch",
            shortcut=key,
            on_click=_vote,
            args=(store, pair, winner, rater, pair_key_, params.criteria),
        )
    columns[-1].button(
        "건너뛰기 · skip",
        key="skip_pair",
        width="stretch",
        shortcut="S",
        on_click=_skip,
        args=(store, rater, pair),
    )
    st.text_input(
        "깨진 이유 (선택) · why broken (optional, kept with a flag)", key="flag_reason", max_chars=200
    )


def _vote(store, pair, winner: str, rater: str, pair_key_: str, criteria: list[str]) -> None:
    state = st.session_state
    scores: dict[str, dict[str, int]] = {"a": {}, "b": {}}
    for side in ("a", "b"):
        for criterion in criteria:
            value = state.get(f"score_{pair_key_}_{side}_{criterion}")
            if value is not None:
                scores[side][criterion] = int(value)
    try:
        vote_id = store.record(NewVote(rater=rater, a=pair[0], b=pair[1], winner=winner, scores=scores))
    except SanchaekError as exc:
        state["rate_message"] = ("error", str(exc))
        return
    state["rate_pair"] = None
    state["rate_message"] = (
        "success",
        f"저장했습니다 (#{vote_id}) · A = {pair[0].experiment}, B = {pair[1].experiment}",
    )


def _skip(store, rater: str, pair) -> None:
    state = st.session_state
    try:
        store.skip(rater, *pair)
    except SanchaekError as exc:
        state["rate_message"] = ("error", str(exc))
        return
    state["rate_pair"] = None
    state["rate_message"] = (
        "info",
        "건너뛰었습니다: 대기열 끝으로 · skipped: moved to the end of your queue",
    )


def _flag(store, rater: str, sample: Sample, side: str) -> None:
    state = st.session_state
    try:
        store.flag(rater, sample, reason=state.get("flag_reason", ""))
    except SanchaekError as exc:
        state["rate_message"] = ("error", str(exc))
        return
    state["rate_pair"] = None
    state["rate_message"] = (
        "warning",
        f"{side}를 깨진 샘플로 표시했습니다 ({sample.experiment}): 대기열과 순위에서 빠집니다 · "
        "flagged: it leaves every queue and the ranking",
    )


def _undo(store, rater: str, mine: list[dict]) -> None:
    st.divider()
    st.button(
        "내 마지막 투표 취소 · undo my last vote",
        key="undo_vote",
        disabled=not mine,
        on_click=_undo_last,
        args=(store, rater),
    )


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
    # The undone pair comes back first, in the order it was shown, to be judged again.
    state["rate_pair"] = (rater, undone["a"]["sample_id"], undone["b"]["sample_id"])
    state["rate_message"] = ("info", f"투표 #{undone['id']}를 취소했습니다 · vote undone")
