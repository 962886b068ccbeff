"""The corpus as the app shows it: passages by id, their documents' metadata, sources and genres.

Plain Python (no Streamlit). Passages carry title, author, genre and source (preprocess copies them
from the crawl record); year, licence and URL stay on the document (``documents.jsonl``), joined by
``doc_id``. Read once per file version (the views cache these objects by mtime and size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOC_FIELDS = ("title", "author", "genre", "published", "year", "license", "url", "source")


@dataclass(frozen=True)
class PassageCatalog:
    by_id: dict[str, dict] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)


def _records(path: Path):
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record
    except OSError:
        return


def load_passages(path: Path) -> PassageCatalog:
    by_id: dict[str, dict] = {}
    sources: set[str] = set()
    genres: set[str] = set()
    lengths: list[int] = []
    for record in _records(path):
        text = record.get("text") or ""
        lengths.append(len(text))
        if record.get("passage_id") is not None:
            by_id[str(record["passage_id"])] = record
        sources.add(str(record.get("source") or ""))
        genres.add(str(record.get("genre") or ""))
    return PassageCatalog(by_id, sorted(sources - {""}), sorted(genres - {""}), lengths)


def load_document_meta(path: Path) -> dict[str, dict]:
    """doc id -> its metadata (no text), from documents.jsonl."""
    return {
        str(r["id"]): {k: r.get(k) for k in DOC_FIELDS if r.get(k) not in (None, "")}
        for r in _records(path)
        if r.get("id") is not None
    }


def year_of(published: Any) -> str:
    """'1932-06-01' or '1932' -> '1932'; anything else -> ''."""
    text = str(published or "")
    return text[:4] if len(text) >= 4 and text[:4].isdigit() else ""


def passage_card(passage: dict, doc: dict | None) -> dict[str, str]:
    """The fields of the full-passage view, in reading order; a missing one is '—'."""
    doc = doc or {}

    def first(*values: Any) -> str:
        return next((str(v) for v in values if v not in (None, "")), "—")

    return {
        "제목 title": first(passage.get("title"), doc.get("title")),
        "작가 author": first(passage.get("author"), doc.get("author")),
        "연도 year": first(
            year_of(doc.get("published")), year_of(doc.get("year")), year_of(passage.get("year"))
        ),
        "장르 genre": first(passage.get("genre"), doc.get("genre")),
        "출처 source": first(passage.get("source"), doc.get("source")),
        "이용 허락 licence": first(doc.get("license"), passage.get("license")),
        "주소 URL": first(doc.get("url")),
        "문서 document": first(passage.get("doc_id")),
    }
