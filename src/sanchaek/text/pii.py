"""PII removal in the manner of KLUE: each match is replaced by a tag (``<PHONE>`` …) or the sentence
is dropped.

Tags are ASCII in angle brackets: language-neutral, never a Korean word a tokenizer could confuse
with prose, and easy to filter later.

How it holds up on Korean text (tests/data/pii/, a hand-written set with a held-out part):
  * a number ends where a digit or a Latin letter does not follow, so a particle glued to it
    (``010-2847-3961로``, ``851130-2746510이고요``) is a boundary, not part of the number;
  * every number is found once as a run of digit groups (separated by a dash of any kind, a dot,
    a bracket or spaces) and classified by its group lengths and digits: resident numbers need a
    real birth date and, written without a separator, their check digit; cards need the Luhn
    check and a card-network prefix; accounts need a bank's group shape (or the word 계좌 and
    friends nearby); phones need a Korean area/mobile/service prefix. Year ranges
    (``1592-1598``), dates, times, prices, ISBNs, EAN barcodes (``880…``) and timestamps match
    none of these and stay as written;
  * e-mail and URL hosts must end in a top-level domain of the ICANN section of the Public Suffix
    List (the ``publicsuffixlist`` package's copy); a bare name (no scheme, no ``www.``) needs a
    path or one of the TLDs people write bare, so ``main.py`` and ``Mr.Kim`` are not URLs;
    obfuscations (``(at)``, ``[at]``, ``골뱅이``, ``[dot]``, ``(dot)``, ``hxxp``, ``[.]``) count;
  * optional kinds, off by default: ``address`` (도로명, 지번, 동·호), ``ip`` (v4/v6),
    ``passport``, ``licence`` (driver's licence) and ``person`` (a Korean name followed by an
    honorific: for essays; characters in fiction are not PII).

Linear time: every repetition is bounded and no two repeated parts can match the same text, so a
match attempt costs a bounded number of steps wherever it starts (tests feed 100k-character tokens).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections import Counter
from collections.abc import Iterable

from .pii_numbers import luhn_ok, number_spans

__all__ = ["DEFAULT_KINDS", "OPTIONAL_KINDS", "ORDER", "TAGS", "PiiScrubber", "luhn_ok"]

TAGS = {
    "email": "<EMAIL>",
    "url": "<URL>",
    "phone": "<PHONE>",
    "rrn": "<RRN>",
    "card": "<CARD>",
    "account": "<ACCOUNT>",
    "handle": "<HANDLE>",
    "address": "<ADDRESS>",
    "ip": "<IP>",
    "passport": "<PASSPORT>",
    "licence": "<LICENCE>",
    "person": "<PERSON>",
}
DEFAULT_KINDS = ("email", "url", "phone", "rrn", "card", "account", "handle")
OPTIONAL_KINDS = ("address", "ip", "passport", "licence", "person")
ORDER = DEFAULT_KINDS + OPTIONAL_KINDS
_MAX_SCRUB_PASSES = 32  # each pass replaces at least one match by a tag, which no pattern matches

# Same-length view of the text for matching: every dash is "-", full-width digits/@ are ASCII.
_VIEW = str.maketrans(
    {**{c: "-" for c in "‐‑‒–—―−﹣－"}, **{chr(0xFF10 + i): str(i) for i in range(10)}, "＠": "@", "．": "."}
)

# --- e-mail and URLs ----------------------------------------------------------------------------
_LABEL = r"[A-Za-z0-9가-힣](?:[A-Za-z0-9가-힣-]{0,61}[A-Za-z0-9가-힣])?"
_DOT = r"(?:\.|\s?[\[(](?:\.|dot|DOT|점)[\])]\s?|\s(?:dot|DOT|점)\s)"
_TLD = r"(?P<tld>[A-Za-z]{2,24}|한국)(?![A-Za-z0-9-])"
_HOST = r"(?:" + _LABEL + _DOT + r"){1,8}" + _TLD
# where a host or an address may start: a Latin label after a non-Latin character (주소는naver.com),
# a hangul one after a non-hangul character, so a long run of letters is tried once, not per letter
_LABEL_START = r"(?:(?<![A-Za-z0-9.@_/%+-])(?=[A-Za-z0-9])|(?<![가-힣A-Za-z0-9.@_/%+-])(?=[가-힣]))"
_AT = r"(?:@|\s?[\[(]\s?(?:at|AT|골뱅이)\s?[\])]\s?|\s골뱅이\s)"
_EMAIL = re.compile(_LABEL_START + r"[A-Za-z0-9가-힣][A-Za-z0-9가-힣._%+-]{0,63}" + _AT + _HOST)
# a path: /segments of URL characters; a segment in hangul only when another "/" follows it, so a
# particle after the URL (…/news를) is not taken into it
_PATH = r"(?:/(?:[가-힣]{1,60}(?=/)|[^\s<>\"'가-힣/]{0,400})){0,32}"
_PORT = r"(?::\d{1,5})?"
_URLS = (  # with a scheme, with www., bare (each checked apart: the TLD group has one name)
    re.compile(
        r"(?P<scheme>(?i:https?|hxxps?|ftp)://)(?:"
        + _HOST
        + r"|(?P<ip>\d{1,3}(?:\.\d{1,3}){3}))"
        + _PORT
        + _PATH
    ),
    re.compile(r"(?<![A-Za-z0-9.@_-])(?P<www>(?i:www)" + _DOT + r")" + _HOST + _PORT + _PATH),
    re.compile(_LABEL_START + _HOST + _PORT + r"(?P<path>" + _PATH + r")"),
)
# TLDs people write without a scheme or a path (a bare ``name.py`` or ``Mr.Kim`` is not a URL)
_BARE_TLDS = frozenset(
    "com net org kr 한국 io me co info biz shop xyz site online store blog app dev tv ly gl to kim".split()
) - {"kim"}

# --- handles --------------------------------------------------------------------------------------
_HANDLE = re.compile(
    r"(?<![\w@.])@(?=[A-Za-z0-9_.]{0,29}[A-Za-z])[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?"
)
_MESSENGER_ID = re.compile(
    r"(?:카카오톡|카톡|라인|LINE|텔레그램|인스타그램|인스타|트위터|디스코드)\s?"
    r"(?:(?:ID|id|아이디)(?:는|은)?\s?[:：]?\s?|[:：]\s?)"
    r"(?P<pii>[A-Za-z][A-Za-z0-9_.]{2,29}(?<!\.))(?![A-Za-z0-9_])"
)

# --- optional kinds -------------------------------------------------------------------------------
_PROVINCE = (
    r"(?:서울특별시|서울시|서울|부산광역시|부산|대구광역시|대구|인천광역시|인천|광주광역시|광주|대전광역시|대전|"
    r"울산광역시|울산|세종특별자치시|세종|경기도|경기|강원특별자치도|강원도|강원|충청북도|충북|충청남도|충남|"
    r"전북특별자치도|전라북도|전북|전라남도|전남|경상북도|경북|경상남도|경남|제주특별자치도|제주도|제주)"
)
_DISTRICT = r"(?:[가-힣]{1,5}(?:시|군|구)\s){1,3}"
_ADDRESS = re.compile(
    r"(?<![가-힣])(?:"
    + _PROVINCE
    + r"\s)?"
    + _DISTRICT
    + r"[가-힣0-9]{1,10}(?:로|길)\s?\d{1,4}(?:-\d{1,4})?(?![0-9])"
    r"|(?<![가-힣])"
    + _PROVINCE
    + r"\s(?:"
    + _DISTRICT
    + r")?[가-힣0-9]{1,6}(?:동|리|가)\s\d{1,5}(?:-\d{1,5})?(?![0-9])"
    r"|(?<![0-9])\d{1,4}동\s?\d{1,4}호"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![0-9A-Za-z_]|\.\d)")
_IPV6 = re.compile(r"(?<![0-9A-Za-z_:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z_:])")
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])[MSRGD](?:\d{8}|\d{3}[A-Z]\d{4})(?![A-Za-z0-9])")
_LICENCE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산)\s?\d{2}|\d{2}-\d{2})"
    r"-\d{6}-\d{2}(?![0-9A-Za-z])"
)
_SURNAMES = (
    "남궁|황보|제갈|선우|독고|사공|서문|동방|"
    "김|이|박|최|정|강|조|윤|장|임|한|오|서|신|권|황|안|송|류|유|전|홍|고|문|양|손|배|백|허|남|심|노|하|곽|성|"
    "차|주|우|구|민|진|지|엄|채|원|천|방|공|현|함|변|염|여|추|도|소|석|선|설|마|길|연|위|표|명|기|반|왕|금|옥|육|"
    "인|맹|제|모|탁|국|은|편|용|예|경|봉|사|부|태|목|형|피|감|음|빈|온|범|좌|팽|승|간|상|갈"
)
_HONORIFIC = r"(?:선생님|교수님|박사님|원장님|사장님|약사님|작가님|기자|선배|씨|님)"
_PERSON = re.compile(
    r"(?<![가-힣])(?=[가-힣])(?:(?:"
    + _SURNAMES
    + r")[가-힣]{1,2}\s"
    + _HONORIFIC
    + r"|(?:"
    + _SURNAMES
    + r")[가-힣]{2}"
    + _HONORIFIC
    + r")"
)
# words that look like a surname + name + 씨/님 but are not names
_NOT_NAMES = frozenset(
    "마음씨 솜씨 말씨 글씨 날씨 불씨 꽃씨 홀씨 볍씨 맵씨 아저씨 아가씨 아주머님 하느님 부처님".split()
)


def _icann_tlds() -> frozenset[str]:
    import publicsuffixlist

    path = os.path.join(os.path.dirname(publicsuffixlist.__file__), "public_suffix_list.dat")
    with open(path, encoding="utf-8") as fh:
        data = fh.read()
    icann = data.split("===BEGIN ICANN DOMAINS===", 1)[1].split("===END ICANN DOMAINS===", 1)[0]
    return frozenset(
        line.strip()
        for line in icann.splitlines()
        if line.strip() and not line.startswith("//") and "." not in line
    )


ICANN_TLDS = _icann_tlds()


def _tld_ok(tld: str, *, bare: bool, has_path: bool) -> bool:
    tld = tld.lower()
    if tld not in ICANN_TLDS:
        return False
    return not bare or has_path or tld in _BARE_TLDS


# ------------------------------------------------------------------------------------------------
# the scrubber


class PiiScrubber:
    """Finds the enabled kinds of PII; ``scrub`` replaces them with tags, ``find`` only counts."""

    def __init__(self, kinds: Iterable[str] = DEFAULT_KINDS):
        wanted = set(kinds)
        unknown = wanted - set(TAGS)
        if unknown:
            raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
        self.kinds = frozenset(wanted)
        # cheap gate: what the enabled kinds need (a digit, an @, a dot before a letter, an
        # obfuscation or messenger word; an honorific for names), so most prose skips the finders
        gate = r"[0-9０-９@＠]|\.[A-Za-z]|\.한국|[\[(](?:\.|dot|at|점|골뱅이)[\])]|\s(?:dot|점|골뱅이)\s|아이디|ID"
        if "person" in wanted:
            gate += "|" + _HONORIFIC
        if "ip" in wanted:  # an IPv6 address may hold no digit at all (dead:beef::cafe)
            gate += "|:"
        self._gate = re.compile(gate, re.I)

    def scrub(self, text: str) -> tuple[str, Counter]:
        found: Counter = Counter()
        for _ in range(_MAX_SCRUB_PASSES):
            # a tag can free a match its neighbour hid (김철수 선생님김철수 선생님: the second name is
            # glued to hangul until the first becomes <PERSON>): scrub again until nothing is left
            text, more = self._scrub_once(text)
            if not more:
                break
            found += more
        return text, found

    def _scrub_once(self, text: str) -> tuple[str, Counter]:
        found: Counter = Counter()
        if not self._gate.search(text):
            return text, found
        spans = self.spans(text)
        if not spans:
            return text, found
        out, last = [], 0
        for start, end, kind in spans:
            out.append(text[last:start])
            out.append(TAGS[kind])
            found[kind] += 1
            last = end
        out.append(text[last:])
        return "".join(out), found

    def find(self, text: str) -> Counter:
        return self.scrub(text)[1]

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, kind) in text order; earlier finders win overlaps."""
        view = text.translate(_VIEW)
        taken: list[tuple[int, int, str]] = []
        for kind, finder in self._finders():
            for start, end, *found in finder(view):
                kind_here = found[0] if found else kind
                if kind_here not in self.kinds:
                    continue
                if not any(start < e and s < end for s, e, _ in taken):
                    taken.append((start, end, kind_here))
        return sorted(taken)

    def _finders(self):
        k = self.kinds
        if "email" in k:
            yield "email", _find_emails
        if "url" in k:
            yield "url", _find_urls
        if "address" in k:
            yield "address", _regex_finder(_ADDRESS)
        if "licence" in k:
            yield "licence", _regex_finder(_LICENCE)
        if "passport" in k:
            yield "passport", _regex_finder(_PASSPORT)
        if "ip" in k:
            yield "ip", _find_ips
        if "person" in k:
            yield "person", _find_persons
        if k & {"rrn", "card", "phone", "account"}:
            yield "number", number_spans
        if "handle" in k:
            yield "handle", _regex_finder(_HANDLE)
            yield "handle", _find_messenger_ids


def _regex_finder(rx: re.Pattern):
    def find(view: str) -> Iterable[tuple[int, int]]:
        return (m.span() for m in rx.finditer(view))

    return find


def _find_emails(view: str) -> Iterable[tuple[int, int]]:
    if "@" not in view and not re.search(r"골뱅이|at[\])]", view, re.I):
        return
    for m in _EMAIL.finditer(view):
        if _tld_ok(m.group("tld"), bare=False, has_path=False):
            yield m.span()


def _find_urls(view: str) -> Iterable[tuple[int, int]]:
    for rx in _URLS:
        for m in rx.finditer(view):
            groups = m.groupdict()
            bare = not (groups.get("scheme") or groups.get("www"))
            has_path = len(groups.get("path") or "") > 1
            if groups.get("ip") or _tld_ok(m.group("tld"), bare=bare, has_path=has_path):
                start, end = m.span()
                while end > start and view[end - 1] in ".,!?)":  # sentence punctuation after a URL
                    end -= 1
                yield start, end


def _find_ips(view: str) -> Iterable[tuple[int, int]]:
    yield from (m.span() for m in _IPV4.finditer(view))
    for m in _IPV6.finditer(view):
        try:
            ipaddress.IPv6Address(m.group())
        except ValueError:
            continue
        yield m.span()


def _find_persons(view: str) -> Iterable[tuple[int, int]]:
    for m in _PERSON.finditer(view):
        if m.group().replace(" ", "") not in _NOT_NAMES:
            yield m.span()


def _find_messenger_ids(view: str) -> Iterable[tuple[int, int]]:
    return (m.span("pii") for m in _MESSENGER_ID.finditer(view))
