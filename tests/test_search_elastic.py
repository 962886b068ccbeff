"""Elasticsearch backend pieces that run without a server: request bodies, credentials, bulk
error reporting, backend selection, and the one-line error for a dead server (127.0.0.1 only).
The live-server half is in test_search_contract.py (runs where ELASTICSEARCH_URL is set)."""

from __future__ import annotations

import socket

import pytest

from sanchaek.config.search import IndexParams
from sanchaek.errors import SanchaekError
from sanchaek.paths import Layout
from sanchaek.search import ThemeQuery, open_backend, resolve_backend
from sanchaek.search.elastic import (
    ElasticsearchBackend,
    client_options,
    highlight_request,
    index_settings,
    mappings,
    redact,
    theme_query,
)
from sanchaek.search.embedded import EmbeddedBackend
from sanchaek.search.es_bulk import bulk_operations, sort_bulk_items


def test_theme_query_matches_the_embedded_semantics():
    q = theme_query(ThemeQuery("죽음", synonyms=("사망",), match="all", weight=2.0))
    explicit = {"auto_generate_synonyms_phrase_query": False, "zero_terms_query": "none", "lenient": False}
    assert q == {
        "bool": {
            "should": [
                {"match": {"text": {"query": "죽음", "operator": "and", **explicit}}},
                {"match": {"text": {"query": "사망", "operator": "and", **explicit}}},
            ],
            "boost": 2.0,
        }
    }
    assert theme_query("엄마") == {
        "bool": {
            "should": [{"match": {"text": {"query": "엄마", "operator": "or", **explicit}}}],
            "boost": 1.0,
        }
    }
    assert theme_query(ThemeQuery("엄마가 죽었다", match="phrase"))["bool"]["should"] == [
        {"match_phrase": {"text": {"query": "엄마가 죽었다", "slop": 0, "zero_terms_query": "none"}}}
    ]


def test_index_definition_is_explicit():
    params = IndexParams(highlight_fragment_chars=80)
    settings = index_settings(params)
    assert (
        settings["number_of_shards"] == 1
        and settings["analysis"]["analyzer"]["sanchaek_nori"]["type"] == "custom"
    )
    m = mappings()
    assert m["dynamic"] == "strict"
    assert m["properties"]["text"] == {
        "type": "text",
        "analyzer": "sanchaek_nori",
        "index_options": "offsets",
        "similarity": "sanchaek_bm25",
    }
    assert m["properties"]["passage_id"]["type"] == "keyword"
    hl = highlight_request(params)["fields"]["text"]
    assert hl["type"] == "unified" and hl["fragment_size"] == 80


def test_bulk_operations_carry_id_and_stored_fields():
    action, source = bulk_operations(
        "idx-1", [{"passage_id": "p1", "doc_id": "d1", "text": "글", "title": "제목"}]
    )
    assert action == {"index": {"_index": "idx-1", "_id": "p1"}}
    assert source["title"] == "제목" and source["passage_id"] == "p1"


def test_every_rejected_document_is_reported_and_429s_are_resent():
    sources = [{"passage_id": f"p{i}"} for i in range(1, 5)]
    items = [
        {"index": {"_id": "p1", "status": 201}},
        {
            "index": {
                "_id": "p2",
                "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": "bad"},
            }
        },
        {"index": {"_id": "p3", "status": 429, "error": {"type": "es_rejected_execution_exception"}}},
        {"index": {"_id": "p4", "status": 500, "error": "boom"}},
    ]
    ok, again, rejected = sort_bulk_items(sources, items)
    assert ok == 1 and again == [{"passage_id": "p3"}]
    assert rejected == [
        {"passage_id": "p2", "status": 400, "reason": "mapper_parsing_exception: bad"},
        {"passage_id": "p4", "status": 500, "reason": "boom"},
    ]


def test_credentials_and_tls_come_from_env_only():
    params = IndexParams()
    opts = client_options(
        "https://es.example:9200", params, {"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_CA_CERTS": "/ca.pem"}
    )
    assert opts["api_key"] == "k" and opts["ca_certs"] == "/ca.pem" and "basic_auth" not in opts
    opts = client_options(
        "https://es:9200",
        params,
        {"ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_PASSWORD": "p", "ELASTICSEARCH_VERIFY_CERTS": "false"},
    )
    assert opts["basic_auth"] == ("u", "p") and opts["verify_certs"] is False
    assert opts["max_retries"] == params.elasticsearch_max_retries and opts["retry_on_timeout"] is True
    assert opts["retry_on_status"] == (429, 502, 503, 504) and opts["retry_backoff_base"] == 0.5
    with pytest.raises(SanchaekError, match="ELASTICSEARCH_VERIFY_CERTS"):
        client_options("https://es:9200", params, {"ELASTICSEARCH_VERIFY_CERTS": "maybe"})


def test_redact_hides_user_and_password():
    assert redact("https://user:secret@es.example:9200/") == "https://es.example:9200/"


def test_backend_selection():
    assert resolve_backend(IndexParams(), {}) == ("embedded", None)
    assert resolve_backend(IndexParams(), {"ELASTICSEARCH_URL": "http://h:9200"}) == (
        "elasticsearch",
        "http://h:9200",
    )
    assert resolve_backend(IndexParams(elasticsearch_url="http://a:1"), {}) == ("elasticsearch", "http://a:1")
    assert resolve_backend(IndexParams(backend="embedded"), {"ELASTICSEARCH_URL": "http://h:9200"}) == (
        "embedded",
        None,
    )
    with pytest.raises(SanchaekError, match="ELASTICSEARCH_URL"):
        resolve_backend(IndexParams(backend="elasticsearch"), {})
    assert isinstance(open_backend(IndexParams(), Layout(), env={}), EmbeddedBackend)
    assert isinstance(
        open_backend(IndexParams(), Layout(), env={"ELASTICSEARCH_URL": "http://h:1"}), ElasticsearchBackend
    )


def test_dead_server_is_one_clear_line(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    params = IndexParams(backend="elasticsearch", elasticsearch_max_retries=0, elasticsearch_timeout_s=2)
    backend = open_backend(params, Layout(tmp_path), env={"ELASTICSEARCH_URL": f"http://127.0.0.1:{port}"})
    with pytest.raises(SanchaekError, match=f"cannot reach Elasticsearch at http://127.0.0.1:{port}") as err:
        backend.index([{"passage_id": "p", "doc_id": "d", "text": "글"}])
    assert "\n" not in str(err.value) and "index.backend: embedded" in str(err.value)
