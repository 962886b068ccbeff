"""Response bytes -> text: BOM, header charset, <meta charset>/<?xml encoding>, then detection.

Old Korean pages label themselves EUC-KR (decoded as CP949, its superset) or lie about UTF-8.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

# Korean legacy labels all mean Windows code page 949, a superset of EUC-KR.
_CP949_ALIASES = {
    "euc-kr",
    "euckr",
    "euc_kr",
    "ks_c_5601-1987",
    "ksc5601",
    "x-windows-949",
    "windows-949",
    "cp949",
    "uhc",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.-]+)["']""", re.I)


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _CP949_ALIASES:
        return "cp949"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _try(content: bytes, codec: str | None) -> str | None:
    if not codec:
        return None
    try:
        return content.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_body(content: bytes, content_type: str) -> tuple[str, str]:
    """Decode by BOM, then the header charset, then <meta charset>/<?xml encoding>, then detection.

    A label whose strict decode fails is skipped (a page that says UTF-8 but holds CP949 bytes is common
    on old Korean sites). EUC-KR labels decode as CP949, its superset.
    """
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", errors="replace"), "utf-16"
    labels: list[str] = []
    match = re.search(r"charset\s*=\s*([^;\s]+)", content_type, re.I)
    if match:
        labels.append(match.group(1))
    head = content[:4096]
    for pattern in (_META_CHARSET, _XML_ENCODING):
        found = pattern.search(head)
        if found:
            labels.append(found.group(1).decode("ascii", "ignore"))
    for label in labels:
        codec = _codec(label)
        text = _try(content, codec)
        if text is not None:
            return text, codec or label
    text = _try(content, "utf-8")
    if text is not None:
        return text, "utf-8"
    best = charset_normalizer.from_bytes(content).best()
    codec = _codec(best.encoding) if best is not None else None
    if codec and codec in ("euc_kr", "johab", "iso2022_kr"):
        codec = "cp949"
    codec = codec or "cp949"
    return content.decode(codec, errors="replace"), codec
