"""브런치 (brunch.co.kr): the articles of chosen author profiles, found through each author's RSS feed.

Brunch's robots.txt shuts out AI-training agents (GPTBot, ClaudeBot, ...), so this source refuses unless
``crawl.brunch.rights_holder_opt_in`` says you hold the rights to the listed profiles (your own).
Enumeration: profile page -> its RSS link (/rss/@@userId) -> items; plus article links the profile page
renders. Keyword/search listings and api.brunch.co.kr are not used (/search and /api/ are disallowed).
Selectors from ../shared/notes/sites.md section 2.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from ..config.crawl import BrunchParams
from ..errors import SanchaekError
from . import html, rights
from .fetcher import Fetcher, FetchError
from .runner import ExtractError, ListingStep, Skip

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

    def max_steps(self) -> int:
        return len(self.params.profiles)

    def _on_site(self, href: str, page_url: str) -> str:
        """Keep only the path of a link and put it on the configured host (never wander off it)."""
        parts = urlsplit(urljoin(page_url, href))
        return self.params.base_url + parts.path

    def list_step(self, fetcher: Fetcher, step: int) -> ListingStep:
        profile = self.params.profiles[step]
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
            {"id": f"brunch:@{profile}/{n}", "url": numbers[n], "profile": profile} for n in sorted(numbers)
        ]
        return ListingStep(items, [profile], more=step + 1 < len(self.params.profiles), errors=errors)

    def fetch_document(self, fetcher: Fetcher, item: dict) -> dict:
        page = fetcher.get(item["url"])
        if DELETED_MARK in page.text:
            raise Skip("deleted", "brunch says the article does not exist")
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
            parse_date(str(ld.get("datePublished") or ""))
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
