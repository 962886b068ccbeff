"""Highlight fragments from match offsets: the embedded backend's fast path.

Lucene stores each term's character offsets in the postings (``index_options: offsets``), so the
matched spans of a hit are read from the index and the fragment is cut here, without re-analysing
the text. Elasticsearch's unified highlighter uses the same offsets; fragment boundaries may differ.
"""

from __future__ import annotations


def utf16_to_str_offsets(text: str) -> list[int] | None:
    """Map Java (UTF-16) offsets to Python string indices; ``None`` when they are the same."""
    if not text or max(text) <= "\uffff":
        return None
    mapping = []
    for i, c in enumerate(text):
        mapping.append(i)
        if ord(c) > 0xFFFF:
            mapping.append(i)  # the low surrogate belongs to the same character
    mapping.append(len(text))
    return mapping


def str_index(mapping: list[int] | None, utf16_offset: int) -> int:
    """The Python string index of a Java (UTF-16) offset, through ``utf16_to_str_offsets``' mapping."""
    return utf16_offset if mapping is None else mapping[utf16_offset]


def best_windows(spans: list[tuple[int, int]], size: int, n: int, length: int) -> list[tuple[int, int]]:
    """Up to ``n`` non-overlapping windows of ``size`` chars holding the most matched spans."""
    spans = sorted(set(spans))
    windows: list[tuple[int, int]] = []
    used: set[int] = set()
    for _ in range(n):
        best, best_count = None, 0
        for i, (start, _end) in enumerate(spans):
            if i in used:
                continue
            lo = max(0, min(start - size // 4, length - size))  # a little context before the match
            hi = min(length, lo + size)
            count = sum(1 for j, (s, e) in enumerate(spans) if j not in used and s >= lo and e <= hi)
            if count > best_count:
                best, best_count = (lo, hi), count
        if best is None:
            break
        windows.append(best)
        used |= {j for j, (s, e) in enumerate(spans) if s >= best[0] and e <= best[1]}
    return sorted(windows)


def highlight(
    text: str, spans: list[tuple[int, int]], size: int, n: int, pre: str = "<em>", post: str = "</em>"
) -> str:
    """The best ``n`` fragments of ``text`` (about ``size`` chars) with matched spans wrapped in tags.

    Without spans, the start of the text (Elasticsearch's ``no_match_size``).
    """
    if not spans:
        return text[:size]
    fragments = []
    for lo, hi in best_windows(spans, size, n, len(text)):
        out, cursor = [], lo
        for s, e in sorted(set(spans)):
            if s < cursor or e > hi:
                continue
            out += [text[cursor:s], pre, text[s:e], post]
            cursor = e
        out.append(text[cursor:hi])
        fragments.append("".join(out))
    return " … ".join(fragments)
