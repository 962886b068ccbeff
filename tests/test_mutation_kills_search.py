"""Tests that pin the dense search's arithmetic (`make mutation`, reports/quality/mutation.json): the
embedding cache (keys, parts, damaged parts), cosine search and its ties, the stage's output files,
reciprocal rank fusion, and the theme fusion of src/sanchaek/search/fusion.py.

The fusion tests embed with a fixed table of vectors (``TableEmbedder``, the ``Embedder`` protocol)
so every cosine and every fused score is known exactly; the real model's path is
tests/test_search_themes.py's."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sanchaek.config.search import SemanticParams, ThemeParams
from sanchaek.errors import SanchaekError
from sanchaek.search.base import Hit
from sanchaek.search.embedding import (
    DenseIndex,
    load_dense_index,
    model_cache_dir,
    next_part_index,
    normalise,
    read_cache,
    reciprocal_rank_fusion,
    text_key,
    write_embeddings,
    write_part,
)
from sanchaek.search.fusion import SEMANTIC, DenseThemeSearch, dense_queries, fuse_rankings, fuse_theme


def test_normalise_gives_unit_rows_in_float32_and_keeps_a_zero_row_zero():
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]], dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]], rtol=1e-6)
    tiny = normalise(np.array([[1e-13, 0.0]]))  # below the floor: divided by 1e-12, not blown up to 1
    np.testing.assert_allclose(tiny, [[0.1, 0.0]], rtol=1e-5)


def test_cache_keys_and_folders():
    assert text_key("산책") == "b25e07cb7c21584651d9ac73d8c676f18872beda"  # sha1 of the UTF-8 bytes
    assert text_key("산책") != text_key("산책 ")
    from pathlib import Path

    root = Path("/cache")
    assert model_cache_dir(root, "intfloat/multilingual-e5 small:v2") == root / "intfloat_multilingual-e5_small_v2"
    assert model_cache_dir(root, "a-b_c.d") == root / "a-b_c.d"


def test_cache_parts_round_trip_and_damaged_or_foreign_parts_are_skipped(tmp_path, caplog):
    folder = tmp_path / "model"
    assert next_part_index(folder) == 0  # no folder yet
    write_part(folder, 0, ["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float64))
    write_part(folder, 7, ["c"], np.array([[0.5, 0.5]]))
    assert sorted(p.name for p in folder.iterdir()) == ["part-000000.npz", "part-000007.npz"]  # no temp left
    assert next_part_index(folder) == 8
    (folder / "part-000008.npz").write_bytes(b"cut short by a kill")
    np.savez(folder / "part-000009.npz", keys=np.asarray(["d"]), vectors=np.zeros((1, 3), np.float32))
    np.savez(folder / "part-000010.npz", keys=np.asarray(["e", "f"]), vectors=np.zeros((1, 2), np.float32))
    np.savez(folder / "part-000011.npz", keys=np.asarray(["g"]), vectors=np.zeros(2, np.float32))
    np.savez(folder / "part-000012.npz", keys=np.asarray(["h"]))  # no vectors at all
    (folder / "part-x.npz").write_bytes(b"")  # not a numbered part: never counted
    caplog.set_level(logging.WARNING, logger="sanchaek")
    cached = read_cache(folder, dim=2)
    assert sorted(cached) == ["a", "b", "c"]
    assert all(isinstance(k, str) for k in cached)
    np.testing.assert_array_equal(cached["b"], [0.0, 1.0])
    assert cached["a"].dtype == np.float32
    assert next_part_index(folder) == 13
    warnings = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("skipping unreadable embedding cache part") and "000008" in m for m in warnings)
    assert any(m.startswith("skipping unreadable embedding cache part") and "000012" in m for m in warnings)
    for n in ("000009", "000010", "000011"):
        assert f"skipping embedding cache part {folder / f'part-{n}.npz'} of another shape" in warnings


def _index() -> DenseIndex:
    vectors = normalise(np.array([[1.0, 0.0], [0.6, 0.8], [0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]]))
    return DenseIndex(["p1", "p3", "p2", "p4", "p5"], vectors, {"model": "table", "dim": 2})


def test_search_is_cosine_best_first_ties_by_id_and_k_is_a_cap():
    index = _index()
    hits = index.search(np.array([3.0, 4.0]), 3)  # any length: the query is normalised
    assert [pid for pid, _ in hits] == ["p2", "p3", "p4"]
    np.testing.assert_allclose([s for _, s in hits], [1.0, 1.0, 0.8], rtol=1e-6)
    assert [pid for pid, _ in index.search(np.array([1.0, 0.0]), 1)] == ["p1"]
    assert len(index.search(np.array([1.0, 0.0]), 99)) == 5
    assert index.search(np.array([1.0, 0.0]), 0) == []
    assert DenseIndex([], np.zeros((0, 2), np.float32), {}).search(np.array([1.0, 0.0]), 3) == []
    sims = index.similarity(np.array([0.0, 2.0]))
    assert list(sims) == ["p1", "p3", "p2", "p4", "p5"]
    np.testing.assert_allclose(list(sims.values()), [0.0, 0.8, 0.8, 1.0, 0.0], atol=1e-6)
    assert index.model == "table" and DenseIndex([], np.zeros((0, 2)), {}).model == ""


def test_the_stage_output_round_trips_and_a_broken_one_names_the_fix(tmp_path):
    out = tmp_path / "emb"
    write_embeddings(out, ["가", "b"], np.array([[1.0, 0.0], [0.0, 1.0]]), {"model": "표", "dim": 2})
    assert json.loads((out / "passage_ids.json").read_text("utf-8")) == ["가", "b"]
    assert "가" in (out / "passage_ids.json").read_text("utf-8") and "표" in (out / "meta.json").read_text("utf-8")
    assert (out / "meta.json").read_text("utf-8").endswith("}\n")
    assert json.loads((out / "meta.json").read_text("utf-8")) == {"model": "표", "dim": 2}
    index = load_dense_index(out)
    assert index.passage_ids == ["가", "b"] and index.vectors.dtype == np.float32 and index.model == "표"
    np.testing.assert_array_equal(index.vectors, [[1.0, 0.0], [0.0, 1.0]])
    assert np.load(out / "vectors.npy").dtype == np.float32
    with pytest.raises(SanchaekError, match=r"^no passage embeddings in .*: run `sanchaek embed`"):
        load_dense_index(tmp_path / "none")
    (out / "passage_ids.json").write_text('["a"]', "utf-8")
    with pytest.raises(SanchaekError, match=r"^the passage embeddings in .* do not match their ids: run"):
        load_dense_index(out)
    np.save(out / "vectors.npy", np.zeros(1, np.float32))
    with pytest.raises(SanchaekError, match="do not match their ids"):
        load_dense_index(out)
    (out / "meta.json").write_text("{", "utf-8")
    with pytest.raises(SanchaekError, match=r"^the passage embeddings in .* are unreadable \(.*\): run"):
        load_dense_index(out)
    (out / "meta.json").write_text("{}", "utf-8")
    (out / "vectors.npy").unlink()
    with pytest.raises(SanchaekError, match="are unreadable"):
        load_dense_index(out)


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([(["a", "b", "c"], 1.0), (["c", "d"], 2.0)], k=10)
    expected = {"a": 1 / 11, "b": 1 / 12, "c": 1 / 13 + 2 / 11, "d": 2 / 12}
    assert [pid for pid, _ in fused] == ["c", "d", "a", "b"]
    assert dict(fused) == pytest.approx(expected, abs=0)
    tie = reciprocal_rank_fusion([(["y"], 1.0), (["x"], 1.0)])
    assert tie == [("x", 1 / 61), ("y", 1 / 61)]  # k = 60 by default; a tie goes to the smaller id


class TableEmbedder:
    """An ``Embedder`` that looks vectors up in a table: every cosine below is known exactly."""

    dim = 2
    table = {"산책": [1.0, 0.0], "걷기": [0.0, 1.0], "달리기": [-1.0, 0.0]}

    def passages(self, texts):
        return self.queries(texts)

    def queries(self, texts):
        return np.array([self.table[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)


def _dense(highlight_chars: int = 4) -> DenseThemeSearch:
    vectors = normalise(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.8, -0.6], [0.8, -0.6]]))
    index = DenseIndex(["d1", "d2", "d3", "d4", "d5"], vectors, {"model": "table"})
    passages = {
        pid: {"text": f"{pid} 본문 텍스트", "doc_id": f"doc-{pid}", "title": f"제목 {pid}", "source": "s", "genre": "g"}
        for pid in index.passage_ids
    }
    return DenseThemeSearch(index, TableEmbedder(), passages, highlight_chars=highlight_chars)


def test_dense_ranking_takes_the_best_cosine_of_any_text_then_cuts_and_filters():
    dense = _dense()
    ranking = dense.ranking(["산책", "걷기"], k=4)  # best of the two cosines per passage
    assert [pid for pid, _ in ranking] == ["d1", "d3", "d2", "d5"]
    assert [round(s, 6) for _, s in ranking] == [1.0, 1.0, 0.8, 0.8]
    assert [pid for pid, _ in dense.ranking(["산책"], k=2)] == ["d1", "d5"]  # 1.0, 0.8 (d2: 0.6)
    assert dense.ranking(["산책"], k=5, min_similarity=0.6) == [
        ("d1", pytest.approx(1.0)),
        ("d5", pytest.approx(0.8)),
        ("d2", pytest.approx(0.6)),
    ]  # exactly the threshold is kept
    assert [pid for pid, _ in dense.ranking(["달리기"], k=5)] == ["d4", "d3", "d2", "d5", "d1"]
    assert dense.ranking([], k=3) == []
    hit = dense.hit("d2", 0.5)
    assert hit == Hit("d2", "doc-d2", 0.5, "d2 본문 텍스트", "d2 본", source="s", genre="g", title="제목 d2")


def test_fuse_rankings_weighs_each_ranking_and_cuts_at_k():
    params = SemanticParams(fusion="rrf", rrf_k=1.0, bm25_weight=3.0, dense_weight=1.0)
    bm25, dense = [("a", 9.0), ("b", 4.0)], [("b", 0.9), ("c", 0.8)]  # (id, score); RRF reads only the order
    fused = fuse_rankings(bm25, dense, params, k=3)
    assert fused == [("a", 1.5), ("b", 1.5), ("c", 1 / 3)]  # b: 3/3 + 1/2
    assert fuse_rankings(bm25, dense, params, k=1) == [("a", 1.5)]
    swapped = fuse_rankings(bm25, dense, SemanticParams(fusion="rrf", rrf_k=1.0, bm25_weight=1.0, dense_weight=3.0), k=3)
    assert swapped == [("b", 1 / 3 + 1.5), ("c", 1.0), ("a", 0.5)]


def test_fuse_rankings_weighted_sum_scales_each_list_and_weighs_it():
    params = SemanticParams(fusion="weighted_sum", bm25_weight=2.0, dense_weight=1.0)
    bm25, dense = [("a", 9.0), ("b", 5.0), ("x", 1.0)], [("b", 0.9), ("c", 0.7)]
    # bm25 scaled over its own scores: a 1, b 0.5, x 0; dense: b 1, c 0
    assert fuse_rankings(bm25, dense, params, k=4) == [("a", 2.0), ("b", 2.0), ("c", 0.0), ("x", 0.0)]
    assert fuse_rankings(bm25, dense, params, k=1) == [("a", 2.0)]


def test_dense_queries_follow_query_semantic_queries():
    theme = ThemeParams(text="죽음", synonyms=["사망", "별세"])
    assert dense_queries(theme, SemanticParams(queries="theme")) == ["죽음"]
    assert dense_queries(theme, SemanticParams(queries="theme_and_synonyms")) == ["죽음", "사망", "별세"]


def test_fuse_theme_keeps_bm25_hits_adds_dense_ones_and_says_why():
    dense = _dense(highlight_chars=2)
    bm25 = [Hit("d5", "doc-d5", 9.0, "x", "<em>x</em>"), Hit("zz", "doc-z", 4.0, "y", "y")]
    theme = ThemeParams(text="산책", synonyms=["걷기"])
    params = SemanticParams(fusion="rrf", queries="theme_and_synonyms", top_k=3, rrf_k=1.0, dense_weight=1.0, min_similarity=0.5)
    hits, reasons = fuse_theme(bm25, dense, theme, params, k=4)
    # dense: d1 (1.0), d3 (1.0), d2 (0.8); bm25: d5, zz. RRF with k = 1: d5 1/2, zz 1/3, d1 1/2, d3 1/3, d2 1/4
    assert [(h.passage_id, h.score) for h in hits] == [("d1", 0.5), ("d5", 0.5), ("d3", 1 / 3), ("zz", 1 / 3)]
    assert hits[1] == Hit("d5", "doc-d5", 0.5, "x", "<em>x</em>")  # the BM25 hit, rescored
    assert hits[0].highlight == "d1" and hits[0].title == "제목 d1"
    assert reasons == {
        "d1": {"reason": SEMANTIC, "similarity": 1.0, "dense_rank": 1},
        "d3": {"reason": SEMANTIC, "similarity": 1.0, "dense_rank": 2},
    }
    hits, reasons = fuse_theme(bm25, dense, theme, params, k=5)
    assert hits[-1].passage_id == "d2" and reasons["d2"] == {"reason": SEMANTIC, "similarity": 0.8, "dense_rank": 3}
    gone = _dense()
    del gone.passages["d1"]  # an id the dense index has but the passages file no longer does
    hits, _ = fuse_theme([], gone, ThemeParams(text="산책"), SemanticParams(fusion="rrf", queries="theme_and_synonyms", top_k=2, rrf_k=1.0, dense_weight=1.0), k=5)
    assert [h.passage_id for h in hits] == ["d5"]


def test_similarity_is_rounded_to_four_places():
    dense = _dense()
    dense.index.vectors = normalise(np.array([[1.0, 0.123456], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))
    _, reasons = fuse_theme([], dense, ThemeParams(text="산책"), SemanticParams(fusion="rrf", queries="theme_and_synonyms", top_k=1, dense_weight=1.0), k=1)
    assert reasons["d1"]["similarity"] == round(float(dense.index.vectors[0, 0]), 4) != float(dense.index.vectors[0, 0])


def test_search_finds_the_true_top_k_of_many_passages():
    rng = np.random.default_rng(7)
    vectors = normalise(rng.normal(size=(60, 8)))
    ids = [f"p{i:02d}" for i in range(60)]
    index = DenseIndex(ids, vectors, {})
    for trial in range(5):
        query = rng.normal(size=8)
        sims = vectors @ normalise(query.reshape(1, -1))[0]
        best_first = sorted(range(60), key=lambda i: (-float(sims[i]), ids[i]))
        for k in (1, 2, 3, 7, 60):
            assert [pid for pid, _ in index.search(query, k)] == [ids[i] for i in best_first[:k]], (trial, k)
    assert index.search(rng.normal(size=8), -1) == []  # a negative k asks for nothing
    many = normalise(rng.normal(size=(2000, 8)))  # numpy selects differently past a few hundred values
    big = DenseIndex([f"q{i:04d}" for i in range(2000)], many, {})
    for _ in range(3):
        query = rng.normal(size=8)
        best = int(np.argmax(many @ normalise(query.reshape(1, -1))[0]))
        assert [pid for pid, _ in big.search(query, 1)] == [f"q{best:04d}"]


def test_the_stage_output_is_utf8_whatever_the_locale_and_its_folders_are_made(tmp_path):
    import locale

    out = tmp_path / "data" / "embeddings" / "new"  # parents that do not exist yet
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: its default encoding cannot hold 산책
    try:
        write_embeddings(out, ["산책-1"], np.array([[1.0, 0.0]]), {"model": "모델", "dim": 2})
        write_embeddings(out, ["산책-1"], np.array([[1.0, 0.0]]), {"model": "모델", "dim": 2})  # again: no error
        index = load_dense_index(out)
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert index.passage_ids == ["산책-1"] and index.model == "모델"
    assert (out / "meta.json").read_text("utf-8") == '{\n  "model": "모델",\n  "dim": 2\n}\n'
    assert (out / "passage_ids.json").read_text("utf-8") == '["산책-1"]'
    write_part(tmp_path / "cache" / "deep" / "model", 0, ["k"], np.zeros((1, 2)))
    assert read_cache(tmp_path / "cache" / "deep" / "model", 2).keys() == {"k"}


def test_an_unreadable_part_is_named_with_its_error(tmp_path, caplog):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "part-000000.npz").write_bytes(b"not a zip")
    caplog.set_level(logging.WARNING, logger="sanchaek")
    assert read_cache(folder, 2) == {}
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"skipping unreadable embedding cache part {folder / 'part-000000.npz'} (")
    assert not message.endswith("(None)") and len(message) > len(f"skipping unreadable embedding cache part {folder}")


def test_dense_candidates_below_the_minimum_similarity_are_dropped_before_fusion():
    dense = _dense()
    params = SemanticParams(fusion="rrf", queries="theme_and_synonyms", top_k=4, rrf_k=1.0, dense_weight=1.0, min_similarity=0.9)
    hits, reasons = fuse_theme([], dense, ThemeParams(text="산책", synonyms=["걷기"]), params, k=10)
    assert [h.passage_id for h in hits] == ["d1", "d3"] and sorted(reasons) == ["d1", "d3"]
