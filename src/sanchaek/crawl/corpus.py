"""The offline default source: the public-domain corpus in ../shared/data/corpus/works.jsonl.

Records are mapped onto the raw-record contract and written in one atomic write (temp + rename):
a kill leaves the previous file or the new one, so a rerun is the whole resume story.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from ..config.crawl import CorpusSourceParams
from ..errors import SanchaekError
from ..io import read_jsonl, write_jsonl
from .runner import make_record

REQUIRED = ("id", "title", "text")


def corpus_records(params: CorpusSourceParams, report: dict) -> list[dict]:
    """Read, check and map the corpus; bad lines raise (file:line) or are counted per ``on_bad_line``."""
    path = Path(params.path)
    skips: list[dict] = []

    def skipped(lineno: int, reason: str) -> None:
        skips.append({"line": lineno, "reason": reason})

    records, seen = [], set()
    lines = read_jsonl(
        path, on_error=params.on_bad_line, skipped=skipped, missing_fix="set crawl.corpus.path to works.jsonl"
    )
    for lineno, work in enumerate(lines, start=1):
        problem = _problem(work, seen)
        if problem:
            if params.on_bad_line == "raise":
                raise SanchaekError(
                    f"{path}: record {lineno} (id {work.get('id')!r}): {problem}: fix it or set crawl.corpus.on_bad_line: skip"
                )
            skipped(lineno, problem)
            continue
        seen.add(work["id"])
        records.append(_to_raw(work))
    report["skipped"] = {"bad_line": len(skips)}
    report["bad_lines"] = skips[:50]
    return records


def _problem(work: dict, seen: set[str]) -> str:
    for key in REQUIRED:
        if not isinstance(work.get(key), str) or not work[key].strip():
            return f"missing or empty '{key}'"
    if work["id"] in seen:
        return "duplicate id"
    return ""


def _to_raw(work: dict) -> dict:
    year = work.get("year")
    doc = {
        "id": work["id"],
        "url": None,  # an offline file has no URL; provenance is in `origin`
        "title": unicodedata.normalize("NFC", work["title"]),
        "author": work.get("author"),
        "genre": work.get("genre"),
        "published": str(year) if year else None,
        "layout": work.get("layout") or "paragraphs",
        "text": unicodedata.normalize("NFC", work["text"]),
        "license": work.get("license"),
        "origin": work.get("source"),
        "author_death_year": work.get("author_death_year"),
    }
    # fetched_at is null: nothing is fetched, and a timestamp (or the file's mtime) would change the
    # bytes of data/raw/corpus.jsonl on every run, so DVC would see a new output hash and rerun
    # everything downstream. With null the output is a pure function of works.jsonl.
    return make_record("corpus", doc, fetched_at=None)


def crawl_corpus(params: CorpusSourceParams, out_path: Path) -> dict:
    started = time.monotonic()
    report: dict = {"kind": "offline", "path": params.path}
    records = corpus_records(params, report)
    report["documents"] = write_jsonl(out_path, records)
    report["fetched"] = report["documents"]
    report["errors"] = []
    report["rights"] = {
        "decision": "allowed",
        "signals": [],
        "message": "public-domain corpus (see its PROVENANCE.md)",
    }
    report["seconds"] = round(time.monotonic() - started, 3)
    return report
