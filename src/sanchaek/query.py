"""``sanchaek query``: theme words select the training passages.

Each theme (a word or phrase, with optional synonyms and weight) is analysed like the documents and
searched; a theme in dictionary form (듣다) also searches the inflected forms Nori reads as other stem
terms (들었다 -> 듣, see ``search.inflect``). Its hits go to ``data/processed/hits.jsonl``. The best
``max_per_theme`` hits of every theme form the training set, split by document into ``train.jsonl`` /
``val.jsonl`` (no document on both sides) and summarised in ``reports/query.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from .cli import params_option
from .config import Params, load_params
from .config.search import QueryParams, ThemeParams
from .errors import SanchaekError
from .io import read_jsonl, write_jsonl
from .paths import Layout
from .report import write_stage_report
from .search import Hit, SearchBackend, open_backend
from .search.fusion import DenseThemeSearch, fuse_theme
from .search.inflect import added_forms, theme_expansions
from .search.theme_query import document_rank, lexical_search, uses_semantic

log = logging.getLogger(__name__)


@dataclass
class ThemeResult:
    theme: ThemeParams
    analysed: list[str]
    hits: list[Hit]
    expanded: dict[str, list[str]] = field(default_factory=dict)  # added inflected form -> its terms
    nearest: dict[str, list[str]] = field(default_factory=dict)  # only for a theme without hits
    reasons: dict[str, list[dict]] = field(default_factory=dict)  # passage_id -> why it matched
    clauses: list[str] = field(default_factory=list)  # the planned clauses, described
    semantic: bool = False
    near_misses: dict[str, int] = field(default_factory=dict)  # exclude phrase -> hits it dropped


def search_theme(
    backend: SearchBackend,
    theme: ThemeParams,
    params: QueryParams,
    dense: DenseThemeSearch | None = None,
) -> ThemeResult:
    top_k = theme.top_k if theme.top_k is not None else params.top_k
    planned, hits, reasons, dropped = lexical_search(backend, theme, params, top_k)
    analysed = [t.term for alt in (theme.text, *theme.synonyms) for t in backend.analyze(alt)]
    result = ThemeResult(
        theme=theme, analysed=analysed, hits=hits, expanded=added_forms(theme_expansions(planned)),
        reasons={h.passage_id: reasons.get(h.passage_id, []) for h in hits},
        clauses=[c.describe() for c in planned.clauses], near_misses=dropped,
    )  # fmt: skip
    if uses_semantic(theme, params):
        if dense is None:
            raise SanchaekError(
                f"theme {theme.text!r} uses semantic retrieval but no passage embeddings are loaded: "
                "set embed.enabled: true and run `sanchaek embed` (or `dvc repro embed`), or set query.semantic.enabled: false"
            )
        result.semantic = True
        result.hits, dense_reasons = fuse_theme(hits, dense, theme, params.semantic, top_k)
        for pid, reason in dense_reasons.items():
            result.reasons.setdefault(pid, []).append(reason)
    if not result.hits:
        # The nearest analysed forms in the index tell the user what to write instead.
        for term in dict.fromkeys(analysed or [theme.text]):
            result.nearest[term] = backend.nearest_terms(term, params.n_nearest_terms)
    return result


def empty_theme_warning(result: ThemeResult) -> str:
    analysed = ", ".join(result.analysed) or "nothing (all tokens are stoptags)"
    nearest = "; ".join(f"{t} → {', '.join(n) or 'none'}" for t, n in result.nearest.items())
    return f"theme {result.theme.text!r} found no passages (analysed to: {analysed}); nearest index terms: {nearest}"


def select_balanced(results: list[ThemeResult], max_per_theme: int) -> dict[str, list[str]]:
    """passage_id -> themes, taking each theme's best ``max_per_theme`` hits (so no theme dominates)."""
    selected: dict[str, list[str]] = {}
    for result in results:
        for hit in result.hits[:max_per_theme]:
            selected.setdefault(hit.passage_id, []).append(result.theme.text)
    return selected


def split_documents(doc_ids: Iterable[str], val_fraction: float, seed: int) -> set[str]:
    """The documents held out for validation: a ``val_fraction`` share, at least one when there are two."""
    docs = sorted(set(doc_ids), key=lambda d: document_rank(d, seed))
    if val_fraction <= 0 or len(docs) < 2:
        return set()
    n_val = min(max(1, round(val_fraction * len(docs))), len(docs) - 1)
    return set(docs[:n_val])


def gather_records(
    passages_path: Path, selected: dict[str, list[str]], *, include_unmatched: bool = False
) -> list[dict]:
    """Full passage records of the selected ids (of every passage with ``include_unmatched``),
    in passages-file order, each with its ``themes``."""
    records = []
    for record in read_jsonl(
        passages_path, missing_fix="run `sanchaek preprocess` (or `dvc repro preprocess`)"
    ):
        themes = selected.get(record.get("passage_id"))
        if themes is None and include_unmatched:
            themes = []
        if themes is not None:
            records.append({**record, "themes": themes})
    found = {r["passage_id"] for r in records}
    missing = [pid for pid in selected if pid not in found]
    if missing:
        raise SanchaekError(
            f"the index holds passages that {passages_path} lacks (e.g. {missing[0]}): "
            "run `sanchaek index` (or `dvc repro index`)"
        )
    return records


def hit_records(results: list[ThemeResult], selected: dict[str, list[str]], max_per_theme: int) -> list[dict]:
    rows = []
    for result in results:
        for rank, hit in enumerate(result.hits, start=1):
            rows.append(
                {
                    "theme": result.theme.text,
                    "rank": rank,
                    "passage_id": hit.passage_id,
                    "doc_id": hit.doc_id,
                    "score": round(hit.score, 6),
                    "selected": rank <= max_per_theme,
                    "highlight": hit.highlight,
                    "reasons": result.reasons.get(hit.passage_id, []),
                }
            )
    return rows


def reason_counts(result: ThemeResult) -> dict[str, int]:
    """How many hits each kind of reason (term, synonym, inflected form, stem form, semantic) found;
    a hit with several reasons counts once for each."""
    counts: dict[str, int] = {}
    for hit in result.hits:
        for kind in dict.fromkeys(r["reason"] for r in result.reasons.get(hit.passage_id, [])):
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def build_report(
    backend: SearchBackend,
    results: list[ThemeResult],
    train: list[dict],
    val: list[dict],
    params: QueryParams,
    warnings: list[str],
) -> dict:
    indexed = backend.count()
    hit_ids = {h.passage_id for r in results for h in r.hits}
    selected = train + val
    themes = {}
    for r in results:
        scores = [h.score for h in r.hits]
        themes[r.theme.text] = {
            "analysed": r.analysed,
            "match": r.theme.match or params.match,
            "clauses": r.clauses,
            "semantic": r.semantic,
            "weight": r.theme.weight,
            "synonyms": list(r.theme.synonyms),
            "expanded": r.expanded,
            "exclude": list(r.theme.exclude),
            "near_misses_dropped": r.near_misses,
            "hits": len(r.hits),
            "selected": min(len(r.hits), params.max_per_theme),
            "documents": len({h.doc_id for h in r.hits}),
            "top_score": round(max(scores), 4) if scores else None,
            "lowest_score": round(min(scores), 4) if scores else None,
            "examples": [
                {
                    "passage_id": h.passage_id,
                    "title": h.title,
                    "score": round(h.score, 4),
                    "highlight": h.highlight,
                    "reasons": r.reasons.get(h.passage_id, []),
                }
                for h in r.hits[: params.n_examples]
            ],
            "reasons": reason_counts(r),
            "nearest_terms": r.nearest,
        }
    return {
        "backend": backend.name,
        "themes": themes,
        "coverage": {
            "passages_indexed": indexed,
            "passages_hit": len(hit_ids),
            "passages_selected": len(selected),
            "hit_fraction": round(len(hit_ids) / indexed, 4) if indexed else 0.0,
            "selected_fraction": round(len(selected) / indexed, 4) if indexed else 0.0,
            "documents_selected": len({r["doc_id"] for r in selected}),
        },
        "split": {
            "train_passages": len(train),
            "val_passages": len(val),
            "train_documents": len({r["doc_id"] for r in train}),
            "val_documents": len({r["doc_id"] for r in val}),
            "val_fraction": params.val_fraction,
            "seed": params.seed,
        },
        "warnings": warnings,
    }


def run_query(
    backend: SearchBackend, params: QueryParams, passages_path: Path, dense: DenseThemeSearch | None = None
) -> tuple[list[dict], list[dict], list[dict], dict]:
    """The whole stage as a pure function of the index (and the embeddings): (hits rows, train, val, report)."""
    results = [search_theme(backend, theme, params, dense) for theme in params.themes]
    warnings = [empty_theme_warning(r) for r in results if not r.hits]
    for w in warnings:
        log.warning(w)
    selected = select_balanced(results, params.max_per_theme)
    if not selected and params.scope == "themes":
        counts = ", ".join(f"{r.theme.text}: 0" for r in results)
        raise SanchaekError(
            f"no passage matched any theme ({counts}): add synonyms, lower query.min_score, or check the analysis "
            "with `sanchaek analyze TEXT`"
        )
    records = gather_records(passages_path, selected, include_unmatched=params.scope == "all")
    val_docs = split_documents((r["doc_id"] for r in records), params.val_fraction, params.seed)
    train = [r for r in records if r["doc_id"] not in val_docs]
    val = [r for r in records if r["doc_id"] in val_docs]
    if params.val_fraction > 0 and not val:
        warnings.append("val split is empty: the selected passages come from a single document")
        log.warning(warnings[-1])
    rows = hit_records(results, selected, params.max_per_theme)
    return rows, train, val, build_report(backend, results, train, val, params, warnings)


def open_dense_search(
    params: Params, layout: Layout, backend: SearchBackend | None = None
) -> DenseThemeSearch:
    """The embed stage's vectors, the same model for the queries, and the passages to build hits from."""
    from .embed import embeddings_dir
    from .search.embedding import load_dense_index, load_embedder

    if not params.embed.enabled:
        raise SanchaekError(
            "query.semantic is on but embed.enabled is false: set embed.enabled: true and run "
            "`sanchaek embed` (or `dvc repro embed`), or turn query.semantic off"
        )
    index = load_dense_index(embeddings_dir(layout))
    embedder = load_embedder(params.embed.model, params.embed.threads or None)
    if index.model != embedder.name:
        raise SanchaekError(
            f"the passage embeddings were made with {index.model!r}, not {embedder.name!r}: rerun `sanchaek embed`"
        )
    passages = {
        str(r["passage_id"]): r
        for r in read_jsonl(
            layout.passages, missing_fix="run `sanchaek preprocess` (or `dvc repro preprocess`)"
        )
    }
    if backend is not None and backend.name == "elasticsearch":
        # the same vectors in a dense_vector field of the live alias, searched there by kNN
        from .search.elastic_dense import ElasticDenseSearch, sync_vectors

        sync_vectors(backend.client, backend.alias, index)
        return ElasticDenseSearch(
            backend.client, backend.alias, embedder, passages, params.index.highlight_fragment_chars
        )
    return DenseThemeSearch(index, embedder, passages, params.index.highlight_fragment_chars)


# Counts per theme and of the split: reports/metrics/query.json (examples and terms stay in query.json).
QUERY_HEADLINE = ("themes.*.hits", "split.train_passages", "split.val_passages")


@click.command()
@params_option
def command(params_path: str) -> None:
    """Select training passages by theme words."""
    params = load_params(params_path)
    layout = Layout()
    backend = open_backend(params.index, layout)
    try:
        dense = None
        if any(uses_semantic(t, params.query) for t in params.query.themes):
            dense = open_dense_search(params, layout, backend)
        rows, train, val, report = run_query(backend, params.query, layout.passages, dense)
    finally:
        backend.close()
    write_jsonl(layout.hits, rows)
    write_jsonl(layout.train_split, train)
    write_jsonl(layout.val_split, val)
    write_stage_report(layout, "query", report, headline=QUERY_HEADLINE)
    for w in report["warnings"]:
        click.echo(f"warning: {w}", err=True)
    per_theme = ", ".join(f"{t}: {v['hits']}" for t, v in report["themes"].items())
    click.echo(f"hits per theme: {per_theme}; train {len(train)} / val {len(val)} passages")
