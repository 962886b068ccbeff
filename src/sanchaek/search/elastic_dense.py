"""Semantic retrieval on the Elasticsearch backend: the embed stage's vectors in a ``dense_vector``
field of the live alias, searched by kNN. Same interface as ``fusion.DenseThemeSearch``, so the query
stage fuses either with BM25 the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SanchaekError
from .base import Hit, passage_hit
from .elastic_query import (
    VECTOR_FIELD,
    cosine_from_knn_score,
    dense_vector_mapping,
    embedding_update_actions,
    knn_search_body,
)
from .embedding import DenseIndex, Embedder


def sync_vectors(client: Any, alias: str, index: DenseIndex, chunk: int = 500, bulk: Any = None) -> int:
    """Add the ``dense_vector`` field to the alias's mapping and every passage's vector to its
    document, unless every document already has one; returns how many documents were updated.
    ``bulk``: ``elasticsearch.helpers.bulk`` (a test passes its own)."""
    if bulk is None:
        from elasticsearch.helpers import bulk
    if not index.passage_ids:
        return 0
    client.indices.put_mapping(index=alias, properties=dense_vector_mapping(index.vectors.shape[1]))
    have = int(client.count(index=alias, query={"exists": {"field": VECTOR_FIELD}})["count"])
    if have >= len(index.passage_ids):
        return 0
    done, errors = bulk(
        client,
        embedding_update_actions(alias, index.passage_ids, index.vectors.tolist()),
        chunk_size=chunk,
        raise_on_error=False,
    )
    if errors:
        first = errors[0] if isinstance(errors, list) else errors
        raise SanchaekError(
            f"Elasticsearch refused {len(errors) if isinstance(errors, list) else 'some'} passage vectors "
            f"(first: {first}): rerun `sanchaek index` and `sanchaek embed`"
        )
    client.indices.refresh(index=alias)
    return int(done)


class ElasticDenseSearch:
    """kNN over the alias's ``dense_vector`` field, the query embedded by the embed stage's model."""

    def __init__(
        self,
        client: Any,
        alias: str,
        embedder: Embedder,
        passages: Mapping[str, dict],
        highlight_chars: int = 160,
    ):
        self.client, self.alias, self.embedder, self.passages = client, alias, embedder, passages
        self.highlight_chars = highlight_chars

    def ranking(self, texts: Sequence[str], k: int, min_similarity: float = -1.0) -> list[tuple[str, float]]:
        """The ``k`` passages nearest any of ``texts`` (best cosine over one kNN search per text)."""
        best: dict[str, float] = {}
        for vector in self.embedder.queries(list(texts)):
            resp = self.client.search(index=self.alias, **knn_search_body(vector, k))
            for h in resp["hits"]["hits"]:
                pid = h["_source"]["passage_id"]
                cos = cosine_from_knn_score(h["_score"])
                best[pid] = max(best.get(pid, -1.0), cos)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [(pid, cos) for pid, cos in ranked if cos >= min_similarity]

    def hit(self, passage_id: str, score: float) -> Hit:
        return passage_hit(self.passages[passage_id], passage_id, score, self.highlight_chars)
