"""The Elasticsearch backend against recorded 8.x and 9.x servers: the exact requests it sends (index
settings, mappings, bulk lines, search bodies, alias actions, headers) and every error path (TLS, 401,
403, unsupported versions, a missing plugin, 429s, dropped connections, orphaned indices).

The node under the real elasticsearch-py client is ``tests/es_recorded.py``'s recording node; nothing
leaves the process. The live half (a real server) is tests/test_search_contract.py, with ELASTICSEARCH_URL.
"""

from __future__ import annotations

import random

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TlsError
from es_recorded import INFO, FakeCluster, error_body, recording_node

from sanchaek.config.search import DEFAULT_STOPTAGS, IndexParams
from sanchaek.errors import SanchaekError
from sanchaek.search.analysis import stoptags_for
from sanchaek.search.base import ThemeQuery
from sanchaek.search.elastic import ElasticsearchBackend, mappings

ALIAS = "sanchaek-passages"
URL = "http://127.0.0.1:9200"
DETAILED = (
    "EP EF EC ETN ETM IC JKS JKC JKG JKO JKB JKV JKQ JX JC MAG MAJ MM SP SSC SSO SC SE XPN XSA XSN XSV UNA NA VSV"
).split()


def passages(n: int) -> list[dict]:
    return [
        {"passage_id": f"p{i:02d}", "doc_id": f"d{i // 2}", "text": f"글 {i}", "title": "제목"}
        for i in range(n)
    ]


class Clock:
    def __init__(self):
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def backend(cluster: FakeCluster, tmp_path, clock=None, **params) -> ElasticsearchBackend:
    p = IndexParams(backend="elasticsearch", elasticsearch_bulk_docs=params.pop("bulk", 500), **params)
    return ElasticsearchBackend(p, URL, tmp_path / "index", {}, node_class=recording_node(cluster),
                                sleep=clock or Clock(), rng=random.Random(7))  # fmt: skip


@pytest.fixture(params=[8, 9], ids=["es8", "es9"])
def cluster(request) -> FakeCluster:
    return FakeCluster(request.param)


# -- connecting: version, headers -----------------------------------------------------------------


def test_headers_follow_the_server_major(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(2))
    first, *rest = cluster.requests
    assert first.path == "/" and first.headers["accept"] == "application/json"  # any version answers that
    compat = f"application/vnd.elasticsearch+json; compatible-with={cluster.major}"
    assert all(r.headers["accept"] == compat for r in rest)
    bulk = cluster.of("PUT", "/_bulk")[0]
    assert (
        bulk.headers["content-type"]
        == f"application/vnd.elasticsearch+x-ndjson; compatible-with={cluster.major}"
    )
    assert b.server.lucene_version == INFO[cluster.major]["version"]["lucene_version"]


def test_elasticsearch_8_refuses_the_9_client_headers_unless_rewritten(tmp_path):
    # the fake 8.x server answers compatible-with=9 as the real one does; the backend never sends it
    cluster = FakeCluster(8)
    from elasticsearch import Elasticsearch

    raw = Elasticsearch(URL, node_class=recording_node(cluster))
    with pytest.raises(Exception, match="media_type_header_exception") as err:
        raw.search(index="x")
    assert "Accept version must be either version 8 or 7, but found 9" in str(err.value.body)
    b = backend(FakeCluster(8), tmp_path)
    assert b.index(passages(1)) == 1  # every request accepted


@pytest.mark.parametrize(
    "version, lucene",
    [("7.17.25", "8.11.3"), ("10.0.0", "11.0.0"), ("6.8.23", "7.7.3")],
)
def test_unsupported_versions_are_refused_in_one_line(tmp_path, version, lucene):
    info = {**INFO[9], "version": {**INFO[9]["version"], "number": version, "lucene_version": lucene}}
    b = backend(FakeCluster(9, info=info), tmp_path)
    with pytest.raises(SanchaekError) as err:
        b.index(passages(1))
    msg = str(err.value)
    assert f"runs Elasticsearch {version} (Lucene {lucene})" in msg
    assert "supports Elasticsearch 8.x (Lucene 9) and 9.x (Lucene 10)" in msg and "\n" not in msg


# -- the exact requests of a build ---------------------------------------------------------------


def test_build_sends_these_requests(cluster, tmp_path):
    b = backend(cluster, tmp_path, bulk=3)
    assert b.index(passages(5)) == 5
    created = cluster.of("PUT", r"/sanchaek-passages-\d{14}-\d{6}")
    assert len(created) == 1
    versioned = created[0].path[1:]
    tags = DEFAULT_STOPTAGS if cluster.major == 8 else DETAILED
    assert created[0].body == {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "-1",
            "similarity": {
                "sanchaek_bm25": {"type": "BM25", "k1": 1.2, "b": 0.75, "discount_overlaps": True}
            },
            "analysis": {
                "tokenizer": {
                    "sanchaek_nori_tokenizer": {
                        "type": "nori_tokenizer",
                        "decompound_mode": "discard",
                        "discard_punctuation": True,
                    }
                },
                "analyzer": {
                    "sanchaek_nori": {
                        "type": "custom",
                        "tokenizer": "sanchaek_nori_tokenizer",
                        "filter": ["sanchaek_nori_pos", "nori_readingform", "lowercase"],
                    }
                },
                "filter": {"sanchaek_nori_pos": {"type": "nori_part_of_speech", "stoptags": tags}},
            },
        },
        "mappings": mappings(),
    }
    assert mappings()["properties"]["text"]["similarity"] == "sanchaek_bm25"
    bulks = cluster.of("PUT", "/_bulk")
    assert [len(r.body) for r in bulks] == [6, 4]  # chunks of 3 and 2: action + source lines
    assert bulks[1].body == [
        {"index": {"_index": versioned, "_id": "p03"}},
        {
            "passage_id": "p03",
            "doc_id": "d1",
            "text": "글 3",
            "source": "",
            "genre": "",
            "title": "제목",
            "author": "",
        },
        {"index": {"_index": versioned, "_id": "p04"}},
        {
            "passage_id": "p04",
            "doc_id": "d2",
            "text": "글 4",
            "source": "",
            "genre": "",
            "title": "제목",
            "author": "",
        },
    ]
    assert cluster.of("PUT", f"/{versioned}/_settings")[0].body == {"refresh_interval": "1s"}
    assert cluster.of("POST", "/_aliases")[0].body == {
        "actions": [{"add": {"index": versioned, "alias": ALIAS}}]
    }
    order = [(r.method, r.path) for r in cluster.requests]
    assert order.index(("POST", "/_aliases")) > order.index(("POST", f"/{versioned}/_refresh"))


def test_rebuild_moves_the_alias_atomically_and_drops_the_old_index(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(2))
    old = cluster.alias_targets(ALIAS)[0]
    b.index(passages(3))
    new = cluster.alias_targets(ALIAS)[0]
    assert new != old and old not in cluster.indices
    assert cluster.of("POST", "/_aliases")[-1].body == {
        "actions": [{"remove": {"index": old, "alias": ALIAS}}, {"add": {"index": new, "alias": ALIAS}}]
    }
    assert b.count() == 3


def test_orphans_of_killed_builds_are_deleted(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    live = cluster.alias_targets(ALIAS)[0]
    cluster.indices["sanchaek-passages-20261201000000-000001"] = type(cluster.indices[live])({}, {})
    cluster.indices["sanchaek-passages-archive"] = type(cluster.indices[live])({}, {})  # not ours: kept
    cluster.indices["manual-copy"] = type(cluster.indices[live])({}, {}, aliases={ALIAS})  # another holder
    b.index(passages(1))
    assert "sanchaek-passages-20261201000000-000001" not in cluster.indices
    assert "sanchaek-passages-archive" in cluster.indices
    assert cluster.of("POST", "/_aliases")[-1].body["actions"][:2] == [
        {"remove": {"index": "manual-copy", "alias": ALIAS}},
        {"remove": {"index": live, "alias": ALIAS}},
    ]
    assert cluster.alias_targets(ALIAS) != [live] and len(cluster.alias_targets(ALIAS)) == 1


# -- searching ------------------------------------------------------------------------------------


def test_search_body_and_scores_on_the_embedded_scale(cluster, tmp_path):
    b = backend(cluster, tmp_path, highlight_fragment_chars=80)
    b.index(passages(3))
    hits = b.search(ThemeQuery("죽음", synonyms=("사망",), match="all", weight=2.0), 2)
    body = cluster.of("POST", f"/{ALIAS}/_search")[-1].body
    clause = {"operator": "and", "auto_generate_synonyms_phrase_query": False, "zero_terms_query": "none",
              "lenient": False}  # fmt: skip
    assert body == {
        "query": {
            "bool": {
                "should": [
                    {"match": {"text": {"query": "죽음", **clause}}},
                    {"match": {"text": {"query": "사망", **clause}}},
                ],
                "boost": 2.0,
            }
        },
        "size": 2,
        "sort": [{"_score": "desc"}, {"passage_id": "asc"}],
        "track_scores": True,
        "highlight": {
            "pre_tags": ["<em>"],
            "post_tags": ["</em>"],
            "fields": {
                "text": {
                    "type": "unified",
                    "boundary_scanner": "sentence",
                    "fragment_size": 80,
                    "number_of_fragments": 1,
                    "no_match_size": 80,
                }
            },
        },
    }
    # Elasticsearch's BM25 is LegacyBM25Similarity (times k1 + 1 = 2.2): divided out
    assert [h.score for h in hits] == [pytest.approx(1.0), pytest.approx(1.0)]
    phrase = b.search(ThemeQuery("엄마가 죽었다", match="phrase"), 1)
    assert phrase and cluster.of("POST", f"/{ALIAS}/_search")[-1].body["query"]["bool"]["should"] == [
        {"match_phrase": {"text": {"query": "엄마가 죽었다", "slop": 0, "zero_terms_query": "none"}}}
    ]


def test_top_k_past_max_result_window_pages_over_a_point_in_time(cluster, tmp_path):
    cluster.window = 2
    b = backend(cluster, tmp_path)
    b.index(passages(5))
    hits = b.search("글", 5)
    assert [h.passage_id for h in hits] == ["p00", "p01", "p02", "p03", "p04"]
    assert cluster.of("POST", f"/{ALIAS}/_pit")[0].params == {"keep_alive": "2m"}
    pages = cluster.of("POST", "/_search")
    assert [p.body["size"] for p in pages] == [2, 2, 1]
    assert "search_after" not in pages[0].body and pages[1].body["search_after"] == [2.2, "p01", 1]
    assert all(p.body["pit"] == {"id": "pit-1", "keep_alive": "2m"} for p in pages)
    assert cluster.of("DELETE", "/_pit")[0].body == {"id": "pit-1"}
    assert (
        b.search("글", 2) and len(cluster.of("POST", f"/{ALIAS}/_search")) == 1
    )  # within the window: one page


def test_analyze_uses_the_servers_tag_vocabulary(cluster, tmp_path):
    cluster.tokens = [
        {"token": "엄마", "start_offset": 0, "end_offset": 2, "leftPOS": "NNG(General Noun)"},
        {"token": "죽", "start_offset": 4, "end_offset": 5, "leftPOS": "VV(Verb)"},
    ]
    b = backend(cluster, tmp_path)
    tokens = b.analyze("엄마가 죽었다")
    assert [(t.term, t.pos) for t in tokens] == [("엄마", "NNG"), ("죽", "VV")]
    sent = cluster.of("POST", "/_analyze")[0].body
    assert sent["filter"][0]["stoptags"] == (DEFAULT_STOPTAGS if cluster.major == 8 else DETAILED)
    assert sent["explain"] is True and sent["tokenizer"]["type"] == "nori_tokenizer"


def test_analyze_offsets_are_string_indices_after_a_character_outside_the_bmp(cluster, tmp_path):
    """Elasticsearch counts offsets in UTF-16 units (Java's): an emoji is two. The Tokens hold Python
    string indices, as the embedded backend's do, so a span cuts the text where the term is."""
    text = "🌸엄마가 죽었다"
    cluster.tokens = [  # what Elasticsearch answers for this text
        {"token": "엄마", "start_offset": 2, "end_offset": 4, "leftPOS": "NNG(General Noun)"},
        {"token": "죽", "start_offset": 6, "end_offset": 7, "leftPOS": "VV(Verb)"},
    ]
    tokens = backend(cluster, tmp_path).analyze(text)
    assert [(t.start, t.end) for t in tokens] == [(1, 3), (5, 6)]
    assert [text[t.start : t.end] for t in tokens] == ["엄마", "죽"]


def test_untranslated_coarse_tags_are_what_elasticsearch_9_refuses(tmp_path):
    cluster = FakeCluster(9)
    assert cluster.analysis_problem({"analysis": {"filter": {"f": {"stoptags": DEFAULT_STOPTAGS}}}}) == (
        "No enum constant org.apache.lucene.analysis.ko.POS.Tag.E"
    )
    assert stoptags_for(DEFAULT_STOPTAGS, "detailed") == DETAILED


# -- errors ---------------------------------------------------------------------------------------


def one_line_error(b: ElasticsearchBackend, call=lambda b: b.index(passages(2))) -> str:
    with pytest.raises(SanchaekError) as err:
        call(b)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_tls_failure_names_the_ca_setting(cluster, tmp_path):
    for _ in range(4):  # the first try and every retry
        cluster.fail(
            lambda r: r.path == "/", TlsError("certificate verify failed: self-signed certificate in chain")
        )
    msg = one_line_error(backend(cluster, tmp_path, elasticsearch_backoff_s=0))
    assert "TLS handshake failed" in msg and "ELASTICSEARCH_CA_CERTS" in msg and "self-signed" in msg
    assert "start the server" not in msg


def test_dead_connection_names_the_server(cluster, tmp_path):
    cluster.fail(lambda r: r.path == "/", TransportConnectionError("Connection refused"))
    msg = one_line_error(backend(cluster, tmp_path, elasticsearch_max_retries=0))
    assert f"cannot reach Elasticsearch at {URL}" in msg and "Connection refused" in msg


def test_401_names_the_credentials(cluster, tmp_path):
    reason = "missing authentication credentials for REST request [/]"
    cluster.fail(lambda r: r.path == "/", (401, error_body(401, "security_exception", reason)))
    msg = one_line_error(backend(cluster, tmp_path))
    assert reason in msg and "ELASTICSEARCH_API_KEY" in msg


def test_403_names_the_privileges(cluster, tmp_path):
    reason = ("action [indices:admin/create] is unauthorized for user [reader] with effective roles [viewer], "
              "this action is granted by the index privileges [create_index,manage,all]")  # fmt: skip
    cluster.fail(lambda r: r.method == "PUT" and r.path.startswith("/sanchaek-passages-"),
                 (403, error_body(403, "security_exception", reason)))  # fmt: skip
    msg = one_line_error(backend(cluster, tmp_path))
    assert reason in msg and "create_index, write, read, manage on sanchaek-passages*" in msg
    assert cluster.alias_targets(ALIAS) == []


def test_missing_plugin_names_the_install_command(tmp_path):
    cluster = FakeCluster(9, nori=False)
    msg = one_line_error(backend(cluster, tmp_path))
    assert (
        "Unknown tokenizer type [nori_tokenizer]" in msg
        and "elasticsearch-plugin install analysis-nori" in msg
    )
    msg = one_line_error(backend(FakeCluster(8, nori=False), tmp_path), lambda b: b.analyze("글"))
    assert "failed to find global tokenizer under [nori_tokenizer]" in msg and "analysis-nori" in msg


def test_refused_stoptags_name_the_param_with_the_servers_reason(tmp_path):
    cluster = FakeCluster(9)
    cluster.fail(lambda r: r.method == "PUT" and r.path.startswith("/sanchaek-passages-"),
                 (400, error_body(400, "illegal_argument_exception",
                                  "No enum constant org.apache.lucene.analysis.ko.POS.Tag.E")))  # fmt: skip
    msg = one_line_error(backend(cluster, tmp_path))
    assert "POS.Tag.E" in msg and "index.analysis.nori_part_of_speech.stoptags" in msg and "plugin" not in msg


def test_refused_headers_name_the_supported_versions(tmp_path):
    cluster = FakeCluster(9)
    cause = "Accept version must be either version 9 or 8, but found 10. Accept=application/vnd.elasticsearch+json"
    body = error_body(400, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]",
                      {"type": "status_exception", "reason": cause})  # fmt: skip
    cluster.fail(lambda r: r.path.endswith("/_count"), (400, body))
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    msg = one_line_error(b, lambda b: b.count())
    assert cause in msg and "supports Elasticsearch 8.x (Lucene 9) and 9.x (Lucene 10)" in msg


def test_partial_detailed_stoptags_cannot_run_on_lucene_9(tmp_path):
    stoptags = ["EF", "JKS", "JKC", "JKG", "JKO", "JKB", "JKV", "JKQ", "JX", "JC"]
    b8 = backend(FakeCluster(8), tmp_path, analysis={"nori_part_of_speech": {"stoptags": stoptags}})
    msg = one_line_error(b8)
    assert "lists EF but not EP EC ETN ETM" in msg
    b9 = backend(FakeCluster(9), tmp_path, analysis={"nori_part_of_speech": {"stoptags": stoptags}})
    assert b9.index(passages(1)) == 1  # Lucene 10 knows EF alone


def test_index_creation_is_never_retried_and_leaves_no_orphan(cluster, tmp_path):
    # the connection drops after the server created the index: the response is lost
    def created_then_dropped(req):
        if req.method == "PUT" and req.path.startswith("/sanchaek-passages-"):
            cluster.route(req)
            return True
        return False

    cluster.fail(created_then_dropped, TransportConnectionError("Connection reset by peer"))
    msg = one_line_error(backend(cluster, tmp_path, elasticsearch_max_retries=3))
    assert "creating index sanchaek-passages-" in msg and "Connection reset by peer" in msg
    assert len(cluster.of("PUT", r"/sanchaek-passages-\d{14}-\d{6}")) == 1
    assert cluster.indices == {}  # the index the lost response created is deleted


def test_429_items_are_resent_with_backoff_never_rejected(cluster, tmp_path):
    first = {"done": False}

    def busy_bulk(req):
        if req.path == "/_bulk" and not first["done"]:
            first["done"] = True
            return True
        return False

    rejected_item = {"index": {"_id": "x", "status": 429, "error": {"type": "es_rejected_execution_exception",
                                                                    "reason": "rejected execution of coordinating operation"}}}  # fmt: skip
    ok_item = {"index": {"_id": "x", "status": 201, "result": "created"}}
    clock = Clock()
    b = backend(cluster, tmp_path, clock=clock)
    cluster.fail(
        busy_bulk, (200, {"took": 1, "errors": True, "items": [ok_item, rejected_item, rejected_item]})
    )
    # the first answer accepted p00 only (without storing it: a fake answer); the resend carries p01, p02
    n = b.index(passages(3))
    assert n == 3 and b.rejected == []
    bulks = cluster.of("PUT", "/_bulk")
    assert [[line["_id"] for line in r.body[::2] for line in [line["index"]]] for r in bulks] == [
        ["p00", "p01", "p02"],
        ["p01", "p02"],
    ]
    assert len(clock.slept) == 1 and 0 <= clock.slept[0] <= 0.5  # full jitter under base * 2^0


def test_429_through_every_retry_fails_with_the_alias_unmoved(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    live = cluster.alias_targets(ALIAS)
    busy = (
        429,
        error_body(429, "es_rejected_execution_exception", "rejected execution of coordinating operation"),
    )
    for _ in range(4):
        cluster.fail(lambda r: r.path == "/_bulk", busy)
    clock = Clock()
    b = backend(cluster, tmp_path, clock=clock, elasticsearch_max_retries=3, elasticsearch_backoff_s=1.0)
    msg = one_line_error(b)
    assert "429 es_rejected_execution_exception: rejected execution" in msg and "retry later" in msg
    assert cluster.alias_targets(ALIAS) == live and sorted(cluster.indices) == live  # the new index is gone
    assert len(clock.slept) == 3 and all(0 <= s <= cap for s, cap in zip(clock.slept, [1, 2, 4], strict=True))
    assert b.rejected == []


def test_dropped_connection_mid_bulk_resumes(cluster, tmp_path):
    def second_bulk(req):  # the second bulk request loses its connection, once
        return req.path == "/_bulk" and len(cluster.of("PUT", "/_bulk")) == 2

    cluster.fail(second_bulk, TransportConnectionError("Connection aborted"))
    b = backend(cluster, tmp_path, bulk=2)
    assert b.index(passages(5)) == 5 and b.count() == 5
    sent = [[a["index"]["_id"] for a in r.body[::2]] for r in cluster.of("PUT", "/_bulk")]
    assert sent == [["p00", "p01"], ["p02", "p03"], ["p02", "p03"], ["p04"]]


def test_dropped_connection_for_good_fails_in_one_line_with_nothing_swapped(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    live = cluster.alias_targets(ALIAS)
    for _ in range(3):
        cluster.fail(lambda r: r.path == "/_bulk", TransportConnectionError("Connection aborted"))
    msg = one_line_error(backend(cluster, tmp_path, elasticsearch_max_retries=2))
    assert (
        "bulk indexing into sanchaek-passages-" in msg
        and "2 retries; the live alias sanchaek-passages is unchanged" in msg
    )
    assert "Connection aborted" in msg
    assert cluster.alias_targets(ALIAS) == live and sorted(cluster.indices) == live


def test_rejected_passage_keeps_its_reason(cluster, tmp_path):
    reason = "failed to parse field [text] of type [text] in document with id 'p01'"
    bad = {
        "index": {
            "_id": "p01",
            "status": 400,
            "error": {"type": "document_parsing_exception", "reason": reason},
        }
    }
    ok = {"index": {"_id": "p00", "status": 201}}
    cluster.fail(lambda r: r.path == "/_bulk", (200, {"took": 1, "errors": True, "items": [ok, bad]}))
    msg = one_line_error(backend(cluster, tmp_path))
    assert f"first p01: document_parsing_exception: {reason}" in msg and "index.max_rejected" in msg
    b = backend(cluster, tmp_path, max_rejected=1)
    cluster.fail(lambda r: r.path == "/_bulk", (200, {"took": 1, "errors": True, "items": [ok, bad]}))
    assert b.index(passages(2)) == 1 and b.rejected == [
        {"passage_id": "p01", "status": 400, "reason": f"document_parsing_exception: {reason}"}
    ]


def test_search_errors_carry_the_reason(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    reason = "Result window is too large, from + size must be less than or equal to: [10000] but was [20000]."
    cluster.fail(lambda r: r.path.endswith("/_search"),
                 (400, error_body(400, "search_phase_execution_exception", "all shards failed",
                                  {"type": "illegal_argument_exception", "reason": reason})))  # fmt: skip
    msg = one_line_error(b, lambda b: b.search("글", 1))
    assert "all shards failed; illegal_argument_exception: " + reason in msg


# -- parallel bulk ----------------------------------------------------------------------------------


def test_parallel_bulk_keeps_workers_busy_and_reads_no_further_than_the_window(cluster, tmp_path):
    import threading
    import time

    workers, bulk, total = 3, 2, 23
    read, acknowledged, active, peak = [0], [0], [0], [0]
    lock = threading.Lock()
    real_bulk = cluster.bulk

    def slow_bulk(lines):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            # never more passages read than the chunks in flight and queued (2 per worker) plus the one
            # being assembled can hold
            assert read[0] - acknowledged[0] <= (2 * workers + 1) * bulk
        time.sleep(0.03)
        answer = real_bulk(lines)
        with lock:
            active[0] -= 1
            acknowledged[0] += len(lines) // 2
        return answer

    cluster.bulk = slow_bulk

    def stream():
        for p in passages(total):
            read[0] += 1
            yield p

    b = backend(cluster, tmp_path, bulk=bulk, elasticsearch_bulk_workers=workers)
    assert b.index(stream()) == total and b.count() == total and b.rejected == []
    assert peak[0] == workers  # the workers were all busy at once, and never more
    sent = sorted(a["index"]["_id"] for r in cluster.of("PUT", "/_bulk") for a in r.body[::2])
    assert sent == [p["passage_id"] for p in passages(total)]  # each passage sent once


def test_parallel_bulk_failing_for_good_is_one_line_with_nothing_swapped(cluster, tmp_path):
    b = backend(cluster, tmp_path)
    b.index(passages(1))
    live = cluster.alias_targets(ALIAS)
    for _ in range(3):  # the chunk holding p03 loses its connection on the first try and both retries
        cluster.fail(lambda r: r.path == "/_bulk" and r.body[0]["index"]["_id"] == "p03",
                     TransportConnectionError("Connection aborted"))  # fmt: skip
    parallel = backend(cluster, tmp_path, bulk=1, elasticsearch_bulk_workers=4, elasticsearch_max_retries=2)
    msg = one_line_error(parallel, call=lambda b: b.index(passages(8)))
    assert "2 retries; the live alias sanchaek-passages is unchanged" in msg and "Connection aborted" in msg
    assert cluster.alias_targets(ALIAS) == live and sorted(cluster.indices) == live
