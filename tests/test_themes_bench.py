"""bench/themes.py's dense and fusion rows, run end to end on a tiny corpus (real Lucene/Nori) with a
tiny deterministic embedder standing in for multilingual-e5-small, and the fixed dev/held-out split."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sanchaek.config import params_from_dict
from sanchaek.config.search import IndexParams, ThemeParams
from sanchaek.embed import embeddings_dir
from sanchaek.io import write_jsonl
from sanchaek.paths import Layout
from sanchaek.query import search_theme
from sanchaek.search import open_backend
from sanchaek.search.embedding import reciprocal_rank_fusion, weighted_score_fusion, write_embeddings

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_themes", ROOT / "bench" / "themes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CharEmbedder:
    """Bag of characters hashed into 32 dimensions, unit length: texts sharing characters are near."""

    name, dim = "test-chars", 32

    def _embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for ch in text:
                if not ch.isspace():
                    out[i, int(hashlib.md5(ch.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    passages = queries = _embed


# Our own sentences: death told by the word, by a paraphrase only, and none at all.
TEXTS = {
    "w1": "늙은 개가 어젯밤 죽었다.",
    "w2": "그는 끝내 죽음을 받아들였다.",
    "w3": "할아버지가 사망한 뒤 집은 조용했다.",
    "p1": "할머니는 지난 봄에 세상을 떠나셨다.",
    "p2": "아버지는 그해 겨울 숨을 거두었다.",
    "n1": "아이들의 웃음이 골목에 가득했다.",
    "n2": "강물의 얼음이 녹기 시작했다.",
    "n3": "일이 많아서 힘들어 죽겠다.",
}
LABELS = {"w1": True, "w2": True, "w3": True, "p1": True, "p2": True, "n1": False, "n2": False, "n3": False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    layout = Layout(tmp_path_factory.mktemp("bench-themes"))
    records = [{"passage_id": k, "doc_id": k, "text": v, "title": "t"} for k, v in TEXTS.items()]
    write_jsonl(layout.passages, records)
    backend = open_backend(IndexParams(backend="embedded"), layout)
    backend.index(records)
    yield layout, backend, {r["passage_id"]: r for r in records}
    backend.close()


def test_split_is_a_fixed_hash_of_the_passage_id():
    bench = load_bench()
    ids = [f"doc-{i}#{i:04d}" for i in range(400)]
    halves = [bench.half_of(pid) for pid in ids]
    assert halves == [bench.half_of(pid) for pid in ids]  # stable
    assert 150 < halves.count("dev") < 250  # about half each
    digest = int(hashlib.sha256(("sanchaek-themes-split:" + ids[0]).encode()).hexdigest(), 16)
    assert halves[0] == ("dev" if digest % 2 == 0 else "heldout")


def test_half_metrics_count_only_that_halfs_passages():
    bench = load_bench()
    labels = {f"x{i}": i % 3 != 0 for i in range(60)}
    ranked = sorted(labels)
    rows = bench.all_halves(ranked, labels, set(), 10)
    for half in bench.HALVES:
        mine = [pid for pid in ranked[:100] if bench.half_of(pid) == half]
        assert rows[half]["judged@100"] == f"{len(mine)}/{len(mine)}"
        assert rows[half]["precision@100"] == round(sum(labels[p] for p in mine) / len(mine), 4)
    assert rows["dev"]["labelled"] + rows["heldout"]["labelled"] == len(labels)


def test_dense_and_fusion_rows_skip_with_a_note_without_embeddings(corpus):
    layout, _, passages = corpus
    bench = load_bench()
    params = params_from_dict({})
    dense, why = bench.load_dense(params, layout, passages, embedder=CharEmbedder())
    assert dense is None and "sanchaek embed" in why


def test_dense_and_fusion_rows_from_the_embed_stage_output(corpus):
    layout, backend, passages = corpus
    bench = load_bench()
    embedder = CharEmbedder()
    ids = sorted(passages)
    write_embeddings(
        embeddings_dir(layout), ids, embedder.passages([TEXTS[i] for i in ids]), {"model": embedder.name}
    )
    theme = {"text": "죽음", "synonyms": ["사망"], "exclude": ["죽겠"]}
    params = params_from_dict(
        {"query": {"themes": [theme], "top_k": 8, "max_per_theme": 4, "semantic": {
            "top_k": 8, "fusion": "rrf", "queries": "theme_and_synonyms", "dense_weight": 1.0}}}
    )  # fmt: skip
    dense, why = bench.load_dense(params, layout, passages, embedder=embedder)
    assert why == "" and dense is not None
    paraphrases = {"p1", "p2"}
    systems = bench.theme_systems(backend, params, "죽음", LABELS, paraphrases, dense, why)
    assert set(systems) >= {
        "bm25_today",
        "bm25_fixed",
        "dense",
        "fusion",
        "fusion_dev_best",
        "fusion_grid_dev",
    }
    assert systems["bm25_fixed"]["near_misses_dropped"] == {"죽겠": 1}
    # the fusion row is the RRF of the BM25 list and the dense list, as query.semantic configures it
    fixed = search_theme(backend, ThemeParams(**theme), params.query)
    ranking = dense.ranking(["죽음", "사망"], 8)
    want = reciprocal_rank_fusion(
        [([h.passage_id for h in fixed.hits], 1.0), ([p for p, _ in ranking], 1.0)], k=60
    )
    fused = search_theme(backend, ThemeParams(**theme, semantic=True), params.query, dense)
    assert [h.passage_id for h in fused.hits] == [pid for pid, _ in want][:8]
    assert systems["fusion"]["paraphrases_found"] == "2/2"  # dense finds what BM25 lacks
    assert systems["bm25_fixed"]["paraphrases_found"] == "0/2"
    for name in ("dense", "fusion", "fusion_dev_best"):
        assert set(systems[name]) >= {"precision@100", "precision@300", "paraphrase_recall", "dev", "heldout"}
    assert len(systems["fusion_grid_dev"]) == len(bench.FUSION_GRID)
    entries = {"죽음": {"systems": systems}}
    picked = bench.pick_fusion_default(entries)
    assert picked["settings"] in bench.FUSION_GRID and "_grid_rows" not in systems
    assert systems["fusion_default"]["settings"] == picked["settings"]
    assert picked["mean_dev_objective"] == systems["fusion_dev_best"]["dev_objective"]  # one theme: the same
    bench.add_prior_recall(systems, paraphrases)
    met = bench.targets_met(bench.TARGETS["죽음"], systems)["by_system"]
    assert set(met) >= {"bm25_fixed", "dense", "fusion", "fusion_default"}
    assert met["bm25_fixed"]["all"]["paraphrase_recall"] == 0.0 and met["bm25_fixed"]["all"]["met"] is False
    assert systems["fusion_dev_best"]["dev_objective"] == max(
        g["dev_objective"] for g in systems["fusion_grid_dev"]
    )


def test_weighted_sum_fusion_scales_each_list_and_weights_it(corpus):
    _, backend, passages = corpus
    fused = weighted_score_fusion(
        [([("a", 10.0), ("b", 5.0), ("c", 0.0)], 1.0), ([("c", 0.9), ("d", 0.5)], 2.0)]
    )
    assert fused == [("c", 2.0), ("a", 1.0), ("b", 0.5), ("d", 0.0)]
    embedder = CharEmbedder()
    from sanchaek.search.embedding import DenseIndex
    from sanchaek.search.fusion import DenseThemeSearch

    ids = sorted(passages)
    dense = DenseThemeSearch(
        DenseIndex(ids, embedder.passages([TEXTS[i] for i in ids]), {}), embedder, passages
    )
    params = params_from_dict(
        {"query": {"top_k": 8, "semantic": {"top_k": 8, "fusion": "weighted_sum", "dense_weight": 1.0}}}
    ).query
    theme = ThemeParams(text="죽음", semantic=True)
    result = search_theme(backend, theme, params, dense)
    bm25 = search_theme(backend, ThemeParams(text="죽음"), params)
    want = weighted_score_fusion(
        [([(h.passage_id, h.score) for h in bm25.hits], 1.0), (dense.ranking(["죽음"], 8), 1.0)]
    )
    assert [(h.passage_id, round(h.score, 6)) for h in result.hits] == [(p, round(s, 6)) for p, s in want[:8]]
    semantic = [r for r in result.reasons["p1"] if r["reason"] == "semantic"]
    assert semantic and semantic[0]["similarity"] == pytest.approx(
        dict(dense.ranking(["죽음"], 8))["p1"], abs=1e-4
    )


def test_dense_queries_are_the_theme_alone_or_with_its_synonyms(corpus):
    _, backend, passages = corpus
    from sanchaek.search.embedding import DenseIndex
    from sanchaek.search.fusion import DenseThemeSearch, dense_queries

    embedder = CharEmbedder()
    ids = sorted(passages)
    dense = DenseThemeSearch(
        DenseIndex(ids, embedder.passages([TEXTS[i] for i in ids]), {}), embedder, passages
    )
    theme = ThemeParams(text="죽음", synonyms=["사망", "숨을 거두다"], semantic=True)
    for queries, texts in (("theme", ["죽음"]), ("theme_and_synonyms", ["죽음", "사망", "숨을 거두다"])):
        params = params_from_dict({"query": {"top_k": 8, "semantic": {"top_k": 3, "queries": queries}}}).query
        assert dense_queries(theme, params.semantic) == texts
        result = search_theme(backend, theme, params, dense)
        top3 = [pid for pid, _ in dense.ranking(texts, 3)]
        semantic = {pid for pid, rs in result.reasons.items() for r in rs if r["reason"] == "semantic"}
        assert semantic == set(top3)  # the dense candidates are those of these query texts
    assert dense.ranking(["죽음"], 3) != dense.ranking(["죽음", "사망", "숨을 거두다"], 3)
