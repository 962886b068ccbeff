"""Tests that kill the mutants of src/sanchaek/crawl/fetcher.py that tests/test_crawl_fetch.py lets
live (`make mutation`, reports/quality/mutation.json): redirect checks, secrets kept out of messages,
Retry-After parsing, robots answers. Servers only on 127.0.0.1."""

from __future__ import annotations

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
