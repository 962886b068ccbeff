"""Semantic theme retrieval fused with BM25 (``query.semantic``).

The theme and each of its synonyms are embedded as queries; a passage's dense score is its best
cosine to any of them. The BM25 ranking and the dense ranking are fused by reciprocal rank
(``embedding.reciprocal_rank_fusion``) or by a weighted sum of their scaled scores
(``query.semantic.fusion: weighted_sum``); a passage found only by the embeddings becomes a hit whose
reason is ``semantic`` with its similarity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config.search import SemanticParams, ThemeParams
from .base import Hit, passage_hit
from .embedding import DenseIndex, Embedder, reciprocal_rank_fusion, weighted_score_fusion

SEMANTIC = "semantic"


@dataclass
class DenseThemeSearch:
    """Dense retrieval over the embed stage's vectors, with the passages to build hits from."""

    index: DenseIndex
    embedder: Embedder
    passages: Mapping[str, dict]  # passage_id -> record (text, doc_id, title, ...)
    highlight_chars: int = 160

    def ranking(self, texts: Sequence[str], k: int, min_similarity: float = -1.0) -> list[tuple[str, float]]:
        """The ``k`` passages nearest any of ``texts`` (best cosine), best first, ties by id."""
        vectors = self.embedder.queries(list(texts))
        sims = np.max(self.index.vectors @ vectors.T, axis=1) if len(vectors) else np.zeros(0)
        order = sorted(range(len(sims)), key=lambda i: (-float(sims[i]), self.index.passage_ids[i]))[:k]
        return [(self.index.passage_ids[i], float(sims[i])) for i in order if sims[i] >= min_similarity]

    def hit(self, passage_id: str, score: float) -> Hit:
        return passage_hit(self.passages[passage_id], passage_id, score, self.highlight_chars)


def dense_queries(theme: ThemeParams, params: SemanticParams) -> list[str]:
    """The texts embedded as the theme's queries (``query.semantic.queries``)."""
    return [theme.text] if params.queries == "theme" else [theme.text, *theme.synonyms]


def fuse_rankings(
    bm25: Sequence[tuple[str, float]], dense: Sequence[tuple[str, float]], params: SemanticParams, k: int
) -> list[tuple[str, float]]:
    """The top ``k`` of the BM25 and dense (id, score) lists, best first, fused as ``params.fusion`` says."""
    if params.fusion == "weighted_sum":
        fused = weighted_score_fusion([(bm25, params.bm25_weight), (dense, params.dense_weight)])
    else:
        ids = ([pid for pid, _ in bm25], params.bm25_weight), ([pid for pid, _ in dense], params.dense_weight)
        fused = reciprocal_rank_fusion(ids, k=params.rrf_k)
    return fused[:k]


def fuse_theme(
    hits: list[Hit], dense: DenseThemeSearch, theme: ThemeParams, params: SemanticParams, k: int
) -> tuple[list[Hit], dict[str, dict]]:
    """The theme's top ``k`` after fusing its BM25 ``hits`` with the dense ranking, and each dense
    candidate's reason (``semantic`` with its similarity and dense rank)."""
    ranking = dense.ranking(dense_queries(theme, params), params.top_k, params.min_similarity)
    fused = fuse_rankings([(h.passage_id, h.score) for h in hits], ranking, params, k)
    by_id = {h.passage_id: h for h in hits}
    similarity = dict(ranking)
    dense_rank = {pid: r for r, (pid, _) in enumerate(ranking, start=1)}
    out = [
        replace(by_id[pid], score=score) if pid in by_id else dense.hit(pid, score)
        for pid, score in fused
        if pid in by_id or pid in dense.passages
    ]
    reasons = {
        pid: {"reason": SEMANTIC, "similarity": round(similarity[pid], 4), "dense_rank": dense_rank[pid]}
        for pid, _ in fused
        if pid in similarity
    }
    return out, reasons
