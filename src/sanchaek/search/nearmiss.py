"""Near misses: a theme's words used in another sense (``query.themes[].exclude``).

Nori drops endings, so the index reads 죽겠다 (an intensifier: "I could die") like 죽었다 (died), and
숨을 죽이다 (to hold one's breath) holds the stem 죽. Such senses are told apart only in the passage's
own text. A theme lists them as phrases (죽겠, 죽을 맛, 숨을 죽이, 남죽); a hit whose every theme match
lies inside one of them matched only through the other sense and is dropped. A hit that also uses
the theme in its own sense anywhere else keeps its place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .base import Hit, SearchBackend, ThemeQuery
from .plan import Clause, clause_spans

Span = tuple[int, int]


@lru_cache(maxsize=256)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """``phrase`` as it may be spaced in old texts: its words with any whitespace, or none, between."""
    words = phrase.split()
    return re.compile(r"\s*".join(re.escape(w) for w in words))


def excluded_spans(text: str, phrases: Sequence[str]) -> list[tuple[Span, str]]:
    """Every occurrence of the near-miss ``phrases`` in ``text`` with the phrase it is."""
    return [(m.span(), phrase) for phrase in phrases for m in phrase_pattern(phrase).finditer(text)]


def near_miss(text: str, match_spans: Sequence[Span], phrases: Sequence[str]) -> list[str]:
    """The near-miss phrases that cover every one of ``match_spans`` (the theme's matches in ``text``);
    empty when a match lies outside all of them (the hit uses the theme in its own sense) or when
    there is nothing to judge (no spans, no phrases)."""
    if not match_spans or not phrases:
        return []
    excluded = excluded_spans(text, phrases)
    covering: list[str] = []
    for start, end in match_spans:
        inside = [phrase for (s, e), phrase in excluded if s <= start and end <= e]
        if not inside:
            return []
        covering.extend(p for p in inside if p not in covering)
    return covering


def clause_matches_in(
    backend: SearchBackend, text: str, clauses: tuple[Clause, ...], clause_tokens: dict
) -> list[tuple[Clause, list[tuple[int, int]]]]:
    """Each clause ``text`` satisfies, with the character spans where it matched (one analysis of ``text``)."""
    doc_tokens = backend.analyze(text)
    found = []
    for clause in clauses:
        spans = clause_spans(doc_tokens, clause_tokens[clause], clause)
        if spans:
            found.append((clause, spans))
    return found


def judge_hits(
    backend: SearchBackend, planned: ThemeQuery, hits: list[Hit], exclude: list[str]
) -> tuple[list[Hit], dict[str, list[dict]], dict[str, int]]:
    """The hits that are no near misses, each one's reasons (the clauses its text satisfies: term,
    synonym, inflected form, stem form), and how many hits each exclude phrase dropped."""
    clause_tokens = {c: backend.analyze(c.text) for c in planned.clauses}
    kept, reasons, dropped = [], {}, {}
    for hit in hits:
        matches = clause_matches_in(backend, hit.text, planned.clauses, clause_tokens)
        covering = near_miss(hit.text, [span for _, spans in matches for span in spans], exclude)
        if covering:
            dropped[covering[0]] = dropped.get(covering[0], 0) + 1
            continue
        kept.append(hit)
        reasons[hit.passage_id] = [
            {"reason": c.reason, "clause": c.text, "source": c.source} for c, _ in matches
        ]
    return kept, reasons, dropped
