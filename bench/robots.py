"""robots.txt matchers against Google's reference checks, in ONE run:

1. ``urllib.robotparser`` (the standard library: what a user would reach for first, the baseline);
2. ``protego`` 0.7.0 as it comes;
3. ``sanchaek.crawl.robots`` (protego plus the fixes in its module doc), what the crawler uses.

Scored on the 156 matching checks of google/robotstxt ``robots_test.cc`` (tests/robots_google_cases.py),
with the time each needs for the issue #23 wildcard case (``*****/****.js`` against a 31-character
path) and for a 2000-star rule against a 20000-character path.

    python bench/robots.py --out reports/bench/robots.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.robotparser
from pathlib import Path

from protego import Protego

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from robots_google_cases import CASES  # noqa: E402

from sanchaek.crawl.robots import parse_robots  # noqa: E402


def as_text(text: str | bytes) -> str:
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text


def stdlib(text: str | bytes, agent: str, url: str) -> bool:
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(as_text(text).splitlines())
    return parser.can_fetch(agent, url)


def protego(text: str | bytes, agent: str, url: str) -> bool:
    return Protego.parse(as_text(text)).can_fetch(url, agent)


def ours(text: str | bytes, agent: str, url: str) -> bool:
    return parse_robots(text).can_fetch(agent, url)


MATCHERS = {"urllib.robotparser": stdlib, "protego 0.7.0": protego, "sanchaek.crawl.robots": ours}
SLOW_CASES = {
    "issue_23_stars_31_chars": ("User-agent: *\nDisallow: *****/****.js\n", "http://h/" + "a" * 31),
    "stars_2000_path_20000": ("User-agent: *\nDisallow: /" + "*a" * 2000 + "b\n", "http://h/" + "a" * 20000),
}


def score(check) -> dict:
    passed, failed = 0, []
    for name, text, agent, url, allowed in CASES:
        try:
            got = check(text, agent, url)
        except Exception as exc:  # noqa: BLE001 (a crash counts as a failed check)
            got = repr(exc)
        if got == allowed:
            passed += 1
        else:
            failed.append(f"{name}: {agent!r} {url[:60]!r} expected {allowed}, got {got}")
    timings = {}
    for label, (text, url) in SLOW_CASES.items():
        started = time.perf_counter()
        check(text, "sanchaek", url)
        timings[label] = round(time.perf_counter() - started, 6)
    return {"passed": passed, "checks": len(CASES), "seconds": timings, "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench/robots.json"))
    args = parser.parse_args()
    results = {label: score(check) for label, check in MATCHERS.items()}
    baseline = results["urllib.robotparser"]["passed"]
    report = {
        "suite": "google/robotstxt robots_test.cc matching checks (tests/robots_google_cases.py)",
        "baseline": "urllib.robotparser",
        "results": results,
        "passed_vs_baseline": {k: v["passed"] - baseline for k, v in results.items()},
        "command": "python bench/robots.py --out reports/bench/robots.json",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for label, result in results.items():
        print(f"{label:24s} {result['passed']}/{result['checks']}  {result['seconds']}")


if __name__ == "__main__":
    main()
