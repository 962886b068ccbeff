"""Properties of the ratings statistics: Bradley–Terry strengths and Wilson intervals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanchaek.config.ratings import RatingsParams
from sanchaek.ratings import aggregate, bradley_terry, wilson_interval

FAST = settings(max_examples=40, deadline=5000)
EXPERIMENTS = ["base", "lora-r8", "lora-r16", "full"]


def vote(i: int, ea: str, eb: str, winner: str) -> dict:
    side = lambda e, k: {"sample_id": f"{e}-{k}", "experiment": e, "text": e, "scores": {}}  # noqa: E731
    return {
        "id": i,
        "rater": "r",
        "prompt": "p",
        "a": side(ea, i % 3),
        "b": side(eb, i % 2),
        "winner": winner,
    }


votes_strategy = st.lists(
    st.tuples(st.sampled_from(EXPERIMENTS), st.sampled_from(EXPERIMENTS), st.sampled_from(["a", "b", "tie"])),
    min_size=1,
    max_size=30,
).map(lambda rows: [vote(i, *row) for i, row in enumerate(rows)])


def strengths(votes: list[dict], **params) -> dict[str, float]:
    report = aggregate(votes, RatingsParams(bt_tol=1e-13, **params))
    return {e: v["bt_strength"] for e, v in report["experiments"].items()}


@FAST
@given(votes=votes_strategy, data=st.data())
def test_strengths_do_not_depend_on_vote_order(votes, data):
    shuffled = data.draw(st.permutations(votes))
    assert strengths(shuffled) == pytest.approx(strengths(votes), abs=2e-6)


@FAST
@given(votes=votes_strategy, prior=st.floats(0.1, 4.0))
def test_duplicating_every_vote_with_a_doubled_prior_keeps_the_strengths(votes, prior):
    """Each vote counted twice and twice the virtual ties is the same likelihood, scaled."""
    twice = votes + [{**v, "id": v["id"] + len(votes)} for v in votes]
    assert strengths(twice, bt_prior=2 * prior) == pytest.approx(strengths(votes, bt_prior=prior), abs=2e-6)


@FAST
@given(
    wins=st.dictionaries(
        st.tuples(st.sampled_from(EXPERIMENTS), st.sampled_from(EXPERIMENTS)), st.floats(0.5, 20), max_size=12
    ),
    prior=st.floats(0.1, 2.0),
)
def test_strengths_are_a_distribution_that_orders_like_the_wins(wins, prior):
    p = bradley_terry(wins, prior, 10_000, 1e-12)
    met = {x for (i, j), w in wins.items() if i != j for x in (i, j)}
    assert set(p) == met
    if p:
        assert sum(p.values()) == pytest.approx(1.0) and all(v > 0 for v in p.values())
    # Two items that met only each other: the one with more wins is stronger.
    if len(met) == 2:
        a, b = sorted(met)
        wa, wb = wins.get((a, b), 0), wins.get((b, a), 0)
        assert (p[a] > p[b]) == (wa > wb) or wa == wb


@FAST
@given(n=st.integers(1, 500), share=st.floats(0, 1), confidence=st.floats(0.51, 0.999))
def test_wilson_interval_brackets_the_rate_and_narrows_with_confidence(n, share, confidence):
    successes = round(share * n * 2) / 2  # ties count half
    low, high = wilson_interval(successes, n, confidence)
    assert 0.0 <= low <= successes / n <= high <= 1.0
    wider = wilson_interval(successes, n, min(0.9999, confidence + 0.0005))
    assert wider[0] <= low + 1e-12 and wider[1] >= high - 1e-12
