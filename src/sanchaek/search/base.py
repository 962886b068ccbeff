"""The search contract every backend fulfils (embedded Lucene and Elasticsearch).

Both backends are configured from the same Nori analysis params and must return the same hits
for the same data; one contract test suite runs against each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Token:
    """One analysed token, like an entry of Elasticsearch's ``_analyze`` response."""

    term: str
    pos: str  # left part-of-speech tag (e.g. NNG, VA)
    start: int  # character offsets into the analysed text
    end: int


@dataclass(frozen=True)
class Hit:
    passage_id: str
    doc_id: str
    score: float
    text: str
    highlight: str  # matched terms wrapped in <em>…</em>


@runtime_checkable
class SearchBackend(Protocol):
    name: str

    def index(self, passages: Iterable[dict]) -> int:
        """(Re)build the index from passage records (``passage_id, doc_id, text, …``); returns the count."""

    def search(self, query: str, k: int) -> list[Hit]:
        """Top ``k`` passages for ``query`` (analysed like the documents), best first."""

    def count(self) -> int: ...

    def analyze(self, text: str) -> list[Token]: ...

    def close(self) -> None: ...
