"""Site sources on different hosts crawl at once; sources that share a host, one after another.

Two 127.0.0.1 servers on different ports are two hosts (host:port), with real time and a real
per-host pause between requests, so the crawl's wall time shows whether the sites overlapped.
"""

from __future__ import annotations

import pytest
from crawl_support import SiteServer, crawl_params, records, serve_munjang
from test_crawl_sources import serve_mirror_boards

from sanchaek.config import params_from_dict
from sanchaek.crawl.fetcher import SystemClock
from sanchaek.crawl.stage import host_groups, run_crawl
from sanchaek.paths import Layout

DELAY_S = 0.25  # per-host pause: each site takes (requests x DELAY_S) at least


@pytest.fixture
def two_sites():
    munjang, mirror = SiteServer(), SiteServer()
    serve_munjang(munjang)
    serve_mirror_boards(mirror)
    yield munjang, mirror
    munjang.close()
    mirror.close()


def crawl(tmp_path, munjang_base: str, mirror_base: str, parallel_hosts: int) -> dict:
    crawl = crawl_params(
        sources=["munjang", "mirror"],
        munjang={"base_url": munjang_base, "min_chars": 40},
        mirror={"base_url": mirror_base, "work_mids": ["fiction", "review"], "min_chars": 40},
        parallel_hosts=parallel_hosts,
    )
    crawl["fetch"]["min_delay_s"] = DELAY_S
    params = params_from_dict({"crawl": crawl}).crawl
    return run_crawl(params, Layout(tmp_path), clock=SystemClock(), environ={})


def test_two_hosts_crawl_at_once_in_the_time_of_the_slower(two_sites, tmp_path):
    munjang, mirror = two_sites
    report = crawl(tmp_path / "parallel", munjang.base, mirror.base, parallel_hosts=4)
    assert report["host_groups"] == [["munjang"], ["mirror"]]
    seconds = {name: block["seconds"] for name, block in report["sources"].items()}
    slower, total = max(seconds.values()), sum(seconds.values())
    assert min(seconds.values()) > 4 * DELAY_S  # both sites really paused between requests
    assert slower <= report["seconds"] < slower + 0.5 * min(seconds.values()), (report["seconds"], seconds)

    # the same crawl one source after another takes the sum, and collects the same documents
    one_by_one = crawl(tmp_path / "serial", munjang.base, mirror.base, parallel_hosts=1)
    assert one_by_one["seconds"] >= 0.95 * total
    for name in ("munjang", "mirror"):
        docs = [
            [(r["id"], r["text"]) for r in records(Layout(tmp_path / run), name)]
            for run in ("parallel", "serial")
        ]
        assert docs[0] == docs[1] and docs[0]
    assert list(report["sources"]) == ["munjang", "mirror"]  # report in crawl.sources order


def site_params(mirror: str, brunch_api: str):
    return params_from_dict(
        {
            "crawl": {
                "sources": ["munjang", "brunch", "mirror"],
                "munjang": {"base_url": "http://127.0.0.1:8001", "api_base_url": "http://api.test:9000"},
                "brunch": {
                    "base_url": "http://127.0.0.1:8002",
                    "api_base_url": brunch_api,
                    "profiles": ["a"],
                },
                "mirror": {"base_url": mirror},
            }
        }
    ).crawl


def test_sources_sharing_a_host_stay_in_one_group():
    names = ["munjang", "brunch", "mirror"]
    # munjang and mirror share 127.0.0.1:8001, brunch shares munjang's API host: one group
    assert host_groups(names, site_params("http://127.0.0.1:8001", "http://api.test:9000")) == [names]
    apart = site_params("http://127.0.0.1:8003", "http://api2.test:9000")
    assert host_groups(names, apart) == [["munjang"], ["brunch"], ["mirror"]]
    # the same port on another host name is another host
    assert host_groups(names, site_params("http://localhost:8001", "http://api2.test:9000")) == [
        ["munjang"],
        ["brunch"],
        ["mirror"],
    ]
