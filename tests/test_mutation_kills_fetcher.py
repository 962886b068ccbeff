"""Tests that kill the mutants of src/sanchaek/crawl/fetcher.py that tests/test_crawl_fetch.py lets
live (`make mutation`, reports/quality/mutation.json): redirect checks, secrets kept out of messages,
Retry-After parsing, robots answers. Servers only on 127.0.0.1."""

from __future__ import annotations

import httpx
import pytest
from crawl_support import FakeClock, SiteServer, fetch_params

from sanchaek.crawl.fetcher import Fetcher, FetchError, parse_retry_after

NOW = 1_445_412_450.0  # 2015-10-21T07:27:30Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),  # RFC 9110's example date, 30 s after NOW
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past: no waiting, never negative
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_delta_seconds_and_http_dates(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


@pytest.fixture
def fetcher():
    f = Fetcher(fetch_params(allowed_redirect_hosts=["cdn.example"]), clock=FakeClock())
    yield f
    f.close()


def test_secrets_are_replaced_in_every_message(fetcher):
    fetcher.add_secret("")  # nothing to hide: never turns every gap into ***
    fetcher.add_secret("k3y")
    assert fetcher.redact("a?key=k3y&b=k3y") == "a?key=***&b=***"
    with pytest.raises(FetchError) as err:
        fetcher._check_redirect("http://h.example/p?key=k3y", "http://h.example/p", "ftp://h.example/p")
    assert err.value.url == "http://h.example/p?key=***"
    assert (err.value.kind, err.value.reason) == ("redirect", "redirect to a ftp: URL not followed")


def test_redirect_rules(fetcher):
    check = fetcher._check_redirect
    check("u", "http://H.Example/a", "https://h.EXAMPLE/b")  # same host in any case, upgraded to https
    check("u", "https://h.example/a", "https://cdn.example/b")  # an allowed host
    with pytest.raises(FetchError) as down:
        check("u", "https://h.example/a", "http://h.example/b")
    assert (down.value.url, down.value.kind) == ("u", "redirect")
    assert down.value.reason == "redirect from https down to http not followed"
    with pytest.raises(FetchError) as away:
        check("u", "http://h.example/a", "http://Other.example/b")
    assert (away.value.url, away.value.kind) == ("u", "redirect")
    assert away.value.reason == "redirect to another host other.example not followed"


def test_allowed_asks_the_sites_robots_for_our_agent():
    server = SiteServer()
    try:
        server.add(
            "/robots.txt",
            "User-agent: sanchaek\nDisallow: /private\n\nUser-agent: *\nDisallow: /",
            headers={"Content-Type": "text/plain"},
        )
        f = Fetcher(fetch_params(), clock=FakeClock())
        assert f.allowed(server.base + "/page")
        assert not f.allowed(server.base + "/private")
        f.close()
    finally:
        server.close()


# --- robots.txt statuses (RFC 9309 2.3.1), the report, the cache -----------------------------------

TEXT = {"Content-Type": "text/plain"}


@pytest.fixture
def site():
    server = SiteServer()
    server.add("/page", "<p>산책</p>")
    yield server
    server.close()


def _report(site, **params):
    fetcher = Fetcher(fetch_params(**params), clock=FakeClock())
    return fetcher, lambda: fetcher.robots_report[site.base.lower()]


@pytest.mark.parametrize(
    ("status", "message"), [(404, ""), (400, ""), (499, ""), (429, "HTTP 429, no rules")]
)
def test_an_unavailable_robots_txt_allows_crawling(site, status, message, caplog):
    site.add("/robots.txt", "x", status=status, headers=TEXT)
    fetcher, report = _report(site)
    assert fetcher.get(site.base + "/page").status == 200
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == (
        [report()["message"]] if message else []
    )
    assert report()["status"] == "missing" and report()["fetches"] == 1 and report()["crawl_delay"] is None
    assert report()["message"] == (f"{site.base}/robots.txt: {message}" if message else "")
    fetcher.close()


@pytest.mark.parametrize("status", [500, 503])
def test_an_unreachable_robots_txt_disallows_everything(site, status):
    site.add("/robots.txt", "x", status=status, headers=TEXT)
    fetcher, report = _report(site)
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/page")
    assert (err.value.kind, err.value.reason, err.value.url) == (
        "robots",
        "disallowed by robots.txt",
        site.base + "/page",
    )
    assert report()["status"] == "unreachable"
    assert report()["message"].startswith(f"{site.base}/robots.txt could not be read (")
    assert report()["message"].endswith(f"treating {site.base.lower()} as disallow-all; rerun later")
    fetcher.close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("User-agent: *\nAllow: /", "text/html"), ("\n  <html><body>hi</body></html>", "text/plain")],
)
def test_an_html_page_served_as_robots_txt_disallows_everything(site, body, content_type):
    site.add("/robots.txt", body, headers={"Content-Type": content_type})
    fetcher, report = _report(site)
    assert not fetcher.allowed(site.base + "/page")
    assert report()["status"] == "not-robots"
    assert report()["message"] == f"{site.base}/robots.txt is an HTML page, not robots rules: " + (
        f"treating {site.base.lower()} as disallow-all"
    )
    fetcher.close()


def test_rules_without_a_content_type_still_count(site):
    site.add("/robots.txt", "User-agent: *\nDisallow: /page", headers={"Content-Type": None})
    fetcher, report = _report(site)
    assert not fetcher.allowed(site.base + "/page") and report()["status"] == "ok"
    fetcher.close()


@pytest.mark.parametrize(("delay", "reason"), [("10", None), ("11", "11 s"), ("inf", "inf s")])
def test_a_crawl_delay_above_the_maximum_refuses_the_host(site, delay, reason):
    site.add("/robots.txt", f"User-agent: *\nCrawl-delay: {delay}", headers=TEXT)
    fetcher, report = _report(site, max_crawl_delay_s=10.0)
    if reason is None:
        assert fetcher.get(site.base + "/page").status == 200  # exactly the maximum is fine
        assert report()["crawl_delay"] == 10.0
    else:
        with pytest.raises(FetchError) as err:
            fetcher.get(site.base + "/page")
        assert err.value.kind == "robots" and err.value.url == site.base + "/page"
        assert (
            err.value.reason
            == f"robots.txt asks for a Crawl-delay of {reason}, more than crawl.fetch.max_crawl_delay_s"
        )
    fetcher.close()


def test_robots_txt_is_read_again_only_after_its_maximum_age(site):
    site.add("/robots.txt", "User-agent: *\nAllow: /", headers=TEXT)
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(robots_max_age_s=100.0), clock=clock)
    clock.sleep(50.0)
    fetcher.allowed(site.base + "/page")  # read at t = 50
    clock.sleep(100.0)
    fetcher.allowed(site.base + "/page")  # exactly the maximum age: still fresh
    assert site.hits["/robots.txt"] == 1
    clock.sleep(0.5)
    fetcher.allowed(site.base + "/page")
    assert site.hits["/robots.txt"] == 2 and fetcher.robots_report[site.base.lower()]["fetches"] == 2
    fetcher.close()


def test_robots_txt_followed_to_another_host_records_where(site):
    other = SiteServer()
    try:
        elsewhere = other.base.replace("127.0.0.1", "localhost") + "/rules.txt"  # another host name
        other.add("/rules.txt", "User-agent: *\nDisallow: /page", headers=TEXT)
        site.add("/robots.txt", status=301, headers={"Location": elsewhere})
        # RFC 9309 2.3.1.2: robots.txt redirects are followed (five hops, any host) whatever max_redirects says
        fetcher, report = _report(site, max_redirects=0)
        assert not fetcher.allowed(site.base + "/page")
        assert report()["final_url"] == elsewhere and report()["status"] == "ok"
        fetcher.close()
    finally:
        other.close()


# --- retries, backoff, Retry-After, the per-host pause ------------------------------------------------


def _flaky(statuses: list[int], retry_after: str | None = None):
    def reply(n: int):
        status = statuses[min(n, len(statuses)) - 1]
        return status, ({"Retry-After": retry_after} if status != 200 and retry_after else {}), b"<p>ok</p>"

    return reply


def test_backoff_doubles_up_to_its_cap_then_gives_up(site):
    site.handle("/flaky", _flaky([503, 502, 500, 504]))
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(max_retries=3, backoff_base_s=0.5, backoff_max_s=1.5), clock=clock)
    fetcher.add_secret("flaky")
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/flaky")
    assert (err.value.kind, err.value.status, err.value.url) == ("retries", 504, site.base + "/***")
    assert err.value.reason == "gave up after 4 tries: HTTP 504"
    assert fetcher.waits == [
        (site.base + "/***", 0.5, "HTTP 503"),
        (site.base + "/***", 1.0, "HTTP 502"),
        (site.base + "/***", 1.5, "HTTP 500"),  # 2.0 capped
    ]
    assert clock.sleeps == [0.5, 1.0, 1.5]
    fetcher.close()


def test_a_retry_succeeds_and_retry_after_wins_over_a_shorter_backoff(site, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="sanchaek")
    site.handle("/busy", _flaky([429, 200], retry_after="7"))
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(max_retries=2, backoff_base_s=0.5), clock=clock)
    assert fetcher.get(site.base + "/busy").text == "<p>ok</p>"
    assert fetcher.waits == [(site.base + "/busy", 7.0, "HTTP 429")] and clock.sleeps == [7.0]
    assert f"{site.base}/busy: HTTP 429, retrying in 7.0 s" in [r.getMessage() for r in caplog.records]
    fetcher.close()


def test_a_retry_after_beyond_the_maximum_gives_up_at_once(site):
    site.handle("/later", _flaky([503, 200], retry_after="9999"))
    fetcher = Fetcher(fetch_params(max_retries=2, max_retry_after_s=600.0), clock=FakeClock())
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/later")
    assert (err.value.kind, err.value.status, err.value.url) == ("retries", 503, site.base + "/later")
    assert err.value.reason == "HTTP 503 asks to retry in 9999 s, more than crawl.fetch.max_retry_after_s"
    assert site.hits["/later"] == 1
    fetcher.close()


def test_requests_to_one_host_keep_the_larger_of_min_delay_and_crawl_delay(site):
    site.add("/robots.txt", "User-agent: *\nCrawl-delay: 5", headers=TEXT)
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(min_delay_s=2.0), clock=clock)
    fetcher.get(site.base + "/page")  # robots.txt, then the page: the Crawl-delay of 5 s applies
    fetcher.get(site.base + "/page")
    assert clock.sleeps == [5.0, 5.0]
    clock.sleep(10.0)
    fetcher.get(site.base + "/page")  # long enough since the last request: no pause
    assert clock.sleeps == [5.0, 5.0, 10.0]
    fetcher.close()
    slower = FakeClock()
    fetcher = Fetcher(fetch_params(min_delay_s=8.0), clock=slower)
    fetcher.get(site.base + "/page")
    assert slower.sleeps == [8.0]  # our own pause wins when longer
    fetcher.close()


# --- what get() refuses --------------------------------------------------------------------------------


def test_get_names_each_refusal(site):
    site.add("/noloc", status=302, headers={"Location": None})
    site.add("/a", status=302, headers={"Location": "/b"})
    site.add("/b", status=302, headers={"Location": "/a"})
    site.add("/gone", "x", status=410)
    site.add("/away", status=302, headers={"Location": "http://elsewhere.invalid/x"})
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    cases = {
        "/noloc": ("http", 302, "HTTP 302 without Location"),
        "/a": ("redirect", None, f"redirect loop ({site.base}/a -> {site.base}/b -> {site.base}/a)"),
        "/gone": ("gone", 410, "HTTP 410 (deleted or missing)"),
        "/away": ("redirect", None, "redirect to another host elsewhere.invalid not followed"),
    }
    for path, (kind, status, reason) in cases.items():
        with pytest.raises(FetchError) as err:
            fetcher.get(site.base + path)
        assert (err.value.kind, err.value.status, err.value.reason) == (kind, status, reason)
        assert err.value.url == site.base + path
    fetcher.close()


def test_a_plain_refusal_and_a_page_carry_what_was_asked(site):
    site.add("/robots.txt", status=404)
    site.add("/closed", "no", status=403)
    site.add("/latin", b"caf\xe9 au lait", headers={"Content-Type": "text/plain; charset=iso-8859-1"})
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    fetcher.add_secret("closed")
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/closed")
    assert (err.value.url, err.value.reason, err.value.kind, err.value.status) == (
        site.base + "/***",
        "HTTP 403",
        "http",
        403,
    )
    page = fetcher.get(site.base + "/latin")
    assert (page.url, page.final_url, page.status) == (site.base + "/latin", site.base + "/latin", 200)
    # the header's charset decides: without it detection reads these bytes otherwise
    assert (page.text, page.encoding) == ("café au lait", "iso8859-1")
    from sanchaek.crawl.charset import decode_body

    assert decode_body(page.content, "") != (page.text, page.encoding)
    fetcher.close()


def test_too_many_redirects_names_the_asked_url_with_secrets_hidden(site):
    site.add("/robots.txt", status=404)
    site.add("/k3y/a", status=302, headers={"Location": "/k3y/b"})
    site.add("/k3y/b", status=302, headers={"Location": "/k3y/c"})
    fetcher = Fetcher(fetch_params(max_redirects=1), clock=FakeClock())
    fetcher.add_secret("k3y")
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/k3y/a")
    assert (err.value.url, err.value.kind, err.value.status) == (site.base + "/***/a", "redirect", None)
    assert err.value.reason == "more than 1 redirects (crawl.fetch.max_redirects)"
    fetcher.close()


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_retried_with_backoff_then_named(caplog):
    url = f"http://127.0.0.1:{_closed_port()}/page"
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(max_retries=1, backoff_base_s=0.5), clock=clock)
    with pytest.raises(FetchError) as err:
        fetcher.get(url, check_robots=False)
    assert (err.value.kind, err.value.status, err.value.url) == ("retries", None, url)
    assert err.value.reason.startswith("gave up after 2 tries: ConnectError: ")
    assert [(u, s, r.split(":")[0]) for u, s, r in fetcher.waits] == [(url, 0.5, "ConnectError")]
    assert clock.sleeps == [0.5] and fetcher.requests == 2
    fetcher.close()


def test_a_silent_server_times_out_and_the_reason_says_so():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections (the kernel's backlog) and never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/page"
        fetcher = Fetcher(fetch_params(max_retries=0, read_timeout_s=0.05), clock=FakeClock())
        with pytest.raises(FetchError) as err:
            fetcher.get(url, check_robots=False)
        assert (err.value.kind, err.value.status) == ("retries", None)
        assert err.value.reason == "gave up after 1 tries: timeout (ReadTimeout: timed out)"
        fetcher.close()
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectTimeout(""), "timeout (ConnectTimeout)"),  # no message: no dangling ': '
        (httpx.PoolTimeout("pool full"), "timeout (PoolTimeout: pool full)"),
    ],
)
def test_a_timeout_reason_names_its_kind_with_or_without_a_message(exc, reason):
    # an empty-message timeout cannot be provoked from a real socket reliably: httpx's own mock
    # transport raises it as httpx's transports do
    def refuse(request):
        raise exc

    fetcher = Fetcher(fetch_params(max_retries=0), clock=FakeClock(), transport=httpx.MockTransport(refuse))
    with pytest.raises(FetchError) as err:
        fetcher.get("http://127.0.0.1:9/page", check_robots=False)
    assert err.value.reason == f"gave up after 1 tries: {reason}"
    fetcher.close()


def test_an_http_date_retry_after_is_measured_from_the_wall_clock(site):
    import email.utils

    clock = FakeClock()
    when = email.utils.formatdate(clock.now() + 30, usegmt=True)
    site.add("/robots.txt", status=404)
    site.handle("/busy", _flaky([503, 200], retry_after=when))
    fetcher = Fetcher(fetch_params(max_retries=1, backoff_base_s=0.5), clock=clock)
    assert fetcher.get(site.base + "/busy").status == 200
    assert clock.sleeps == [30.0]
    fetcher.close()


def test_a_retry_after_of_exactly_the_maximum_is_waited(site):
    site.add("/robots.txt", status=404)
    site.handle("/later", _flaky([503, 200], retry_after="600"))
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(max_retries=1, max_retry_after_s=600.0), clock=clock)
    assert fetcher.get(site.base + "/later").status == 200 and clock.sleeps == [600.0]
    fetcher.close()


def test_the_pause_is_per_host_name_and_a_short_one_is_kept(site):
    site.add("/robots.txt", status=404)
    other_name = site.base.replace("127.0.0.1", "localhost")  # the same server under another host name
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(min_delay_s=2.0), clock=clock)
    fetcher.get(site.base + "/page")  # robots.txt, then the page after 2 s
    fetcher.get(other_name + "/page")  # another host: its robots.txt at once, its page after 2 s
    assert clock.sleeps == [2.0, 2.0]
    fetcher.close()
    brief = FakeClock()
    fetcher = Fetcher(fetch_params(min_delay_s=0.5), clock=brief)
    fetcher.get(site.base + "/page")
    assert brief.sleeps == [0.5]  # a pause under a second is still taken
    fetcher.close()


# --- _send: the size cap, the whole-response deadline, the client it sends through -------------------


def _paced(chunks: list[bytes]):
    """Chunks sent 50 ms apart, so the client reads them one at a time."""
    import time

    for chunk in chunks:
        yield chunk
        time.sleep(0.05)


def test_a_declared_length_over_the_cap_is_refused_before_the_body(site):
    site.add("/robots.txt", status=404)
    site.add("/big", b"x" * 2049)  # Content-Length: 2049
    site.add("/edge", b"y" * 2048)
    site.handle("/stream", lambda n: (200, {}, [b"z" * 1024, b"z" * 1024, b"z"]))  # no length: counted
    site.handle("/stream-edge", lambda n: (200, {}, _paced([b"w" * 1000, b"v" * 1000, b"u" * 48])))
    fetcher = Fetcher(fetch_params(max_bytes=2048), clock=FakeClock())
    fetcher.add_secret("big")
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/big")
    assert (err.value.url, err.value.kind, err.value.status) == (site.base + "/***", "too-large", None)
    assert err.value.reason == "response of 2049 bytes over max_bytes 2048"
    assert fetcher.get(site.base + "/edge").content == b"y" * 2048  # exactly the cap is fine
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/stream")
    assert (err.value.kind, err.value.reason) == ("too-large", "response over max_bytes 2048")
    assert err.value.url == site.base + "/stream"
    page = fetcher.get(site.base + "/stream-edge")
    assert page.content == b"w" * 1000 + b"v" * 1000 + b"u" * 48  # every chunk, in order
    assert fetcher.requests == 5  # robots.txt and four pages: one request each
    fetcher.close()


def test_a_body_ended_by_closing_the_connection_is_counted_as_it_comes():
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"a" * 3000)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/page"
        fetcher = Fetcher(fetch_params(max_bytes=2048, max_retries=0), clock=FakeClock())
        with pytest.raises(FetchError) as err:  # HTTP/1.0, no length, no chunks
            fetcher.get(url, check_robots=False)
        assert (err.value.kind, err.value.reason) == ("too-large", "response over max_bytes 2048")
        fetcher.close()
    finally:
        listener.close()


def test_the_client_sends_our_agent_and_language_and_keeps_redirects_for_us(site):
    site.add("/robots.txt", status=404)
    site.add("/page", "<p>x</p>")
    fetcher = Fetcher(
        fetch_params(user_agent="sanchaek-test/1.0 (+https://example.invalid)", read_timeout_s=3.0, connect_timeout_s=1.5),
        clock=FakeClock(),
    )
    fetcher.get(site.base + "/page")
    assert site.log[-1] == ("/page", "sanchaek-test/1.0 (+https://example.invalid)")
    assert fetcher.client.headers["accept-language"] == "ko,en;q=0.5"
    assert fetcher.client.follow_redirects is False and fetcher.client.timeout.read == 3.0
    assert fetcher.client.timeout.connect == 1.5
    fetcher.close()
    assert fetcher.client.is_closed


def test_ssl_cert_file_is_trusted_without_a_ca_bundle(tmp_path, monkeypatch):
    from crawl_support import self_signed_tls

    tls, ca = self_signed_tls(tmp_path)
    secure = SiteServer(tls)
    try:
        secure.add("/robots.txt", status=404)
        secure.add("/page", "<p>보안</p>")
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the environment's CA, as httpx reads it
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        fetcher = Fetcher(fetch_params(), clock=FakeClock())
        assert fetcher.get(f"https://localhost:{secure.port}/page").text == "<p>보안</p>"
        fetcher.close()
    finally:
        secure.close()
