"""Site sources after issue #23: 거울's board listings and links without mid, truncated pages fetched
again in the same run, listings that loop, brunch's article API with its fallback, and the report's
counts per discovery route. Every site is a 127.0.0.1 server with placeholder pages.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from crawl_support import BOARD, FakeClock, SiteServer, crawl_params, records, route_key, run, serve_munjang

BODY = "".join(f"<p>자리표시 문단 {n}번입니다. 오래된 골목을 걸었다.</p><p>&nbsp;</p>" for n in range(6))


@pytest.fixture
def server():
    srv = SiteServer()
    yield srv
    srv.close()


# --- 거울: notice issue posts + work board listings ---------------------------------------------


def xe_list(*hrefs: tuple[str, str]) -> str:
    rows = "".join(f'<tr><td class="title"><a href="{h}">{t}</a></td></tr>' for h, t in hrefs)
    menu = '<ul class="gnb"><li><a href="/index.php?mid=fiction">시간의 잔상</a></li></ul>'
    return f'<html><body>{menu}<table class="bd_lst"><tbody>{rows}</tbody></table></body></html>'


def xe_doc(srl: int, mid: str, title: str, links: str = "", canonical: bool = True) -> str:
    head = f'<link rel="canonical" href="/{mid}/{srl}">' if canonical else ""
    return (
        f"<html><head><title>{title} - 거울</title>{head}</head><body>"
        f'<div class="rd_hd"><h1><a href="/{mid}/{srl}">{title}</a></h1><span class="nick">필명</span>'
        f'<span class="date">2014.02.01 10:00</span></div>'
        f'<!--BeforeDocument({srl},4)--><div class="document_{srl}_4 xe_content">{links}{BODY}</div>'
        f"<!--AfterDocument({srl},4)--></body></html>"
    )


def serve_mirror_boards(server: SiteServer) -> None:
    server.add("/robots.txt", "User-agent: *\nDisallow: /modules/\n", headers={"Content-Type": "text/plain"})
    notice = xe_list(("/notice/300", "1호 업데이트되었습니다"), ("/notice/301", "운영 안내"))
    server.add("/index.php?mid=notice&page=1", notice)
    server.add("/index.php?mid=notice&page=2", notice)  # XE repeats its last page
    links = (
        '<a href="/fiction/501">첫 작품</a>'
        '<a href="/index.php?mid=fiction&amp;document_srl=501&amp;page=2">같은 작품, 다른 주소</a>'
        '<a href="/index.php?document_srl=502">mid 없는 링크, 게시판 목록에도 있음</a>'
        '<a href="/index.php?document_srl=504">mid 없는 링크, 공지에만 있음</a>'
        '<a href="/index.php?document_srl=505">mid 없는 링크, 공지 게시판 글</a>'
        '<a href="/index.php?mid=fiction&amp;act=dispMemberLoginForm">로그인</a>'
    )
    server.add("/notice/300", xe_doc(300, "notice", "1호 업데이트되었습니다", links))
    fiction = xe_list(
        ("/fiction/503", "공지에 없는 작품"),
        ("/index.php?mid=fiction&document_srl=502&page=1", "둘째 작품"),
        ("/fiction/501", "첫 작품"),
    )
    server.add("/index.php?mid=fiction&page=1", fiction)
    server.add("/index.php?mid=fiction&page=2", fiction)
    server.add("/index.php?mid=review&page=1", xe_list(("/review/601", "서평")))
    server.add("/index.php?mid=review&page=2", xe_list())
    for srl, mid in ((501, "fiction"), (502, "fiction"), (503, "fiction"), (601, "review")):
        server.add(f"/{mid}/{srl}", xe_doc(srl, mid, f"작품 {srl}"))
    server.add("/index.php?document_srl=504", xe_doc(504, "fiction", "작품 504"))
    server.add("/index.php?document_srl=505", xe_doc(505, "notice", "공지 505"))


def test_mirror_walks_work_boards_accepts_links_without_mid_and_counts_routes(server, tmp_path):
    serve_mirror_boards(server)
    mirror = {"base_url": server.base, "work_mids": ["fiction", "review"], "min_chars": 40}
    report, layout = run(tmp_path, crawl_params(sources=["mirror"], mirror=mirror))
    docs = records(layout, "mirror")
    assert [d["id"] for d in docs] == [
        "mirror:fiction/501",
        "mirror:fiction/502",
        "mirror:fiction/504",  # linked without mid: its board read from the page
        "mirror:fiction/503",  # on its board's listing only, never announced
        "mirror:review/601",  # a board no issue post linked to, walked because work_mids names it
    ]
    assert docs[2]["url"] == server.base + "/fiction/504"
    block = report["sources"]["mirror"]
    assert block["discovered"] == {"notice": 4, "board": 2}  # 501, 502, 504, 505 | 503, 601
    assert block["documents_by_route"] == {"notice": 3, "board": 2}
    assert block["skipped"]["not_work"] == 1  # 505 lives on the notice board
    assert server.hits["/fiction/501"] == 1 and server.hits["/fiction/502"] == 1  # one fetch per work
    assert route_key("/index.php?document_srl=502") not in server.hits  # the board gave its full address
    assert route_key("/index.php?mid=fiction&page=3") not in server.hits  # repeated page ended the board
    assert not any("act=" in p for p, _ in server.log)
    hits = dict(server.hits)
    again, _ = run(tmp_path, crawl_params(sources=["mirror"], mirror=mirror))  # a rerun fetches no document
    assert again["sources"]["mirror"]["fetched"] == 0
    works = [
        "/fiction/501",
        "/fiction/502",
        "/fiction/503",
        "/review/601",
        route_key("/index.php?document_srl=504"),
    ]
    assert [server.hits[w] for w in works] == [hits[w] for w in works] == [1] * 5
    saved = json.loads((tmp_path / "reports" / "crawl.json").read_text())
    assert saved["sources"]["mirror"]["discovered"] == block["discovered"]
    assert block["documents_by_route"] == {"notice": 3, "board": 2}
    assert saved["totals"] == {
        "documents_by_route": {},  # nothing new on the rerun
        "truncated_retries": 0,
        "truncated_failed": 0,
        "refusals": [],
    }


def test_mirror_without_work_mids_walks_the_boards_issue_posts_linked_to(server, tmp_path):
    serve_mirror_boards(server)
    report, layout = run(
        tmp_path, crawl_params(sources=["mirror"], mirror={"base_url": server.base, "min_chars": 40})
    )
    assert [d["id"] for d in records(layout, "mirror")][-1] == "mirror:fiction/503"
    assert route_key("/index.php?mid=review&page=1") not in server.hits  # no issue post links there
    assert report["sources"]["mirror"]["discovered"] == {"notice": 4, "board": 1}


# --- truncated 200 pages ----------------------------------------------------------------------


def test_truncated_pages_are_fetched_again_in_the_same_run_then_reported(server, tmp_path):
    serve_munjang(server)
    view = "/board.es?" + urlencode({**BOARD, "act": "view"}) + "&list_no="
    whole = server.fixture("munjang/view_100002.html")
    half = whole[: len(whole) // 2]
    server.handle(view + "100002", lambda n: (200, {}, half if n <= 2 else whole))  # cut twice, then whole
    server.add(view + "100003", half)  # always cut
    clock = FakeClock()
    crawl = crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    crawl["fetch"].update(truncated_retries=2, backoff_base_s=1.0)
    report, layout = run(tmp_path, crawl, clock=clock)
    ids = [d["id"] for d in records(layout, "munjang")]
    assert "munjang:100002" in ids and "munjang:100003" not in ids
    block = report["sources"]["munjang"]
    assert block["truncated"] == {"retries": 4 + 2, "recovered": 1, "failed": 2}  # 100003 and 100006
    assert server.hits[route_key(view + "100002")] == 3 and server.hits[route_key(view + "100003")] == 3
    assert report["totals"]["truncated_retries"] == 6 and report["totals"]["truncated_failed"] == 2
    errors = {e["url"].rsplit("=", 1)[1]: e["reason"] for e in block["errors"]}
    assert "still cut short after 3 fetches" in errors["100003"]
    # per cut page a backoff of 1 s, then 2 s (three pages were cut: 100002, 100003, 100006)
    assert sorted(s for s in clock.sleeps if s >= 1.0) == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]


# --- listings that loop -----------------------------------------------------------------------


def test_a_listing_whose_pages_loop_ends_at_the_first_page_seen_again(server, tmp_path):
    serve_munjang(server, pages=2)
    pages = {1: "munjang/list_1.html", 2: "munjang/list_2.html"}
    for n in range(3, 9):  # 3 shows page 1 again, 4 page 2, ... : the "next page" never ends
        target = "/board.es?" + urlencode({**BOARD, "act": "list", "ord": "OLD", "nPage": n})
        server.add_file(target, pages[1 + (n - 1) % 2])
    report, layout = run(
        tmp_path, crawl_params(sources=["munjang"], munjang={"base_url": server.base, "min_chars": 40})
    )
    listed = [
        n
        for n in range(1, 9)
        if route_key("/board.es?" + urlencode({**BOARD, "act": "list", "ord": "OLD", "nPage": n}))
        in server.hits
    ]
    assert listed == [1, 2, 3]
    block = report["sources"]["munjang"]
    assert block["listing_pages"] == 3 and block["discovered"] == {"board": 6}


# --- brunch: article API, HTML fallback -------------------------------------------------------


def serve_brunch_site(server: SiteServer) -> None:
    server.add_file("/robots.txt", "brunch/robots.txt", headers={"Content-Type": "text/plain"})
    server.add_file("/@writer", "brunch/profile.html")
    server.add_file("/rss/@@AbCd", "brunch/rss.xml", headers={"Content-Type": "application/rss+xml"})
    for n, name in ((1, "article_2025"), (2, "article_2020"), (3, "article_episode")):
        server.add_file(f"/@writer/{n}", f"brunch/{name}.html")
    server.add_file("/@writer/404", "brunch/deleted.html")
    server.add("/@@AbCd/2", status=301, headers={"Location": "/@writer/2"})
    server.add("/@writer/9", status=302, headers={"Location": "/@writer/9"})


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def serve_article_api(api: SiteServer) -> None:
    api.add("/robots.txt", status=404)
    first = {
        "list": [
            {"no": 1, "publishTime": ms("2024-12-31T16:30:00")},
            {"no": 2, "publishTime": ms("2021-03-04T20:00:00")},
        ],
        "moreList": True,
        "nextUrl": "/v1/article/@writer?listSize=2&status=home&lastTime=1614888000000",
    }
    second = {
        "list": [{"no": 3, "publishTime": ms("2025-02-02T01:00:00")}],
        "moreList": False,
        "nextUrl": None,
    }
    api.add(
        "/v1/article/@writer?listSize=2&status=home",
        json.dumps({"data": first}),
        headers={"Content-Type": "application/json"},
    )
    api.add(
        "/v1/article/@writer?listSize=2&status=home&lastTime=1614888000000",
        json.dumps({"data": second}),
        headers={"Content-Type": "application/json"},
    )


def brunch_params(server: SiteServer, api: SiteServer) -> dict:
    brunch = {
        "base_url": server.base,
        "api_base_url": api.base,
        "api_page_size": 2,
        "profiles": ["writer"],
        "rights_holder_opt_in": True,
        "min_chars": 30,
    }
    return crawl_params(sources=["brunch"], brunch=brunch)


def test_brunch_lists_profiles_through_the_article_api_with_exact_dates(server, tmp_path):
    serve_brunch_site(server)
    api = SiteServer()
    try:
        serve_article_api(api)
        report, layout = run(tmp_path, brunch_params(server, api))
    finally:
        api.close()
    docs = {d["id"]: d for d in records(layout, "brunch")}
    assert list(docs) == ["brunch:@writer/1", "brunch:@writer/2", "brunch:@writer/3"]
    # the API's publish time, in Korean time: 16:30 UTC on Dec 31 is already Jan 1 in Seoul
    assert docs["brunch:@writer/1"]["published"] == "2025-01-01"
    assert docs["brunch:@writer/2"]["published"] == "2021-03-05"  # not the page's "Oct 27. 2020"
    block = report["sources"]["brunch"]
    assert block["discovered"] == {"api": 3} and block["documents_by_route"] == {"api": 3}
    assert "/@writer" not in server.paths() and "/rss/@@AbCd" not in server.paths()  # fewer requests
    assert block["errors"] == []


@pytest.mark.parametrize("failure", ["server-error", "robots", "not-json"])
def test_brunch_falls_back_to_profile_page_and_rss_when_the_api_fails(server, tmp_path, failure):
    serve_brunch_site(server)
    api = SiteServer()
    try:
        serve_article_api(api)
        target = "/v1/article/@writer?listSize=2&status=home"
        if failure == "server-error":
            api.add(target, "oops", status=500)
        elif failure == "robots":
            api.add("/robots.txt", "User-agent: *\nDisallow: /v1/\n", headers={"Content-Type": "text/plain"})
        else:
            api.add(target, "<html>maintenance</html>")
        report, layout = run(tmp_path, brunch_params(server, api))
    finally:
        api.close()
    assert [d["id"] for d in records(layout, "brunch")] == [
        "brunch:@writer/1",
        "brunch:@writer/2",
        "brunch:@writer/3",
    ]
    block = report["sources"]["brunch"]
    assert block["discovered"] == {"feed": 5}  # 1, 2, 3, the deleted 404 and the looping 9
    assert (
        block["errors"][0]["reason"].startswith("article API: ")
        and "profile page + RSS" in block["errors"][0]["reason"]
    )
