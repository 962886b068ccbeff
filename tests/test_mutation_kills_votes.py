"""Tests that pin src/sanchaek/votes/agreement.py beyond test_ratings.py's hand-computed alpha (`make
mutation`, reports/quality/mutation.json): the canonical order of a pair, later votes replacing
earlier ones, who counts as a rater of shared pairs, and the reasons alpha is undefined."""

from __future__ import annotations

import pytest

from sanchaek.votes.agreement import Agreement, canonical_outcome, rater_agreement


def vote(rater: str, a: str, b: str, winner: str) -> dict:
    return {"rater": rater, "a": {"sample_id": a}, "b": {"sample_id": b}, "winner": winner}


def test_outcomes_are_read_in_the_pairs_canonical_order():
    assert canonical_outcome(vote("x", "s1", "s2", "a")) == 0  # the smaller id first, and it won
    assert canonical_outcome(vote("x", "s1", "s2", "b")) == 2
    assert canonical_outcome(vote("x", "s2", "s1", "a")) == 2  # shown the other way round
    assert canonical_outcome(vote("x", "s2", "s1", "b")) == 0
    assert canonical_outcome(vote("x", "s2", "s1", "tie")) == 1


def test_a_raters_latest_vote_counts_and_only_shared_pairs_count():
    votes = [
        vote("x", "a", "b", "a"), vote("y", "a", "b", "b"),  # disagree ...
        vote("y", "b", "a", "b"),  # ... until y changes their mind (the same pair shown reversed)
        vote("x", "c", "d", "b"), vote("y", "c", "d", "b"),
        vote("z", "e", "f", "a"),  # z judged no shared pair: not a rater of the shared ones
    ]  # fmt: skip
    result = rater_agreement(votes)
    assert (result.units, result.raters, result.why) == (2, 2, "")
    assert result.alpha == 1.0  # x and y agree on both pairs after y's second vote


def test_undefined_alpha_says_why():
    assert rater_agreement([]) == Agreement(None, 0, 0, "no pair was judged by two raters yet")
    same = [vote("x", "a", "b", "a"), vote("y", "b", "a", "b"), vote("z", "a", "b", "a")]
    assert rater_agreement(same) == Agreement(None, 1, 3, "every shared judgement is the same outcome")


def test_alpha_is_ordinal_and_rounded():
    # x: 0 0 2 1, y: 0 0 2 2 (test_ratings.py's hand-computed 0.9) plus a third rater w on two pairs
    votes = [vote(r, f"p{i}", f"q{i}", {0: "a", 1: "tie", 2: "b"}[o])
             for r, outcomes in (("x", (0, 0, 2, 1)), ("y", (0, 0, 2, 2)), ("w", (0, 1)))
             for i, o in enumerate(outcomes)]  # fmt: skip
    result = rater_agreement(votes)
    assert (result.units, result.raters) == (4, 3)
    assert result.alpha == round(result.alpha, 4) and result.alpha != pytest.approx(0.9, abs=1e-3)
    ordinal_only = rater_agreement([vote("x", "a", "b", "a"), vote("y", "a", "b", "tie"),
                                    vote("x", "c", "d", "a"), vote("y", "c", "d", "b")])  # fmt: skip
    # ordinal: 0 vs 1 is a nearer miss than 0 vs 2; nominal or interval distances give other values
    import krippendorff
    import numpy as np

    data = np.array([[0, 0], [1, 2]], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, value_domain=[0, 1, 2], level_of_measurement="ordinal")
    assert ordinal_only.alpha == round(float(expected), 4)
    for other in ("nominal", "interval"):
        assert ordinal_only.alpha != round(
            float(krippendorff.alpha(reliability_data=data, value_domain=[0, 1, 2], level_of_measurement=other)), 4
        )
