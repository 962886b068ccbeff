"""Resumable crawl loop shared by the site sources.

Truth lives in two files:
- ``data/raw/<source>.jsonl``: documents, appended and fsync'ed one by one (JsonlAppender repairs a
  torn last line). The ids already in it are never fetched again, so a rerun after ``kill -9`` adds
  exactly the missing documents, in the same order as an uninterrupted run.
- ``data/cache/crawl/<source>.state.json``: the listing cursor (next listing step, items found so
  far), rewritten atomically after every listing step so a rerun does not walk the listings again.
  It is discarded when the output file is gone or the source's params changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from ..config.crawl import RightsParams, SiteSourceParams
from ..io import JsonlAppender, read_jsonl, write_json
from . import rights
from .fetcher import Fetcher, FetchError

log = logging.getLogger(__name__)

RECORD_FIELDS = (
    "id",
    "source",
    "url",
    "title",
    "author",
    "genre",
    "published",
    "layout",
    "text",
    "fetched_at",
)
STATE_VERSION = 1


class ExtractError(Exception):
    """A page came back but held no usable document (layout change, truncated HTML, too short)."""


class Skip(Exception):
    """A page that is rightly not a document (deleted notice, refused by a page-level signal)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


@dataclass
class ListingStep:
    items: list[dict]  # {"id", "url", ...listing metadata}, JSON-serialisable
    page_ids: list[str]  # everything the listing page showed; empty or same as last step = end
    more: bool  # the source knows there is a next step
    errors: list[dict] = field(default_factory=list)


class SiteSource(Protocol):
    name: str
    params: SiteSourceParams

    def probe_url(self) -> str: ...  # the first URL the source reads: rights are judged there
    def max_steps(self) -> int: ...
    def list_step(self, fetcher: Fetcher, step: int) -> ListingStep: ...
    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict: ...


def fingerprint(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_state(path: Path, expected: str, output_exists: bool) -> dict:
    fresh = {
        "version": STATE_VERSION,
        "fingerprint": expected,
        "next_step": 0,
        "done": False,
        "items": [],
        "last_page": [],
    }
    if not output_exists or not path.exists():
        return fresh
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s unreadable: listing starts over (documents already saved are kept)", path)
        return fresh
    if state.get("version") != STATE_VERSION or state.get("fingerprint") != expected:
        return fresh
    return state


def existing_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {str(r.get("id")) for r in read_jsonl(path, on_error="skip")}


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(source: str, doc: dict, fetched_at: str | None) -> dict:
    """The raw-record contract (DESIGN.md), fields in a fixed order, extras after."""
    record = {key: doc.get(key) for key in RECORD_FIELDS}
    record["source"] = source
    record["layout"] = doc.get("layout") or "paragraphs"
    record["fetched_at"] = fetched_at
    for key, value in doc.items():
        if key not in record:
            record[key] = value
    return record


def _progress(total: int, initial: int, name: str, enabled: bool) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc=f"crawl {name}",
        unit="doc",
        disable=not (enabled and sys.stderr.isatty()),
    )


def crawl_site(
    source: SiteSource,
    fetcher: Fetcher,
    out_path: Path,
    state_path: Path,
    rights_params: RightsParams,
    progress: bool = True,
) -> dict:
    """Crawl one site source into ``out_path``; returns its report block."""
    started = time.monotonic()
    params = source.params
    report: dict[str, Any] = {
        "kind": "site",
        "documents": 0,
        "fetched": 0,
        "already_had": 0,
        "skipped": {"deleted": 0, "robots": 0, "rights": 0, "duplicate": 0},
        "errors": [],
        "rights": None,
        "requests": 0,
    }
    had_output = out_path.exists()  # no output (e.g. DVC removed it): the old listing cursor is void too
    appender = JsonlAppender(out_path)  # creates the file and cuts a torn tail before we read ids
    try:
        done = existing_ids(out_path)
        report["already_had"] = len(done)
        signals = rights.site_signals(fetcher, source.probe_url(), rights_params)
        decision = rights.decide(source.name, signals, params.rights_holder_opt_in)
        report["rights"] = decision.as_dict()
        if decision.message:
            log.warning(decision.message)
        if decision.refused:
            return report
        if not fetcher.allowed(source.probe_url()):
            probe = fetcher.redact(source.probe_url())
            report["errors"].append({"url": probe, "reason": "disallowed by robots.txt: nothing crawled"})
            log.warning("%s: robots.txt disallows %s: nothing crawled", source.name, probe)
            return report
        state = _walk_listing(source, fetcher, state_path, had_output, report)
        check_pages = rights_params.page_signals and decision.decision != "opt-in"
        _fetch_documents(source, fetcher, state["items"], done, appender, report, progress, check_pages)
    finally:
        appender.close()
        report["documents"] = len(existing_ids(out_path))
        report["requests"] = fetcher.requests
        report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _walk_listing(
    source: SiteSource, fetcher: Fetcher, state_path: Path, had_output: bool, report: dict
) -> dict:
    state = load_state(state_path, fingerprint(source.params.model_dump()), had_output)
    known = {item["id"] for item in state["items"]}
    while not state["done"] and state["next_step"] < source.max_steps():
        try:
            step = source.list_step(fetcher, state["next_step"])
        except (FetchError, ExtractError) as err:
            # Listing stops here; the cursor stays, so the next run retries this step.
            report["errors"].append({"url": getattr(err, "url", ""), "reason": f"listing: {err}"})
            break
        report["errors"].extend(step.errors)
        ended = not step.page_ids or step.page_ids == state["last_page"]
        for item in step.items:
            if item["id"] not in known:
                known.add(item["id"])
                state["items"].append(item)
        state["last_page"] = step.page_ids
        state["next_step"] += 1
        state["done"] = ended or not step.more
        write_json(state_path, state)
    return state


def _fetch_documents(
    source: SiteSource,
    fetcher: Fetcher,
    items: list[dict],
    done: set[str],
    appender: JsonlAppender,
    report: dict,
    progress: bool,
    check_pages: bool,
) -> None:
    limit = source.params.max_documents
    todo = [item for item in items if item["id"] not in done]
    bar = _progress(len(items), len(items) - len(todo), source.name, progress)
    try:
        for item in todo:
            if limit is not None and len(done) >= limit:
                break
            try:
                doc = source.fetch_document(fetcher, item)
                if check_pages:
                    _refuse_if_page_opts_out(doc)
            except FetchError as err:
                if err.kind in ("gone", "robots"):
                    report["skipped"]["deleted" if err.kind == "gone" else "robots"] += 1
                else:
                    report["errors"].append({"url": err.url, "reason": err.reason})
                continue
            except ExtractError as err:
                report["errors"].append({"url": item["url"], "reason": str(err)})
                continue
            except Skip as skip:
                report["skipped"][skip.kind] = report["skipped"].get(skip.kind, 0) + 1
                if skip.kind == "rights":
                    report["rights"].setdefault("refused_pages", []).append(
                        {"url": item["url"], "reason": str(skip)}
                    )
                    log.warning("%s: %s: %s", source.name, item["url"], skip)
                log.info("%s: skipped %s (%s)", source.name, item["url"], skip)
                continue
            finally:
                bar.update(1)
            doc.pop("_page_signals", None)
            if doc["id"] in done:  # another URL form of a document we have
                report["skipped"]["duplicate"] += 1
                continue
            record = make_record(source.name, doc, iso_utc(fetcher.clock.now()))
            appender.append([record])
            done.add(record["id"])
            report["fetched"] += 1
    finally:
        bar.close()


def _refuse_if_page_opts_out(doc: dict) -> None:
    signals = doc.get("_page_signals") or []
    if signals:
        raise Skip("rights", f"page opts out of AI training ({'; '.join(signals)})")
