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


# --- the punctuation pass: which "." + space is not a sentence end ----------------------------------
# Latin abbreviations and initials (Dr. Kim, p. 23, J. K. 롤링, e.g., Ph.D., U.S.A.)
_ABBREVIATION = re.compile(
    r"(?:^|(?<=[\s(\[\"']))(?:(?i:dr|mr|mrs|ms|prof|st|mt|jr|sr|vs|cf|etc|no|vol|pp?|fig|ch|sec|ed|eds|ibid|ca|approx)"
    r"|[A-Z]|(?:[A-Za-z]\.){1,3}[A-Za-z]|(?i:e\.g|i\.e|a\.m|p\.m|ph\.d))\.$"
)
# numbers and markers that a "." follows without ending a sentence: 2023. 11. 29. (a date) or a
# list marker at the start of a piece (1. 가. ①. 제1장.)
_NUMBER_DOT = re.compile(r"(?:^|(?<=[\s(]))(?:\d{1,4}|[가나다라마바사]|[①-⑳]|제\s?\d{1,3}\s?[장부절편권])\.$")
_DIGIT_START = re.compile(r"\s*\d")
# a piece may hide a sentence end without punctuation: laughter, crying, an emoticon or a tilde
# followed by more text; in a piece with no end punctuation at all (web text), also an eojeol that
# ends like a sentence. (Literary pieces that end in "." keep "…했다 하며" constructions whole.)
_UNPUNCTUATED_END = re.compile(r"(?:[ㅋㅎㅠㅜ]{2,}|\^\^|[:;]-?[)(DPp]|~)\s+\S")
# an emoticon or laughter after some text ends a sentence (좋았어요^^ 내일 봐요; 웃기다 ㅋㅋㅋ 너도 봤어?)
_EMOTICON_END = re.compile(r"(?<=\S)[ ]?(?:\^\^|[:;]-?[)(DP]|[ㅋㅎ]{2,}|[ㅠㅜ]{2,})(?=\s+\S)")
_UNPUNCTUATED_PIECE = re.compile(r"[다요죠까네]\s+\S")
# an ellipsis after a connective ending or a particle pauses inside a sentence (그러니까… 내 말은)
_CONNECTIVE = re.compile(r"[가-힣](?:니까|는데|지만|면서|거나|려고|도록|[은는이가을를에의와과도고서며면])$")


def _cut_kind(text: str, cut: int, piece_start: int) -> str:
    """``no`` (not a boundary), ``weak`` (Kiwi decides) or ``strong`` for a punctuation cut."""
    before = text[:cut].rstrip()
    end = before.rstrip("\"'”’』」)")
    if end.endswith("…"):
        # a closing quote after the ellipsis ends the sentence (the quote rule); a connective does not
        return "no" if end == before and _CONNECTIVE.search(end[:-1].rstrip("…")) else "strong"
    if not end.endswith("."):
        return "strong"
    token_start = end.rfind(" ") + 1
    token = end[token_start:]
    if _ABBREVIATION.search(token):
        return "no"
    if _NUMBER_DOT.search(token):
        if _DIGIT_START.match(text, cut) or not text[piece_start:token_start].strip():
            return "no"
        return "weak"
    return "strong"


def _vetoed(unit: str, cut: int) -> bool:
    """A cut (Kiwi's) after an abbreviation, inside a date or after a leading list marker."""
    end = unit[:cut].rstrip()
    if not end.endswith("."):
        return False
    token = end[end.rfind(" ") + 1 :]
    if _ABBREVIATION.search(token):
        return True
    return bool(_NUMBER_DOT.search(token)) and (bool(_DIGIT_START.match(unit, cut)) or end == token)


class SentenceSplitter:
    """Splits many units in one batched call (Kiwi runs them on ``workers`` threads).

    kinds: ``kiwi`` (Kiwi on every unit), ``regex`` (punctuation only), ``hybrid``: punctuation
    first, where a "." after an abbreviation, inside a date or after a leading list marker is not a
    cut and an ellipsis after a connective ending is not either; an emoticon or laughter after text
    is a cut; then Kiwi reads only the pieces punctuation cannot decide (a "." after a number
    inside a sentence, pieces with no end punctuation, laughter or emoticons inside, pieces of
    ``kiwi_min_chars`` or more), and its cuts after abbreviations, dates and list markers are
    vetoed. Better boundaries than ``kiwi`` on the literary and hard-case gold sets at a fraction
    of its cost (bench/preprocess.py).
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
        """Punctuation first; Kiwi on the pieces where punctuation cannot decide (see class doc)."""
        cuts: list[set[int]] = []
        asks: list[tuple[int, int, int]] = []  # (unit, start, end) of pieces Kiwi reads
        for i, unit in enumerate(units):
            strong, start, weak = set(), 0, False
            marks = [(m.end(), False) for m in _REGEX_BOUNDARY.finditer(unit)]
            marks += [(m.end(), True) for m in _EMOTICON_END.finditer(unit)]
            for end, emoticon in sorted(marks):
                kind = "strong" if emoticon else _cut_kind(unit, end, start)
                if kind == "strong":
                    self._ask_if_needed(unit, i, start, end, weak, asks)
                    strong.add(end)
                    start, weak = end, False
                elif kind == "weak":
                    weak = True
            self._ask_if_needed(unit, i, start, len(unit), weak, asks)
            cuts.append(strong)
        if asks:
            answers = self._kiwi_spans([units[i][s:e] for i, s, e in asks])
            for (i, s, _), sub in zip(asks, answers, strict=True):
                cuts[i].update(s + e for _, e in sub[:-1] if not _vetoed(units[i], s + e))
        return [_cut(u, sorted(c)) for u, c in zip(units, cuts, strict=True)]

    def _ask_if_needed(self, unit: str, i: int, start: int, end: int, weak: bool, asks: list) -> None:
        piece = unit[start:end].rstrip()
        if (
            weak
            or len(piece) >= self.kiwi_min_chars
            or _UNPUNCTUATED_END.search(piece)
            or (piece and piece[-1] not in _TERMINATORS + "\"'”’』」)" and _UNPUNCTUATED_PIECE.search(piece))
        ):
            asks.append((i, start, end))

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
