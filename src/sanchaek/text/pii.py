"""PII removal in the manner of KLUE: e-mail, URLs, phone numbers, resident registration numbers,
card and account numbers, @handles. Each match is replaced by a tag or the sentence is dropped.

Tags are ASCII in angle brackets (``<EMAIL>``, ``<PHONE>`` …): language-neutral, never a Korean
word a tokenizer could confuse with prose, and easy to filter later. Patterns are precise rather
than greedy (a year range 1926-1930 or a date 1935.06.01 is not an account number): a number is
only called a card when it passes the Luhn check, a resident number only when its date is valid.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

TAGS = {
    "email": "<EMAIL>",
    "url": "<URL>",
    "phone": "<PHONE>",
    "rrn": "<RRN>",
    "card": "<CARD>",
    "account": "<ACCOUNT>",
    "handle": "<HANDLE>",
}

_D = r"(?<![\w.-])"  # a number starts at a boundary: not glued to letters, digits, dots or dashes
_E = r"(?![\w-]|\.\d)"

PATTERNS: dict[str, re.Pattern] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "url": re.compile(
        r"(?:https?://|ftp://|www\.)[^\s<>\"'가-힣]+"
        r"|\b[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.(?:com|net|org|kr|io|me|co|info|biz)(?:/[^\s<>\"'가-힣]*)?\b"
    ),
    # resident registration number: YYMMDD-[1-8]XXXXXX (a hyphen or 13 digits in a row)
    "rrn": re.compile(_D + r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?-?\s?[1-8]\d{6}" + _E),
    # 16-digit cards in groups of 4 (space or dash) or 13–19 digits in a row; Luhn-checked below
    "card": re.compile(_D + r"(?:\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}|\d{4}-\d{6}-\d{5}|\d{13,19})" + _E),
    # Korean mobile / area-code / nationwide numbers, optional +82
    "phone": re.compile(
        _D
        + r"(?:(?:\+82[ -]?|0)(?:1[016789]|2|[3-6][1-5]|70)[ .)-]?\d{3,4}[ .-]?\d{4}|1[5-9]\d{2}-\d{4})"
        + _E
    ),
    # bank accounts: 3–4 dash-separated digit groups, 10–14 digits in all (checked below)
    "account": re.compile(_D + r"\d{2,6}-\d{2,6}-\d{2,6}(?:-\d{1,6})?" + _E),
    "handle": re.compile(r"(?<![\w@.])@[A-Za-z0-9_][A-Za-z0-9_.]{1,29}(?<!\.)"),
}

# Checked in this order: a card number must not be read as a phone number first, etc.
ORDER = ("email", "url", "rrn", "card", "phone", "account", "handle")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _valid(kind: str, text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if kind == "card":
        return 13 <= len(digits) <= 19 and luhn_ok(digits)
    if kind == "account":
        return 10 <= len(digits) <= 14 and not _looks_like_date(text)
    return True


def _looks_like_date(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 3 and len(parts[0]) == 4 and parts[0][:2] in ("18", "19", "20")


class PiiScrubber:
    """Finds the enabled kinds of PII; ``scrub`` replaces them with tags, ``find`` only counts."""

    def __init__(self, kinds: Iterable[str] = ORDER):
        wanted = set(kinds)
        unknown = wanted - set(PATTERNS)
        if unknown:
            raise ValueError(f"unknown PII kinds: {sorted(unknown)}")
        self.kinds = [k for k in ORDER if k in wanted]
        # cheap gate: every pattern needs a digit, an @ or a dot followed by letters
        self._gate = re.compile(r"[0-9@]|www\.|\.[a-z]{2}")

    def scrub(self, text: str) -> tuple[str, Counter]:
        found: Counter = Counter()
        if not self._gate.search(text):
            return text, found
        for kind in self.kinds:
            text = PATTERNS[kind].sub(lambda m, k=kind: self._replace(m, k, found), text)
        return text, found

    def find(self, text: str) -> Counter:
        return self.scrub(text)[1]

    @staticmethod
    def _replace(match: re.Match, kind: str, found: Counter) -> str:
        if not _valid(kind, match.group()):
            return match.group()
        found[kind] += 1
        return TAGS[kind]
