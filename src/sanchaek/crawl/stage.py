"""``sanchaek crawl``: every source in ``crawl.sources`` into data/raw/<source>.jsonl + reports/crawl.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from ..cli import params_option
from ..config import load_params
from ..config.crawl import CrawlParams
from ..paths import Layout
from ..report import write_stage_report
from .brunch import BrunchSource
from .corpus import crawl_corpus
from .fetcher import Clock, Fetcher, SystemClock
from .mirror import MirrorSource
from .munjang import MunjangSource
from .runner import crawl_site

log = logging.getLogger(__name__)


def state_file(layout: Layout, source: str) -> Path:
    return layout.cache_dir / "crawl" / f"{source}.state.json"


def build_site_source(name: str, params: CrawlParams, environ: dict[str, str] | None = None):
    if name == "munjang":
        return MunjangSource.from_params(params.munjang, environ)
    if name == "brunch":
        return BrunchSource(params.brunch)
    if name == "mirror":
        return MirrorSource(params.mirror)
    raise ValueError(f"unknown site source {name}")


CRAWL_HEADLINE = ("sources.*.documents",)  # reports/metrics/crawl.json
CRAWL_TIMINGS = ("seconds", "sources.*.seconds")  # reports/timings/crawl.json, out of crawl.json


def run_crawl(
    params: CrawlParams,
    layout: Layout,
    *,
    clock: Clock | None = None,
    environ: dict[str, str] | None = None,
    transport=None,
) -> dict:
    """Crawl every configured source; returns the report (also written to reports/crawl.json).

    Each source gets its own Fetcher, so one site's robots.txt, pauses and request count never leak
    into another's. A source that raises still leaves a report naming what was done before it.
    """
    started = time.monotonic()
    report: dict = {"user_agent": params.fetch.user_agent, "sources": {}}
    report["removed_stale"] = remove_stale_sources(params, layout)
    try:
        for name in params.sources:
            out = layout.raw_file(name)
            if name == "corpus":
                report["sources"][name] = crawl_corpus(params.corpus, out)
                continue
            source = build_site_source(name, params, environ)
            fetcher = Fetcher(params.fetch, clock=clock or SystemClock(), transport=transport)
            if getattr(source, "api_key", None):
                fetcher.add_secret(source.api_key)
            try:
                block = crawl_site(
                    source, fetcher, out, state_file(layout, name), params.rights, params.fetch.progress
                )
            finally:
                fetcher.close()
            block["robots"] = fetcher.robots_report
            block["retry_waits"] = len(fetcher.waits)
            if getattr(source, "mode", None):
                block["mode"] = source.mode
            report["sources"][name] = block
            _log_summary(name, block)
    finally:
        report["totals"] = site_totals(report["sources"])
        report["seconds"] = round(time.monotonic() - started, 3)
        write_stage_report(layout, "crawl", report, headline=CRAWL_HEADLINE, timing_keys=CRAWL_TIMINGS)
    return report


def site_totals(sources: dict) -> dict:
    """Headline counts over the site sources: documents per discovery route, truncated-page retries,
    refusals (robots.txt, AI-training opt-outs, page signals) with their reasons."""
    totals: dict = {"documents_by_route": {}, "truncated_retries": 0, "truncated_failed": 0, "refusals": []}
    for name, block in sources.items():
        if block.get("kind") != "site":
            continue
        for route, count in block.get("documents_by_route", {}).items():
            totals["documents_by_route"][f"{name}:{route}"] = count
        totals["truncated_retries"] += block.get("truncated", {}).get("retries", 0)
        totals["truncated_failed"] += block.get("truncated", {}).get("failed", 0)
        totals["refusals"] += [{"source": name, **refusal} for refusal in block.get("refusals", [])]
    return totals


def remove_stale_sources(params: CrawlParams, layout: Layout) -> list[str]:
    """Delete ``data/raw/<source>.jsonl`` of sources no longer in ``crawl.sources``.

    ``data/raw`` is a persistent DVC output (so a killed site crawl resumes under ``dvc repro`` too);
    preprocess reads every file in it, so a source dropped from params must not linger there.
    """
    removed = []
    for path in sorted(layout.raw_dir.glob("*.jsonl")):
        if path.stem not in params.sources:
            path.unlink()
            removed.append(path.name)
            log.warning("removed %s: source '%s' is no longer in crawl.sources", path, path.stem)
    return removed


def _log_summary(name: str, block: dict) -> None:
    errors = block.get("errors", [])
    rights = block.get("rights") or {}
    if rights.get("decision") == "refused":
        click.echo(f"crawl {name}: refused: {rights.get('message')}", err=True)
        return
    click.echo(
        f"crawl {name}: {block['documents']} documents ({block['fetched']} new), "
        f"skipped {block['skipped']}, {len(errors)} errors",
        err=True,
    )
    for err in errors[:5]:
        click.echo(f"  error {err['url']}: {err['reason']}", err=True)


@click.command(help="Collect raw documents (offline corpus by default; polite site crawlers).")
@params_option
def command(params_path: str) -> None:
    params = load_params(params_path)
    report = run_crawl(params.crawl, Layout(Path(".")))
    for name, block in report["sources"].items():
        if block.get("kind") == "offline":
            click.echo(f"crawl {name}: {block['documents']} documents -> data/raw/{name}.jsonl", err=True)
