"""문장웹진 (munjang.or.kr): the board.es 소설 board, or the KCISA open API when a service key is set.

Selectors from ../shared/notes/sites.md section 1 (re-verify on one live page before trusting them).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from ..config.crawl import MunjangParams
from ..errors import SanchaekError
from . import html, rights
from .fetcher import Fetcher
from .runner import ExtractError, ListingStep, Truncated

SELECTORS = {
    "list_item": "#contents .board_list .list_ul .list_li",
    "item_link": 'a[href*="list_no="]',
    "item_title": ".title",  # "작가명 - 작품제목"
    "item_date": ".etc_info .date span",
    "body": "#contents .view_section .detail_cont .page_breaking",  # several on multi-page works: take all
    "paragraphs": "p, blockquote",
    "head_title": ".view_head .tit",
    "head_writer": ".view_head .writer",
    "head_date": ".view_head .date",
}
ARTEFACTS = ("광고 건너뛰기",)  # paragraphs holding these are site chrome, not the work
GENRES = {"소설": "short_story", "시": "poem", "비평": "criticism", "수필": "essay"}
_AUTHOR_LINE = re.compile(r"^[가-힣]{2,5}$")  # the body repeats the author's name alone on a line


def split_title(text: str) -> tuple[str, str | None]:
    """'작가명 - 작품제목' -> (title, author); without a dash the whole text is the title."""
    if " - " in text:
        author, title = text.split(" - ", 1)
        return title.strip(), author.strip() or None
    return text.strip(), None


def body_paragraphs(tree, title: str, author: str | None) -> tuple[list[str], str | None]:
    """Paragraphs of the work, minus the repeated <h4> title, the author line and site artefacts."""
    blocks = tree.css(SELECTORS["body"])
    nodes = html.top_level(node for block in blocks for node in block.css(SELECTORS["paragraphs"]))
    paragraphs = [p for node in nodes for p in html.node_paragraphs(node)]
    paragraphs = [p for p in paragraphs if not any(a in p for a in ARTEFACTS)]
    if paragraphs and paragraphs[0].strip() == title.strip():
        paragraphs = paragraphs[1:]
    if paragraphs and (paragraphs[0] == author or (author is None and _AUTHOR_LINE.match(paragraphs[0]))):
        author = author or paragraphs[0]
        paragraphs = paragraphs[1:]
    return paragraphs, author


def iso_date(text: str) -> str | None:
    match = re.search(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})", text or "")
    return f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}" if match else None


@dataclass
class MunjangSource:
    params: MunjangParams
    name: str = "munjang"
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_params(cls, params: MunjangParams, environ: dict[str, str] | None = None) -> MunjangSource:
        environ = os.environ if environ is None else environ
        return cls(params, api_key=environ.get(params.api_key_env) or None)

    @property
    def mode(self) -> str:
        return "api" if self.api_key else "html"

    def _board_url(self, **query: str | int) -> str:
        base = {"mid": self.params.mid, "bid": self.params.bid}
        return f"{self.params.base_url}/board.es?{urlencode({**base, **query})}"

    def list_url(self, page: int) -> str:
        # ord=OLD: oldest first, so page n holds the same works as new ones are added
        return self._board_url(act="list", ord="OLD", nPage=page)

    def view_url(self, list_no: str) -> str:
        return self._board_url(act="view", list_no=list_no)

    def api_url(self, page: int) -> str:
        query = {
            "serviceKey": self.api_key or "",
            "numOfRows": self.params.api_page_size,
            "pageNo": page,
            "gubun": self.params.api_gubun,
        }
        return f"{self.params.api_base_url}{self.params.api_path}?{urlencode(query)}"

    def probe_url(self) -> str:
        return self.api_url(1) if self.api_key else self.list_url(1)

    def first_cursor(self) -> dict:
        return {"route": "api" if self.api_key else "board", "page": 1}

    def next_route(self, cursor: dict, items: list[dict]) -> dict | None:
        return None  # one listing

    def _next(self, cursor: dict) -> dict | None:
        page = cursor["page"] + 1
        return {**cursor, "page": page} if page <= self.params.max_pages else None

    def list_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep:
        if self.api_key:
            return self._api_step(fetcher, cursor)
        page = fetcher.get(self.list_url(cursor["page"]))
        tree = html.parse(page.text)
        items = []
        for node in tree.css(SELECTORS["list_item"]):
            link = node.css_first(SELECTORS["item_link"])
            href = link.attributes.get("href") if link else None
            list_no = parse_qs(urlsplit(href or "").query).get("list_no", [""])[0]
            if not list_no.isdigit():
                continue
            title, author = split_title(html.node_text(node.css_first(SELECTORS["item_title"])))
            items.append(
                {
                    "id": f"munjang:{list_no}",
                    "url": self.view_url(list_no),
                    "title": title,
                    "author": author,
                    "published": iso_date(html.node_text(node.css_first(SELECTORS["item_date"]))),
                }
            )
        # no "last page" marker is known: an empty page (or one seen before) ends the listing
        return ListingStep(items, [i["id"] for i in items], next=self._next(cursor))

    def _api_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep:
        page_no = cursor["page"]
        page = fetcher.get(self.api_url(page_no))
        try:
            data = json.loads(page.text)
            response = data["response"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ExtractError(f"KCISA API answer is not the expected JSON ({exc})") from exc
        header = response.get("header") or {}
        code = str(header.get("resultCode", "0000"))
        if code not in ("0", "00", "0000"):
            raise SanchaekError(
                f"KCISA API refused the request: {code} {header.get('resultMsg', '')}: check the key in "
                f"${self.params.api_key_env} (or unset it to crawl the HTML board)"
            )
        body = response.get("body") or {}
        raw_items = (body.get("items") or {}).get("item") or []
        if isinstance(raw_items, dict):  # one-item pages come back as an object
            raw_items = [raw_items]
        items = [self._api_item(raw) for raw in raw_items if str(raw.get("LOCAL_ID", "")).strip()]
        total = int(body.get("totalCount") or 0)
        more = page_no * self.params.api_page_size < total
        return ListingStep(items, [i["id"] for i in items], next=self._next(cursor) if more else None)

    def _api_item(self, raw: dict) -> dict:
        list_no = str(raw["LOCAL_ID"]).strip()
        given = urlsplit(str(raw.get("URL") or ""))
        # the API's own view URL (poems live on another board), kept on the configured host
        url = f"{self.params.base_url}{given.path}?{given.query}" if given.query else self.view_url(list_no)
        return {
            "id": f"munjang:{list_no}",
            "url": url,
            "title": (raw.get("TITLE") or "").strip(),
            "author": None,
            "published": iso_date(raw.get("ISSUED_DATE") or ""),
            "api_genre": raw.get("GENRE_NM"),
            "api_html": raw.get("DESCRIPTION") or "",
        }

    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict:
        if "api_html" in item:
            # The API hands over the body: wrap it like a view page so one extractor serves both.
            wrapped = f'<div id="contents"><section class="view_section"><div class="detail_cont"><div class="page_breaking">{item["api_html"]}</div></div></section></div>'
            tree, signals, final_url = html.parse(wrapped), [], item["url"]
        else:
            page = fetcher.get(item["url"])
            if html.cut_short(page.text):
                raise Truncated("truncated page (the HTML never closes)")
            tree, signals, final_url = html.parse(page.text), rights.page_signals(page), page.final_url
        title = item.get("title") or html.node_text(tree.css_first(SELECTORS["head_title"]))
        author = item.get("author") or html.node_text(tree.css_first(SELECTORS["head_writer"])) or None
        paragraphs, author = body_paragraphs(tree, title, author)
        text = html.join_paragraphs(paragraphs)
        if not text:
            raise ExtractError("no text found (layout changed or truncated page)")
        if len(text) < self.params.min_chars:
            raise ExtractError(
                f"only {len(text)} characters of text (< crawl.munjang.min_chars): truncated page?"
            )
        return {
            "id": item["id"],
            "url": final_url,
            "title": title,
            "author": author,
            "genre": GENRES.get(item.get("api_genre") or "소설", "other"),
            "published": item.get("published")
            or iso_date(html.node_text(tree.css_first(SELECTORS["head_date"]))),
            "layout": "paragraphs",
            "text": text,
            "_page_signals": signals,
        }
