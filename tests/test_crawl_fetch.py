"""crawl fetch edges of issue #23 and #26: proxies, http -> https on the same host, exact redirect
limits, a server at the read timeout, a trickling response, base URLs with a path, sources checked
before any crawling. Every server is on 127.0.0.1; the proxied host names never resolve.
"""

from __future__ import annotations

import time

import pytest
from crawl_support import (
    ConnectProxy,
    FakeClock,
    SiteServer,
    crawl_params,
    fetch_params,
    run,
    self_signed_tls,
    trickle,
)

from sanchaek.config import params_from_dict
from sanchaek.crawl.fetcher import Fetcher, FetchError
from sanchaek.errors import SanchaekError

PAGE = "<html><body><p>산책</p></body></html>"


@pytest.fixture
def server():
    srv = SiteServer()
    yield srv
    srv.close()


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


# --- proxies ----------------------------------------------------------------------------------


def test_http_proxy_from_the_environment_carries_every_request(server, no_proxy_env):
    server.add("/robots.txt", "User-agent: *\nDisallow: /private\n", headers={"Content-Type": "text/plain"})
    server.add("/page", PAGE)
    no_proxy_env.setenv("HTTP_PROXY", server.base)  # the test server plays the proxy
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    assert fetcher.get("http://site.invalid/page").text == PAGE  # site.invalid never resolves
    with pytest.raises(FetchError, match="robots"):
        fetcher.get("http://site.invalid/private")
    assert [target for target, _ in server.log] == [
        "http://site.invalid/robots.txt",
        "http://site.invalid/page",
    ]


def test_https_proxy_tunnels_and_ca_bundle_trusts_the_site(tmp_path, no_proxy_env):
    tls, ca = self_signed_tls(tmp_path)
    secure, proxy = SiteServer(tls), ConnectProxy()
    try:
        secure.add("/robots.txt", status=404)
        secure.add("/page", PAGE)
        no_proxy_env.setenv("HTTPS_PROXY", proxy.base)
        url = f"https://localhost:{secure.port}/page"
        assert Fetcher(fetch_params(ca_bundle=str(ca)), clock=FakeClock()).get(url).text == PAGE
        assert set(proxy.tunnels) == {f"localhost:{secure.port}"}  # one kept-alive tunnel carries both
        assert secure.paths() == ["/robots.txt", "/page"]
        # without the CA the certificate is refused, not silently accepted
        untrusting = Fetcher(fetch_params(max_retries=0), clock=FakeClock())
        with pytest.raises(FetchError, match="disallowed by robots.txt"):
            untrusting.get(url + "?again")
        assert (
            "CERTIFICATE_VERIFY_FAILED"
            in untrusting.robots_report[f"https://localhost:{secure.port}"]["message"]
        )
    finally:
        secure.close()
        proxy.close()


def test_unreadable_ca_bundle_is_one_clear_line(tmp_path):
    with pytest.raises(SanchaekError, match="crawl.fetch.ca_bundle .* not a readable PEM"):
        Fetcher(fetch_params(ca_bundle=str(tmp_path / "missing.pem")), clock=FakeClock())


# --- redirects --------------------------------------------------------------------------------


def test_http_to_https_on_the_same_host_is_followed_and_https_to_http_is_not(server, tmp_path):
    tls, ca = self_signed_tls(tmp_path)
    secure = SiteServer(tls)
    try:
        for srv in (server, secure):
            srv.add("/robots.txt", status=404)
        server.add("/story", status=301, headers={"Location": secure.base + "/story"})
        secure.add("/story", PAGE)
        secure.add("/down", status=302, headers={"Location": server.base + "/plain"})
        server.add("/plain", PAGE)
        fetcher = Fetcher(fetch_params(ca_bundle=str(ca)), clock=FakeClock())
        page = fetcher.get(server.base + "/story")
        assert page.text == PAGE and page.final_url == secure.base + "/story"
        assert secure.base in fetcher.robots_report  # the https origin's robots.txt was read too
        with pytest.raises(FetchError, match="https down to http") as err:
            fetcher.get(secure.base + "/down")
        assert err.value.kind == "redirect" and "/plain" not in server.paths()
    finally:
        secure.close()


def test_a_chain_of_exactly_max_redirects_hops_succeeds_and_one_more_fails(server):
    server.add("/robots.txt", status=404)
    for i in range(4):
        server.add(f"/hop{i}", status=302, headers={"Location": f"/hop{i + 1}"})
    server.add("/hop4", PAGE)
    fetcher = Fetcher(fetch_params(max_redirects=3), clock=FakeClock())
    assert fetcher.get(server.base + "/hop1").text == PAGE  # hop1 -> 2 -> 3 -> 4: three redirects
    with pytest.raises(FetchError, match="more than 3 redirects") as err:
        fetcher.get(server.base + "/hop0")  # four redirects
    assert err.value.kind == "redirect" and server.hits["/hop4"] == 1


# --- slow servers -----------------------------------------------------------------------------


def test_a_server_answering_exactly_at_the_read_timeout(server):
    timeout = 0.4
    server.add("/robots.txt", status=404)

    def at_the_limit(n: int):
        time.sleep(timeout)  # headers arrive exactly when the read timeout runs out
        return 200, {}, PAGE.encode()

    server.handle("/edge", at_the_limit)
    server.handle("/edge-once", lambda n: at_the_limit(n) if n == 1 else (200, {}, PAGE.encode()))
    fetcher = Fetcher(fetch_params(read_timeout_s=timeout, max_retries=1), clock=FakeClock())
    started = time.monotonic()
    try:
        outcome = fetcher.get(server.base + "/edge").text
    except FetchError as err:  # a timeout, retried once, then one clear error: never a hang or a crash
        assert err.kind == "retries" and "timeout" in err.reason and server.hits["/edge"] == 2
        outcome = "timed out"
    assert outcome in (PAGE, "timed out") and time.monotonic() - started < 2 * timeout + 1.5
    assert fetcher.get(server.base + "/edge-once").text == PAGE  # late once: in time on the retry
    assert server.hits["/edge-once"] in (1, 2)


def test_a_trickle_inside_the_read_timeout_is_stopped_by_the_total_deadline(server):
    server.add("/robots.txt", status=404)
    server.handle("/drip", lambda n: (200, {}, trickle(chunks=40, pause=0.1)))  # 4 s, 0.1 s per byte run
    fetcher = Fetcher(fetch_params(read_timeout_s=0.5, total_timeout_s=0.6, max_retries=1), clock=FakeClock())
    started = time.monotonic()
    with pytest.raises(FetchError, match="total_timeout_s") as err:
        fetcher.get(server.base + "/drip")
    assert err.value.kind == "retries" and server.hits["/drip"] == 2
    assert time.monotonic() - started < 3.0  # two tries of 0.6 s, not two of 4 s


# --- params checked before anything is fetched ------------------------------------------------


def test_an_opted_out_site_under_a_path_prefix_is_refused(server, tmp_path):
    # the site lives under /mirror/: its AI opt-out is there, the host root says nothing
    server.add(
        "/mirror/robots.txt", "User-agent: GPTBot\nDisallow: /\n", headers={"Content-Type": "text/plain"}
    )
    server.add("/robots.txt", status=404)
    server.add("/mirror/index.php?mid=notice&page=1", PAGE)
    for source, key in (
        ("mirror", "base_url"),
        ("munjang", "base_url"),
        ("munjang", "api_base_url"),
        ("brunch", "base_url"),
        ("brunch", "api_base_url"),
    ):
        block = {key: server.base + "/mirror", **({"profiles": ["me"]} if source == "brunch" else {})}
        with pytest.raises(SanchaekError, match=rf"crawl\.{source}\.{key} = .* no path .*opt-out"):
            run(tmp_path, crawl_params(sources=[source], **{source: block}))
    assert server.log == []  # refused before a single request
    assert (
        params_from_dict({"crawl": {"mirror": {"base_url": server.base + "/"}}}).crawl.mirror.base_url
        == server.base
    )


def test_sources_are_validated_before_any_crawling(server, tmp_path):
    server.add("/robots.txt", status=404)
    crawl = crawl_params(sources=["munjang", "brunch"], munjang={"base_url": server.base})
    with pytest.raises(SanchaekError, match="crawl.brunch.profiles is empty"):
        run(tmp_path, crawl)
    assert server.log == [] and not (tmp_path / "data" / "raw" / "munjang.jsonl").exists()
