"""Elasticsearch request bodies for planned theme clauses and for semantic (kNN) retrieval.

Kept apart from ``elastic.py`` (connection, indexing, errors) so that the query shapes can be built
and tested without a server: the embedded backend runs the same clauses through Lucene's
QueryBuilder, and ``embedding.DenseIndex`` the same cosine search that ``dense_vector`` + kNN runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import ThemeQuery
from .plan import Clause

VECTOR_FIELD = "embedding"


def clause_query(clause: Clause) -> dict:
    """One clause as ES would analyse and match it (same analyzer on the ``text`` field)."""
    # Options whose Elasticsearch defaults differ from Lucene's QueryBuilder are spelled out, as in
    # elastic.theme_query, so both backends build the same query.
    boost = {} if clause.boost == 1.0 else {"boost": float(clause.boost)}  # a synonym's weight
    if clause.kind == "phrase":
        return {
            "match_phrase": {
                "text": {"query": clause.text, "slop": clause.slop, "zero_terms_query": "none", **boost}
            }
        }
    operator = "and" if clause.kind == "all" else "or"
    return {
        "match": {
            "text": {
                "query": clause.text,
                "operator": operator,
                "auto_generate_synonyms_phrase_query": False,
                "zero_terms_query": "none",
                "lenient": False,
                **boost,
            }
        }
    }


def clauses_query(theme: ThemeQuery) -> dict:
    """The OR of a theme's planned clauses, boosted by its weight (``EmbeddedBackend._clauses_query``)."""
    return {"bool": {"should": [clause_query(c) for c in theme.clauses], "boost": theme.weight}}


def dense_vector_mapping(dims: int) -> dict:
    """The mapping property for passage embeddings: unit vectors searched by cosine (HNSW)."""
    return {VECTOR_FIELD: {"type": "dense_vector", "dims": int(dims), "index": True, "similarity": "cosine"}}


def embedding_update_actions(
    index: str, passage_ids: Sequence[str], vectors: Sequence[Sequence[float]]
) -> list[dict]:
    """Bulk partial updates that add each passage's vector to its document (``_id`` = passage id)."""
    return [
        {"_op_type": "update", "_index": index, "_id": pid, "doc": {VECTOR_FIELD: [float(x) for x in vec]}}
        for pid, vec in zip(passage_ids, vectors, strict=True)
    ]


def knn_request(query_vector: Sequence[float], k: int, num_candidates: int | None = None) -> dict:
    """The ``knn`` section of a search: the ``k`` passages nearest the query vector by cosine.

    ``num_candidates`` (per shard) defaults to max(100, 2k), Elasticsearch's usual accuracy margin."""
    if k < 1:
        raise ValueError("k must be at least 1")
    candidates = num_candidates if num_candidates is not None else max(100, 2 * k)
    return {
        "field": VECTOR_FIELD,
        "query_vector": [float(x) for x in query_vector],
        "k": int(k),
        "num_candidates": int(max(candidates, k)),
    }


def knn_search_body(query_vector: Sequence[float], k: int, num_candidates: int | None = None) -> dict:
    """A whole search body for dense retrieval alone: ids and scores, ties by passage id."""
    return {
        "knn": knn_request(query_vector, k, num_candidates),
        "size": int(k),
        "_source": ["passage_id", "doc_id"],
        "sort": [{"_score": "desc"}, {"passage_id": "asc"}],
    }


def cosine_from_knn_score(score: float) -> float:
    """ES scores cosine kNN hits as (1 + cosine) / 2; the similarity the hits record is the cosine."""
    return 2.0 * float(score) - 1.0
