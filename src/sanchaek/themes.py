"""``sanchaek themes suggest``: candidate paraphrases of a theme, for ``query.themes[].synonyms``.

The theme is searched as the query stage searches it; ``search.suggest`` ranks the words and
noun + predicate pairs its hits share far more than the corpus does (and, with embeddings, by cosine
to the theme). ``theme_suggestions`` is the pure core the app's Search page can call.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import params_option
from .config import load_params
from .config.search import QueryParams
from .errors import SanchaekError
from .io import read_jsonl
from .paths import Layout
from .search import SearchBackend, open_backend
from .search.embedding import Embedder
from .search.suggest import suggest_paraphrases
from .search.theme_query import configured_theme, document_rank, theme_hits

BACKGROUND_SAMPLE = 1500  # corpus passages the theme's hits are compared with (seeded sample)


def background_sample(passages_path: Path, size: int, seed: int) -> list[tuple[str, str, str]]:
    """A seeded sample of (passage_id, doc_id, text) from the passages file: the corpus at large."""
    records = [
        (str(r["passage_id"]), str(r["doc_id"]), r["text"])
        for r in read_jsonl(
            passages_path, missing_fix="run `sanchaek preprocess` (or `dvc repro preprocess`)"
        )
    ]
    if len(records) <= size:
        return records
    return sorted(records, key=lambda r: document_rank(r[0], seed))[:size]


def theme_suggestions(
    backend: SearchBackend,
    theme: str,
    params: QueryParams,
    passages_path: Path,
    *,
    n: int = 20,
    embedder: Embedder | None = None,
) -> list[dict]:
    """Candidate paraphrases of ``theme`` (co-occurrence in its hits, and embeddings when given), each
    with counts and an example passage: what ``sanchaek themes suggest`` prints and the app's Search
    page shows. The theme is searched as the query stage searches it (its configured synonyms too)."""
    configured = configured_theme(theme, params)
    top_k = configured.top_k if configured.top_k is not None else params.top_k
    hits, _ = theme_hits(backend, configured, min(top_k, params.max_per_theme), params)
    similarity = None
    if embedder is not None:
        theme_vector = embedder.queries([configured.text])[0]

        def similarity(texts: list[str]) -> list[float]:
            return [float(v) for v in embedder.queries(texts) @ theme_vector]

    found = suggest_paraphrases(
        configured.text,
        hits,
        background_sample(passages_path, BACKGROUND_SAMPLE, params.seed),
        backend.analyze,
        n=n,
        exclude=configured.synonyms,
        similarity=similarity,
    )
    return [s.as_dict() for s in found]


@click.group("themes")
def group() -> None:
    """Theme tools."""


@group.command("suggest")
@click.argument("theme")
@click.option(
    "-n", "n", default=20, show_default=True, type=click.IntRange(1, 200), help="suggestions to list"
)
@click.option(
    "--semantic/--no-semantic", default=None, help="rank by embeddings too (default: when embed.enabled)"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@params_option
def suggest_command(theme: str, n: int, semantic: bool | None, as_json: bool, params_path: str) -> None:
    """Candidate paraphrases of THEME (multi-word ones too) to paste into query.themes[].synonyms."""
    params = load_params(params_path)
    layout = Layout()
    theme = theme.strip()
    if not theme:
        raise SanchaekError("the theme is empty: give a word or phrase, e.g. `sanchaek themes suggest 죽음`")
    if len(theme) > 200:
        raise SanchaekError(
            f"the theme is {len(theme)} characters long: give a word or short phrase (at most 200)"
        )
    use_embeddings = params.embed.enabled if semantic is None else semantic
    embedder = None
    if use_embeddings:
        from .search.embedding import load_embedder

        embedder = load_embedder(params.embed.model, params.embed.threads or None)
    backend = open_backend(params.index, layout)
    try:
        rows = theme_suggestions(backend, theme, params.query, layout.passages, n=n, embedder=embedder)
    finally:
        backend.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"no candidate paraphrases for {theme!r}: its hits share no words that are rare elsewhere")
        return
    sim = embedder is not None
    click.echo(f"# candidates for {theme!r} (documents among its hits / in a {BACKGROUND_SAMPLE}-passage corpus sample, lift"
               + (", cosine to the theme" if sim else "") + ")")  # fmt: skip
    for row in rows:
        extra = f"  cos {row['similarity']:.3f}" if sim and row["similarity"] is not None else ""
        snippet = row["example"]["snippet"].replace("\n", " ")
        click.echo(f"{row['text']}\t{row['in_hits']}/{row['in_corpus']}  lift {row['lift']}{extra}\t"
                   f"e.g. {row['example']['passage_id']}: …{snippet}…")  # fmt: skip
    click.echo("paste the ones you want into query.themes[].synonyms in params.yaml")
