"""Automatic quality proxies for generated text.

Cheap numbers that stand in for a reader until people rate: length, lexical variety (distinct-n),
degeneration (repeated n-grams), memorisation (longest overlap with the training text) and theme
relevance (Nori-analysed overlap with the theme and its lexicon from the index).

Words are whitespace-separated eojeol; every function here is pure and deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .search.base import Hit, Token

# ---------------------------------------------------------------------------- variety and repetition


def words(text: str) -> list[str]:
    return text.split()


def ngrams(items: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]


def distinct_n(items: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams (0.0 when the text has no n-gram)."""
    grams = ngrams(items, n)
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_ngram_rate(items: Sequence[str], n: int) -> float:
    """Share of n-grams that already occurred earlier in the same text (seq-rep-n of Welleck et al.)."""
    grams = ngrams(items, n)
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def reuse_rate(items: Sequence[str], earlier: set[tuple[str, ...]], n: int) -> float:
    """Share of this text's n-grams that occur in ``earlier`` (n-grams of text written before)."""
    grams = ngrams(items, n)
    return sum(g in earlier for g in grams) / len(grams) if grams else 0.0


# ---------------------------------------------------------------------------- memorisation

_BASE = np.uint64(1_000_003)  # multiplier of the polynomial k-gram hash (wraps mod 2**64)
_SEPARATOR = "\x00"  # joins reference texts; no k-gram spanning it is indexed, so no match crosses texts


def _kgram_hashes(text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash of every k-character window of ``text`` and whether the window holds a separator."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=bool)
    hashes = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # k vectorised passes instead of a Python loop over characters
        hashes = hashes * _BASE + codes[j : j + n]
    seps = np.concatenate([[0], np.cumsum(codes == ord(_SEPARATOR))])
    has_sep = (seps[k : k + n] - seps[:n]) > 0
    return hashes, has_sep


@dataclass(frozen=True)
class Overlap:
    chars: int  # length of the longest substring shared with the reference text (0 if shorter than k)
    start: int  # where it starts in the checked text (-1 if none)

    @property
    def end(self) -> int:
        return self.start + self.chars


class OverlapIndex:
    """Longest common substring of a text with a large reference text, fast and exact.

    Every k-character window of the reference is hashed once into a sorted array. A checked text's
    windows that hit the array form runs; only those runs can hold a shared substring of length >= k,
    and each candidate is confirmed with an exact ``str.find`` on the reference (so a hash collision
    or a run stitched from two places never inflates the result).
    """

    def __init__(self, texts: Iterable[str], k: int):
        self.k = k
        self.reference = _SEPARATOR.join(t.replace(_SEPARATOR, " ") for t in texts)
        hashes, has_sep = _kgram_hashes(self.reference, k)
        self._hashes = np.unique(hashes[~has_sep])

    def __len__(self) -> int:
        return len(self.reference)

    def _present(self, text: str) -> np.ndarray:
        hashes, _ = _kgram_hashes(text, self.k)
        if not len(hashes) or not len(self._hashes):
            return np.zeros(len(hashes), dtype=bool)
        pos = np.searchsorted(self._hashes, hashes).clip(max=len(self._hashes) - 1)
        return self._hashes[pos] == hashes

    def kgram_share(self, text: str) -> float:
        """Share of the text's k-character windows found in the reference."""
        present = self._present(text)
        return float(present.mean()) if len(present) else 0.0

    def longest_overlap(self, text: str) -> Overlap:
        present = self._present(text)
        best = Overlap(0, -1)
        for run_start, run_end in sorted(_runs(present), key=lambda r: r[0] - r[1]):  # longest runs first
            span_end = run_end + self.k  # the run's windows cover text[run_start:span_end]
            if span_end - run_start <= best.chars:
                break
            for p in range(run_start, run_end + 1):
                if span_end - p <= best.chars:
                    break
                length = self._longest_from(text, p, span_end)
                if length > best.chars:
                    best = Overlap(length, p)
        return best

    def _longest_from(self, text: str, start: int, limit: int) -> int:
        """Longest prefix of text[start:limit] found in the reference (0 if shorter than k)."""
        lo, hi = start + self.k, limit
        if self.reference.find(text[start:lo]) < 0:
            return 0  # a hash collision
        while lo < hi:  # presence is monotone in the end: every prefix of a found string is found
            mid = (lo + hi + 1) // 2
            if self.reference.find(text[start:mid]) >= 0:
                lo = mid
            else:
                hi = mid - 1
        return lo - start


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True values."""
    if not mask.any():
        return []
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


# ---------------------------------------------------------------------------- theme relevance


class ThemeLexicon:
    """A theme's analysed terms plus the most frequent terms of the passages the index finds for it.

    ``theme_terms_found``: share of the theme's own Nori terms present in the text (죽음 -> 죽, 음),
    in its best reading: the theme as written or one of ``readings``, the term lists of its synonyms
    and of the inflected forms the query expansion added (듣다 is read 들, its 들었다 is read 듣).
    ``theme_relevance``: share of the text's Nori terms that belong to the lexicon — a text about
    a funeral scores without naming death.
    """

    def __init__(
        self,
        theme: str,
        analyze: Callable[[str], list[Token]],
        hits: Sequence[Hit],
        size: int,
        *,
        readings: Sequence[Sequence[str]],
    ):
        self.theme = theme
        self.theme_terms = frozenset(t.term for t in analyze(theme))
        self.readings = [r for r in (self.theme_terms, *map(frozenset, readings)) if r]
        counts: Counter[str] = Counter()
        for hit in hits:
            counts.update(t.term for t in analyze(hit.text))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
        self.terms = frozenset(term for term, _ in ranked).union(*self.readings)

    def score(self, text_terms: Sequence[str]) -> dict[str, float]:
        present = set(text_terms)
        found = max((len(r & present) / len(r) for r in self.readings), default=0.0)
        relevance = sum(t in self.terms for t in text_terms) / len(text_terms) if text_terms else 0.0
        return {"theme_terms_found": found, "theme_relevance": relevance}


# ---------------------------------------------------------------------------- all proxies


def text_proxies(text: str, *, repeat_ngram: int) -> dict[str, float | int]:
    """The proxies that need nothing but the text."""
    ws = words(text)
    return {
        "n_chars": len(text),
        "n_words": len(ws),
        "distinct_1": distinct_n(ws, 1),
        "distinct_2": distinct_n(ws, 2),
        "repeated_ngram_rate": repeated_ngram_rate(ws, repeat_ngram),
    }


def copy_proxies(text: str, index: OverlapIndex, *, memorised_chars: int) -> dict[str, float | int | bool]:
    overlap = index.longest_overlap(text)
    return {
        "copy_longest_chars": overlap.chars,
        "copy_rate": overlap.chars / len(text) if text else 0.0,
        "copy_kgram_share": index.kgram_share(text),
        "memorised": overlap.chars >= memorised_chars,
    }


def all_proxies(
    text: str,
    *,
    n_tokens: int,
    repeat_ngram: int,
    copy_index: OverlapIndex,
    memorised_chars: int,
    lexicon: ThemeLexicon,
    analyze: Callable[[str], list[Token]],
) -> dict[str, float | int | bool]:
    proxies: dict[str, float | int | bool] = {"n_tokens": n_tokens}
    proxies.update(text_proxies(text, repeat_ngram=repeat_ngram))
    proxies.update(copy_proxies(text, copy_index, memorised_chars=memorised_chars))
    proxies.update(lexicon.score([t.term for t in analyze(text)]))
    return proxies


def summarise(records: Sequence[dict]) -> dict[str, float | int]:
    """Mean of every numeric proxy, plus counts of flagged samples (for reports/generate.json)."""
    summary: dict[str, float | int] = {"n_samples": len(records)}
    if not records:
        return summary
    keys = [
        k for k, v in records[0]["proxies"].items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    for key in keys:
        summary[f"mean_{key}"] = round(sum(r["proxies"][key] for r in records) / len(records), 6)
    summary["max_copy_longest_chars"] = max(r["proxies"]["copy_longest_chars"] for r in records)
    summary["memorised"] = sum(bool(r["proxies"]["memorised"]) for r in records)
    summary["memorised_share"] = round(summary["memorised"] / len(records), 6)
    return summary
