"""HTML -> paragraphs, shared by the site sources (selectolax/lexbor: fast and tolerant of broken HTML).

Text comes out as paragraphs joined by a blank line, lines inside a paragraph by one newline: the
``paragraphs`` layout that preprocess expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from selectolax.lexbor import LexborHTMLParser, LexborNode

BLOCK_TAGS = frozenset(
    "p div li ul ol blockquote h1 h2 h3 h4 h5 h6 section article header footer table tr td th pre dl dt dd".split()
)
SKIP_TAGS = frozenset("script style noscript template iframe img svg button select input textarea".split())
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009\u3000]+")


def parse(text: str) -> LexborHTMLParser:
    return LexborHTMLParser(text)


def _walk(node: LexborNode, out: list[str]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            out.append(child.text_content or "")
        elif tag == "br":
            out.append("\n")
        elif tag in SKIP_TAGS or tag == "-comment":
            continue
        elif tag in BLOCK_TAGS:
            out.append("\n\n")
            _walk(child, out)
            out.append("\n\n")
        else:
            _walk(child, out)


def lines_to_paragraphs(text: str) -> list[str]:
    """Split on blank lines; squeeze spaces (NBSP too) inside each line; drop empty paragraphs."""
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in text.split("\n"):
        line = _SPACES.sub(" ", raw).strip()
        if line:
            current.append(line)
        elif current:
            paragraphs.append("\n".join(current))
            current = []
    if current:
        paragraphs.append("\n".join(current))
    return paragraphs


def node_paragraphs(node: LexborNode) -> list[str]:
    """Paragraphs of one subtree: block elements and blank lines split, <br> breaks lines."""
    out: list[str] = []
    _walk(node, out)
    return lines_to_paragraphs("".join(out))


def node_text(node: LexborNode | None) -> str:
    """One-line text of a node (for titles, names, dates)."""
    if node is None:
        return ""
    return _SPACES.sub(" ", " ".join((node.text(separator=" ") or "").split())).strip()


def top_level(nodes: Iterable[LexborNode]) -> list[LexborNode]:
    """Drop nodes nested inside another node of the same selection (``p > span`` double counts)."""
    nodes = list(nodes)
    ids = {n.mem_id for n in nodes}
    kept = []
    for node in nodes:
        parent, nested = node.parent, False
        while parent is not None:
            if parent.mem_id in ids:
                nested = True
                break
            parent = parent.parent
        if not nested:
            kept.append(node)
    return kept


def meta_content(tree: LexborHTMLParser, *, name: str | None = None, prop: str | None = None) -> str:
    selector = f'meta[name="{name}"]' if name else f'meta[property="{prop}"]'
    node = tree.css_first(selector)
    return (node.attributes.get("content") or "").strip() if node else ""


def json_ld(tree: LexborHTMLParser, type_name: str) -> dict:
    """The first JSON-LD object of @type ``type_name`` (broken JSON-LD is ignored, not fatal)."""
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text() or "")
        except ValueError:
            continue
        candidates = (
            data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(data, dict) else []
        )
        for obj in candidates:
            if isinstance(obj, dict) and obj.get("@type") == type_name:
                return obj
    return {}


def join_paragraphs(paragraphs: Iterable[str]) -> str:
    return "\n\n".join(p for p in paragraphs if p)


def cut_short(text: str) -> bool:
    """True for an HTML document that opened ``<html>`` but never closed it: the transfer ended early
    although the server said 200 (a proxy or a worker cut it). Servers always close what they open."""
    head, tail = text[:4096].lower(), text[-4096:].lower()
    return "<html" in head and "</html>" not in tail
