"""``sanchaek query``: theme words select the training passages.

Each theme (a word or phrase, with optional synonyms and weight) is analysed like the documents and
searched; a theme in dictionary form (듣다) also searches the inflected forms Nori reads as other stem
terms (들었다 -> 듣, see ``search.inflect``). Its hits go to ``data/processed/hits.jsonl``. The best
``max_per_theme`` hits of every theme form the training set, split by document into ``train.jsonl`` /
``val.jsonl`` (no document on both sides) and summarised in ``reports/query.json``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click

from .cli import params_option
from .config import load_params
from .config.search import QueryParams, ThemeParams
from .errors import SanchaekError
from .io import read_jsonl, write_jsonl
from .paths import Layout
from .report import write_stage_report
from .search import Hit, SearchBackend, ThemeQuery, open_backend, search_theme_text

log = logging.getLogger(__name__)


@dataclass
class ThemeResult:
    theme: ThemeParams
    analysed: list[str]
    hits: list[Hit]
    expanded: dict[str, list[str]] = field(default_factory=dict)  # added inflected form -> its terms
    nearest: dict[str, list[str]] = field(default_factory=dict)  # only for a theme without hits


def to_query(theme: ThemeParams, params: QueryParams) -> ThemeQuery:
    return ThemeQuery(
        text=theme.text,
        synonyms=tuple(theme.synonyms),
        match=theme.match or params.match,
        weight=theme.weight,
    )


def configured_theme(text: str, params: QueryParams) -> ThemeParams:
    """The theme as ``query.themes`` configures it (synonyms, weight, match, expansion), else the bare text."""
    return next((t for t in params.themes if t.text == text.strip()), None) or ThemeParams(text=text)


def theme_hits(
    backend: SearchBackend, theme: str | ThemeParams, k: int, params: QueryParams
) -> tuple[list[Hit], dict[str, list[str]]]:
    """The top ``k`` hits of a theme searched as this stage searches it, and the inflected forms added.

    Generate, compose and the app call it with a theme's text: a theme listed in ``query.themes``
    brings its synonyms and settings along, so it finds the same passages in every stage."""
    if isinstance(theme, str):
        theme = configured_theme(theme, params)
    expand = theme.expand_predicates if theme.expand_predicates is not None else params.expand_predicates
    return search_theme_text(backend, to_query(theme, params), k, expand=expand)


def search_theme(backend: SearchBackend, theme: ThemeParams, params: QueryParams) -> ThemeResult:
    top_k = theme.top_k if theme.top_k is not None else params.top_k
    min_score = theme.min_score if theme.min_score is not None else params.min_score
    found, expanded = theme_hits(backend, theme, top_k, params)
    hits = [h for h in found if h.score >= min_score]
    analysed = [t.term for alt in (theme.text, *theme.synonyms) for t in backend.analyze(alt)]
    result = ThemeResult(theme=theme, analysed=analysed, hits=hits, expanded=expanded)
    if not hits:
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


def document_rank(doc_id: str, seed: int) -> str:
    """A stable pseudo-random order of documents: same seed, same split, on every machine."""
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()


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
                }
            )
    return rows


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
            "weight": r.theme.weight,
            "synonyms": list(r.theme.synonyms),
            "expanded": r.expanded,
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
                }
                for h in r.hits[: params.n_examples]
            ],
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
    backend: SearchBackend, params: QueryParams, passages_path: Path
) -> tuple[list[dict], list[dict], list[dict], dict]:
    """The whole stage as a pure function of the index: (hits rows, train, val, report)."""
    results = [search_theme(backend, theme, params) for theme in params.themes]
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
        rows, train, val, report = run_query(backend, params.query, layout.passages)
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
