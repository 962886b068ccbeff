"""A stage's report as three files, so `dvc exp show` and `dvc metrics diff` show quality only.

- ``reports/<stage>.json``: the whole report (per reason, per source, per theme …), the file the app
  and later stages read; a plain DVC output, never a metric, and free of wall-clock values so that it
  is byte-identical run after run.
- ``reports/metrics/<stage>.json``: the headline numbers picked from it by dotted key (``*`` matches
  every key at that level, e.g. ``sources.*.documents``); the DVC metrics file.
- ``reports/timings/<stage>.json``: seconds and rates, taken out of the report; a plain file outside
  DVC's lock (git-ignored), because a wall-clock value in any tracked output would make every run
  differ from the commit.

A key added to a stage's report later lands in the detail file without any change here; adding it
to the stage's ``headline`` list makes it a metric.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Any

from .io import write_json
from .paths import Layout

METRICS_DIR = "metrics"
TIMINGS_DIR = "timings"


def metrics_path(layout: Layout, stage: str):
    return layout.report(f"{METRICS_DIR}/{stage}.json")


def timings_path(layout: Layout, stage: str):
    return layout.report(f"{TIMINGS_DIR}/{stage}.json")


def _matches(
    tree: Any, parts: list[str], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every leaf of ``tree`` at the dotted path ``parts`` (``*`` = any key)."""
    if not parts:
        yield prefix, tree
        return
    if not isinstance(tree, dict):
        return
    head, rest = parts[0], parts[1:]
    keys = list(tree) if head == "*" else [head] if head in tree else []
    for key in keys:
        yield from _matches(tree[key], rest, (*prefix, key))


def _put(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def pick(report: dict, keys: Iterable[str]) -> dict:
    """The values at ``keys`` (dotted, ``*`` wildcards) in the report's own nesting; absent keys are skipped."""
    out: dict = {}
    for key in keys:
        for path, value in _matches(report, key.split(".")):
            _put(out, path, value)
    return out


def take(report: dict, keys: Iterable[str]) -> dict:
    """Remove the values at ``keys`` from ``report`` (in place) and return them as :func:`pick` would."""
    taken = pick(report, keys)
    for key in keys:
        for path, _ in list(_matches(report, key.split("."))):
            parent = report
            for part in path[:-1]:
                parent = parent[part]
            del parent[path[-1]]
    return taken


def write_timings(layout: Layout, stage: str, timings: dict) -> None:
    write_json(timings_path(layout, stage), timings)


def write_headline(layout: Layout, stage: str, values: dict) -> None:
    write_json(metrics_path(layout, stage), values)


def headline_of(final: dict, steps: int, tokens: int) -> dict:
    """The train stage's headline: the final evaluation's ``val_*`` values (a key added to that
    record, such as val_bits_per_char, joins by itself; perplexity is exp(val_loss) and left out), the
    last logged train loss, and the run's size."""
    vals = {k: v for k, v in final.items() if k.startswith("val_") and k != "val_perplexity"}
    return {**vals, "train_loss": final.get("train_loss"), "steps": steps, "tokens": tokens}


def write_stage_report(
    layout: Layout,
    stage: str,
    report: dict,
    *,
    headline: Iterable[str],
    timing_keys: Iterable[str] = (),
    detail_name: str | None = None,
) -> dict:
    """Write the detail, headline and timings files of ``stage``; returns the timings taken out.

    ``report`` itself is left as it was (the caller may still print its seconds).
    """
    detail = copy.deepcopy(report)
    timings = take(detail, list(timing_keys))
    write_json(layout.report(detail_name or f"{stage}.json"), detail)
    write_json(metrics_path(layout, stage), pick(detail, headline))
    if timings:
        write_timings(layout, stage, timings)
    return timings
