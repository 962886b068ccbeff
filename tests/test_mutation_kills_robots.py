"""Tests that kill the mutants of src/sanchaek/crawl/robots.py that its other tests let live
(`make mutation`, reports/quality/mutation.json)."""

from __future__ import annotations

import pytest

from sanchaek.crawl.robots import Robots, parse_robots, product_token, request_target, robots_text

AGENT = "sanchaek/0.1 (+https://example.invalid/bot)"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("///path", "/path"),  # "//" then an empty host: the path starts right after it
        ("a?xy", "/?xy"),  # no scheme, no slash: the query alone
        ("/path?u=http://h/x", "/path?u=http://h/x"),  # "://" inside the query is no scheme
        ("file:///etc/x", "/etc/x"),  # empty host after the scheme
        ("/a#b#c", "/a"),  # the fragment starts at the first "#"
        ("http://h?a?b", "/?a?b"),  # the query starts at the first "?"
        ("//h/p?q", "/p?q"),
        ("http://example.com", "/"),
    ],
)
def test_request_target_cuts_like_googles_matcher(url, target):
    assert request_target(url) == target


def test_text_robots_loses_a_leading_bom_only():
    assert robots_text("\ufeffUser-agent: *") == "User-agent: *"
    assert robots_text("User-agent: *\ufeff") == "User-agent: *\ufeff"


def test_an_empty_other_record_is_dropped_without_error():
    robots = parse_robots("Foo:\nUser-agent: *\nDisallow: /x")
    assert not robots.can_fetch(AGENT, "https://example.invalid/x")
    assert robots.can_fetch(AGENT, "https://example.invalid/y")


def test_names_agent_reads_the_user_agent_word_before_a_comment():
    robots = parse_robots("User-agent: sanch#aek#x\nDisallow: /")
    assert robots.agents == frozenset({"sanch"})
    assert robots.names_agent(AGENT)  # "sanchaek" starts with "sanch"
    assert parse_robots("User-agent: sanchaek\nDisallow: /").names_agent(AGENT)


def test_names_agent_ignores_the_star_group():
    star = parse_robots("User-agent: *\nDisallow: /")
    assert not star.names_agent(AGENT)
    assert not star.names_agent("*")
    assert not parse_robots("User-agent: other\nDisallow: /").names_agent(AGENT)


def test_allow_all_and_deny_all_keep_their_status_and_message():
    allow = Robots.allow_all("missing")
    assert (allow.status, allow.message, allow.deny) == ("missing", "", False)
    assert allow.can_fetch(AGENT, "https://example.invalid/x")
    assert Robots.allow_all("missing", "404").message == "404"
    deny = Robots.deny_all("unreachable", "HTTP 503")
    assert (deny.status, deny.message, deny.deny) == ("unreachable", "HTTP 503", True)
    assert not deny.can_fetch(AGENT, "https://example.invalid/x")


def test_an_agent_without_a_product_token_gets_no_group():
    assert product_token("") == "" and product_token("(compatible)") == ""
    robots = parse_robots("User-agent: *\nCrawl-delay: 5\nDisallow: /")
    assert robots.crawl_delay("") is None
    assert robots.crawl_delay(AGENT) == 5.0
