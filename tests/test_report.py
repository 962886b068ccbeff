"""report.write_stage_report: the whole report, its headline metrics and its timings in three files."""

from __future__ import annotations

import json

from sanchaek.paths import Layout
from sanchaek.report import pick, take, write_stage_report

REPORT = {
    "sources": {"corpus": {"documents": 3, "seconds": 0.5, "errors": []}, "mirror": {"documents": 2, "seconds": 1.5}},
    "passages": {"in": 10, "out": 8, "dropped": {"too_short": 2}},
    "seconds": 2.25,
    "backend": "embedded",
}  # fmt: skip


def test_pick_keeps_the_nesting_and_expands_wildcards():
    got = pick(REPORT, ["sources.*.documents", "passages.out", "no.such.key"])
    assert got == {
        "sources": {"corpus": {"documents": 3}, "mirror": {"documents": 2}},
        "passages": {"out": 8},
    }


def test_take_removes_what_it_returns():
    report = json.loads(json.dumps(REPORT))
    assert take(report, ["seconds", "sources.*.seconds"]) == {
        "seconds": 2.25, "sources": {"corpus": {"seconds": 0.5}, "mirror": {"seconds": 1.5}},
    }  # fmt: skip
    assert "seconds" not in json.dumps(report) and report["sources"]["corpus"]["documents"] == 3


def test_three_files_and_the_callers_report_untouched(tmp_path):
    layout = Layout(tmp_path)
    before = json.dumps(REPORT)
    timings = write_stage_report(
        layout,
        "crawl",
        REPORT,
        headline=["sources.*.documents"],
        timing_keys=["seconds", "sources.*.seconds"],
    )
    assert json.dumps(REPORT) == before  # the command may still print its seconds
    read = lambda rel: json.loads((tmp_path / "reports" / rel).read_text(encoding="utf-8"))  # noqa: E731
    detail = read("crawl.json")
    assert detail["passages"]["dropped"] == {"too_short": 2} and "seconds" not in json.dumps(detail)
    assert read("metrics/crawl.json") == {"sources": {"corpus": {"documents": 3}, "mirror": {"documents": 2}}}
    assert read("timings/crawl.json") == timings and timings["seconds"] == 2.25


def test_no_timings_file_when_a_stage_has_none(tmp_path):
    write_stage_report(Layout(tmp_path), "ratings", {"n_votes": 0}, headline=["n_votes"])
    assert not (tmp_path / "reports" / "timings").exists()
    assert json.loads((tmp_path / "reports/metrics/ratings.json").read_text()) == {"n_votes": 0}
