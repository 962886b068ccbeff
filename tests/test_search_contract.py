"""One contract for every search backend: index, count, search, highlight, theme recall, re-index.

The embedded half always runs (real Lucene + Nori through JPype, one JVM per pytest process). The
Elasticsearch half runs where ELASTICSEARCH_URL points at a server with the analysis-nori plugin.
"""

from __future__ import annotations

import os

import pytest

from sanchaek.config.search import IndexParams
from sanchaek.errors import SanchaekError
from sanchaek.paths import Layout
from sanchaek.search import SearchBackend, ThemeQuery, open_backend, search_theme_text
from sanchaek.search.inflect import expand_query

# Our own placeholder prose: (passage_id, doc_id, text)
PASSAGES = [
    ("p01", "d1", "오늘 엄마가 죽었다. 아니 어쩌면 어제였는지도 모르겠다."),
    ("p02", "d1", "장례식장에는 비가 내렸다. 나는 아무 말도 하지 않았다."),
    ("p03", "d2", "그는 담대한 얼굴로 문을 열었다. 아무도 없었다."),
    ("p04", "d2", "담대하게 말하려 했지만 목소리가 떨렸다."),
    ("p05", "d3", "죽음은 멀리 있는 것이 아니었다. 늘 곁에서 함께 걸었다."),
    ("p06", "d3", "강가를 따라 천천히 걸었다. 바람이 차가웠다."),
    ("p07", "d4", "골목 끝의 찻집에서 옛 친구를 생각했다. 그날도 비가 내렸다."),
    ("p08", "d4", "다리 위에서 멈춰 섰다. 물결이 느리게 흘러갔다."),
    ("p09", "d5", "할아버지가 사망한 뒤 집은 조용해졌다."),
    ("p10", "d5", "그녀는 담대했다. 두려움 따위는 없었다."),
    # the same text twice, indexed in reverse id order: equal scores must come back in id order
    ("p12", "d6", "새벽 안개 속을 혼자 걸었다."),
    ("p11", "d6", "새벽 안개 속을 혼자 걸었다."),
    # inflections Nori reads otherwise than their dictionary forms (듣다 -> 들, 쓰다 -> 쓸)
    ("p13", "d7", "창밖의 빗소리를 들었다. 그 말을 들은 뒤 오래 앉아 있었다."),
    ("p14", "d7", "밤새 편지를 썼다. 편지를 써서 서랍에 넣었다."),
]


def records(rows=PASSAGES) -> list[dict]:
    return [
        {"passage_id": p, "doc_id": d, "text": t, "source": "test", "genre": "essay", "title": f"제목 {d}"}
        for p, d, t in rows
    ]


def backend_kinds() -> list:
    es = pytest.param(
        "elasticsearch",
        marks=pytest.mark.skipif(
            not os.environ.get("ELASTICSEARCH_URL"),
            reason="ELASTICSEARCH_URL is not set (no Elasticsearch server here)",
        ),
    )
    return ["embedded", es]


@pytest.fixture(scope="module", params=backend_kinds())
def backend(request, tmp_path_factory) -> SearchBackend:
    root = tmp_path_factory.mktemp(f"search-{request.param}")
    params = IndexParams(backend=request.param, elasticsearch_index="sanchaek-test-contract")
    b = open_backend(params, Layout(root))
    assert b.index(records()) == len(PASSAGES)
    yield b
    b.close()


def ids(hits) -> list[str]:
    return [h.passage_id for h in hits]


def test_is_a_search_backend(backend):
    assert isinstance(backend, SearchBackend)


def test_count(backend):
    assert backend.count() == len(PASSAGES)


def test_death_finds_died(backend):
    # 죽음 -> 죽 + 음 ; 죽었다 -> 죽 : the seed's example passage is found by the theme word
    hits = backend.search("죽음", 10)
    assert {"p01", "p05"} <= set(ids(hits))
    assert hits[0].passage_id == "p05"  # both 죽 and 음 match there


@pytest.mark.parametrize("form", ["담대하다", "담대한", "담대했다", "담대하게"])
def test_every_inflection_finds_every_other(backend, form):
    assert set(ids(backend.search(form, 10))) == {"p03", "p04", "p10"}


def test_hits_are_sorted_and_carry_fields(backend):
    hits = backend.search("비가 내렸다", 10)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    by_id = {h.passage_id: h for h in hits}
    assert by_id["p02"].doc_id == "d1" and by_id["p02"].title == "제목 d1" and by_id["p02"].genre == "essay"
    assert by_id["p02"].text == PASSAGES[1][2]


def test_ties_break_by_passage_id(backend):
    hits = backend.search("안개", 10)
    assert ids(hits) == ["p11", "p12"] and hits[0].score == hits[1].score


def test_highlight_wraps_matched_surface_forms(backend):
    hit = backend.search("담대하다", 10)[0]
    assert "<em>담대</em>" in hit.highlight
    assert hit.highlight.replace("<em>", "").replace("</em>", "") in hit.text


def test_every_hit_is_highlighted(backend):
    # many hits sharing a term: each one's highlight must mark it (postings are read in doc order)
    hits = backend.search(ThemeQuery("걸었다 내렸다 없었다 죽음 담대"), 20)
    assert len(hits) >= 8 and all("<em>" in h.highlight for h in hits)


def test_theme_all_requires_every_term(backend):
    any_hits = set(ids(backend.search(ThemeQuery("비가 친구"), 10)))
    all_hits = set(ids(backend.search(ThemeQuery("비가 친구", match="all"), 10)))
    assert all_hits == {"p07"} and {"p02", "p07"} <= any_hits


def test_synonyms_and_weight(backend):
    plain = backend.search(ThemeQuery("죽음"), 10)
    widened = backend.search(ThemeQuery("죽음", synonyms=("사망",), weight=2.0), 10)
    assert "p09" not in ids(plain) and "p09" in ids(widened)
    assert widened[0].score == pytest.approx(2 * plain[0].score, rel=1e-5)


def test_phrase_needs_adjacent_terms(backend):
    assert ids(backend.search(ThemeQuery("엄마가 죽었다", match="phrase"), 10)) == ["p01"]
    assert backend.search(ThemeQuery("죽었다 엄마가", match="phrase"), 10) == []


@pytest.mark.parametrize("theme, found", [("듣다", "p13"), ("쓰다", "p14")])
def test_dictionary_form_theme_expands_through_the_backends_analyzer(backend, theme, found):
    assert found not in ids(backend.search(theme, 10))  # Nori reads the dictionary form otherwise
    query, _ = expand_query(ThemeQuery(theme), backend.analyze)  # _analyze on Elasticsearch
    assert ids(backend.search(query, 10)) == [found]
    assert "<em>" in backend.search(query, 10)[0].highlight


@pytest.mark.parametrize("theme", ["듣다", ThemeQuery("듣다", weight=2.0)])
def test_search_theme_text_expands_only_when_asked(backend, theme):
    hits, added = search_theme_text(backend, theme, 10, expand=True)
    assert ids(hits) == ["p13"] and added == {"들었다": ["듣"]}
    hits, added = search_theme_text(backend, theme, 10, expand=False)
    assert "p13" not in ids(hits) and added == {}
    assert search_theme_text(backend, "담대하다", 10, expand=True) == (backend.search("담대하다", 10), {})


def test_expansion_keeps_other_themes_as_they_were(backend):
    for theme in ("담대하다", "죽음"):
        query, _ = expand_query(ThemeQuery(theme), backend.analyze)
        assert query == ThemeQuery(theme)


def test_stoptag_only_query_finds_nothing(backend):
    assert backend.search("그리고", 10) == []


def test_nearest_terms_share_the_first_character(backend):
    near = backend.nearest_terms("담대함", 5)
    assert near and all(t.startswith("담") for t in near)


def test_analyze_gives_pos_and_offsets(backend):
    tokens = backend.analyze("엄마가 죽었다")
    assert [(t.term, t.pos, t.start, t.end) for t in tokens] == [("엄마", "NNG", 0, 2), ("죽", "VV", 4, 5)]


def test_reindex_replaces_everything(tmp_path, backend):
    params = IndexParams(backend=backend.name, elasticsearch_index="sanchaek-test-reindex")
    b = open_backend(params, Layout(tmp_path))
    try:
        b.index(records())
        assert b.count() == len(PASSAGES)
        b.index(records([("q1", "e1", "새벽 산책길에 죽은 새를 보았다.")]))
        assert b.count() == 1
        assert ids(b.search("죽음", 10)) == ["q1"]
        leftovers = [p.name for p in tmp_path.joinpath("data").iterdir() if p.name.startswith(".")]
        assert leftovers == []
    finally:
        b.close()


def test_missing_index_names_the_stage(tmp_path):
    b = open_backend(IndexParams(backend="embedded"), Layout(tmp_path))
    with pytest.raises(SanchaekError, match="sanchaek index"):
        b.search("죽음", 5)


def test_other_analysis_settings_are_refused(tmp_path):
    b = open_backend(IndexParams(backend="embedded"), Layout(tmp_path))
    b.index(records())
    b.close()
    other = IndexParams.model_validate({"backend": "embedded", "analysis": {"nori_readingform": False}})
    with pytest.raises(SanchaekError, match="other index.analysis settings"):
        open_backend(other, Layout(tmp_path)).count()


def test_failed_build_keeps_the_old_index(tmp_path):
    b = open_backend(IndexParams(backend="embedded"), Layout(tmp_path))
    b.index(records())

    def broken():
        yield from records()[:3]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        b.index(broken())
    assert b.count() == len(PASSAGES)
    b.close()


@pytest.mark.skipif(not os.environ.get("ELASTICSEARCH_URL"), reason="ELASTICSEARCH_URL is not set")
def test_elasticsearch_scores_and_hits_match_the_embedded_index(tmp_path):
    """Live: same hits, same order and scores on one scale (the legacy BM25 factor divided out)."""
    built = {}
    for kind in ("embedded", "elasticsearch"):
        params = IndexParams(backend=kind, elasticsearch_index="sanchaek-test-scale")
        b = open_backend(params, Layout(tmp_path / kind))
        b.index(records())
        built[kind] = b
    try:
        for query in (
            "죽음",
            "비가 내렸다",
            ThemeQuery("담대하다", weight=2.0),
            ThemeQuery("엄마가 죽었다", match="phrase"),
        ):
            emb, es = (built[k].search(query, 10) for k in ("embedded", "elasticsearch"))
            assert ids(es) == ids(emb)
            assert [h.score for h in es] == pytest.approx([h.score for h in emb], rel=1e-4)
    finally:
        for b in built.values():
            b.close()
