"""브런치 (brunch.co.kr): the articles of chosen author profiles.

Brunch's robots.txt shuts out AI-training agents (GPTBot, ClaudeBot, ...), so this source refuses unless
``crawl.brunch.rights_holder_opt_in`` says you hold the rights to the listed profiles (your own).
Enumeration per profile, two routes counted in the report:
- ``api``: the article API (``{api}/v1/article/@{profile}?listSize=N&status=home``, pages chained by
  ``data.nextUrl`` while ``data.moreList``) gives every article number with its exact publish time
  in few requests; api.brunch.co.kr has its own robots.txt, obeyed like any host;
- ``feed``: profile page -> its RSS link (/rss/@@userId) -> items, plus article links the page
  renders; used when the API is off (``use_api: false``) or its listing fails for that profile.
Keyword/search listings are not used (firehoses of other people's work; /search is disallowed).
Selectors and API shapes from ../shared/notes/sites.md section 2.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode, urljoin, urlsplit

from ..config.crawl import BrunchParams
from ..errors import SanchaekError
from . import html, rights
from .fetcher import Fetcher, FetchError
from .runner import ExtractError, ListingStep, Skip, Truncated

SELECTORS = {
    "rss_link": 'link[type="application/rss+xml"]',
    "canonical": 'link[rel="canonical"]',
    "title": "h1.cover_title",
    "author": ".text_author a",
    "date": "span.f_l.date",
    "body": ".wrap_body",
    "blocks": ".wrap_item",
}
DELETED_MARK = "잘못된 주소이거나"  # brunch's "wrong address or deleted" page, served with 200
TEXT_BLOCKS = ("item_type_text", "item_type_quotation")
_ARTICLE_PATH = re.compile(r"^/@(@?)([\w.-]+)/(\d+)/?$")
_EPISODE_PREFIX = re.compile(r"^\d+화\s+")  # brunchbook episodes: og:title "3화 제목"
KST = timezone(timedelta(hours=9))  # brunch publishes in Korean time; the API gives epoch ms


def article_paragraphs(tree) -> list[str]:
    """Top-level .wrap_item blocks: consecutive text blocks are lines of one paragraph; an empty text
    block, a quotation, a heading or any non-text block ends the paragraph."""
    body = tree.css_first(SELECTORS["body"])
    if body is None:
        return []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            paragraphs.append("\n".join(current))
            current.clear()

    for block in html.top_level(body.css(SELECTORS["blocks"])):
        classes = block.attributes.get("class") or ""
        if not any(kind in classes for kind in TEXT_BLOCKS):
            flush()
            continue
        for caption in block.css(".text_caption"):
            caption.decompose()
        lines = [line for p in html.node_paragraphs(block) for line in p.split("\n")]
        if not lines or "item_type_quotation" in classes or block.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            flush()
            if lines:
                paragraphs.append("\n".join(lines))
            continue
        current.extend(lines)
    flush()
    return paragraphs


def parse_date(text: str) -> str | None:
    """ISO date from JSON-LD/meta ('2025-01-01T09:00+09:00') or the old DOM ('Oct 27. 2020')."""
    if not text:
        return None
    match = re.match(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
    if match:
        return match.group(0)
    try:
        return datetime.strptime(text.strip(), "%b %d. %Y").date().isoformat()
    except ValueError:
        return None  # relative dates ("3시간전") are not worth guessing


@dataclass
class BrunchSource:
    params: BrunchParams
    name: str = "brunch"

    def __post_init__(self) -> None:
        if not self.params.profiles:
            raise SanchaekError(
                "crawl.brunch.profiles is empty: list the profile ids (e.g. [myname]) to collect"
            )

    def profile_url(self, profile: str) -> str:
        return f"{self.params.base_url}/@{profile}"

    def probe_url(self) -> str:
        return self.profile_url(self.params.profiles[0])

    def first_cursor(self) -> dict:
        return self._profile_cursor(0)

    def _profile_cursor(self, index: int) -> dict | None:
        if index >= len(self.params.profiles):
            return None
        profile = self.params.profiles[index]
        if self.params.use_api:
            return {"route": "api", "profile": index, "page": 1, "url": None, "scope": f"api:{profile}"}
        return {"route": "feed", "profile": index, "scope": f"feed:{profile}"}

    def next_route(self, cursor: dict, items: list[dict]) -> dict | None:
        return self._profile_cursor(cursor["profile"] + 1)

    def _on_site(self, href: str, page_url: str) -> str:
        """Keep only the path of a link and put it on the configured host (never wander off it)."""
        parts = urlsplit(urljoin(page_url, href))
        return self.params.base_url + parts.path

    def api_url(self, profile: str) -> str:
        query = urlencode({"listSize": self.params.api_page_size, "status": "home"})
        return f"{self.params.api_base_url}/v1/article/@{profile}?{query}"

    def list_step(self, fetcher: Fetcher, cursor: dict) -> ListingStep:
        profile = self.params.profiles[cursor["profile"]]
        if cursor["route"] == "feed":
            return self._feed_step(fetcher, profile)
        url = cursor["url"] or self.api_url(profile)
        try:
            return self._api_step(fetcher, cursor, profile, url)
        except (FetchError, ExtractError) as err:
            # the API is undocumented and changes; the profile page and RSS still list the articles
            step = self._feed_step(fetcher, profile)
            reason = err.reason if isinstance(err, FetchError) else str(err)
            step.errors.insert(
                0, {"url": fetcher.redact(url), "reason": f"article API: {reason}; used profile page + RSS"}
            )
            return step

    def _api_step(self, fetcher: Fetcher, cursor: dict, profile: str, url: str) -> ListingStep:
        page = fetcher.get(url)
        try:
            data = json.loads(page.text)["data"]
            rows = data["list"]
            numbers = [(int(row["no"]), row.get("publishTime")) for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise ExtractError(f"answer is not the expected JSON ({type(exc).__name__}: {exc})") from None
        items = []
        for number, published in numbers:
            item = {
                "id": f"brunch:@{profile}/{number}",
                "url": f"{self.params.base_url}/@{profile}/{number}",
                "profile": profile,
            }
            if isinstance(published, int | float):
                item["published"] = (
                    datetime.fromtimestamp(published / 1000, UTC).astimezone(KST).date().isoformat()
                )
            items.append(item)
        next_cursor = None
        more, next_url = data.get("moreList"), data.get("nextUrl")
        if more and next_url and cursor["page"] < self.params.max_api_pages:
            target = urljoin(self.params.api_base_url + "/", str(next_url))
            parts = urlsplit(target)  # stay on the API host whatever the answer says
            target = f"{self.params.api_base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
            next_cursor = {**cursor, "page": cursor["page"] + 1, "url": target}
        return ListingStep(items, [i["id"] for i in items], next=next_cursor)

    def _feed_step(self, fetcher: Fetcher, profile: str) -> ListingStep:
        page = fetcher.get(self.profile_url(profile))
        tree = html.parse(page.text)
        links = [a.attributes.get("href") or "" for a in tree.css("a[href]")]
        errors: list[dict] = []
        rss = tree.css_first(SELECTORS["rss_link"])
        user_id = None
        if rss is not None:
            rss_url = self._on_site(rss.attributes.get("href") or "", page.final_url)
            match = re.search(r"/rss/@@([\w.-]+)", rss_url)
            user_id = match.group(1) if match else None
            try:
                links += rss_links(fetcher.get(rss_url).text)
            except FetchError as err:  # a missing feed costs its items, not the profile
                errors.append({"url": rss_url, "reason": f"feed: {err}"})
        numbers: dict[int, str] = {}
        for href in links:
            url = self._on_site(href, page.final_url)
            match = _ARTICLE_PATH.match(urlsplit(url).path)
            if not match:
                continue
            at, owner, number = match.groups()
            if (at and owner == user_id) or (not at and owner == profile):
                numbers.setdefault(int(number), url)  # first form seen is fetched; id is canonical
        items = [
            {"id": f"brunch:@{profile}/{n}", "url": numbers[n], "profile": profile, "route": "feed"}
            for n in sorted(numbers)
        ]
        return ListingStep(items, [profile], next=None, errors=errors)

    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict:
        page = fetcher.get(item["url"])
        if DELETED_MARK in page.text:
            raise Skip("deleted", "brunch says the article does not exist")
        if html.cut_short(page.text):
            raise Truncated("truncated page (the HTML never closes)")
        tree = html.parse(page.text)
        ld = html.json_ld(tree, "BlogPosting")
        title = (
            str(ld.get("headline") or "").strip()
            or html.node_text(tree.css_first(SELECTORS["title"]))
            or _EPISODE_PREFIX.sub("", html.meta_content(tree, prop="og:title"))
        )
        author_ld = ld.get("author") if isinstance(ld.get("author"), dict) else {}
        author = str(author_ld.get("name") or "").strip() or html.node_text(
            tree.css_first(SELECTORS["author"])
        )
        published = (
            item.get("published")  # the API's exact publish time, when the API listed it
            or parse_date(str(ld.get("datePublished") or ""))
            or parse_date(html.meta_content(tree, prop="article:published_time"))
            or parse_date(html.node_text(tree.css_first(SELECTORS["date"])))
        )
        paragraphs = article_paragraphs(tree)
        if not paragraphs and ld.get("articleBody"):
            paragraphs = html.lines_to_paragraphs(str(ld["articleBody"]))
        text = html.join_paragraphs(paragraphs)
        if not text:
            raise ExtractError("no text found (layout changed or truncated page)")
        if len(text) < self.params.min_chars:
            raise ExtractError(
                f"only {len(text)} characters of text (< crawl.brunch.min_chars): truncated page?"
            )
        return {
            "id": item["id"],
            "url": page.final_url,
            "title": title or None,
            "author": author or item["profile"],
            "genre": "essay",
            "published": published,
            "layout": "paragraphs",
            "text": text,
            "_page_signals": rights.page_signals(page),
        }


def rss_links(xml_text: str) -> list[str]:
    """<item><link> of an RSS 2.0 feed; a feed cut short still yields the links before the cut."""
    try:
        root = ET.fromstring(xml_text.encode("utf-8"))
        return [(item.findtext("link") or "").strip() for item in root.iter("item")]
    except ET.ParseError:
        return re.findall(r"<item>.*?<link>\s*([^<\s]+)\s*</link>", xml_text, flags=re.S)
