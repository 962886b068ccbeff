"""Numbers in PII: a run of digit groups found once and classified by its group lengths and digits
(see ``pii.py``). Validators: the resident number's birth date and check digit, Luhn and the card
networks' prefixes, bank account group shapes, service numbers; and what is *not* PII (year ranges,
dates, ISBNs, EAN barcodes, timestamps).

``number_spans`` runs on the scrubber's same-length view of a sentence (every dash is "-").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
