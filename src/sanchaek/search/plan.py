"""How a theme's alternatives become query clauses, backend-neutral, and why a passage matched.

``query.match: unit`` (the default) keeps a theme's meaning together:

- a word Nori splits into a stem and a suffix (죽음 -> 죽 + 음, 웃음 -> 웃 + 음) matches as a unit: the
  word's tokens at adjacent positions (a phrase), or, when the first token is a predicate stem (죽다
  is a predicate, so 죽 is), that stem alone, which is how Nori reads the stem's own forms (죽었다,
  죽은 -> 죽). The suffix 음 never selects a passage by itself, so 웃음/얼음/믿음 stop matching 죽음;
- an alternative of several words (세상을 떠나다, 숨을 거두다) is a phrase with a small slop
  (``query.phrase_slop``): its words in order, a few positions apart at most (세상을 영영 떠났다);
- a single-token word is a term.

``any``/``all``/``phrase`` keep the old behaviour (OR, AND, exact phrase of each alternative).

Each clause records what it stands for (the theme, a synonym, an inflected form, the stem's own
forms), so ``matched_reasons`` can say why a hit matched, from the hit's own analysed tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .base import Token

Analyze = Callable[[str], list[Token]]

# Why an alternative is part of a theme (``Clause.reason``).
THEME, SYNONYM, INFLECTED, STEM = "term", "synonym", "inflected form", "stem form"


@dataclass(frozen=True)
class Clause:
    """One OR-ed part of a theme query: ``text`` analysed like the documents, then matched as
    ``kind``: ``match`` (any of its terms), ``all`` (every term), ``phrase`` (in order, within ``slop``)."""

    text: str
    kind: str  # match | all | phrase
    reason: str  # term | synonym | inflected form | stem form
    source: str  # the alternative (theme, synonym or inflected form) it comes from
    slop: int = 0
    terms: tuple[str, ...] = ()  # for an inflected form: the stem terms Nori reads it as
    boost: float = 1.0  # multiplies the clause's score (``query.synonym_weight`` for synonyms)

    def describe(self) -> str:
        return self.text if self.text == self.source else f"{self.text} ({self.source})"


def words_of(text: str, tokens: Sequence[Token]) -> list[list[Token]]:
    """``tokens`` grouped by the whitespace-separated word of ``text`` they were read from."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    groups: list[list[Token]] = [[] for _ in spans]
    for token in tokens:
        for i, (start, end) in enumerate(spans):
            if start <= token.start < end:
                groups[i].append(token)
                break
    return [g for g in groups if g]


def is_predicate_stem(term: str, analyze: Analyze) -> bool:
    """Whether Nori reads ``term`` + 다 as a predicate in dictionary form whose stem is ``term``
    (죽 -> 죽다: yes; 산책 -> 산책다: no). Only such a stem may match a nominalised word's forms."""
    from .inflect import dictionary_stem  # inflect imports this module's clauses

    word = term + "다"
    return dictionary_stem(word, analyze(word)) == term


def unit_clauses(text: str, reason: str, source: str, analyze: Analyze, slop: int) -> list[Clause]:
    """The ``unit`` clauses of one alternative (see the module doc)."""
    tokens = analyze(text)
    words = words_of(text, tokens)
    if not words:
        return []
    if len(words) > 1:
        return [Clause(text, "phrase", reason, source, slop)]
    (word,) = words
    if len(word) == 1:
        return [Clause(text, "match", reason, source)]
    # one word read as several tokens (죽음 -> 죽 + 음): the tokens adjacent, as in the word itself
    clauses = [Clause(text, "phrase", reason, source, 0)]
    head = word[0]
    if head.pos not in ("E", "J") and is_predicate_stem(head.term, analyze):
        clauses.append(Clause(head.term, "match", STEM, source))
    return clauses


def plan_clauses(
    alternatives: Iterable[tuple[str, str]], match: str, analyze: Analyze, slop: int
) -> list[Clause]:
    """Clauses for (alternative text, reason) pairs under ``match``; duplicates dropped, order kept."""
    clauses: list[Clause] = []
    for text, reason in alternatives:
        if match == "unit":
            clauses += unit_clauses(text, reason, text, analyze, slop)
        elif match == "phrase":
            clauses.append(Clause(text, "phrase", reason, text, 0))
        else:
            clauses.append(Clause(text, "all" if match == "all" else "match", reason, text))
    seen: set[tuple[str, str, int]] = set()
    unique = []
    for c in clauses:
        key = (c.text, c.kind, c.slop)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


# -- why a passage matched --------------------------------------------------------------------------


def positioned(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """(position, term) pairs; a backend that reports no positions gets the token order."""
    return [(t.position if t.position >= 0 else i, t.term) for i, t in enumerate(tokens)]


def phrase_matches(
    doc: dict[str, list[int]], pattern: list[tuple[int, str]], slop: int
) -> list[tuple[int, int]]:
    """(first, last) positions where the terms of ``pattern`` (relative positions) occur in ``doc``
    (term -> positions) in order, the total displacement at most ``slop`` (Lucene's sloppy phrase,
    in-order case); one match per start position of the first term."""
    if not pattern:
        return []
    base, first = pattern[0]
    found = []
    for start in doc.get(first, []):
        used, ok, last = 0, True, start
        for rel, term in pattern[1:]:
            want = start + (rel - base)
            nxt = [p for p in doc.get(term, []) if p > last and p >= want - slop]
            if not nxt:
                ok = False
                break
            p = min(nxt, key=lambda q: abs(q - want))
            used += abs(p - want)
            last = p
            if used > slop:
                ok = False
                break
        if ok:
            found.append((start, last))
    return found


def phrase_found(doc: dict[str, list[int]], pattern: list[tuple[int, str]], slop: int) -> bool:
    return bool(phrase_matches(doc, pattern, slop))


def clause_matches(clause_tokens: Sequence[Token], clause: Clause, doc: dict[str, list[int]]) -> bool:
    terms = [t.term for t in clause_tokens]
    if not terms:
        return False
    if clause.kind == "match":
        return any(t in doc for t in terms)
    if clause.kind == "all":
        return all(t in doc for t in terms)
    return phrase_found(doc, positioned(clause_tokens), clause.slop)


def term_positions(tokens: Sequence[Token]) -> dict[str, list[int]]:
    doc: dict[str, list[int]] = {}
    for position, term in positioned(tokens):
        doc.setdefault(term, []).append(position)
    return doc


def matched_reasons(
    text: str,
    clauses: Sequence[Clause],
    analyze: Analyze,
    clause_tokens: dict[Clause, list[Token]] | None = None,
) -> list[dict]:
    """The clauses ``text`` satisfies, as ``{"reason", "clause", "source"}`` records."""
    doc = term_positions(analyze(text))
    found = []
    for clause in clauses:
        tokens = clause_tokens[clause] if clause_tokens is not None else analyze(clause.text)
        if clause_matches(tokens, clause, doc):
            found.append({"reason": clause.reason, "clause": clause.text, "source": clause.source})
    return found


def clause_spans(
    doc_tokens: Sequence[Token], clause_tokens: Sequence[Token], clause: Clause
) -> list[tuple[int, int]]:
    """Character spans of the text (``doc_tokens``: its analysis) where ``clause`` matched: each
    matching term's token, or a phrase from its first word to its last. Empty when it did not match."""
    terms = {t.term for t in clause_tokens}
    if not terms:
        return []
    if clause.kind in ("match", "all"):
        spans = [(t.start, t.end) for t in doc_tokens if t.term in terms]
        if clause.kind == "all" and not terms <= {t.term for t in doc_tokens}:
            return []
        return spans
    by_position: dict[int, Token] = {}
    for position, token in zip((p for p, _ in positioned(doc_tokens)), doc_tokens, strict=True):
        by_position.setdefault(position, token)
    return [
        (by_position[first].start, by_position[last].end)
        for first, last in phrase_matches(term_positions(doc_tokens), positioned(clause_tokens), clause.slop)
    ]
