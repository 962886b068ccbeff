"""``sanchaek crawl``: every source in ``crawl.sources`` into data/raw/<source>.jsonl + reports/crawl.json."""

from __future__ import annotations

import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

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
    into another's. Site sources on different hosts crawl at once (``crawl.parallel_hosts``
    threads: the work is waiting on the network and on politeness pauses); sources that share a
    host crawl one after another in one thread, so each host still sees one polite client. A source
    that raises still leaves a report naming what was done by every source, and its error is raised
    after the others finish (the first failing source in ``crawl.sources`` order).
    """
    started = time.monotonic()
    report: dict = {"user_agent": params.fetch.user_agent, "sources": {}}
    report["removed_stale"] = remove_stale_sources(params, layout)
    blocks: dict[str, dict] = {}
    try:
        if "corpus" in params.sources:
            blocks["corpus"] = crawl_corpus(params.corpus, layout.raw_file("corpus"))
        groups = host_groups([n for n in params.sources if n != "corpus"], params)
        report["host_groups"] = groups
        crawl_one = functools.partial(
            _crawl_source, params, layout, clock or SystemClock(), environ, transport
        )
        errors = _crawl_groups(groups, crawl_one, blocks, params.parallel_hosts)
        if errors:
            raise errors[min(errors, key=params.sources.index)]
    finally:
        report["sources"] = {name: blocks[name] for name in params.sources if name in blocks}
        report["totals"] = site_totals(report["sources"])
        report["seconds"] = round(time.monotonic() - started, 3)
        write_stage_report(layout, "crawl", report, headline=CRAWL_HEADLINE, timing_keys=CRAWL_TIMINGS)
    return report


def source_hosts(name: str, params: CrawlParams) -> set[str]:
    """The hosts (host:port) a site source talks to: its site and, if it has one, its API."""
    section = getattr(params, name)
    urls = (getattr(section, "base_url", None), getattr(section, "api_base_url", None))
    return {urlsplit(url).netloc.lower() for url in urls if url}


def host_groups(names: list[str], params: CrawlParams) -> list[list[str]]:
    """Sources that share a host (directly or through another source) form one group, in order."""
    groups: list[tuple[set[str], list[str]]] = []
    for name in names:
        hosts, members = source_hosts(name, params), [name]
        for group in [g for g in groups if g[0] & hosts]:
            groups.remove(group)
            hosts |= group[0]
            members = group[1] + members
        groups.append((hosts, sorted(members, key=names.index)))
    return sorted((members for _, members in groups), key=lambda m: names.index(m[0]))


def _crawl_groups(groups: list[list[str]], crawl_one, blocks: dict, threads: int) -> dict[str, BaseException]:
    """Each group's sources one after another; groups side by side. Returns the errors by source."""
    errors: dict[str, BaseException] = {}

    def crawl_group(names: list[str]) -> None:
        for name in names:
            try:
                blocks[name] = crawl_one(name)
            except BaseException as exc:  # noqa: BLE001 (re-raised by run_crawl once all are done)
                errors[name] = exc
                return  # the rest of this host's sources wait for the next run, as before

    if threads == 1 or len(groups) <= 1:
        for names in groups:
            crawl_group(names)
            if errors:
                break
        return errors
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="crawl") as pool:
        list(pool.map(crawl_group, groups))
    return errors


def _crawl_source(params: CrawlParams, layout: Layout, clock: Clock, environ, transport, name: str) -> dict:
    source = build_site_source(name, params, environ)
    fetcher = Fetcher(params.fetch, clock=clock, transport=transport)
    if getattr(source, "api_key", None):
        fetcher.add_secret(source.api_key)
    try:
        block = crawl_site(
            source,
            fetcher,
            layout.raw_file(name),
            state_file(layout, name),
            params.rights,
            params.fetch.progress,
        )
    finally:
        fetcher.close()
    block["robots"] = fetcher.robots_report
    block["retry_waits"] = len(fetcher.waits)
    if getattr(source, "mode", None):
        block["mode"] = source.mode
    _log_summary(name, block)
    return block


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
