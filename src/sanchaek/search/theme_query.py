"""How a theme is searched, the same in every stage: ``query`` selects training text with it;
``generate``, ``compose``, ``themes`` and the app's Search page find a theme's passages with it.

A theme's text that ``query.themes`` lists brings its configuration along (synonyms and their
weight, match mode, predicate expansion, min_score, near-miss phrases); any other text is searched
bare with the ``query`` defaults.
"""

from __future__ import annotations

import hashlib

from ..config.search import QueryParams, ThemeParams
from . import Hit, SearchBackend, ThemeQuery
from .inflect import added_forms, planned_query, theme_expansions, weigh_synonyms
from .nearmiss import judge_hits


def to_query(theme: ThemeParams, params: QueryParams) -> ThemeQuery:
    return ThemeQuery(
        text=theme.text,
        synonyms=tuple(theme.synonyms),
        match=theme.match or params.match,
        weight=theme.weight,
        slop=params.phrase_slop,
    )


def expands(theme: ThemeParams, params: QueryParams) -> bool:
    return theme.expand_predicates if theme.expand_predicates is not None else params.expand_predicates


def uses_semantic(theme: ThemeParams, params: QueryParams) -> bool:
    return theme.semantic if theme.semantic is not None else params.semantic.enabled


def configured_theme(text: str, params: QueryParams) -> ThemeParams:
    """The theme as ``query.themes`` configures it (synonyms, weight, match, expansion), else the bare text."""
    return next((t for t in params.themes if t.text == text.strip()), None) or ThemeParams(text=text)


def theme_hits(
    backend: SearchBackend, theme: str | ThemeParams, k: int, params: QueryParams
) -> tuple[list[Hit], dict[str, list[str]]]:
    """The top ``k`` hits of a theme searched as the query stage searches it, and the inflected forms added.

    Generate, compose and the app call it with a theme's text: a theme listed in ``query.themes``
    brings its synonyms, weights, near-miss phrases and settings along, so it finds the same
    passages in every stage."""
    if isinstance(theme, str):
        theme = configured_theme(theme, params)
    planned, hits, _, _ = lexical_search(backend, theme, params, k, with_reasons=False)
    return hits, added_forms(theme_expansions(planned))


def lexical_search(
    backend: SearchBackend, theme: ThemeParams, params: QueryParams, k: int, *, with_reasons: bool = True
) -> tuple[ThemeQuery, list[Hit], dict[str, list[dict]], dict[str, int]]:
    """The theme's planned query, its top ``k`` BM25 hits at or above its min_score without near
    misses, each hit's reasons (``with_reasons``) and how many hits each exclude phrase dropped."""
    min_score = theme.min_score if theme.min_score is not None else params.min_score
    planned = planned_query(backend, to_query(theme, params), expand=expands(theme, params))
    planned = weigh_synonyms(planned, synonym_weight(theme, params))
    fetch = k + (round(k * params.near_miss_headroom) if theme.exclude else 0)
    found = [h for h in backend.search(planned, fetch) if h.score >= min_score]
    if not with_reasons and not theme.exclude:
        return planned, found[:k], {}, {}
    hits, reasons, dropped = judge_hits(backend, planned, found, theme.exclude)
    return planned, hits[:k], reasons, dropped


def synonym_weight(theme: ThemeParams, params: QueryParams) -> float:
    return theme.synonym_weight if theme.synonym_weight is not None else params.synonym_weight


def document_rank(doc_id: str, seed: int) -> str:
    """A stable pseudo-random order of documents: same seed, same split, on every machine."""
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()
