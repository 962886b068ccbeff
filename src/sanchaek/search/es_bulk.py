"""Bulk loading into a new Elasticsearch index: chunks of ``index`` actions with fixed ids.

Chunks go out on ``index.elasticsearch_bulk_workers`` threads (the client is thread-safe), and the
reading of passages is held back by what is still unacknowledged. Resending a chunk is harmless (the
same id overwrites the same document), so a dropped connection or a 429 (whole request or single
items) is answered by resending what was not written, after an exponential backoff with full jitter. A 429 is the cluster's load, never a rejected passage; a
passage the server refuses for itself (a mapping error) is reported with its reason.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Iterator

from ..config.search import IndexParams
from ..errors import SanchaekError
from ..executors import ordered_thread_map
from .base import stored_source
from .es_transport import RETRY_STATUSES, backoff_s, translated_errors

log = logging.getLogger(__name__)


def bulk_operations(index: str, sources: Iterable[dict]) -> list[dict]:
    """The ``_bulk`` body: an ``index`` action with a fixed ``_id`` per passage (resending is harmless)."""
    ops: list[dict] = []
    for source in sources:
        ops.append({"index": {"_index": index, "_id": source["passage_id"]}})
        ops.append(source)
    return ops


def chunks(passages: Iterable[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for p in passages:
        chunk.append(stored_source(p))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sort_bulk_items(sources: list[dict], items: list[dict]) -> tuple[int, list[dict], list[dict]]:
    """(accepted count, passages to resend (429), rejected passages) of one ``_bulk`` response."""
    ok, again, rejected = 0, [], []
    for source, item in zip(sources, items, strict=True):
        info = next(iter(item.values())) if item else {}
        status = int(info.get("status", 500))
        if 200 <= status < 300:
            ok += 1
        elif status in RETRY_STATUSES:  # the node was busy: not the passage's fault
            again.append(source)
        else:
            error = info.get("error") or "unknown error"
            if isinstance(error, dict):
                error = f"{error.get('type', 'error')}: {error.get('reason', '')}"
            rejected.append(
                {"passage_id": source["passage_id"], "status": status, "reason": str(error)[:300]}
            )
            log.warning("Elasticsearch rejected passage %s: %s", source["passage_id"], error)
    return ok, again, rejected


def load_bulk(
    client: object,
    index: str,
    passages: Iterable[dict],
    params: IndexParams,
    *,
    where: str,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> tuple[int, list[dict]]:
    """(documents written, rejected passages) after sending every passage into ``index``.

    ``index.elasticsearch_bulk_workers`` chunks are in flight at once; the passages are read at most
    two chunks per worker ahead of what the cluster has acknowledged, so a slow cluster slows the
    reading instead of filling memory, and its 429s are resent per chunk with backoff as ever."""

    def send(chunk: list[dict]) -> tuple[int, list[dict]]:
        return send_chunk(client, index, chunk, params, where=where, sleep=sleep, rng=rng)

    n, rejected = 0, []
    batches = chunks(passages, params.elasticsearch_bulk_docs)
    for ok, bad in ordered_thread_map(send, batches, params.elasticsearch_bulk_workers):
        n += ok
        rejected += bad
    return n, rejected


def send_chunk(
    client: object,
    index: str,
    sources: list[dict],
    params: IndexParams,
    *,
    where: str,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> tuple[int, list[dict]]:
    """Send one chunk; resend what a dropped connection or a 429 left unwritten, with backoff."""
    from elastic_transport import ApiError, ConnectionError, ConnectionTimeout

    alias, retries = params.elasticsearch_index, params.elasticsearch_max_retries
    ok, rejected, pending = 0, [], sources
    for attempt in range(retries + 1):
        if attempt:
            sleep(
                backoff_s(
                    attempt - 1, params.elasticsearch_backoff_s, params.elasticsearch_backoff_max_s, rng
                )
            )
        try:
            # the transport's own retries are off: this loop resends only what is still pending
            resp = client.options(max_retries=0).bulk(operations=bulk_operations(index, pending))  # type: ignore[attr-defined]
        except (ConnectionError, ConnectionTimeout, ApiError) as exc:
            status = getattr(getattr(exc, "meta", None), "status", None)
            if isinstance(exc, ApiError) and status not in RETRY_STATUSES:
                with translated_errors(where, f"bulk indexing into {index}", alias):
                    raise
            if attempt == retries:
                action = (
                    f"bulk indexing into {index} ({retries} retries; the live alias {alias} is unchanged)"
                )
                with translated_errors(where, action, alias):
                    raise
            log.warning("bulk request failed (%s), resending %d passages", type(exc).__name__, len(pending))
            continue
        accepted, pending, bad = sort_bulk_items(pending, resp["items"])
        ok += accepted
        rejected += bad
        if not pending:
            return ok, rejected
        log.warning("Elasticsearch was too busy for %d passages (429), resending", len(pending))
    raise SanchaekError(
        f"bulk indexing into {index} failed at {where}: Elasticsearch answered 429 (too many requests) "
        f"for {len(pending)} passages through {retries} retries; the live alias {alias} is unchanged: "
        "retry later, lower index.elasticsearch_bulk_docs or raise index.elasticsearch_max_retries"
    )
