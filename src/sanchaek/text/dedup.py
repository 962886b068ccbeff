"""Exact and near-duplicate detection (MinHash-LSH over character shingles, datasketch).

Items are offered in a fixed order (source file order, then record order); the first of a group
is kept and later ones are reported as duplicates of it, so output is deterministic.
Character shingles, not word shingles: Korean spacing varies between transcriptions of one text.
"""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

_NOT_WORD = re.compile(r"[\W_]+")


def exact_key(text: str) -> str:
    """Hash of the text with case, whitespace and punctuation removed."""
    return hashlib.sha1(_NOT_WORD.sub("", text).lower().encode("utf-8")).hexdigest()


def shingles(text: str, k: int) -> set[str]:
    compact = _NOT_WORD.sub("", text)
    if len(compact) <= k:
        return {compact} if compact else set()
    return {compact[i : i + k] for i in range(len(compact) - k + 1)}


def _crc32(data: bytes) -> int:
    # deterministic across processes (unlike hash()) and a C call, ~10x cheaper than sha1
    return zlib.crc32(data)


class ExactDeduper:
    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def check(self, key: str, text: str) -> str | None:
        """Id of the earlier item with the same normalized text, else None (and remember this one)."""
        return self.check_key(key, exact_key(text))

    def check_key(self, key: str, h: str) -> str | None:
        """``check`` for a text whose ``exact_key`` was computed elsewhere (a worker process)."""
        first = self._seen.get(h)
        if first is None:
            self._seen[h] = key
        return first


class NearDeduper:
    """MinHash-LSH index; ``check`` returns the id of an earlier near-duplicate or None."""

    def __init__(self, threshold: float, num_perm: int, shingle_chars: int, seed: int):
        self.threshold = threshold
        self.num_perm = num_perm
        self.k = shingle_chars
        self.seed = seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._order: dict[str, int] = {}
        self._sketches: dict[str, MinHash] = {}
        # the permutations are the same for every MinHash with this seed: build them once
        self._template = MinHash(num_perm=num_perm, seed=seed, hashfunc=_crc32)

    def sketch(self, text: str) -> MinHash | None:
        grams = shingles(text, self.k)
        if not grams:
            return None
        m = self._template.copy()
        m.update_batch([g.encode("utf-8") for g in sorted(grams)])
        return m

    def signature(self, text: str) -> np.ndarray | None:
        """The sketch's hash values: what a worker process sends back for ``check_signature``."""
        m = self.sketch(text)
        return None if m is None else m.hashvalues

    def check(self, key: str, text: str) -> str | None:
        return self._check(key, self.sketch(text))

    def check_signature(self, key: str, hashvalues: np.ndarray | None) -> str | None:
        """``check`` for a text sketched elsewhere; the index keeps a LeanMinHash (no permutations)."""
        if hashvalues is None:
            return None
        return self._check(
            key, LeanMinHash(seed=self.seed, hashvalues=hashvalues, scheme=self._template.scheme)
        )

    def _check(self, key: str, m: MinHash | None) -> str | None:
        if m is None:
            return None
        candidates = [c for c in self._lsh.query(m) if self._sketches[c].jaccard(m) >= self.threshold]
        if candidates:
            return min(candidates, key=self._order.__getitem__)
        self._order[key] = len(self._order)
        self._sketches[key] = m
        self._lsh.insert(key, m)
        return None


def estimated_jaccard(a: str, b: str, k: int = 5) -> float:
    """Exact Jaccard of the two texts' shingle sets (for tests and reports)."""
    sa, sb = shingles(a, k), shingles(b, k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


__all__ = ["ExactDeduper", "NearDeduper", "exact_key", "shingles", "estimated_jaccard"]
