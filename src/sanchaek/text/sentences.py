"""Sentence splitting: Kiwi (measured best, see bench/preprocess.py) or a regex, quote-aware.

Input is a list of *units* (lines of text). A line break is always a sentence boundary: the corpus
has no hard-wrapped prose (paragraph documents have blank-line paragraphs; poems have one verse
per line) and ``sentence_per_line`` documents are already split. The splitter returns character
spans per unit so callers keep exact text.

Quote-aware refinement (both splitters): a boundary inside a quotation ("…", '…', “…”, 『…』, 「…」)
is removed, so a line of dialogue stays one sentence, and a boundary is added before an opening
quote that follows a sentence terminator ("가." "나." -> two sentences). Measured on KoCoNovel's
gold one-sentence-per-line stories this raises Kiwi's boundary F1 (bench/preprocess.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

Span = tuple[int, int]

_TERMINATORS = ".!?…"
_OPEN_TO_CLOSE = {"“": "”", "『": "』", "「": "」", "‘": "’", '"': '"', "'": "'"}
_CLOSERS = {v: k for k, v in _OPEN_TO_CLOSE.items() if k != v}
_REGEX_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’』」)]*\s+")


def quote_spans(text: str, max_chars: int) -> list[Span]:
    """Outermost quotation spans [start, end) in ``text``; unmatched or overlong quotes are ignored."""
    spans: list[Span] = []
    stack: list[tuple[str, int]] = []
    for i, char in enumerate(text):
        if char in ('"', "'"):
            if stack and stack[-1][0] == char:
                _close(stack, spans, i)
            elif char == "'" and _is_apostrophe(text, i):
                continue
            else:
                stack.append((char, i))
        elif char in _CLOSERS:
            opener = _CLOSERS[char]
            # close the innermost matching opener, dropping unmatched ones above it
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == opener:
                    del stack[depth + 1 :]
                    _close(stack, spans, i)
                    break
        elif char in _OPEN_TO_CLOSE:
            stack.append((char, i))
    outer = _outermost(spans)
    return [(s, e) for s, e in outer if e - s <= max_chars]


def _close(stack: list[tuple[str, int]], spans: list[Span], i: int) -> None:
    _, start = stack.pop()
    spans.append((start, i + 1))


def _is_apostrophe(text: str, i: int) -> bool:
    # don't, it's: a latin letter on both sides
    return 0 < i < len(text) - 1 and text[i - 1].isascii() and text[i - 1].isalpha() and text[i + 1].isalpha()


def _outermost(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
        if out and start < out[-1][1]:
            continue
        out.append((start, end))
    return out


def refine_with_quotes(text: str, spans: list[Span], max_quote_chars: int) -> list[Span]:
    """Move sentence boundaries out of quotations and before opening quotes (see module doc)."""
    quotes = quote_spans(text, max_quote_chars)
    if not quotes:
        return spans
    cuts = {end for _, end in spans[:-1]}
    cuts = {c for c in cuts if not any(qs < c < qe for qs, qe in quotes)}
    for qs, _ in quotes:
        before = text[:qs].rstrip()
        if before and before[-1] in _TERMINATORS + "\"'”’』」":
            if not any(ps < qs < pe for ps, pe in quotes):
                cuts.add(len(before))
    return _cut(text, sorted(cuts))


def _cut(text: str, cuts: list[int]) -> list[Span]:
    """Spans between cut points, whitespace trimmed, empty ones dropped."""
    spans: list[Span] = []
    start = 0
    for cut in [*cuts, len(text)]:
        s, e = start, cut
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        start = cut
    return spans


def regex_spans(text: str) -> list[Span]:
    """The naive splitter: a boundary after . ! ? … (and closing quotes) followed by whitespace."""
    return _cut(text, [m.end() for m in _REGEX_BOUNDARY.finditer(text)])


class SentenceSplitter:
    """Splits many units in one batched call (Kiwi runs them on ``workers`` threads).

    kinds: ``kiwi`` (Kiwi on every unit), ``regex`` (punctuation only), ``hybrid`` (punctuation
    first, then Kiwi only on pieces longer than ``kiwi_min_chars``, where a boundary without
    punctuation may hide: same or better boundaries than ``kiwi`` at a fraction of the cost,
    see bench/preprocess.py).
    """

    def __init__(
        self,
        kind: str = "hybrid",
        *,
        quote_aware: bool = True,
        workers: int = 0,
        max_quote_chars: int = 500,
        kiwi_min_chars: int = 120,
    ):
        self.kind = kind
        self.quote_aware = quote_aware
        self.max_quote_chars = max_quote_chars
        self.kiwi_min_chars = kiwi_min_chars
        self._kiwi = None
        if kind in ("kiwi", "hybrid"):
            from kiwipiepy import Kiwi

            self._kiwi = Kiwi(num_workers=workers or (os.cpu_count() or 1))
        elif kind != "regex":
            raise ValueError(f"unknown splitter {kind!r}")

    def _kiwi_spans(self, texts: list[str]) -> list[list[Span]]:
        return [[(s.start, s.end) for s in sents] for sents in self._kiwi.split_into_sents(texts)]

    def _hybrid_spans(self, units: Sequence[str]) -> list[list[Span]]:
        first = [regex_spans(u) for u in units]
        if self.quote_aware:
            first = [
                refine_with_quotes(u, sp, self.max_quote_chars) for u, sp in zip(units, first, strict=True)
            ]
        long = [(i, s, e) for i, sp in enumerate(first) for s, e in sp if e - s >= self.kiwi_min_chars]
        if not long:
            return first
        inner = self._kiwi_spans([units[i][s:e] for i, s, e in long])
        cuts = [{e for _, e in sp[:-1]} for sp in first]
        for (i, s, _), sub in zip(long, inner, strict=True):
            cuts[i].update(s + e for _, e in sub[:-1])
        return [_cut(u, sorted(c)) for u, c in zip(units, cuts, strict=True)]

    def split_spans(self, units: Sequence[str]) -> Iterator[list[Span]]:
        """One list of (start, end) spans per unit, in order."""
        raw: Iterator[list[Span]] | list[list[Span]]
        if self.kind == "kiwi":
            raw = self._kiwi_spans(list(units))
        elif self.kind == "hybrid":
            raw = self._hybrid_spans(units)
        else:
            raw = (regex_spans(u) for u in units)
        for unit, spans in zip(units, raw, strict=True):
            spans = _cut(unit, [e for _, e in spans[:-1]]) if spans else []
            if self.quote_aware:
                spans = refine_with_quotes(unit, spans, self.max_quote_chars)
            yield spans

    def split(self, units: Sequence[str]) -> list[list[str]]:
        return [[u[s:e] for s, e in spans] for u, spans in zip(units, self.split_spans(units), strict=True)]
