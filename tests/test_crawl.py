"""crawl stage: fetcher politeness and faults, robots/rights, each source, resume after kill -9.

Every site test runs against a real HTTP server on 127.0.0.1 serving the placeholder pages in
tests/fixtures/sites/. Time goes through a fake clock, so a Retry-After of seconds is asserted,
not slept. Nothing here touches a real site.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from crawl_support import (
    BOARD,
    FIXTURES,
    REPO,
    FakeClock,
    Reply,
    SiteServer,
    crawl_params,
    fetch_params,
    records,
    route_key,
    run,
    serve_munjang,
)

from sanchaek.config import params_from_dict
from sanchaek.crawl.charset import decode_body
from sanchaek.crawl.fetcher import Fetcher, FetchError, parse_retry_after
from sanchaek.crawl.robots import parse_robots
from sanchaek.errors import SanchaekError
from sanchaek.io import read_jsonl


@pytest.fixture
def server():
    srv = SiteServer()
    yield srv
    srv.close()


# --- robots.txt and Retry-After parsing -------------------------------------------------------


def test_robots_longest_match_wildcards_and_groups():
    robots = parse_robots((FIXTURES / "brunch" / "robots.txt").read_text())
    ua = "sanchaek/0.1 (+contact)"
    assert robots.can_fetch(ua, "http://h/@writer/1")
    assert not robots.can_fetch(ua, "http://h/search?q=산책")
    assert not robots.can_fetch(ua, "http://h/@writer/stats")
    assert robots.can_fetch(ua, "http://h/@writer/stats/more")  # `$` anchors the end
    assert not robots.can_fetch(ua, "http://h/@writer/1?timestamp=5")
    assert robots.crawl_delay(ua) == 5.0
    assert not robots.can_fetch("GPTBot/1.2", "http://h/@writer/1")
    assert robots.names_agent("ClaudeBot") and not robots.names_agent("CCBot")
    assert robots.crawl_delay("Yeti") == 1.0 and robots.can_fetch("Yeti", "http://h/search")
    longest = parse_robots("User-agent: *\nDisallow: /a\nAllow: /a/b\n")
    assert longest.can_fetch(ua, "http://h/a/b/c") and not longest.can_fetch(ua, "http://h/a/c")
    assert parse_robots("User-agent: *\nDisallow:\n").can_fetch(ua, "http://h/x")


def test_retry_after_seconds_and_http_date():
    now = 1_767_225_600.0
    assert parse_retry_after("7", now) == 7.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 10, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


# --- fetcher faults ---------------------------------------------------------------------------


def test_429_retry_after_seconds_is_waited_then_succeeds(server):
    server.add("/robots.txt", status=404)
    server.handle(
        "/busy", lambda n: (429, {"Retry-After": "3"}, b"slow down") if n <= 2 else (200, {}, b"<p>ok</p>")
    )
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(max_retries=3), clock=clock)
    page = fetcher.get(server.base + "/busy")
    assert page.text == "<p>ok</p>" and server.hits["/busy"] == 3
    assert [w for _, w, _ in fetcher.waits] == [3.0, 3.0]  # server's 3 s beats our 0.5/1.0 s backoff
    assert sum(clock.sleeps) >= 6.0


def test_503_retry_after_http_date_then_gives_up(server):
    clock = FakeClock()
    server.add("/robots.txt", status=404)
    when = email.utils.formatdate(clock.now() + 7, usegmt=True)
    server.add("/down", "maintenance", status=503, headers={"Retry-After": when})
    fetcher = Fetcher(fetch_params(max_retries=2), clock=clock)
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/down")
    assert err.value.kind == "retries" and "HTTP 503" in err.value.reason
    assert server.hits["/down"] == 3
    first_wait = fetcher.waits[0][1]
    assert first_wait == pytest.approx(7.0, abs=1.0)  # the date form, read against the (fake) wall clock


def test_retry_after_beyond_limit_gives_up_at_once(server):
    server.add("/robots.txt", status=404)
    server.add("/later", status=429, headers={"Retry-After": "86400"})
    fetcher = Fetcher(fetch_params(max_retry_after_s=60), clock=FakeClock())
    with pytest.raises(FetchError, match="max_retry_after_s"):
        fetcher.get(server.base + "/later")
    assert server.hits["/later"] == 1


def test_transient_500_then_backoff_grows(server):
    server.add("/robots.txt", status=404)
    server.handle("/flaky", lambda n: (500, {}, b"oops") if n <= 2 else (200, {}, b"fine"))
    fetcher = Fetcher(fetch_params(max_retries=3, backoff_base_s=1.0), clock=FakeClock())
    assert fetcher.get(server.base + "/flaky").text == "fine"
    assert [w for _, w, _ in fetcher.waits] == [1.0, 2.0]


def test_timeout_is_retried_then_reported(server):
    server.add("/robots.txt", status=404)

    def slow(n: int) -> Reply:
        time.sleep(0.6)
        return 200, {}, b"too late"

    server.handle("/slow", slow)
    fetcher = Fetcher(fetch_params(read_timeout_s=0.15, max_retries=1), clock=FakeClock())
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/slow")
    assert err.value.kind == "retries" and "timeout" in err.value.reason
    assert server.hits["/slow"] == 2


def test_truncated_transfer_is_retried_and_reported(server):
    server.add("/robots.txt", status=404)
    server.add("/cut", b"<html><p>half", headers={"Content-Length": "5000"})
    fetcher = Fetcher(fetch_params(max_retries=1), clock=FakeClock())
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/cut")
    assert "RemoteProtocolError" in err.value.reason and server.hits["/cut"] == 2


def test_redirect_loops_chains_and_offsite(server):
    server.add("/robots.txt", status=404)
    server.add("/loop", status=302, headers={"Location": "/loop"})
    server.add("/a", status=301, headers={"Location": "/b"})
    server.add("/b", status=302, headers={"Location": "/a"})
    for i in range(4):
        server.add(f"/hop{i}", status=302, headers={"Location": f"/hop{i + 1}"})
    server.add("/away", status=301, headers={"Location": "http://elsewhere.invalid/x"})
    server.add("/moved", status=301, headers={"Location": "/here"})
    server.add("/here", "arrived")
    fetcher = Fetcher(fetch_params(max_redirects=3), clock=FakeClock())
    for path, words in [
        ("/loop", "redirect loop"),
        ("/a", "redirect loop"),
        ("/hop0", "more than 3"),
        ("/away", "another host"),
    ]:
        with pytest.raises(FetchError, match=words) as err:
            fetcher.get(server.base + path)
        assert err.value.kind == "redirect"
    page = fetcher.get(server.base + "/moved")
    assert page.text == "arrived" and page.final_url == server.base + "/here"
    assert server.hits["/loop"] == 1  # the loop is seen at once, not walked until the limit


def test_deleted_pages_and_size_cap(server):
    server.add("/robots.txt", status=404)
    server.add("/gone", status=410)
    server.add("/big", b"x" * 5000)
    fetcher = Fetcher(fetch_params(max_bytes=2048), clock=FakeClock())
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/gone")
    assert err.value.kind == "gone" and err.value.status == 410
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/big")
    assert err.value.kind == "too-large"


def test_robots_disallow_fetches_nothing_else(server):
    server.add("/robots.txt", "User-agent: *\nDisallow: /\n", headers={"Content-Type": "text/plain"})
    server.add("/page", "secret")
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    with pytest.raises(FetchError) as err:
        fetcher.get(server.base + "/page")
    assert err.value.kind == "robots"
    assert server.paths() == ["/robots.txt"]


def test_robots_missing_allows_and_5xx_or_html_denies(server):
    server.add("/robots.txt", status=404)
    server.add("/page", "hello")
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    assert fetcher.get(server.base + "/page").text == "hello"
    assert fetcher.robots_report[server.base]["status"] == "missing"

    server.add("/robots.txt", status=503)
    fetcher = Fetcher(fetch_params(max_retries=1), clock=FakeClock())
    with pytest.raises(FetchError):
        fetcher.get(server.base + "/page")
    report = fetcher.robots_report[server.base]
    assert report["status"] == "unreachable" and "disallow-all" in report["message"]

    server.add("/robots.txt", "<html><body>soft 404</body></html>")
    fetcher = Fetcher(fetch_params(), clock=FakeClock())
    assert not fetcher.allowed(server.base + "/page")
    assert fetcher.robots_report[server.base]["status"] == "not-robots"


def test_crawl_delay_and_min_delay_space_requests(server):
    server.add("/robots.txt", "User-agent: *\nCrawl-delay: 5\n", headers={"Content-Type": "text/plain"})
    for i in range(3):
        server.add(f"/p{i}", "ok")
    clock = FakeClock()
    fetcher = Fetcher(fetch_params(min_delay_s=1.0), clock=clock)
    starts = []
    for i in range(3):
        fetcher.get(f"{server.base}/p{i}")
        starts.append(clock.monotonic())
    assert starts[1] - starts[0] >= 5.0 and starts[2] - starts[1] >= 5.0
    assert all(ua.startswith("sanchaek/") for _, ua in server.log)  # honest UA on every request


KOREAN = "비 오는 오후에 우리는 오래된 찻집에서 만났다. 창밖으로 우산들이 천천히 지나갔다. " * 4


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html; charset=euc-kr", f"<p>{KOREAN}</p>".encode("cp949"), "cp949"),
        ("text/html", f'<meta charset="euc-kr"><p>{KOREAN}</p>'.encode("cp949"), "cp949"),
        ("text/html", f"<html><p>{KOREAN}</p></html>".encode("cp949"), "cp949"),  # no label at all
        ("text/html; charset=utf-8", f"<p>{KOREAN}</p>".encode("cp949"), "cp949"),  # header lies
        ("text/html", b"\xef\xbb\xbf" + f"<p>{KOREAN}</p>".encode(), "utf-8-sig"),
        ("text/html", f"<p>{KOREAN}</p>".encode(), "utf-8"),
    ],
)
def test_charset_detection(content_type, body, expected):
    text, encoding = decode_body(body, content_type)
    assert KOREAN in text and "\ufffd" not in text and not text.startswith("\ufeff")
    assert encoding == expected


# --- sources ----------------------------------------------------------------------------------


def test_munjang_html_listing_views_and_faults(server, tmp_path):
    serve_munjang(server)
    crawl = crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    report, layout = run(tmp_path, crawl)
    docs = {r["id"]: r for r in records(layout, "munjang")}
    assert list(docs) == ["munjang:100001", "munjang:100002", "munjang:100003", "munjang:100004"]
    first = docs["munjang:100001"]
    assert first["title"] == "강물이 쉬어 가는 곳" and first["author"] == "김자리"
    assert (
        first["published"] == "2024-10-03"
        and first["genre"] == "short_story"
        and first["layout"] == "paragraphs"
    )
    paragraphs = first["text"].split("\n\n")
    assert paragraphs[0].startswith("나는 아침마다") and "강물이 쉬어 가는 곳" not in first["text"]
    assert "광고 건너뛰기" not in first["text"] and "바닥글" not in first["text"]
    assert (
        "이름 하나가 입안에서" in first["text"] and first["text"].count("이름 하나가") == 1
    )  # p > span once
    assert any(p.startswith("돌아오지 않는 것들만이") for p in paragraphs)  # blockquote kept
    assert "물소리를 세었다.\n하나, 둘" in first["text"]  # <br> is a line break; second .page_breaking read
    assert docs["munjang:100004"]["author"] == "최가상"  # from the body's author line
    assert "최가상" not in docs["munjang:100004"]["text"]
    block = report["sources"]["munjang"]
    assert block["skipped"]["deleted"] == 1
    assert [e["url"].split("list_no=")[1] for e in block["errors"]] == ["100006"]
    assert block["rights"]["decision"] == "allowed" and block["mode"] == "html"
    listing = [p for p, _ in server.log if "act=list" in p]
    assert len(listing) == 3 and "nPage=3" in listing[-1]  # stops at the empty page 3
    assert (
        json.loads((tmp_path / "reports" / "crawl.json").read_text())["sources"]["munjang"]["documents"] == 4
    )


def test_munjang_kcisa_api_mode_and_key_redaction(server, tmp_path):
    server.add("/robots.txt", status=404)
    api = "/openapi/API_CCA_160/request?"
    query = {"serviceKey": "SECRET-KEY-123", "numOfRows": 2, "gubun": "소설"}
    server.add_file(api + urlencode({**query, "pageNo": 1}), "munjang/api_page_1.json")
    server.add_file(api + urlencode({**query, "pageNo": 2}), "munjang/api_page_2.json")
    munjang = {"base_url": server.base, "api_base_url": server.base, "api_page_size": 2, "min_chars": 30}
    report, layout = run(
        tmp_path,
        crawl_params(sources=["munjang"], munjang=munjang),
        environ={"KCISA_SERVICE_KEY": "SECRET-KEY-123"},
    )
    docs = records(layout, "munjang")
    assert [d["id"] for d in docs] == ["munjang:200001", "munjang:200002", "munjang:200003"]
    assert docs[0]["author"] == "윤임시" and docs[0]["published"] == "2024-10-03"
    assert docs[0]["text"].startswith("바람에도 주소가") and "윤임시" not in docs[0]["text"]
    assert docs[2]["genre"] == "poem" and "낮은 곳으로 간다\n나는" in docs[2]["text"]
    assert docs[2]["url"] == server.base + "/board.es?mid=a20102000000&bid=0002&act=view&list_no=200003"
    assert report["sources"]["munjang"]["mode"] == "api"
    assert not any("/board.es" in p for p, _ in server.log)  # the API replaced HTML scraping
    assert "SECRET-KEY-123" not in (tmp_path / "reports" / "crawl.json").read_text()

    server.add_file(api + urlencode({**query, "serviceKey": "BAD", "pageNo": 1}), "munjang/api_error.json")
    with pytest.raises(SanchaekError, match="KCISA API refused.*KCISA_SERVICE_KEY") as err:
        run(
            tmp_path / "bad",
            crawl_params(sources=["munjang"], munjang=munjang),
            environ={"KCISA_SERVICE_KEY": "BAD"},
        )
    assert "BAD" not in str(err.value).replace("BAD_", "")
    assert (tmp_path / "bad" / "reports" / "crawl.json").exists()  # report written even on failure


def serve_brunch(server: SiteServer) -> None:
    server.add_file("/robots.txt", "brunch/robots.txt", headers={"Content-Type": "text/plain"})
    server.add_file("/@writer", "brunch/profile.html")
    server.add_file(
        "/rss/@@AbCd", "brunch/rss.xml", headers={"Content-Type": "application/rss+xml; charset=utf-8"}
    )
    server.add_file("/@writer/1", "brunch/article_2025.html")
    server.add_file("/@writer/2", "brunch/article_2020.html")
    server.add_file("/@writer/3", "brunch/article_episode.html")
    server.add_file("/@writer/404", "brunch/deleted.html")  # brunch answers deleted articles with 200
    server.add("/@@AbCd/2", status=301, headers={"Location": "/@writer/2"})
    server.add("/@writer/9", status=302, headers={"Location": "/@writer/9"})


def test_brunch_refuses_by_default_because_robots_opts_out_of_ai(server, tmp_path):
    serve_brunch(server)
    brunch = {"base_url": server.base, "api_base_url": server.base, "profiles": ["@writer"]}
    crawl = crawl_params(sources=["brunch"], brunch=brunch)
    report, layout = run(tmp_path, crawl)
    rights = report["sources"]["brunch"]["rights"]
    assert rights["decision"] == "refused"
    assert "robots.txt disallows GPTBot" in rights["signals"] and "rights_holder_opt_in" in rights["message"]
    assert set(server.paths()) <= {"/robots.txt", "/.well-known/tdmrep.json"}  # no profile, no article
    assert records(layout, "brunch") == []


def test_brunch_opt_in_collects_own_profile(server, tmp_path):
    serve_brunch(server)
    brunch = {
        "base_url": server.base,
        "use_api": False,  # the profile page + RSS route (the API route: test_crawl_sources.py)
        "profiles": ["writer"],
        "rights_holder_opt_in": True,
        "min_chars": 30,
    }
    clock = FakeClock()
    report, layout = run(tmp_path, crawl_params(sources=["brunch"], brunch=brunch), clock=clock)
    docs = {d["id"]: d for d in records(layout, "brunch")}
    assert list(docs) == ["brunch:@writer/1", "brunch:@writer/2", "brunch:@writer/3"]
    new = docs["brunch:@writer/1"]
    assert new["title"] == "새벽의 골목" and new["author"] == "산책자" and new["published"] == "2025-01-01"
    assert new["text"].split("\n\n")[0] == (
        "새벽 다섯 시의 골목은 아직 잠들어 있었다.\n나는 신발 끈을 두 번 묶고 문을 나섰다.\n"
        "가로등 아래에서 고양이 한 마리가 나를 오래 쳐다보았다."
    )
    assert "사진 설명" not in new["text"] and "댓글" not in new["text"] and "돌아오는 길" in new["text"]
    old = docs["brunch:@writer/2"]
    assert old["published"] == "2020-10-27" and old["url"].endswith("/@writer/2")  # via the @@ redirect
    assert (
        old["text"].split("\n\n")[1]
        == "이천이십 년의 가을에 쓴 자리표시 문장이다.\n같은 문단의 둘째 줄이 여기에 이어진다."
    )
    assert docs["brunch:@writer/3"]["title"] == "다리 위에서"  # "3화 " stripped
    block = report["sources"]["brunch"]
    assert block["rights"]["decision"] == "opt-in" and block["skipped"]["deleted"] == 1
    assert any("redirect loop" in e["reason"] for e in block["errors"])
    assert "/search" not in server.paths() and "/@someoneelse/5" not in server.paths()
    assert min(s for s in clock.sleeps) >= 4.9  # robots Crawl-delay: 5 between requests


def serve_mirror(server: SiteServer) -> None:
    server.add_file("/robots.txt", "mirror/robots.txt", headers={"Content-Type": "text/plain"})
    server.add_file("/index.php?mid=notice&page=1", "mirror/notice_1.html")
    server.add_file("/index.php?mid=notice&page=2", "mirror/notice_2.html")
    server.add_file("/index.php?mid=notice&page=3", "mirror/notice_2.html")  # XE repeats the last page
    server.add_file("/notice/200", "mirror/issue_200.html")
    server.add_file("/notice/202", "mirror/issue_202.html")
    server.add_file("/fiction/100001", "mirror/work_100001.html")
    server.add_file(
        "/fiction/100002",
        "mirror/work_100002.cp949.html",
        headers={"Content-Type": "text/html; charset=euc-kr"},
    )
    server.add_file("/fiction/100003", "mirror/work_100003.cp949.html", headers={"Content-Type": "text/html"})
    server.add_file("/fiction/100004", "mirror/work_100004.bom.html", headers={"Content-Type": "text/html"})
    whole = server.fixture("mirror/work_100001.html")
    server.add("/fiction/100005", whole[: whole.index("광장의".encode())])  # cut inside xe_content
    server.add("/fiction/100006", status=410)
    server.add_file("/fiction/100007", "mirror/work_100007_noai.html")


def test_mirror_issue_posts_encodings_dedupe_and_pagination_end(server, tmp_path):
    serve_mirror(server)
    mirror = {"base_url": server.base, "min_chars": 40, "walk_boards": False}  # boards: test_crawl_sources.py
    report, layout = run(tmp_path, crawl_params(sources=["mirror"], mirror=mirror))
    docs = {d["id"]: d for d in records(layout, "mirror")}
    assert list(docs) == [
        "mirror:fiction/100001",
        "mirror:fiction/100002",
        "mirror:fiction/100003",
        "mirror:fiction/100004",
    ]
    first = docs["mirror:fiction/100001"]
    assert (
        first["title"] == "시간의 자리표시"
        and first["author"] == "필명하나"
        and first["published"] == "2013-06-01"
    )
    assert (
        first["text"].split("\n\n")[1]
        == "광장의 사람들은 아무도 놀라지 않았다.\n그들은 마치 어제도 그랬다는 듯이 걸었다."
    )
    assert "댓글" not in first["text"] and "비밀번호" not in first["text"]
    assert docs["mirror:fiction/100002"]["text"].startswith(
        "오래된 서버에는 오래된 글자가 산다."
    )  # EUC-KR header
    assert docs["mirror:fiction/100003"]["text"].startswith("이 페이지는 머리에만")  # EUC-KR meta, no header
    assert docs["mirror:fiction/100004"]["title"] == "바이트 순서 표식"  # BOM
    block = report["sources"]["mirror"]
    assert block["skipped"]["deleted"] == 1 and block["skipped"]["rights"] == 1  # 410 and the noai page
    assert block["rights"]["refused_pages"][0]["url"].endswith("/fiction/100007")
    assert [e["url"].rsplit("/", 1)[1] for e in block["errors"]] == ["100005"]
    assert "truncated" in block["errors"][0]["reason"]
    assert server.hits[route_key("/index.php?mid=notice&page=3")] == 1
    assert route_key("/index.php?mid=notice&page=4") not in server.hits  # repeat page ended the listing
    assert "/notice/201" not in server.paths() and not any("act=" in p for p, _ in server.log)
    assert server.hits["/fiction/100001"] == 1  # two URL forms, one fetch


def test_tdmrep_reservation_refuses_and_opt_in_overrides(server, tmp_path):
    serve_munjang(server)
    server.add("/.well-known/tdmrep.json", json.dumps([{"location": "/*", "tdm-reservation": 1}]))
    crawl = crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    report, layout = run(tmp_path, crawl)
    assert report["sources"]["munjang"]["rights"]["decision"] == "refused"
    assert "tdmrep.json" in report["sources"]["munjang"]["rights"]["signals"][0]
    assert records(layout, "munjang") == []
    crawl["munjang"]["rights_holder_opt_in"] = True
    report, layout = run(tmp_path / "opt-in", crawl)
    assert report["sources"]["munjang"]["rights"]["decision"] == "opt-in"
    assert len(records(layout, "munjang")) == 4


def test_page_level_tdm_header_refuses_that_page(server, tmp_path):
    serve_munjang(server)
    view = "/board.es?" + urlencode({**BOARD, "act": "view"}) + "&list_no="
    server.add_file(view + "100002", "munjang/view_100002.html", headers={"tdm-reservation": "1"})
    report, layout = run(
        tmp_path, crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    )
    ids = [d["id"] for d in records(layout, "munjang")]
    assert "munjang:100002" not in ids and len(ids) == 3
    assert report["sources"]["munjang"]["skipped"]["rights"] == 1


# --- corpus (the offline default) -------------------------------------------------------------


def test_corpus_default_params_give_521_deterministic_records(shared_dir, tmp_path):
    corpus = {"path": str(shared_dir / "data" / "corpus" / "works.jsonl")}
    report, layout = run(tmp_path, {"sources": ["corpus"], "corpus": corpus})
    first = layout.raw_file("corpus").read_bytes()
    docs = records(layout, "corpus")
    assert len(docs) == 521 == report["sources"]["corpus"]["documents"]
    assert list(docs[0])[:10] == [
        "id",
        "source",
        "url",
        "title",
        "author",
        "genre",
        "published",
        "layout",
        "text",
        "fetched_at",
    ]
    assert {d["layout"] for d in docs} == {"paragraphs", "sentence_per_line"}
    assert all(d["source"] == "corpus" and d["fetched_at"] is None for d in docs)
    run(tmp_path, {"sources": ["corpus"], "corpus": corpus})
    assert layout.raw_file("corpus").read_bytes() == first  # byte-identical: DVC hash is stable


def test_corpus_bad_line_raises_with_file_line_or_is_counted(tmp_path):
    good = {
        "id": "w1",
        "title": "제목",
        "author": "작가",
        "genre": "essay",
        "year": 1925,
        "text": "본문 자리표시.",
        "layout": "paragraphs",
    }
    path = tmp_path / "works.jsonl"
    path.write_text(
        json.dumps(good, ensure_ascii=False) + "\n{broken\n" + json.dumps({**good, "id": "w2"}) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(SanchaekError, match=r"works.jsonl:2: broken JSON.*on_bad_line: skip"):
        run(tmp_path, {"sources": ["corpus"], "corpus": {"path": str(path)}})
    report, layout = run(
        tmp_path, {"sources": ["corpus"], "corpus": {"path": str(path), "on_bad_line": "skip"}}
    )
    assert [d["id"] for d in records(layout, "corpus")] == ["w1", "w2"]
    assert report["sources"]["corpus"]["skipped"]["bad_line"] == 1
    path.write_text(json.dumps({**good, "text": ""}) + "\n", encoding="utf-8")
    with pytest.raises(SanchaekError, match="missing or empty 'text'"):
        run(tmp_path, {"sources": ["corpus"], "corpus": {"path": str(path)}})
    with pytest.raises(SanchaekError, match="crawl.corpus.path"):
        run(tmp_path, {"sources": ["corpus"], "corpus": {"path": str(tmp_path / "nope.jsonl")}})


def test_crawl_params_are_validated(tmp_path):
    with pytest.raises(SanchaekError, match="crawl.fetch.min_delay_s"):
        params_from_dict({"crawl": {"fetch": {"min_delay_s": -1}}})
    with pytest.raises(SanchaekError, match="crawl.sources"):
        params_from_dict({"crawl": {"sources": ["corpus", "corpus"]}})
    with pytest.raises(SanchaekError, match="crawl.sources"):
        params_from_dict({"crawl": {"sources": ["instagram"]}})
    with pytest.raises(SanchaekError, match="crawl.brunch.profiles is empty"):
        run(tmp_path, {"sources": ["brunch"]})


# --- kill -9 and resume -----------------------------------------------------------------------


def serve_many_works(server: SiteServer, pages: int, per_page: int) -> list[str]:
    """A bigger board built from the fixture skeletons, with a small delay per view page."""
    server.add_file("/robots.txt", "munjang/robots.txt", headers={"Content-Type": "text/plain"})
    template_list = server.fixture("munjang/list_1.html").decode()
    item_start = template_list.index('<li class="list_li">')
    item_end = template_list.index("</li>", item_start) + len("</li>")
    item = template_list[item_start:item_end]
    view = server.fixture("munjang/view_100002.html").decode()
    ids = []
    for page in range(1, pages + 2):
        items = []
        for k in range(per_page if page <= pages else 0):
            no = str(300000 + page * 100 + k)
            ids.append(f"munjang:{no}")
            items.append(item.replace("100001", no).replace("강물이 쉬어 가는 곳", f"산책 {no}"))
            body = view.replace("저녁이 되면", f"{no}번째 저녁이 되면").encode()

            def slow_view(n: int, body: bytes = body) -> Reply:
                time.sleep(0.02)
                return 200, {}, body

            server.handle("/board.es?" + urlencode({**BOARD, "act": "view", "list_no": no}), slow_view)
        page_html = template_list[:item_start] + "".join(items) + template_list[item_end:]
        server.add("/board.es?" + urlencode({**BOARD, "act": "list", "ord": "OLD", "nPage": page}), page_html)
    return ids


def write_params(folder: Path, base: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    crawl = crawl_params(sources=["munjang"], munjang={"base_url": base, "min_chars": 40})
    (folder / "params.yaml").write_text(json.dumps({"crawl": crawl}), encoding="utf-8")  # JSON is YAML


def crawl_process(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("KCISA_SERVICE_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sanchaek.cli", "crawl", "--params", "params.yaml"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def without_time(docs: list[dict]) -> list[dict]:
    return [{k: v for k, v in d.items() if k != "fetched_at"} for d in docs]


def test_kill_9_and_resume_gives_the_uninterrupted_output(server, tmp_path):
    ids = serve_many_works(server, pages=4, per_page=6)
    reference = tmp_path / "reference"
    write_params(reference, server.base)
    proc = crawl_process(reference)
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    expected = list(read_jsonl(reference / "data" / "raw" / "munjang.jsonl"))
    assert [d["id"] for d in expected] == ids

    resumed = tmp_path / "resumed"
    write_params(resumed, server.base)
    out = resumed / "data" / "raw" / "munjang.jsonl"
    rng = random.Random(7)
    partial_seen, kills = set(), 0
    for round_no in range(30):
        proc = crawl_process(resumed)
        try:
            # kill at random moments, later each round, so the crawl surely finishes in the end
            proc.wait(timeout=0.5 + 0.2 * round_no + rng.uniform(0.0, 0.6))
            break  # finished on its own
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            if out.exists():
                partial_seen.add(sum(1 for _ in out.open("rb")))
    else:
        pytest.fail("crawl never finished between kills")
    assert proc.returncode == 0, proc.stderr.read().decode()
    assert kills >= 2 and any(0 < n < len(ids) for n in partial_seen), (kills, partial_seen)
    got = list(read_jsonl(out))
    assert [d["id"] for d in got] == ids  # nothing lost, nothing twice, same order
    assert without_time(got) == without_time(expected)


def test_params_yaml_lists_every_crawl_knob():
    import yaml

    from sanchaek.config.crawl import CrawlParams

    listed = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["crawl"]

    def missing(model, section: dict, prefix: str) -> list[str]:
        out = []
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name not in section:
                out.append(prefix + name)
            elif hasattr(type(value), "model_fields"):
                out += missing(value, section[name], f"{prefix}{name}.")
        return out

    assert missing(CrawlParams(), listed, "crawl.") == []


def test_listing_cursor_is_reused_only_while_the_output_exists(server, tmp_path):
    serve_munjang(server)
    crawl = crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    _, layout = run(tmp_path, crawl)
    listing_hits = lambda: sum("act=list" in p for p, _ in server.log)  # noqa: E731
    first = listing_hits()
    report, _ = run(tmp_path, crawl)  # rerun: everything already there, listing not walked again
    assert listing_hits() == first and report["sources"]["munjang"]["fetched"] == 0
    assert report["sources"]["munjang"]["already_had"] == 4
    layout.raw_file("munjang").unlink()  # e.g. `dvc repro` removed the output: start over
    report, _ = run(tmp_path, crawl)
    assert listing_hits() == 2 * first and report["sources"]["munjang"]["fetched"] == 4


def test_a_source_dropped_from_params_leaves_no_raw_file(tmp_path):
    """data/raw persists between DVC runs (resume); a dropped source must not linger for preprocess."""
    good = {
        "id": "w1",
        "title": "제목",
        "author": "작가",
        "genre": "essay",
        "text": "본문 자리표시.",
        "layout": "paragraphs",
    }
    path = tmp_path / "works.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n", encoding="utf-8")
    stale = tmp_path / "data" / "raw" / "munjang.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"id": "munjang:1", "text": "지난 크롤"}\n', encoding="utf-8")
    report, layout = run(tmp_path, {"sources": ["corpus"], "corpus": {"path": str(path)}})
    assert not stale.exists() and report["removed_stale"] == ["munjang.jsonl"]
    assert [p.name for p in layout.raw_dir.iterdir()] == ["corpus.jsonl"]
