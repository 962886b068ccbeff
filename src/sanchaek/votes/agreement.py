"""Rater agreement: Krippendorff's alpha over the pairs that several raters judged.

Each judged pair is a unit; a rater's value is the outcome in the pair's canonical order (the
sample with the smaller id first): 0 = first better, 1 = about the same, 2 = second better. The
level is ordinal (a tie lies between the two preferences). Computed by the ``krippendorff``
package; a rater's latest vote on a pair is their value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import krippendorff
import numpy as np

from .queue import vote_key

OUTCOMES = (0, 1, 2)


@dataclass(frozen=True)
class Agreement:
    alpha: float | None  # None when it is undefined (see why)
    units: int  # pairs judged by two or more raters
    raters: int  # raters who judged at least one of those pairs
    why: str = ""


def canonical_outcome(vote: dict) -> int:
    first = min(vote["a"]["sample_id"], vote["b"]["sample_id"])
    if vote["winner"] == "tie":
        return 1
    winner = vote["a"] if vote["winner"] == "a" else vote["b"]
    return 0 if winner["sample_id"] == first else 2


def rater_agreement(votes: list[dict]) -> Agreement:
    values: dict[str, dict[str, int]] = {}  # pair -> rater -> outcome (later votes win)
    for vote in votes:
        values.setdefault(vote_key(vote), {})[vote["rater"]] = canonical_outcome(vote)
    shared = {pair: by_rater for pair, by_rater in values.items() if len(by_rater) >= 2}
    raters = sorted({r for by_rater in shared.values() for r in by_rater})
    if not shared:
        return Agreement(None, 0, 0, "no pair was judged by two raters yet")
    observed = {v for by_rater in shared.values() for v in by_rater.values()}
    if len(observed) == 1:
        # Every shared judgement is the same outcome: alpha is 0/0 (no variation to agree on).
        return Agreement(None, len(shared), len(raters), "every shared judgement is the same outcome")
    matrix = np.full((len(raters), len(shared)), np.nan)
    for j, by_rater in enumerate(shared.values()):
        for rater, value in by_rater.items():
            matrix[raters.index(rater), j] = value
    alpha = krippendorff.alpha(
        reliability_data=matrix, value_domain=list(OUTCOMES), level_of_measurement="ordinal"
    )
    alpha = float(alpha)
    return Agreement(None if math.isnan(alpha) else round(alpha, 4), len(shared), len(raters))
