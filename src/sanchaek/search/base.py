"""The search contract every backend fulfils (embedded Lucene and Elasticsearch).

Both backends are configured from the same Nori analysis params and must return the same hits
for the same data; one contract test suite runs against each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .plan import Clause


@dataclass(frozen=True)
class Token:
    """One analysed token, like an entry of Elasticsearch's ``_analyze`` response."""

    term: str
    pos: str  # left part-of-speech tag (e.g. NNG, VA)
    start: int  # character offsets into the analysed text
    end: int
    # Lucene position (stopped tokens leave gaps, as in Elasticsearch's _analyze); -1: not reported
    position: int = -1
    position_length: int = 1  # positions a token spans (a compound read whole in mixed mode)


@dataclass(frozen=True)
class Hit:
    passage_id: str
    doc_id: str
    score: float
    text: str
    highlight: str  # matched terms wrapped in <em>…</em>
    # stored beside the text so that the app and compose can cite a passage without the passages file
    source: str = ""
    genre: str = ""
    title: str = ""


@dataclass(frozen=True)
class ThemeQuery:
    """A structured query: ``text`` or any of its ``synonyms`` (each analysed like the documents).

    ``match``: the analysed terms of one alternative combine as any (OR), all (AND) or phrase —
    Elasticsearch's ``match`` (operator or/and) and ``match_phrase``. ``weight`` multiplies scores.
    A plain string passed to ``search`` means ``ThemeQuery(text)``.

    ``clauses`` (``search.plan``), when given, replace that: the OR of these clauses is searched
    (``match: unit`` needs the analysis to plan them, so the caller plans and the backend runs them).
    """

    text: str
    synonyms: tuple[str, ...] = field(default_factory=tuple)
    match: Literal["unit", "any", "all", "phrase"] = "any"
    weight: float = 1.0
    slop: int = 2  # match unit: positions a multi-word alternative's words may stray (match_phrase slop)
    clauses: tuple[Clause, ...] = field(default_factory=tuple)

    @property
    def alternatives(self) -> tuple[str, ...]:
        return (self.text, *self.synonyms)


# Metadata stored beside each passage's ids and text (every backend stores the same ``_source``).
STORED_FIELDS = ("source", "genre", "title", "author")


def passage_hit(record: dict, passage_id: str, score: float, highlight_chars: int) -> Hit:
    """A hit built from a passage record (``passages.jsonl``), for rankings that do not come from a
    backend's own index (the dense searches): its opening as the highlight."""
    return Hit(
        passage_id=passage_id,
        doc_id=str(record["doc_id"]),
        score=score,
        text=record["text"],
        highlight=record["text"][:highlight_chars],
        source=str(record.get("source") or ""),
        genre=str(record.get("genre") or ""),
        title=str(record.get("title") or ""),
    )


def stored_source(passage: dict) -> dict:
    """What a backend stores for a passage (its ``_source``): ids, text and the metadata a hit carries."""
    source = {
        "passage_id": str(passage["passage_id"]),
        "doc_id": str(passage["doc_id"]),
        "text": passage["text"],
    }
    source.update({name: str(passage.get(name) or "") for name in STORED_FIELDS})
    return source


@runtime_checkable
class SearchBackend(Protocol):
    name: str

    def index(self, passages: Iterable[dict]) -> int:
        """(Re)build the index from passage records (``passage_id, doc_id, text, …``); returns the count."""

    def search(self, query: str | ThemeQuery, k: int) -> list[Hit]:
        """Top ``k`` passages for ``query`` (analysed like the documents), best first.

        Ties are broken by ``passage_id`` so that both backends return the same list.
        """

    def count(self) -> int: ...

    def analyze(self, text: str) -> list[Token]: ...

    def nearest_terms(self, term: str, n: int) -> list[str]:
        """Up to ``n`` indexed terms close to ``term`` (same first character, small edit distance)."""

    def close(self) -> None: ...
