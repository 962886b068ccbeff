"""Text normalization: NFC, HTML remnants, boilerplate lines, whitespace and punctuation.

Everything here is a pure function of (text, options). Regexes are compiled once at import or once
per ``Normalizer``; the stage calls ``Normalizer.document`` once per document.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import hanja as _hanja

# --- HTML remnants -------------------------------------------------------------------------------
_SCRIPT_STYLE = re.compile(r"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK_TAG = re.compile(r"<\s*(?:br|/p|p|/div|div|/li|li|/h[1-6]|tr|/tr)\b[^>]*>", re.I)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?/?>")
_PAGE_MARKER = re.compile(r"\s*<\d{1,4}>\s*")

# --- characters ----------------------------------------------------------------------------------
# zero-width and format characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen) vanish;
# control characters other than newline/tab vanish.
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
# 2+ dots, the ellipsis, the two-dot leader and ideographic full stops in a row all mean "…" (one
# run, mixed or not, becomes one "…", so normalising twice changes nothing)
_ELLIPSIS = re.compile(r"(?:\.{2,}|[…‥]|。{2,}|·{3,})+")
# dashes become one em dash, except an en dash between digits (1910–1937 is a range, not a break)
_DASHES = re.compile(r"(?:[―—]|–(?!\d)|(?<!\d)–)[―—–]*")
_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "‘": "'", "’": "'", "‚": "'", "′": "'"}
)
_CORNER_QUOTES = str.maketrans({"『": '"', "』": '"', "「": "'", "」": "'"})
# full-width ASCII (！ → !, Ａ → A) folds to ASCII; hangul and CJK are left alone (NFKC would also
# rewrite compatibility jamo and hanja variants, which we want to keep).
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_BROKEN = re.compile(r"[\ufffd\ue000-\uf8ff]")  # replacement char; private-use old-hangul glyphs
_HANJA_RUN = re.compile(r"\S?[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# every markup pass shortens the text, so this bound is only met by text escaped more times than any
# page is (each pass unescapes twice)
_MAX_MARKUP_PASSES = 8


@dataclass(frozen=True)
class NormalizeOptions:
    html: bool = True
    page_markers: bool = True
    corner_quotes: bool = True
    boilerplate: tuple[str, ...] = ()


class Normalizer:
    """Compiled once per run; ``document(text)`` returns the cleaned text and boilerplate count."""

    def __init__(self, options: NormalizeOptions):
        self.options = options
        self._boilerplate = [re.compile(p) for p in options.boilerplate]

    def document(self, text: str) -> tuple[str, int]:
        text = normalize_chars(text, corner_quotes=self.options.corner_quotes)
        for _ in range(_MAX_MARKUP_PASSES):
            # an entity or a removed tag can uncover another tag, entity, marker or "..": clean again
            # until nothing changes, so a second run over the output changes nothing either
            cleaned = self._markup(text)
            if cleaned == text:
                break
            text = normalize_chars(cleaned, corner_quotes=self.options.corner_quotes)
        lines, removed = drop_boilerplate(normalize_lines(text), self._boilerplate)
        return join_lines(lines), removed

    def _markup(self, text: str) -> str:
        if self.options.html:
            text = strip_html(text)
        if self.options.page_markers:
            text = _PAGE_MARKER.sub(" ", text)
        return text


def normalize_chars(text: str, *, corner_quotes: bool = True) -> str:
    """NFC, invisible characters out, full-width ASCII folded, quotes/ellipses/dashes unified."""
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = text.translate(_FULLWIDTH).translate(_QUOTES)
    if corner_quotes:
        text = text.translate(_CORNER_QUOTES)
    text = _ELLIPSIS.sub("…", text)
    return _DASHES.sub("—", text)


def strip_html(text: str) -> str:
    """Remove scripts, comments and tags (block tags become line breaks), then unescape entities.

    Only tags that look like HTML (``<p>``, ``</div class=..>``) are removed, so ``<121>`` page
    markers, ``<EMAIL>``-style tokens written later and ``<국문>``-like brackets survive this step.
    """
    if "<" in text:
        text = _SCRIPT_STYLE.sub(" ", text)
        text = _COMMENT.sub(" ", text)
        text = _BLOCK_TAG.sub("\n", text)
        text = _TAG.sub(" ", text)
    if "&" in text:
        # twice: crawled pages often double-escape (&amp;nbsp;)
        text = html.unescape(html.unescape(text))
        text = _INVISIBLE.sub("", text).replace("\u00a0", " ")
    return text


def normalize_lines(text: str) -> list[str]:
    """Collapse runs of spaces, strip each line; empty strings mark paragraph breaks."""
    return [_SPACES.sub(" ", line).strip() for line in text.split("\n")]


def drop_boilerplate(lines: list[str], patterns: Iterable[re.Pattern]) -> tuple[list[str], int]:
    patterns = list(patterns)
    if not patterns:
        return lines, 0
    kept, removed = [], 0
    for line in lines:
        if line and any(p.search(line) for p in patterns):
            removed += 1
            continue
        kept.append(line)
    return kept, removed


def join_lines(lines: list[str]) -> str:
    """Lines back to text: at most one blank line between paragraphs, none at the ends."""
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def has_broken_chars(text: str) -> bool:
    return _BROKEN.search(text) is not None


def hanja_to_hangul(text: str) -> tuple[str, int]:
    """Hanja read as hangul (`hanja` package, substitution mode); returns (text, hanja converted).

    Only hanja runs are handed to the library, each with the one character before it, which is the
    context its initial-sound rule (두음법칙: 5里 -> 5리 but 里 -> 이) looks at; the output equals
    converting the whole text (checked on the corpus) at a quarter of the cost.
    """
    converted = 0

    def read(match: re.Match) -> str:
        nonlocal converted
        run = match.group()
        converted += sum(1 for c in run if _is_hanja(c))
        return _hanja.translate(run, "substitution")

    return _HANJA_RUN.sub(read, text), converted


def _is_hanja(char: str) -> bool:
    code = ord(char)
    return 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF
