"""Candidate paraphrases of a theme, for the user to paste into ``query.themes[].synonyms``.

Two signals, both from the project's own data:

- **co-occurrence**: words and two-word predicates (a noun and the predicate after it, 세상 + 떠나 ->
  "세상을 떠났다") that occur in the theme's hits much more often than in the corpus at large (lift,
  with a minimum count so that one odd passage does not count);
- **embeddings** (when the embed stage's vectors are there): the candidate's cosine to the theme,
  both embedded as queries by the same model, so that 별세 ranks above 장례식장.

Each suggestion carries the surface form it was seen in most often (paste it as it is: the query
stage analyses a synonym like the documents), its counts, and an example passage.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .base import Hit, Token

Analyze = Callable[[str], list[Token]]

CONTENT_TAGS = frozenset({"NNG", "VV", "VA", "XR"})  # no proper nouns: a name is no paraphrase
PREDICATE_TAGS = frozenset({"VV", "VA"})
NOUN_TAGS = frozenset({"NNG"})
MAX_PAIR_GAP = 3  # positions between a noun and its predicate (세상을 영영 떠났다: 2)


@dataclass
class Suggestion:
    text: str  # the surface form seen most often (세상을 떠났다)
    terms: tuple[str, ...]  # what Nori reads it as (세상, 떠나)
    in_hits: int  # documents among the theme's hits that contain it
    in_corpus: int  # documents of the background sample that contain it
    lift: float
    similarity: float | None = None  # cosine to the theme (embeddings), when available
    example: dict = field(default_factory=dict)  # passage_id, title, snippet

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "terms": list(self.terms),
            "in_hits": self.in_hits,
            "in_corpus": self.in_corpus,
            "lift": round(self.lift, 2),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "example": self.example,
        }


def candidates(text: str, tokens: Sequence[Token]) -> dict[tuple[str, ...], str]:
    """Candidate keys of one passage (a content word, or noun + following predicate) -> surface text."""
    found: dict[tuple[str, ...], str] = {}
    content = [t for t in tokens if t.pos in CONTENT_TAGS and len(t.term) > 0]
    for i, tok in enumerate(content):
        if len(tok.term) > 1 or tok.pos in PREDICATE_TAGS:
            found.setdefault((tok.term,), text[tok.start : tok.end])
        if tok.pos not in NOUN_TAGS:
            continue
        for nxt in content[i + 1 : i + 4]:
            gap = (nxt.position - tok.position) if tok.position >= 0 and nxt.position >= 0 else 1
            if gap > MAX_PAIR_GAP:
                break
            if nxt.pos in PREDICATE_TAGS:
                end = _word_end(text, nxt.end)
                found.setdefault((tok.term, nxt.term), text[tok.start : end])
                break
    return found


def _word_end(text: str, index: int) -> int:
    """The end of the whitespace-separated word that holds ``index`` (떠나 -> 떠났다)."""
    while index < len(text) and not text[index].isspace() and text[index] not in ".,!?\"'…”’)":
        index += 1
    return index


def document_frequencies(
    texts: Iterable[tuple[str, str, str]], analyze: Analyze
) -> tuple[Counter, dict[tuple[str, ...], Counter], dict[tuple[str, ...], str], int]:
    """(key -> DOCUMENTS holding it, key -> surface-form counts, key -> first passage id, documents).

    Counted per document, not per passage: a character's name or a story's pet phrase repeats in
    every passage of one work and would otherwise look like a paraphrase."""
    docs: dict[tuple[str, ...], set[str]] = {}
    surfaces: dict[tuple[str, ...], Counter] = {}
    first: dict[tuple[str, ...], str] = {}
    all_docs: set[str] = set()
    for pid, doc_id, text in texts:
        all_docs.add(doc_id)
        for key, surface in candidates(text, analyze(text)).items():
            docs.setdefault(key, set()).add(doc_id)
            surfaces.setdefault(key, Counter())[surface] += 1
            first.setdefault(key, pid)
    return Counter({k: len(v) for k, v in docs.items()}), surfaces, first, len(all_docs)


def log_likelihood(a: int, n_a: int, b: int, n_b: int) -> float:
    """Dunning's G² for a word in ``a`` of ``n_a`` theme documents against ``b`` of ``n_b`` corpus
    documents: large when the word is both frequent and concentrated in the theme's hits (lift alone
    rewards words seen twice)."""
    total = a + b
    g2 = 0.0
    for observed, n in ((a, n_a), (b, n_b), (n_a - a, n_a), (n_b - b, n_b)):
        share = total if observed in (a, b) else (n_a + n_b - total)
        expected = n * share / max(n_a + n_b, 1)
        if observed > 0 and expected > 0:
            g2 += observed * math.log(observed / expected)
    return 2.0 * g2


def suggest_paraphrases(
    theme: str,
    hits: Sequence[Hit],
    background: Sequence[tuple[str, str, str]],
    analyze: Analyze,
    *,
    n: int = 20,
    min_count: int = 3,
    exclude: Iterable[str] = (),
    similarity: Callable[[list[str]], list[float]] | None = None,
) -> list[Suggestion]:
    """The ``n`` best candidate paraphrases of ``theme``.

    ``hits``: the theme's hits (as the query stage finds them); ``background``: (passage_id, doc_id,
    text) of corpus passages to compare with (a seeded sample is enough); ``exclude``: texts already in
    the theme (its text and synonyms), whose terms are not suggested again; ``similarity``: maps
    candidate texts to their cosine with the theme (``None`` without embeddings). Ranked by Dunning's
    log-likelihood, or, with embeddings, by similarity among the 3n best of those (lift >= 2 in both)."""
    excluded = {t.term for text in (theme, *exclude) for t in analyze(text)}
    hit_df, surfaces, first, n_hits = document_frequencies(
        ((h.passage_id, h.doc_id, h.text) for h in hits), analyze
    )
    bg_df, _, _, n_bg = document_frequencies(background, analyze)
    by_id = {h.passage_id: h for h in hits}
    out: list[Suggestion] = []
    for key, count in hit_df.items():
        if count < min_count or excluded & set(
            key
        ):  # the theme's own words (죽 in 몸이 죽는) are no paraphrase
            continue
        lift = (count / max(n_hits, 1)) / ((bg_df.get(key, 0) + 1) / (n_bg + 1))
        if lift < 2.0:
            continue
        hit = by_id[first[key]]
        surface = surfaces[key].most_common(1)[0][0]
        at = max(0, hit.text.find(surface) - 40)
        example = {"passage_id": hit.passage_id, "title": hit.title, "snippet": hit.text[at : at + 120]}
        out.append(Suggestion(surface, key, count, bg_df.get(key, 0), lift, example=example))
    out.sort(key=lambda s: (-log_likelihood(s.in_hits, n_hits, s.in_corpus, n_bg), s.text))
    if similarity is not None and out:
        pool = out[: max(n * 3, n)]
        for s, sim in zip(pool, similarity([s.text for s in pool]), strict=True):
            s.similarity = float(sim)
        out = sorted(pool, key=lambda s: (-(s.similarity or 0.0), s.text))
    return out[:n]
