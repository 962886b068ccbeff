"""Passages: consecutive whole sentences of one document, up to ``passage_chars`` characters.

Sentences are never cut. A sentence longer than ``passage_chars`` becomes a passage of its own
(the quality filter has already dropped run-ons over ``quality.max_sentence_chars``). Sentences
keep the separator they had in the document: a space inside a line, a newline between lines
(verse lines of a poem, paragraphs of prose), so passage text reads like its source.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    text: str
    sep: str  # what joined it to the previous sentence in the document: " " or "\n"


@dataclass(frozen=True)
class Passage:
    ordinal: int  # position among the document's passages (before passage-level dedup)
    text: str
    n_sentences: int


def build_passages(sentences: list[Sentence], passage_chars: int) -> list[Passage]:
    """Greedy packing in order; a new passage starts when the next sentence would overflow."""
    passages: list[Passage] = []
    parts: list[str] = []
    length = count = 0
    for sentence in sentences:
        added = len(sentence.text) + (len(sentence.sep) if parts else 0)
        if parts and length + added > passage_chars:
            passages.append(Passage(len(passages), "".join(parts), count))
            parts, length, count = [], 0, 0
            added = len(sentence.text)
        parts.append(sentence.text if not parts else sentence.sep + sentence.text)
        length += added
        count += 1
    if parts:
        passages.append(Passage(len(passages), "".join(parts), count))
    return passages


def passage_id(doc_id: str, ordinal: int) -> str:
    """Stable id: the document id and the passage's position in it (same input -> same ids)."""
    return f"{doc_id}#{ordinal:04d}"
