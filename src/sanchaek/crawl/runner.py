"""Resumable crawl loop shared by the site sources.

Truth lives in two files:
- ``data/raw/<source>.jsonl``: documents, appended and fsync'ed one by one (JsonlAppender repairs a
  torn last line). The ids already in it are never fetched again, so a rerun after ``kill -9`` adds
  exactly the missing documents, in the same order as an uninterrupted run.
- ``data/cache/crawl/<source>.state.json``: the listing cursor (next listing page, the pages seen
  per route, items found so far), rewritten atomically after every listing step so a rerun does not
  walk the listings again. It is discarded when the output file is gone or the source's params changed.

Listings are walked route by route (a board, a feed): a route ends at an empty page, a page already
seen on that route (XE repeats its last page; a listing may loop), or when the source has no next
page. Items are deduplicated by their canonical ``key``; the report counts them per route.
A page that came back 200 but cut short (``Truncated``) is fetched again with backoff in the same run.
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
STATE_VERSION = 2


class ExtractError(Exception):
    """A page came back but held no usable document (layout change, truncated HTML, too short)."""


class Truncated(ExtractError):
    """A 200 page whose content lacks its end: a broken transfer in disguise, worth fetching again."""


class Skip(Exception):
    """A page that is rightly not a document (deleted notice, refused by a page-level signal)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


@dataclass
class ListingStep:
    items: list[dict]  # {"id", "url", optional "key", ...listing metadata}, JSON-serialisable
    page_ids: list[str]  # everything the listing page showed; empty or seen before on this route = end
    next: dict | None  # cursor of the next page of this route; None: the route ends here
    errors: list[dict] = field(default_factory=list)


class SiteSource(Protocol):
    """Cursors are JSON dicts with at least ``route`` (the discovery route items are counted under)."""

    name: str
    params: SiteSourceParams

    def probe_url(self) -> str: ...  # the first URL the source reads: rights are judged there
    def first_cursor(self) -> dict: ...
    def list_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep: ...
    def next_route(self, cursor: dict, items: list[dict]) -> dict | None: ...  # after a route ends
    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict: ...


def item_key(item: dict) -> str:
    """The canonical identity of a listed item (its canonical URL where the source knows one)."""
    return str(item.get("key") or item["id"])


def fingerprint(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_state(path: Path, expected: str, output_exists: bool, first_cursor: dict) -> dict:
    fresh = {
        "version": STATE_VERSION,
        "fingerprint": expected,
        "cursor": first_cursor,
        "items": [],
        "seen_pages": {},  # route scope -> fingerprints of the pages seen there
        "pages": 0,
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
        "refusals": [],  # {"url", "reason"}: what robots.txt, the rights policy or a page signal refused
        "discovered": {},  # route -> items first found there
        "documents_by_route": {},  # route -> documents saved this run
        "listing_pages": 0,
        "truncated": {"retries": 0, "recovered": 0, "failed": 0},
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
            report["refusals"].append({"url": fetcher.redact(source.probe_url()), "reason": decision.message})
            return report
        if not fetcher.allowed(source.probe_url()):
            probe = fetcher.redact(source.probe_url())
            report["errors"].append({"url": probe, "reason": "disallowed by robots.txt: nothing crawled"})
            report["refusals"].append({"url": probe, "reason": "disallowed by robots.txt: nothing crawled"})
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
    state = load_state(state_path, fingerprint(source.params.model_dump()), had_output, source.first_cursor())
    index = {item_key(item): n for n, item in enumerate(state["items"])}
    while state["cursor"] is not None:
        cursor = state["cursor"]
        try:
            step = source.list_step(fetcher, cursor)
        except (FetchError, ExtractError) as err:
            report["errors"].append({"url": getattr(err, "url", ""), "reason": f"listing: {err}"})
            if isinstance(err, FetchError) and err.kind == "robots":
                report["refusals"].append({"url": err.url, "reason": f"listing: {err.reason}"})
            if isinstance(err, FetchError) and err.kind in ("gone", "robots"):
                # this route is closed for good: go on with the next one
                state["cursor"] = source.next_route(cursor, state["items"])
                write_json(state_path, state)
                continue
            # Listing stops here; the cursor stays, so the next run retries this step.
            break
        state["pages"] += 1
        report["errors"].extend(step.errors)
        scope = str(cursor.get("scope") or cursor["route"])
        seen = state["seen_pages"].setdefault(scope, [])
        page = fingerprint(sorted(step.page_ids))
        ended = not step.page_ids or page in seen or step.next is None
        seen.append(page)
        for item in step.items:
            item.setdefault("route", cursor["route"])
            key = item_key(item)
            if key not in index:
                index[key] = len(state["items"])
                state["items"].append(item)
            elif state["items"][index[key]].get("unresolved") and not item.get("unresolved"):
                # the same document, now with its full address: keep the better form, first route
                state["items"][index[key]] = {**item, "route": state["items"][index[key]]["route"]}
        state["cursor"] = source.next_route(cursor, state["items"]) if ended else step.next
        write_json(state_path, state)
    report["listing_pages"] = state["pages"]
    for item in state["items"]:
        report["discovered"][item["route"]] = report["discovered"].get(item["route"], 0) + 1
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
    # an item listed under another address of a saved document (a link without mid) is not fetched again
    key_of = getattr(source, "key_of_id", None)
    done_keys = {key_of(doc_id) for doc_id in done} if key_of else set()
    todo = [item for item in items if item["id"] not in done and item_key(item) not in done_keys]
    bar = _progress(len(items), len(items) - len(todo), source.name, progress)
    try:
        for item in todo:
            if limit is not None and len(done) >= limit:
                break
            try:
                doc = _fetch_with_truncation_retries(source, fetcher, item, report)
                if check_pages:
                    _refuse_if_page_opts_out(doc)
            except FetchError as err:
                if err.kind in ("gone", "robots"):
                    report["skipped"]["deleted" if err.kind == "gone" else "robots"] += 1
                    if err.kind == "robots":
                        report["refusals"].append({"url": err.url, "reason": err.reason})
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
                    report["refusals"].append({"url": item["url"], "reason": str(skip)})
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
            route = item.get("route", "listing")
            report["documents_by_route"][route] = report["documents_by_route"].get(route, 0) + 1
    finally:
        bar.close()


def _fetch_with_truncation_retries(source: SiteSource, fetcher: Fetcher, item: dict, report: dict) -> dict:
    """A truncated 200 page is a broken transfer: fetch it again after a backoff, then give up."""
    params = fetcher.params
    for attempt in range(params.truncated_retries + 1):
        try:
            doc = source.fetch_document(fetcher, item)
        except Truncated as err:
            if attempt == params.truncated_retries:
                report["truncated"]["failed"] += 1
                raise Truncated(f"{err} (still cut short after {attempt + 1} fetches)") from None
            wait = min(params.backoff_base_s * 2**attempt, params.backoff_max_s)
            report["truncated"]["retries"] += 1
            fetcher.waits.append((fetcher.redact(item["url"]), wait, f"truncated: {err}"))
            log.info("%s: %s, fetching again in %.1f s", fetcher.redact(item["url"]), err, wait)
            fetcher.clock.sleep(wait)
            continue
        if attempt:
            report["truncated"]["recovered"] += 1
        return doc
    raise AssertionError("unreachable")


def _refuse_if_page_opts_out(doc: dict) -> None:
    signals = doc.get("_page_signals") or []
    if signals:
        raise Skip("rights", f"page opts out of AI training ({'; '.join(signals)})")
