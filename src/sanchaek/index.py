"""``sanchaek index``: analyse passages with Nori into the search backend; ``sanchaek analyze``: show tokens.

Reads ``data/interim/passages.jsonl`` (preprocess) and writes the index under ``data/index/`` (or an
Elasticsearch alias plus ``data/index/meta.json``) and ``reports/index.json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from .cli import params_option
from .config import load_params
from .errors import SanchaekError
from .io import read_jsonl
from .paths import Layout
from .report import write_stage_report
from .search import SearchBackend, open_backend
from .search.analysis import analysis_dict, analyze_response, describe
from .search.inflect import describe_added, expand_predicate

REQUIRED_FIELDS = ("passage_id", "doc_id", "text")


def valid_passages(records: Iterable[dict], source: str) -> Iterator[dict]:
    """Pass records through, failing on the first one the index cannot take (missing id/text, duplicate id)."""
    seen: set[str] = set()
    for n, record in enumerate(records, start=1):
        for field in REQUIRED_FIELDS:
            value = record.get(field)
            if not isinstance(value, str) or not value.strip():
                raise SanchaekError(
                    f"{source}: passage #{n} has no usable '{field}': rerun `sanchaek preprocess` (or `dvc repro preprocess`)"
                )
        pid = record["passage_id"]
        if pid in seen:
            raise SanchaekError(
                f"{source}: passage_id {pid!r} occurs twice: passage ids must be unique (preprocess)"
            )
        seen.add(pid)
        yield record


def build_index(backend: SearchBackend, passages_path: Path) -> dict:
    """Index every passage of ``passages_path``; returns the report (docs, rejected, seconds)."""
    records = read_jsonl(passages_path, missing_fix="run `sanchaek preprocess` (or `dvc repro preprocess`)")
    start = time.perf_counter()
    n = backend.index(valid_passages(records, str(passages_path)))
    seconds = time.perf_counter() - start
    if n == 0:
        raise SanchaekError(f"{passages_path} holds no passages: check the preprocess stage's report")
    rejected = list(getattr(backend, "rejected", []))
    return {
        "backend": backend.name,
        "docs": n,
        "rejected": len(rejected),
        "rejected_examples": rejected[:10],
        "seconds": round(seconds, 3),
        "passages_per_s": round(n / seconds, 1) if seconds > 0 else None,
    }


@click.command()
@params_option
def command(params_path: str) -> None:
    """Analyse passages with Nori into the search backend."""
    params = load_params(params_path)
    layout = Layout()
    backend = open_backend(params.index, layout)
    try:
        report = build_index(backend, layout.passages)
    finally:
        backend.close()
    report["analyzer"] = describe(params.index.analysis)
    report["analysis"] = analysis_dict(params.index.analysis)
    write_stage_report(
        layout, "index", report, headline=("docs", "rejected"), timing_keys=("seconds", "passages_per_s")
    )
    click.echo(
        f"indexed {report['docs']} passages into {report['backend']} in {report['seconds']} s "
        f"({report['passages_per_s']}/s), {report['rejected']} rejected"
    )


def analysis_text(text: str | None, file: str | None, stdin) -> str:
    """The text to analyse: the TEXT argument, ``-`` for standard input, or ``--file PATH``."""
    if file is not None and text is not None:
        raise SanchaekError("give either TEXT or --file, not both")
    if file is not None:
        try:
            return Path(file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SanchaekError(f"{file} is not UTF-8 text: save it as UTF-8") from None
        except OSError as exc:
            raise SanchaekError(f"cannot read {file}: {exc.strerror or exc}") from None
    if text is None:
        raise SanchaekError("nothing to analyse: give TEXT, `-` to read standard input, or --file PATH")
    if text == "-":
        return stdin.read()
    return text


@click.command()
@params_option
@click.argument("text", required=False)
@click.option(
    "--file", "-f", "file", type=click.Path(dir_okay=False), help="analyse the text of this UTF-8 file."
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "embedded", "elasticsearch"]),
    default=None,
    help="analyse with this backend instead of index.backend.",
)
@click.option("--json", "as_json", is_flag=True, help="print an Elasticsearch-style _analyze response.")
def analyze_command(
    params_path: str, text: str | None, file: str | None, backend: str | None, as_json: bool
) -> None:
    """Show Nori tokens (term, part of speech, offsets) for TEXT (`-`: standard input; or --file PATH)."""
    params = load_params(params_path)
    text = analysis_text(text, file, sys.stdin)
    if not text.strip():
        raise SanchaekError("the text is empty (or only whitespace): there is nothing to analyse")
    search = open_backend(params.index, Layout(), backend=backend)
    try:
        tokens = search.analyze(text)
        # what the query stage would add for this text as a theme (None: not a dictionary-form predicate)
        expansion = expand_predicate(text, search.analyze) if params.query.expand_predicates else None
    finally:
        search.close()
    if as_json:
        click.echo(json.dumps(analyze_response(text, tokens), ensure_ascii=False, indent=2))
        return
    click.echo(f"# {search.name}: {describe(params.index.analysis)}")
    for t in tokens:
        click.echo(f"{t.term}\t{t.pos}\t{t.start}-{t.end}\t{text[t.start : t.end]}")
    if not tokens:
        click.echo("(no tokens: every token was removed by nori_part_of_speech stoptags)")
    if expansion is not None:
        added = describe_added(expansion.forms)
        click.echo(
            f"# as a theme (query.expand_predicates), stem {expansion.stem} adds: {added or 'nothing'}"
        )
