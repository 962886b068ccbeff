"""Noise and quality filters. Each check returns a drop reason (a short snake_case string) or None.

Sentence checks run on every sentence after PII handling; document checks run once on the
normalized document. Reasons are the keys of ``reports/preprocess.json`` drop counts.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_HANGUL = re.compile(r"[가-힣\u1100-\u11ff\u3130-\u318f]")
_HANJA = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
_DIGIT = re.compile(r"\d")
# a number with its separators (1,250,000 / 2023. 11. 29 / 14:30 / 1902-1934) counts as one digit in
# the digit and symbol ratios: a date, a time or a price does not make a sentence a number run
_NUMBER = re.compile(r"\d(?:[\d,:/~\-]|[.\s]\s?(?=\d))*")
_PII_TAG = re.compile(r"<(?:EMAIL|URL|PHONE|RRN|CARD|ACCOUNT|HANDLE)>")
# bullets, numbered items, table rows and bare number runs: lines that are not prose
_LIST_LINE = re.compile(
    r"^(?:[-*•·▶▷►◆◇■□○●※☞→]\s|\d{1,3}[.)]\s|[①-⑳]|\(?\d{1,3}\)\s)"  # bullets / numbered items
    r"|\|.*\||\t"  # table rows
    r"|^[\d\s.,:/%()+\-]+$"  # number runs
)


@dataclass(frozen=True)
class QualityRules:
    min_sentence_chars: int
    max_sentence_chars: int
    min_hangul_ratio: float
    max_char_repeat: int
    max_digit_ratio: float
    max_symbol_ratio: float
    count_hanja_as_korean: bool
    drop_broken_chars: bool


class SentenceFilter:
    def __init__(self, rules: QualityRules):
        self.rules = rules
        self._repeat = re.compile(r"(.)\1{" + str(rules.max_char_repeat) + ",}")
        self._broken = re.compile(r"[\ufffd\ue000-\uf8ff]")

    def reason(self, sentence: str) -> str | None:
        r = self.rules
        n = len(sentence)
        if n < r.min_sentence_chars:
            return "too_short"
        if n > r.max_sentence_chars:
            return "too_long"
        if r.drop_broken_chars and self._broken.search(sentence):
            return "broken_chars"
        if self._repeat.search(sentence):
            return "repeated_chars"
        body = _PII_TAG.sub("", sentence)
        letters = len(_LETTER.findall(body))
        korean = len(_HANGUL.findall(body)) + (len(_HANJA.findall(body)) if r.count_hanja_as_korean else 0)
        if letters == 0 or korean / letters < r.min_hangul_ratio:
            return "low_hangul"
        body = _NUMBER.sub("0", body)
        visible = len(body) - len(re.findall(r"\s", body))
        digits = len(_DIGIT.findall(body))
        if visible and digits / visible > r.max_digit_ratio:
            return "number_run"
        symbols = visible - letters - digits - _punct_count(body)
        if visible and symbols / visible > r.max_symbol_ratio:
            return "symbols"
        return None


def _punct_count(text: str) -> int:
    return sum(1 for c in text if c in ".,!?…'\"()[]{}<>~:;·-—")


def repeated_line_share(lines: list[str]) -> float:
    """Share of non-empty lines that repeat an earlier line (boilerplate, copy-paste, spam)."""
    lines = [ln for ln in lines if ln]
    if len(lines) < 4:  # a short poem's refrain is not spam
        return 0.0
    counts = Counter(lines)
    repeats = sum(c - 1 for c in counts.values())
    return repeats / len(lines)


def list_line_share(lines: list[str]) -> float:
    """Share of non-empty lines that look like list items, table rows or number runs."""
    lines = [ln for ln in lines if ln]
    if not lines:
        return 0.0
    return sum(1 for ln in lines if _LIST_LINE.search(ln)) / len(lines)
