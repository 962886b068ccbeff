"""Elasticsearch backend (elasticsearch-py 9) with the same Nori analysis as the embedded one.

A build writes a new versioned index (``<alias>-<timestamp>``) with explicit settings and mappings,
streams documents through ``helpers.streaming_bulk`` (every rejected document is reported), and only
then moves the alias: searches never see a half-built index. Credentials come only from the
environment: ``ELASTICSEARCH_API_KEY``, or ``ELASTICSEARCH_USERNAME`` / ``ELASTICSEARCH_PASSWORD``;
TLS options from ``ELASTICSEARCH_CA_CERTS`` and ``ELASTICSEARCH_VERIFY_CERTS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config.search import IndexParams
from ..errors import SanchaekError
from .analysis import ANALYZER_NAME, elasticsearch_filters, elasticsearch_settings, elasticsearch_tokenizer
from .base import STORED_FIELDS, Hit, ThemeQuery, Token, stored_source
from .elastic_query import clauses_query
from .meta import REBUILD_HINT, building_dir, index_meta, read_meta, swap_into_place, write_meta

log = logging.getLogger(__name__)

NORI_HINT = "install the plugin on the server: bin/elasticsearch-plugin install analysis-nori"


def mappings() -> dict:
    """Explicit mappings: ids as keywords, text through the Nori analyzer, metadata stored only."""
    properties: dict[str, dict] = {
        "passage_id": {"type": "keyword"},
        "doc_id": {"type": "keyword"},
        "text": {"type": "text", "analyzer": ANALYZER_NAME, "index_options": "offsets"},
    }
    for name in STORED_FIELDS:
        properties[name] = {"type": "keyword", "index": False}
    return {"dynamic": "strict", "properties": properties}


def index_settings(params: IndexParams) -> dict:
    return {
        "number_of_shards": params.elasticsearch_shards,
        "number_of_replicas": params.elasticsearch_replicas,
        "refresh_interval": "-1",  # no refreshes while bulk loading; set back before the alias moves
        "analysis": elasticsearch_settings(params.analysis),
    }


def theme_query(query: str | ThemeQuery) -> dict:
    """Query DSL for a theme: each alternative a ``match`` (or ``match_phrase``), OR-ed, boosted."""
    theme = ThemeQuery(query) if isinstance(query, str) else query
    if theme.clauses:  # planned by search.plan (match: unit)
        return clauses_query(theme)
    alternatives = []
    for alt in theme.alternatives:
        if theme.match == "phrase":
            alternatives.append({"match_phrase": {"text": {"query": alt}}})
        else:
            operator = "and" if theme.match == "all" else "or"
            alternatives.append({"match": {"text": {"query": alt, "operator": operator}}})
    return {"bool": {"should": alternatives, "boost": theme.weight}}


def highlight_request(params: IndexParams) -> dict:
    # The unified highlighter over postings offsets: what the embedded backend runs.
    return {
        "pre_tags": ["<em>"],
        "post_tags": ["</em>"],
        "fields": {
            "text": {
                "type": "unified",
                "boundary_scanner": "sentence",
                "fragment_size": params.highlight_fragment_chars,
                "number_of_fragments": params.highlight_fragments,
                "no_match_size": params.highlight_fragment_chars,
            }
        },
    }


def redact(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def client_options(url: str, params: IndexParams, env: Mapping[str, str]) -> dict:
    """Keyword arguments for ``Elasticsearch(...)``; credentials and TLS only from ``env``."""
    options: dict[str, Any] = {
        "hosts": [url],
        "request_timeout": params.elasticsearch_timeout_s,
        "max_retries": params.elasticsearch_max_retries,
        "retry_on_timeout": True,  # connection errors are retried by the transport as well
    }
    if env.get("ELASTICSEARCH_API_KEY"):
        options["api_key"] = env["ELASTICSEARCH_API_KEY"]
    elif env.get("ELASTICSEARCH_USERNAME"):
        options["basic_auth"] = (env["ELASTICSEARCH_USERNAME"], env.get("ELASTICSEARCH_PASSWORD", ""))
    if env.get("ELASTICSEARCH_CA_CERTS"):
        options["ca_certs"] = env["ELASTICSEARCH_CA_CERTS"]
    verify = env.get("ELASTICSEARCH_VERIFY_CERTS")
    if verify is not None and verify != "":
        if verify.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise SanchaekError(f"ELASTICSEARCH_VERIFY_CERTS={verify!r} is not a boolean: use true or false")
        options["verify_certs"] = verify.lower() in ("1", "true", "yes")
    return options


def bulk_actions(index: str, passages: Iterable[dict]) -> Iterator[dict]:
    for p in passages:
        source = stored_source(p)
        yield {"_index": index, "_id": source["passage_id"], "_source": source}


def collect_bulk_results(results: Iterable[tuple[bool, dict]]) -> tuple[int, list[dict]]:
    """Count accepted documents and describe every rejected one (``streaming_bulk`` output)."""
    ok_count, rejected = 0, []
    for ok, item in results:
        if ok:
            ok_count += 1
            continue
        info = next(iter(item.values())) if item else {}
        error = info.get("error") or info.get("exception") or "unknown error"
        if isinstance(error, dict):
            error = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        rejected.append(
            {"passage_id": info.get("_id"), "status": info.get("status"), "reason": str(error)[:300]}
        )
        log.warning("Elasticsearch rejected passage %s: %s", info.get("_id"), error)
    return ok_count, rejected


def _pos_name(value: str | None) -> str:
    # Elasticsearch explains POS as "NNG(General Noun)"; keep the tag like the embedded backend.
    return (value or "UNKNOWN").split("(", 1)[0]


class ElasticsearchBackend:
    """``SearchBackend`` over an Elasticsearch alias; ``index_dir`` keeps the metadata DVC tracks."""

    name = "elasticsearch"

    def __init__(self, params: IndexParams, url: str, index_dir: str | Path, env: Mapping[str, str]):
        self.params = params
        self.url = url
        self.alias = params.elasticsearch_index
        self.index_dir = Path(index_dir)
        self.rejected: list[dict] = []
        self._options = client_options(url, params, env)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import AuthenticationException, Elasticsearch

        client = Elasticsearch(**self._options)
        try:
            client.info()
        except (TransportConnectionError, ConnectionTimeout) as exc:
            raise SanchaekError(
                f"cannot reach Elasticsearch at {redact(self.url)} ({type(exc).__name__}): start the server, "
                "fix index.elasticsearch_url / ELASTICSEARCH_URL, or set index.backend: embedded"
            ) from exc
        except AuthenticationException as exc:
            raise SanchaekError(
                f"Elasticsearch at {redact(self.url)} rejected the credentials: set ELASTICSEARCH_API_KEY "
                "or ELASTICSEARCH_USERNAME / ELASTICSEARCH_PASSWORD"
            ) from exc
        return client

    def describe(self) -> str:
        return f"elasticsearch {redact(self.url)} alias {self.alias}"

    # analysis
    def analyze(self, text: str) -> list[Token]:
        from elasticsearch import BadRequestError

        analysis = self.params.analysis
        try:
            resp = self.client.indices.analyze(
                tokenizer=elasticsearch_tokenizer(analysis),
                filter=elasticsearch_filters(analysis),
                text=text,
                explain=True,
            )
        except BadRequestError as exc:
            raise SanchaekError(
                f"Elasticsearch cannot run the Nori analysis ({exc.message}): {NORI_HINT}"
            ) from exc
        detail = resp["detail"]
        stages = detail.get("tokenfilters") or []
        tokens = stages[-1]["tokens"] if stages else detail["tokenizer"]["tokens"]
        return [
            Token(t["token"], _pos_name(t.get("leftPOS")), t["start_offset"], t["end_offset"]) for t in tokens
        ]

    # indexing
    def index(self, passages: Iterable[dict]) -> int:
        from elasticsearch import BadRequestError, helpers

        client = self.client
        if client.indices.exists(index=self.alias) and not client.indices.exists_alias(name=self.alias):
            raise SanchaekError(
                f"Elasticsearch has an index (not an alias) named {self.alias}: delete it or set index.elasticsearch_index"
            )
        versioned = f"{self.alias}-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
        try:
            client.indices.create(index=versioned, settings=index_settings(self.params), mappings=mappings())
        except BadRequestError as exc:
            raise SanchaekError(
                f"Elasticsearch refused the index settings ({exc.message}): {NORI_HINT}"
            ) from exc
        try:
            results = helpers.streaming_bulk(
                client,
                bulk_actions(versioned, passages),
                chunk_size=self.params.elasticsearch_bulk_docs,
                max_retries=self.params.elasticsearch_max_retries,  # 429s back off and retry
                raise_on_error=False,
                raise_on_exception=False,
            )
            n, self.rejected = collect_bulk_results(results)
            if len(self.rejected) > self.params.max_rejected:
                first = self.rejected[0]
                raise SanchaekError(
                    f"Elasticsearch rejected {len(self.rejected)} passages (first {first['passage_id']}: "
                    f"{first['reason']}); the live alias {self.alias} is unchanged: fix the passages or raise "
                    "index.max_rejected"
                )
            client.indices.put_settings(index=versioned, settings={"refresh_interval": "1s"})
            client.indices.refresh(index=versioned)
        except BaseException:
            client.indices.delete(index=versioned, ignore_unavailable=True)
            raise
        old = (
            list(client.indices.get_alias(name=self.alias).body)
            if client.indices.exists_alias(name=self.alias)
            else []
        )
        actions = [{"remove": {"index": o, "alias": self.alias}} for o in old]
        actions.append({"add": {"index": versioned, "alias": self.alias}})
        client.indices.update_aliases(actions=actions)  # atomic: readers switch all at once
        for o in old:
            client.indices.delete(index=o, ignore_unavailable=True)
        building = building_dir(self.index_dir)
        meta = index_meta(self.params, self.name, n, url=redact(self.url), alias=self.alias, index=versioned)
        write_meta(building, meta)
        swap_into_place(building, self.index_dir)
        return n

    # searching
    def _check_index(self) -> None:
        read_meta(self.index_dir, self.params, self.name)
        if not self.client.indices.exists_alias(name=self.alias):
            raise SanchaekError(
                f"Elasticsearch at {redact(self.url)} has no alias {self.alias}: {REBUILD_HINT}"
            )

    def count(self) -> int:
        self._check_index()
        return int(self.client.count(index=self.alias)["count"])

    def search(self, query: str | ThemeQuery, k: int) -> list[Hit]:
        self._check_index()
        if k <= 0:
            return []
        resp = self.client.search(
            index=self.alias,
            query=theme_query(query),
            size=k,
            sort=[{"_score": "desc"}, {"passage_id": "asc"}],
            track_scores=True,
            highlight=highlight_request(self.params),
        )
        hits = []
        for h in resp["hits"]["hits"]:
            src = h["_source"]
            fragments = h.get("highlight", {}).get("text", [])
            hits.append(
                Hit(
                    passage_id=src["passage_id"],
                    doc_id=src["doc_id"],
                    score=float(h["_score"]),
                    text=src["text"],
                    highlight=" … ".join(fragments) or src["text"][: self.params.highlight_fragment_chars],
                    source=src.get("source", ""),
                    genre=src.get("genre", ""),
                    title=src.get("title", ""),
                )
            )
        return hits

    def nearest_terms(self, term: str, n: int) -> list[str]:
        """Elasticsearch's term suggester (Lucene's DirectSpellChecker), same settings as embedded."""
        self._check_index()
        if n <= 0 or not term:
            return []
        suggester = {
            "field": "text",
            "analyzer": "keyword",  # the term is already analysed
            "size": n,
            "suggest_mode": "always",
            "min_word_length": 1,
            "prefix_length": 1,
            "max_edits": 2,
            "accuracy": 0.0,
            "max_term_freq": 2**31,
        }
        resp = self.client.search(
            index=self.alias, size=0, suggest={"near": {"text": term, "term": suggester}}
        )
        options = resp["suggest"]["near"][0]["options"] if resp["suggest"]["near"] else []
        return [o["text"] for o in options]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
