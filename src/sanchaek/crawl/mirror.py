"""환상문학웹진 거울 (mirrorzine.kr), an XpressEngine board site.

Discovery: the ``notice`` board lists the monthly "N호 업데이트" posts, and each links the works of its
issue. Works are canonicalised to ``/{mid}/{document_srl}`` (the ``index.php?mid=…&document_srl=…``
form and its page/sort variants are the same document). ``act=`` links (login, write) are never
followed. Selectors from ../shared/notes/sites.md section 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from ..config.crawl import MirrorParams
from . import html, rights
from .fetcher import Fetcher, FetchError
from .runner import ExtractError, ListingStep

SELECTORS = {
    "list_links": "table.bd_lst td.title a",  # notice board rows
    "body": "div.xe_content",
    "title": ".rd_hd h1 a",
    "author": ".rd_hd .nick",
    "date": ".rd_hd .date",
}
# XE core wraps every document body in these comments: a page without the closing one was cut short.
BEFORE_MARK, AFTER_MARK = "<!--BeforeDocument(", "<!--AfterDocument("
_SHORT_PATH = re.compile(r"^/([A-Za-z_][\w]*)/(\d+)/?$")


@dataclass
class MirrorSource:
    params: MirrorParams
    name: str = "mirror"

    def list_url(self, page: int) -> str:
        return f"{self.params.base_url}/index.php?{urlencode({'mid': self.params.notice_mid, 'page': page})}"

    def probe_url(self) -> str:
        return self.list_url(1)

    def max_steps(self) -> int:
        return self.params.max_pages

    def document_ref(self, href: str, page_url: str) -> tuple[str, str] | None:
        """(mid, document_srl) of an on-site document link, else None."""
        parts = urlsplit(urljoin(page_url, href))
        if parts.netloc and parts.netloc != urlsplit(self.params.base_url).netloc:
            return None
        query = parse_qs(parts.query)
        if "act" in query:
            return None
        if "document_srl" in query and "mid" in query and query["document_srl"][0].isdigit():
            return query["mid"][0], query["document_srl"][0]
        match = _SHORT_PATH.match(parts.path)
        return (match.group(1), match.group(2)) if match and not parts.query else None

    def canonical(self, mid: str, srl: str) -> str:
        return f"{self.params.base_url}/{mid}/{srl}"

    def _is_work_board(self, mid: str) -> bool:
        if self.params.work_mids:
            return mid in self.params.work_mids
        return mid != self.params.notice_mid

    def list_step(self, fetcher: Fetcher, step: int) -> ListingStep:
        page = fetcher.get(self.list_url(step + 1))
        tree = html.parse(page.text)
        rows: list[tuple[str, str, str]] = []  # (mid, srl, row title)
        for link in tree.css(SELECTORS["list_links"]):
            ref = self.document_ref(link.attributes.get("href") or "", page.final_url)
            if ref:
                rows.append((*ref, html.node_text(link)))
        items, errors, seen = [], [], set()
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
                if ref and self._is_work_board(ref[0]) and ref not in seen:
                    seen.add(ref)
                    items.append({"id": f"mirror:{ref[0]}/{ref[1]}", "url": self.canonical(*ref)})
        # XE answers a page number past the end with the last page again: the runner stops on a repeat
        return ListingStep(items, [f"{mid}/{srl}" for mid, srl, _ in rows], more=True, errors=errors)

    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict:
        page = fetcher.get(item["url"])
        if BEFORE_MARK in page.text and AFTER_MARK not in page.text:
            raise ExtractError("truncated page (XE AfterDocument marker missing)")
        tree = html.parse(page.text)
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
            "id": item["id"],
            "url": item["url"],
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
