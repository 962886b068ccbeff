"""Elasticsearch backend (elasticsearch-py 9, servers 8.x and 9.x) with the same Nori analysis as the
embedded one.

At connect time the backend reads the server's version: 8.x (Lucene 9) and 9.x (Lucene 10) are
supported, anything else is refused in one line; requests carry the REST compatibility headers that
version accepts (``es_transport``), and the stoptags are written in the tag vocabulary of its Lucene
(E/J on Lucene 9, EF/EC/JKS/... on Lucene 10).

A build writes a new versioned index (``<alias>-<timestamp>``) with explicit settings, similarity and
mappings, sends the documents in bulk chunks of ``index`` actions with fixed ids (resending a chunk
is harmless, so dropped connections and 429s are retried with backoff and jitter; a 429 is never a
rejected passage), and only then moves the alias: searches never see a half-built index, and a
failed build deletes its index. Index creation is never retried (a retried create would meet its own
first attempt); indices that an earlier, killed build left behind are deleted before a new one.
Credentials come only from the environment: ``ELASTICSEARCH_API_KEY``, or ``ELASTICSEARCH_USERNAME``
/ ``ELASTICSEARCH_PASSWORD``; TLS options from ``ELASTICSEARCH_CA_CERTS`` and ``ELASTICSEARCH_VERIFY_CERTS``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..config.search import IndexParams
from ..errors import SanchaekError
from .analysis import (
    ANALYZER_NAME,
    TagSet,
    elasticsearch_filters,
    elasticsearch_settings,
    elasticsearch_tokenizer,
)
from .base import STORED_FIELDS, Hit, ThemeQuery, Token
from .elastic_query import clauses_query
from .es_bulk import load_bulk
from .es_transport import (
    ServerInfo,
    check_supported,
    client_options,
    compat_node_class,
    redact,
    server_info,
    translated_errors,
)
from .highlight import str_index, utf16_to_str_offsets
from .meta import REBUILD_HINT, building_dir, index_meta, read_meta, swap_into_place, write_meta

log = logging.getLogger(__name__)

SIMILARITY_NAME = "sanchaek_bm25"
# Lucene's BM25Similarity() defaults, which the embedded index scores with.
BM25_K1, BM25_B = 1.2, 0.75
# Elasticsearch's BM25 is Lucene's LegacyBM25Similarity: every score times (k1 + 1). Dividing it out
# puts both backends' scores (and so query.min_score) on one scale.
LEGACY_BM25_FACTOR = BM25_K1 + 1.0
SORT = [{"_score": "desc"}, {"passage_id": "asc"}]  # ties rank by passage_id on both backends
PIT_KEEP_ALIVE = "2m"


def mappings() -> dict:
    """Explicit mappings: ids as keywords, text through the Nori analyzer, metadata stored only."""
    properties: dict[str, dict] = {
        "passage_id": {"type": "keyword"},
        "doc_id": {"type": "keyword"},
        "text": {
            "type": "text",
            "analyzer": ANALYZER_NAME,
            "index_options": "offsets",
            "similarity": SIMILARITY_NAME,
        },
    }
    for name in STORED_FIELDS:
        properties[name] = {"type": "keyword", "index": False}
    return {"dynamic": "strict", "properties": properties}


def index_settings(params: IndexParams, tagset: TagSet = "detailed") -> dict:
    """Settings of a new index; ``tagset``: the stoptag vocabulary of the server's Lucene."""
    return {
        "number_of_shards": params.elasticsearch_shards,
        "number_of_replicas": params.elasticsearch_replicas,
        "refresh_interval": "-1",  # no refreshes while bulk loading; set back before the alias moves
        "similarity": {
            SIMILARITY_NAME: {"type": "BM25", "k1": BM25_K1, "b": BM25_B, "discount_overlaps": True}
        },
        "analysis": elasticsearch_settings(params.analysis, tagset),
    }


def theme_query(query: str | ThemeQuery) -> dict:
    """Query DSL for a theme: each alternative a ``match`` (or ``match_phrase``), OR-ed, boosted.

    Every option whose Elasticsearch default differs from Lucene's QueryBuilder (what the embedded
    backend runs) is spelled out: ``auto_generate_synonyms_phrase_query`` is true on Elasticsearch and
    would turn the stacked tokens of ``decompound_mode: mixed`` into phrase queries.
    """
    theme = ThemeQuery(query) if isinstance(query, str) else query
    if theme.clauses:  # planned by search.plan (match: unit)
        return clauses_query(theme)
    alternatives = []
    for alt in theme.alternatives:
        if theme.match == "phrase":
            alternatives.append(
                {"match_phrase": {"text": {"query": alt, "slop": 0, "zero_terms_query": "none"}}}
            )
        else:
            operator = "and" if theme.match == "all" else "or"
            alternatives.append(
                {
                    "match": {
                        "text": {
                            "query": alt,
                            "operator": operator,
                            "auto_generate_synonyms_phrase_query": False,
                            "zero_terms_query": "none",
                            "lenient": False,
                        }
                    }
                }
            )
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


def _pos_name(value: str | None) -> str:
    # Elasticsearch explains POS as "NNG(General Noun)"; keep the tag like the embedded backend.
    return (value or "UNKNOWN").split("(", 1)[0]


class ElasticsearchBackend:
    """``SearchBackend`` over an Elasticsearch alias; ``index_dir`` keeps the metadata DVC tracks.

    ``node_class``: elastic_transport's node (the HTTP connection); tests pass a recording node.
    ``sleep`` and ``rng`` pace the retries (tests pass instant ones).
    """

    name = "elasticsearch"

    def __init__(
        self,
        params: IndexParams,
        url: str,
        index_dir: str | Path,
        env: Mapping[str, str],
        *,
        node_class: type | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.params = params
        self.url = url
        self.where = redact(url)
        self.alias = params.elasticsearch_index
        self.index_dir = Path(index_dir)
        self.rejected: list[dict] = []
        self.server: ServerInfo | None = None
        self._options = client_options(url, params, env)
        self._node_class = node_class
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client: Any = None
        self._window: int | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _errors(self, action: str):  # type: ignore[no-untyped-def]
        return translated_errors(self.where, action, self.alias)

    def _connect(self) -> Any:
        from elastic_transport import Urllib3HttpNode
        from elasticsearch import Elasticsearch

        node_class = compat_node_class(self._node_class or Urllib3HttpNode)
        client = Elasticsearch(**self._options, node_class=node_class)
        try:
            with self._errors("connecting"):
                info = server_info(client.info().body)  # sent as plain JSON: every version answers
            check_supported(info, f"Elasticsearch at {self.where}")
        except BaseException:
            client.close()
            raise
        node_class.compat_major = info.major
        self.server = info
        log.info("connected to %s at %s", info.describe(), self.where)
        return client

    @property
    def tagset(self) -> TagSet:
        self.client  # noqa: B018  (connects: the tag vocabulary is the server's)
        assert self.server is not None
        return self.server.tagset

    def describe(self) -> str:
        server = f" ({self.server.describe()})" if self.server else ""
        return f"elasticsearch {self.where}{server} alias {self.alias}"

    # analysis
    def analyze(self, text: str) -> list[Token]:
        analysis = self.params.analysis
        filters = elasticsearch_filters(analysis, self.tagset)
        with self._errors("_analyze with the Nori analysis"):
            resp = self.client.indices.analyze(
                tokenizer=elasticsearch_tokenizer(analysis), filter=filters, text=text, explain=True
            )
        detail = resp["detail"]
        stages = detail.get("tokenfilters") or []
        tokens = stages[-1]["tokens"] if stages else detail["tokenizer"]["tokens"]
        # Elasticsearch gives Java's UTF-16 offsets; Tokens hold Python string indices, as the
        # embedded backend's do (they differ after a character outside the BMP, an emoji say)
        mapping = utf16_to_str_offsets(text)
        return [
            Token(t["token"], _pos_name(t.get("leftPOS")), str_index(mapping, t["start_offset"]),
                  str_index(mapping, t["end_offset"]))
            for t in tokens
        ]  # fmt: skip

    # indexing
    def index(self, passages: Iterable[dict]) -> int:
        client = self.client
        settings = index_settings(self.params, self.tagset)  # a bad stoptag set fails before any request
        with self._errors(f"reading alias {self.alias}"):
            if client.indices.exists(index=self.alias) and not client.indices.exists_alias(name=self.alias):
                raise SanchaekError(
                    f"Elasticsearch has an index (not an alias) named {self.alias}: delete it or set "
                    "index.elasticsearch_index"
                )
            live = self._delete_orphans()
        versioned = f"{self.alias}-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
        try:
            with self._errors(f"creating index {versioned}"):
                # Never retried: a retry after a lost response would meet the index its first try made.
                client.options(max_retries=0).indices.create(
                    index=versioned, settings=settings, mappings=mappings()
                )
            n, self.rejected = load_bulk(
                client, versioned, passages, self.params, where=self.where, sleep=self._sleep, rng=self._rng
            )
            if len(self.rejected) > self.params.max_rejected:
                first = self.rejected[0]
                raise SanchaekError(
                    f"Elasticsearch rejected {len(self.rejected)} passages (first {first['passage_id']}: "
                    f"{first['reason']}); the live alias {self.alias} is unchanged: fix the passages or raise "
                    "index.max_rejected"
                )
            with self._errors(f"refreshing index {versioned}"):
                client.indices.put_settings(index=versioned, settings={"refresh_interval": "1s"})
                client.indices.refresh(index=versioned)
        except BaseException:
            self._delete_quietly(versioned)
            raise
        actions = [{"remove": {"index": o, "alias": self.alias}} for o in live]
        actions.append({"add": {"index": versioned, "alias": self.alias}})
        with self._errors(f"moving alias {self.alias} to {versioned}"):
            client.indices.update_aliases(actions=actions)  # atomic: readers switch all at once
            for o in live:
                client.indices.delete(index=o, ignore_unavailable=True)
        assert self.server is not None
        building = building_dir(self.index_dir)
        meta = index_meta(
            self.params, self.name, n, url=self.where, alias=self.alias, index=versioned,
            server=self.server.version, lucene=self.server.lucene_version,
        )  # fmt: skip
        write_meta(building, meta)
        swap_into_place(building, self.index_dir)
        self._window = None
        return n

    def _delete_orphans(self) -> list[str]:
        """Delete the versioned indices of builds that died before moving the alias; return the live ones."""
        pattern = re.compile(rf"^{re.escape(self.alias)}-\d{{14}}-\d{{6}}$")
        live = []
        if self.client.indices.exists_alias(name=self.alias):  # every holder, whatever its name
            live = sorted(self.client.indices.get_alias(name=self.alias).body)
        found = self.client.indices.get_alias(index=f"{self.alias}-*", ignore_unavailable=True).body
        for name in sorted(found):
            if pattern.match(name) and name not in live:
                log.warning("deleting %s, left by a build that did not finish", name)
                self.client.indices.delete(index=name, ignore_unavailable=True)
        return live

    def _delete_quietly(self, index: str) -> None:
        try:
            self.client.indices.delete(index=index, ignore_unavailable=True)
        except Exception as exc:  # the original error matters more; the next build deletes it
            log.warning("could not delete the unfinished index %s (%s); the next build will", index, exc)

    # searching
    def _check_index(self) -> None:
        read_meta(self.index_dir, self.params, self.name)
        with self._errors(f"reading alias {self.alias}"):
            exists = self.client.indices.exists_alias(name=self.alias)
        if not exists:
            raise SanchaekError(f"Elasticsearch at {self.where} has no alias {self.alias}: {REBUILD_HINT}")

    def count(self) -> int:
        self._check_index()
        with self._errors(f"counting {self.alias}"):
            return int(self.client.count(index=self.alias)["count"])

    def max_result_window(self) -> int:
        """``index.max_result_window`` of the live index (10,000 unless set): the most one page holds."""
        if self._window is None:
            with self._errors(f"reading the settings of {self.alias}"):
                resp = self.client.indices.get_settings(
                    index=self.alias,
                    name="index.max_result_window",
                    include_defaults=True,
                    flat_settings=True,
                ).body
            values = [
                part.get("index.max_result_window")
                for info in resp.values()
                for part in (info.get("settings") or {}, info.get("defaults") or {})
            ]
            self._window = min((int(v) for v in values if v is not None), default=10_000)
        return self._window

    def search(self, query: str | ThemeQuery, k: int) -> list[Hit]:
        self._check_index()
        if k <= 0:
            return []
        body = {
            "query": theme_query(query),
            "sort": SORT,
            "track_scores": True,
            "highlight": highlight_request(self.params),
        }
        window = self.max_result_window()
        with self._errors(f"searching {self.alias}"):
            if k <= window:
                found = self.client.search(index=self.alias, size=k, **body)["hits"]["hits"]
            else:
                found = self._search_pages(body, k, window)
        return [self._hit(h) for h in found]

    def _search_pages(self, body: dict, k: int, window: int) -> list[dict]:
        """More hits than one page may hold: pages of ``window`` over a point in time, by ``search_after``."""
        pit = self.client.open_point_in_time(index=self.alias, keep_alive=PIT_KEEP_ALIVE)["id"]
        found: list[dict] = []
        try:
            after = None
            while len(found) < k:
                extra = {"search_after": after} if after is not None else {}
                resp = self.client.search(
                    size=min(window, k - len(found)),
                    pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE},
                    **body,
                    **extra,
                )
                page = resp["hits"]["hits"]
                if not page:
                    break
                found += page
                pit = resp.get("pit_id", pit)
                after = page[-1]["sort"]
        finally:
            self.client.close_point_in_time(id=pit)
        return found[:k]

    def _hit(self, h: dict) -> Hit:
        src = h["_source"]
        fragments = h.get("highlight", {}).get("text", [])
        return Hit(
            passage_id=src["passage_id"],
            doc_id=src["doc_id"],
            score=float(h["_score"]) / LEGACY_BM25_FACTOR,
            text=src["text"],
            highlight=" … ".join(fragments) or src["text"][: self.params.highlight_fragment_chars],
            source=src.get("source", ""),
            genre=src.get("genre", ""),
            title=src.get("title", ""),
        )

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
        with self._errors(f"suggesting terms from {self.alias}"):
            resp = self.client.search(
                index=self.alias, size=0, suggest={"near": {"text": term, "term": suggester}}
            )
        options = resp["suggest"]["near"][0]["options"] if resp["suggest"]["near"] else []
        return [o["text"] for o in options]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
