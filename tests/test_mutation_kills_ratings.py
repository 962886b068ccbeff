"""Tests that kill the mutants of the ratings statistics (wilson_interval, bradley_terry in
src/sanchaek/ratings.py) that tests/test_ratings.py lets live (`make mutation`,
reports/quality/mutation.json)."""

from __future__ import annotations

import pytest

from sanchaek.ratings import bradley_terry, wilson_interval


def test_wilson_interval_ends_are_exact_at_zero_and_all_successes():
    low, high = wilson_interval(5, 5, 0.95)
    assert high == 1.0 and low == pytest.approx(0.5655, abs=1e-4)  # z = 1.96: 5 / (5 + z^2)
    low, high = wilson_interval(0, 5, 0.95)
    assert low == 0.0 and high == pytest.approx(0.4345, abs=1e-4)
    assert wilson_interval(0, -1, 0.95) == (0.0, 1.0)


def test_wilson_interval_with_half_successes_from_ties():
    low, high = wilson_interval(2.5, 5, 0.95)  # p = 0.5: symmetric around it
    assert low + high == pytest.approx(1.0) and low == pytest.approx(0.1704, abs=1e-4)


def test_pairs_without_a_win_or_with_oneself_do_not_meet():
    p = bradley_terry(
        {("A", "B"): 0, ("B", "C"): 2, ("C", "B"): 1, ("D", "D"): 4, ("E", "C"): -1}, 0.5, 10_000, 1e-12
    )
    assert set(p) == {"B", "C"}
    assert p["B"] == pytest.approx(2.25 / 3.5)  # two players: strengths are their (prior-smoothed) win shares


def test_three_players_closed_by_the_likelihood_equations_with_a_prior():
    wins = {("A", "B"): 3, ("B", "C"): 2, ("C", "A"): 1, ("A", "C"): 2}
    prior = 0.5
    p = bradley_terry(wins, prior, 100_000, 1e-14)
    games = {("A", "B"): 3 + prior, ("B", "C"): 2 + prior, ("A", "C"): 3 + prior}
    won = {"A": 5 + prior, "B": 2 + prior, "C": 1 + prior}  # each met pair adds prior / 2 per side
    for i in "ABC":
        expected = sum(
            n * p[i] / (p[i] + p[j]) for pair, n in games.items() if i in pair for j in pair if j != i
        )
        assert won[i] == pytest.approx(expected, rel=1e-8)
    assert sum(p.values()) == pytest.approx(1.0)


def test_max_iter_bounds_the_work():
    wins = {("A", "B"): 9, ("B", "C"): 9, ("C", "A"): 1}
    one = bradley_terry(wins, 0.5, 1, 1e-15)
    converged = bradley_terry(wins, 0.5, 100_000, 1e-15)
    assert one != pytest.approx(converged, abs=1e-6)  # a single MM step is not the answer yet
    assert sum(one.values()) == pytest.approx(1.0)


def test_wilson_interval_ends_have_no_rounding_residue():
    # 13 of 13 at 95 %: the formula's upper end computes to 0.9999999999999999, the interval says 1.
    assert wilson_interval(13, 13, 0.95)[1] == 1.0
    assert wilson_interval(0, 5, 0.95)[0] == 0.0  # the formula gives a residue of about 1e-17 here


def test_wilson_interval_of_one_success():
    low, high = wilson_interval(1, 10, 0.95)
    assert low == pytest.approx(0.01788, abs=1e-5) and high == pytest.approx(0.40415, abs=1e-5)
    low, high = wilson_interval(1, 1, 0.95)  # one vote is a real (wide) interval, not "no data"
    assert low == pytest.approx(1 / (1 + 1.959964**2), abs=1e-6) and high == 1.0


def test_the_tolerance_stops_the_iteration():
    """bt_tol is honoured: a change below it ends the MM loop (here after the first step)."""
    wins = {("A", "B"): 9, ("B", "C"): 9, ("C", "A"): 1}
    # the first step changes no strength by more than 0.25 (A: 1/3 -> 0.576), under a tolerance of 0.5
    assert bradley_terry(wins, 0.5, 10_000, 0.5) == bradley_terry(wins, 0.5, 1, 1e-15)
