"""One rater's queue: every offered pair once, in an order of its own, skipped pairs last.

The rater is known before the first pair is drawn, so a pair they judged (in this session or an
earlier one, recorded in the vote store) is never shown to them again; when none is left the queue
is done. Pairs holding a flagged sample leave every queue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from .samples import Sample


def normal_rater(name: str) -> str:
    """Rater names compare with runs of whitespace collapsed (as the store keeps them)."""
    return " ".join(name.split())


def pair_key(a: str, b: str) -> str:
    """The unordered pair of two sample ids, as one string (left/right order does not matter)."""
    return "|".join(sorted((a, b)))


def vote_key(vote: dict) -> str:
    return pair_key(vote["a"]["sample_id"], vote["b"]["sample_id"])


@dataclass(frozen=True)
class Queue:
    pending: list[tuple[Sample, Sample]]  # pairs still to judge, next first (skipped ones last)
    judged: int  # offered pairs this rater has voted on
    total: int  # offered pairs (flagged samples excluded)
    skipped: int  # pending pairs the rater skipped earlier

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def fresh(self) -> int:
        return len(self.pending) - self.skipped


def _order(rater: str, key: str) -> str:
    # A stable order per rater (the same after a reload) that differs between raters, so that early
    # votes spread over the pairs instead of every rater starting with the same one.
    return hashlib.sha1(f"{rater}\0{key}".encode()).hexdigest()


def rater_queue(
    pairs: Iterable[tuple[Sample, Sample]],
    votes: Iterable[dict],
    rater: str,
    flagged: set[str] = frozenset(),
    skipped: set[str] = frozenset(),
) -> Queue:
    """The queue of ``rater`` over ``pairs`` given all votes, flagged sample ids and their skipped pair keys."""
    rater = normal_rater(rater)
    mine = {vote_key(v) for v in votes if v["rater"] == rater}
    offered = {}
    for a, b in pairs:
        if a.sample_id in flagged or b.sample_id in flagged:
            continue
        offered.setdefault(pair_key(a.sample_id, b.sample_id), (a, b))
    open_ = [k for k in offered if k not in mine]
    fresh = sorted((k for k in open_ if k not in skipped), key=lambda k: _order(rater, k))
    later = sorted((k for k in open_ if k in skipped), key=lambda k: _order(rater, k))
    return Queue(
        pending=[offered[k] for k in fresh + later],
        judged=len(offered) - len(open_),
        total=len(offered),
        skipped=len(later),
    )
