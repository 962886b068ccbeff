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
from dataclasses import dataclass

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

# Same-length view of the text for matching: every dash is "-", full-width digits/@ are ASCII.
_VIEW = str.maketrans(
    {**{c: "-" for c in "‐‑‒–—―−﹣－"}, **{chr(0xFF10 + i): str(i) for i in range(10)}, "＠": "@", "．": "."}
)

# --- numbers ------------------------------------------------------------------------------------
# A run of up to 12 digit groups. Separators: a dash or a dot with optional spaces, a closing bracket,
# or 1–2 spaces. The run may start with +82 (and an optional "(0)") or an opening bracket.
_SEP = r"(?:[ ]{0,2}[-.)][ ]{0,2}|[ ]{1,2})"
_NUMBER_RUN = re.compile(
    r"(?<![0-9A-Za-z_@/.\-+])"
    r"(?P<intl>\+82[ -]?(?:\(0\)[ ]?)?)?"
    r"(?P<open>\()?"
    r"(?P<body>\d{1,19}(?:" + _SEP + r"\d{1,19}){0,11})"
    r"(?![0-9A-Za-z_])"
)
_GROUP = re.compile(r"\d+")

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

# --- context for numbers that have no shape of their own ----------------------------------------
_ACCOUNT_WORDS = re.compile(
    r"계좌|입금|송금|이체|통장|은행|뱅크|농협|신협|수협|새마을금고|우체국|국민|신한|우리|하나|기업|부산|대구|경남|광주|전북|제주|SC제일|씨티|토스|카카오"
)
_RRN_WORDS = re.compile(r"주민|등록번호")
_ISBN_WORD = re.compile(r"ISBN\s?(?:-?1[03])?\s?:?\s?$", re.I)

# (group lengths) of Korean bank account numbers, with the first group's prefix where one shape is
# shared with other numbers (Toss 1000-, Kakao 3333-, Woori 1002-, MG 9…)
_BANK_SHAPES: dict[tuple[int, ...], tuple[str, ...]] = {
    (6, 2, 6): (),  # KB국민, 우체국, 농협(구)
    (3, 2, 4, 3): (),  # KB국민(구)
    (3, 3, 6): (),  # 신한, 케이뱅크
    (3, 2, 6): (),  # 신한(구), SC제일
    (4, 3, 6): ("1002", "1005", "1006", "1007"),  # 우리
    (3, 6, 5): (),  # 하나
    (3, 4, 4, 2): (),  # 농협, 부산
    (3, 6, 2, 3): (),  # IBK기업
    (4, 2, 7): ("3333", "3355", "3388", "7979", "7777"),  # 카카오뱅크
    (4, 4, 4): ("1000", "1001", "1002"),  # 토스뱅크
    (4, 4, 4, 1): ("9",),  # 새마을금고
    (3, 2, 5): (),  # 씨티
    (4, 2, 6): (),  # 씨티, 수협
}


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


# ------------------------------------------------------------------------------------------------
# validators


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def rrn_check_ok(digits: str) -> bool:
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    total = sum(int(d) * w for d, w in zip(digits[:12], weights, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def rrn_date_ok(digits: str) -> bool:
    """YYMMDD and the gender/century digit (1–4 citizens, 5–8 foreigners; 9/0 born in the 1800s)."""
    century = {
        "1": 1900,
        "2": 1900,
        "5": 1900,
        "6": 1900,
        "3": 2000,
        "4": 2000,
        "7": 2000,
        "8": 2000,
        "9": 1800,
        "0": 1800,
    }[digits[6]]
    year, month, day = century + int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return day <= days


def ean13_ok(digits: str) -> bool:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def card_network_ok(digits: str) -> bool:
    """Issuer prefixes of the networks used in Korea (Visa, Mastercard, Amex, JCB, Diners,
    Discover, UnionPay, BC/domestic 9…), with the lengths each issues."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    if digits[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(digits[:4]) <= 2720:
        return n == 16
    if digits[:2] in ("34", "37"):
        return n == 15
    if digits[:2] == "35":
        return 16 <= n <= 19
    if digits[:2] in ("30", "36", "38", "39"):
        return 14 <= n <= 19
    if digits[:2] in ("60", "62", "64", "65", "81"):
        return 16 <= n <= 19
    return digits[0] == "9" and n == 16


def _year_range(groups: list[str]) -> bool:
    if len(groups) != 2 or len(groups[0]) != 4 or len(groups[1]) != 4:
        return False
    a, b = int(groups[0]), int(groups[1])
    return 1000 <= a < b <= 2099 and b - a <= 150


@dataclass(frozen=True)
class _Run:
    groups: list[str]
    seps: list[str]  # separators between groups ("-", ".", ")", " ")
    intl: bool  # written with +82
    before: str  # the sentence before the run (for context words)


def classify_number(run: _Run) -> str | None:
    """The PII kind of a run of digit groups, or None (a date, a year range, a price, an ISBN…)."""
    groups, digits = run.groups, "".join(run.groups)
    lengths = tuple(len(g) for g in groups)
    seps = set(run.seps)
    if run.intl:
        return "phone" if _phone_national("0" + digits, lengths, intl=True) else None
    if _ISBN_WORD.search(run.before) or (
        len(digits) == 13 and digits[:3] in ("978", "979") and ean13_ok(digits)
    ):
        return None
    if lengths in ((6, 7), (13,)) and rrn_date_ok(digits):
        solid = lengths == (13,)
        if not solid or rrn_check_ok(digits):
            if not (
                solid and digits.startswith("880") and ean13_ok(digits) and not _RRN_WORDS.search(run.before)
            ):
                return "rrn"
    if 13 <= len(digits) <= 19 and min(lengths) >= 3 and len(groups) <= 5 and "." not in seps:
        if luhn_ok(digits) and card_network_ok(digits) and not _timestamp(digits):
            return "card"
    if digits[0] == "0" and _phone_national(digits, lengths, intl=False):
        return "phone"
    if _service_number(groups):
        return "phone"
    if 10 <= len(digits) <= 14 and "." not in seps and _account_shape(groups, run.before):
        return "account"
    return None


def _phone_national(digits: str, lengths: tuple[int, ...], *, intl: bool) -> bool:
    """0 + area/mobile prefix + 3–4 digits + 4 digits, in groups or solid."""
    m = re.fullmatch(r"0(1[016789]|2|[3-6][1-5]|70|80|50[2-8]|60)(\d{3,4})(\d{4})", digits)
    if not m:
        return False
    area = len(m.group(1)) + (0 if intl else 1)
    if len(lengths) == 1:
        return True
    if len(lengths) == 3:
        return lengths[0] == area and lengths[1] in (3, 4) and lengths[2] == 4
    if len(lengths) == 2:  # area written apart from a solid number, or middle and last together
        return lengths[0] == area or lengths == (area + len(m.group(2)), 4)
    return False


def _service_number(groups: list[str]) -> bool:
    """Nationwide service numbers 15xx/16xx/18xx-xxxx (a 1592-1598 year range is not one)."""
    return (
        len(groups) == 2
        and len(groups[0]) == 4
        and len(groups[1]) == 4
        and groups[0][:2] in ("15", "16", "18")
        and not _year_range(groups)
    )


def _account_shape(groups: list[str], before: str) -> bool:
    lengths = tuple(len(g) for g in groups)
    if lengths in _BANK_SHAPES:
        prefixes = _BANK_SHAPES[lengths]
        if not prefixes or groups[0].startswith(prefixes):
            return not _date_like(groups)
    # any 3–4 groups or a solid run, when the sentence says it is an account
    context = _ACCOUNT_WORDS.search(before[-30:])
    return bool(context) and (len(groups) in (1, 3, 4)) and not _date_like(groups)


def _date_like(groups: list[str]) -> bool:
    return (
        len(groups[0]) == 4
        and groups[0][:2] in ("18", "19", "20")
        and len(groups) >= 2
        and int(groups[1]) <= 12
    )


def _timestamp(digits: str) -> bool:
    return len(digits) == 14 and digits[:2] in ("19", "20") and 1 <= int(digits[4:6]) <= 12


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
        # cheap gate: every kind needs a digit, an @, a dot or one of the obfuscation words
        self._gate = re.compile(r"[0-9０-９@＠.]|골뱅이|아이디|ID|씨|님|선배|기자|\(at\)|\[at\]|dot", re.I)

    def scrub(self, text: str) -> tuple[str, Counter]:
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
            yield "number", _find_numbers
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


def _find_numbers(view: str) -> list[tuple[int, int, str]]:
    return number_spans(view)


def number_spans(view: str) -> list[tuple[int, int, str]]:
    """Classified numbers in ``view``: the longest run of groups that is PII, runs split at spaces."""
    out = []
    for m in _NUMBER_RUN.finditer(view):
        body_start = m.start("body")
        groups = [(g.start() + body_start, g.end() + body_start) for g in _GROUP.finditer(m.group("body"))]
        out.extend(_classify_groups(view, m, groups))
    return out


def _classify_groups(view: str, m: re.Match, groups: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Try the whole run, then sub-runs that begin and end at a space (two numbers side by side)."""
    found, i = [], 0
    while i < len(groups):
        hit = _longest_pii(view, m, groups, i)
        if hit is None:
            i += 1
            continue
        start, end, kind, i = hit
        found.append((start, end, kind))
    return found


def _longest_pii(
    view: str, m: re.Match, groups: list[tuple[int, int]], i: int
) -> tuple[int, int, str, int] | None:
    """The longest run of groups i..j-1 (at most 5) that classifies as PII: (start, end, kind, j)."""
    for j in range(min(len(groups), i + 5), i, -1):
        digits = sum(e - s for s, e in groups[i:j])
        if digits < 8:  # every kind has 8 to 19 digits
            return None
        if digits > 19:
            continue
        if (i > 0 and not _space_between(view, groups[i - 1], groups[i])) or (
            j < len(groups) and not _space_between(view, groups[j - 1], groups[j])
        ):
            continue
        first = i == 0
        run = _Run(
            groups=[view[s:e] for s, e in groups[i:j]],
            seps=[view[groups[k][1] : groups[k + 1][0]].strip() or " " for k in range(i, j - 1)],
            intl=first and bool(m.group("intl")),
            before=view[max(0, groups[i][0] - 40) : groups[i][0]],
        )
        kind = classify_number(run)
        if kind:
            return (m.start() if first else groups[i][0]), groups[j - 1][1], kind, j
    return None


def _space_between(view: str, a: tuple[int, int], b: tuple[int, int]) -> bool:
    return view[a[1] : b[0]].strip() == ""
