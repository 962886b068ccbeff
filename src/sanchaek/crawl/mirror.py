"""환상문학웹진 거울 (mirrorzine.kr), an XpressEngine board site.

Discovery, two routes, each counted in the report: ``notice`` (the notice board's monthly "N호
업데이트" posts, each linking the works of its issue) and ``board`` (the listings of the work boards:
``work_mids`` plus every board an issue post linked a work on, so works listed on their board but
never announced are found too). Links may come as ``/{mid}/{srl}``, ``index.php?mid=…&document_srl=…``
(with page/sort variants) or ``index.php?document_srl=…`` without ``mid``; all are one document,
deduplicated by ``document_srl`` (unique across an XE site) and stored under the canonical
``/{mid}/{document_srl}``; a link without ``mid`` learns it from the page itself. ``act=`` links
(login, write) are never followed. Selectors from ../shared/notes/sites.md section 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from ..config.crawl import MirrorParams
from . import html, rights
from .fetcher import Fetcher, FetchError
from .runner import ExtractError, ListingStep, Skip, Truncated

SELECTORS = {
    "list_links": "table.bd_lst td.title a",  # notice board rows
    "body": "div.xe_content",
    "title": ".rd_hd h1 a",
    "author": ".rd_hd .nick",
    "date": ".rd_hd .date",
}
# XE core wraps every document body in these comments: a page without the closing one was cut short.
BEFORE_MARK, AFTER_MARK = "<!--BeforeDocument(", "<!--AfterDocument("
_SHORT_PATH = re.compile(r"^/(?:([A-Za-z_][\w]*)/)?(\d+)/?$")


@dataclass
class MirrorSource:
    params: MirrorParams
    name: str = "mirror"

    def list_url(self, page: int, mid: str | None = None) -> str:
        query = urlencode({"mid": mid or self.params.notice_mid, "page": page})
        return f"{self.params.base_url}/index.php?{query}"

    def probe_url(self) -> str:
        return self.list_url(1)

    def first_cursor(self) -> dict:
        return {"route": "notice", "page": 1}

    def document_ref(self, href: str, page_url: str) -> tuple[str | None, str] | None:
        """(mid or None, document_srl) of an on-site document link, else None."""
        parts = urlsplit(urljoin(page_url, href))
        if parts.scheme not in ("http", "https", ""):
            return None
        if parts.hostname and parts.hostname != urlsplit(self.params.base_url).hostname:
            return None
        query = parse_qs(parts.query)
        if "act" in query:
            return None
        srl = query.get("document_srl", [""])[0]
        if srl.isdigit():
            return query.get("mid", [None])[0] or None, srl
        match = _SHORT_PATH.match(parts.path)
        return (match.group(1), match.group(2)) if match and not parts.query else None

    def key_of_id(self, doc_id: str) -> str:
        """``mirror:fiction/504`` -> ``mirror:504``: the dedupe key of a saved document."""
        return "mirror:" + doc_id.rsplit("/", 1)[-1]

    def canonical(self, mid: str | None, srl: str) -> str:
        if mid is None:
            return f"{self.params.base_url}/index.php?{urlencode({'document_srl': srl})}"
        return f"{self.params.base_url}/{mid}/{srl}"

    def _item(self, mid: str | None, srl: str) -> dict:
        item = {"id": f"mirror:{mid or '?'}/{srl}", "key": f"mirror:{srl}", "url": self.canonical(mid, srl)}
        if mid is None:
            item["unresolved"] = True  # the board is read from the page when it is fetched
        return item

    def _is_work_board(self, mid: str) -> bool:
        if self.params.work_mids:
            return mid in self.params.work_mids
        return mid != self.params.notice_mid

    def _rows(self, fetcher: Fetcher, url: str) -> list[tuple[str | None, str, str]]:
        """(mid, srl, row title) of the document rows of one board listing page."""
        page = fetcher.get(url)
        tree = html.parse(page.text)
        rows = []
        for link in tree.css(SELECTORS["list_links"]):
            ref = self.document_ref(link.attributes.get("href") or "", page.final_url)
            if ref:
                rows.append((*ref, html.node_text(link)))
        return rows

    def _next_page(self, cursor: dict) -> dict | None:
        page = cursor["page"] + 1
        return {**cursor, "page": page} if page <= self.params.max_pages else None

    def list_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep:
        if cursor["route"] == "board":
            return self._board_step(fetcher, cursor)
        rows = self._rows(fetcher, self.list_url(cursor["page"]))
        items, errors = [], []
        for mid, srl, title in rows:
            if self.params.issue_title_pattern not in title:
                continue
            post_url = self.canonical(mid, srl)
            try:
                post = fetcher.get(post_url)
            except FetchError as err:
                errors.append({"url": err.url, "reason": f"issue post: {err.reason}"})
                continue
            body = html.parse(post.text).css_first(SELECTORS["body"])
            for link in body.css("a[href]") if body else []:
                ref = self.document_ref(link.attributes.get("href") or "", post.final_url)
                if ref and ref[1] != srl and (ref[0] is None or self._is_work_board(ref[0])):
                    items.append(self._item(*ref))
        # XE answers a page number past the end with the last page again: the runner stops on a repeat
        return ListingStep(items, [srl for _, srl, _ in rows], next=self._next_page(cursor), errors=errors)

    def _board_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep:
        board = cursor["mid"]
        rows = self._rows(fetcher, self.list_url(cursor["page"], board))
        items = [self._item(mid or board, srl) for mid, srl, _ in rows if (mid or board) == board]
        return ListingStep(items, [srl for _, srl, _ in rows], next=self._next_page(cursor))

    def boards(self, items: list[dict]) -> list[str]:
        """work_mids, then every other work board the items found so far live on, in order seen."""
        mids = list(self.params.work_mids)
        for item in items:
            mid = item["id"].split(":", 1)[1].split("/", 1)[0]
            if mid != "?" and mid not in mids and self._is_work_board(mid):
                mids.append(mid)
        return mids

    def next_route(self, cursor: dict, items: list[dict]) -> dict | None:
        if not self.params.walk_boards:
            return None
        boards = cursor.get("boards") or self.boards(items)
        position = boards.index(cursor["mid"]) + 1 if cursor["route"] == "board" else 0
        if position >= len(boards):
            return None
        mid = boards[position]
        return {"route": "board", "mid": mid, "page": 1, "scope": f"board:{mid}", "boards": boards}

    def _resolve_mid(self, tree, srl: str, page_url: str) -> str | None:
        """The board of a document reached without ``mid``: from its canonical link, og:url or a link
        to itself in the read header."""
        canonical = tree.css_first('link[rel="canonical"]')
        candidates = [
            canonical.attributes.get("href") if canonical is not None else None,
            html.meta_content(tree, prop="og:url"),
            page_url,
            *(a.attributes.get("href") for a in tree.css(".rd_hd a[href], h1 a[href]")),
        ]
        for href in candidates:
            ref = self.document_ref(href or "", page_url)
            if ref and ref[0] and ref[1] == srl:
                return ref[0]
        return None

    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict:
        page = fetcher.get(item["url"])
        if BEFORE_MARK in page.text and AFTER_MARK not in page.text:
            raise Truncated("truncated page (XE AfterDocument marker missing)")
        if html.cut_short(page.text):
            raise Truncated("truncated page (the HTML never closes)")
        tree = html.parse(page.text)
        doc_id, url = item["id"], item["url"]
        if item.get("unresolved"):
            srl = item["key"].split(":", 1)[1]
            mid = self._resolve_mid(tree, srl, page.final_url)
            if mid is not None and not self._is_work_board(mid):
                raise Skip("not_work", f"document {srl} is on board '{mid}', not a work board")
            if mid is not None:
                doc_id, url = f"mirror:{mid}/{srl}", self.canonical(mid, srl)
        body = tree.css_first(SELECTORS["body"])
        text = html.join_paragraphs(html.node_paragraphs(body)) if body else ""
        if not text:
            raise ExtractError("no text found (no div.xe_content: layout changed or truncated page)")
        if len(text) < self.params.min_chars:
            raise ExtractError(f"only {len(text)} characters of text (< crawl.mirror.min_chars)")
        page_title = html.node_text(tree.css_first("title")).rsplit(" - ", 1)[0]
        title = (
            html.node_text(tree.css_first(SELECTORS["title"]))
            or html.meta_content(tree, prop="og:title")
            or page_title
        )
        date = re.search(r"(\d{4})\.(\d{2})\.(\d{2})", html.node_text(tree.css_first(SELECTORS["date"])))
        return {
            "id": doc_id,
            "url": url,
            "title": title or None,
            "author": html.node_text(tree.css_first(SELECTORS["author"]))
            or html.meta_content(tree, name="author")
            or None,
            "genre": "short_story",
            "published": f"{date[1]}-{date[2]}-{date[3]}" if date else None,
            "layout": "paragraphs",
            "text": text,
            "_page_signals": rights.page_signals(page),
        }
