"""Lexicon-based toxicity filter that sees through spelling: counts hits per category in a text.

The lexicon (``toxicity_lexicon.tsv`` beside this file, or a path from params) is a list of regexes
per category (hate, profanity, sexual) plus ``allow`` entries: innocent words and readings that
contain a listed form (홍어 the fish, 자위대/자위권, 야동리, 볍씨, 시발점/시발역, 병신춤 …). Allowed spans are
blanked before matching.

A text is matched twice: as written, and as a *skeleton* that undoes the usual disguises:
  * keyboard-layout spellings: a Latin word typed on the Korean 2-set layout is read as hangul
    (``tlqkf`` -> 시발, ``qudtls`` -> 병신);
  * look-alikes and separators inside a word: digits, Latin l/I, and punctuation between hangul
    letters vanish (``병1신``, ``씨.발``, ``개.새.끼``), as do spaces between single letters or jamo
    (``시 발``, ``ㅅ ㅂ``);
  * stretched vowels: a bare vowel syllable repeating the previous vowel vanishes (``시이이발``).
A hit that only the skeleton finds, or one written with jamo (초성 ``ㅅㅂ``), Latin letters or digits,
is *disguised*: a sign of web abuse rather than a character swearing in dialogue, so the stage can
drop it where it tolerates plain swearing (``toxicity.disguised_max_per_sentence``).

A hate term used as a mention (``조센징이라는 말로 그들은 우리를 불렀다``) is not counted.

What it cannot catch: abuse written without a listed form (irony, coded language, new slang,
insults made of ordinary words), romanisations other than the listed ones, and context beyond
the mention rule (a slur quoted approvingly counts the same as one quoted to condemn it when no
"…이라는 말" follows). Period slurs of the 1920s–30s are mostly not listed. See
reports/preprocess.json for the hits it found.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import SanchaekError

DEFAULT_LEXICON = Path(__file__).with_name("toxicity_lexicon.tsv")
CATEGORIES = ("hate", "profanity", "sexual")
DISGUISED = "disguised"  # the extra key of ``Lexicon.hits``: hits written in a disguise

_JAMO_LATIN_DIGIT = re.compile(r"[ㄱ-ㅣA-Za-z0-9]")
_MENTION = re.compile(r"\s?(?:이)?라(?:는|고)\s?(?:말|단어|표현|욕|멸칭|호칭|부르|불렀|불러|하는|했)")

# --- the skeleton -------------------------------------------------------------------------------
_LETTER = r"[가-힣ㄱ-ㅣ]"
_INNER_NOISE = re.compile(r"(?<=" + _LETTER + r")[.\-_*~,/'`^|·:;+!?0-9lI]{1,3}(?=" + _LETTER + r")")
_SINGLE_LETTERS = re.compile(
    r"(?<!" + _LETTER + r")" + _LETTER + r"(?: " + _LETTER + r"(?!" + _LETTER + r"))+"
)
_LATIN_WORD = re.compile(r"(?<![A-Za-z])[a-zA-Z]{3,12}(?![A-Za-z])")

# Korean 2-set (두벌식) keyboard: the jamo each Latin key types
_KEYS = dict(
    zip(
        "qwertyuiopasdfghjklzxcvbnmQWERTOP",
        "ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔㅁㄴㅇㄹㅎㅗㅓㅏㅣㅋㅌㅊㅍㅠㅜㅡㅃㅉㄸㄲㅆㅒㅖ",
        strict=True,
    )
)
_INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]
_VOWEL_PAIRS = {
    "ㅗㅏ": "ㅘ",
    "ㅗㅐ": "ㅙ",
    "ㅗㅣ": "ㅚ",
    "ㅜㅓ": "ㅝ",
    "ㅜㅔ": "ㅞ",
    "ㅜㅣ": "ㅟ",
    "ㅡㅣ": "ㅢ",
}
_FINAL_PAIRS = {
    "ㄱㅅ": "ㄳ",
    "ㄴㅈ": "ㄵ",
    "ㄴㅎ": "ㄶ",
    "ㄹㄱ": "ㄺ",
    "ㄹㅁ": "ㄻ",
    "ㄹㅂ": "ㄼ",
    "ㄹㅅ": "ㄽ",
    "ㄹㅌ": "ㄾ",
    "ㄹㅍ": "ㄿ",
    "ㄹㅎ": "ㅀ",
    "ㅂㅅ": "ㅄ",
}


def keyboard_to_hangul(word: str) -> str:
    """What ``word`` types on the 2-set Korean layout (``tlqkf`` -> 시발); other letters stay."""
    jamo = [_KEYS.get(c, _KEYS.get(c.lower(), c)) for c in word]
    out, i = [], 0
    while i < len(jamo):
        c = jamo[i]
        if c in _INITIALS and i + 1 < len(jamo) and jamo[i + 1] in _VOWELS:
            vowel, i = jamo[i + 1], i + 2
            if i < len(jamo) and vowel + jamo[i] in _VOWEL_PAIRS:
                vowel, i = _VOWEL_PAIRS[vowel + jamo[i]], i + 1
            final, i = _take_final(jamo, i)
            out.append(
                chr(0xAC00 + (_INITIALS.index(c) * 21 + _VOWELS.index(vowel)) * 28 + _FINALS.index(final))
            )
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _take_final(jamo: list[str], i: int) -> tuple[str, int]:
    def starts_syllable(k: int) -> bool:
        return k + 1 < len(jamo) and jamo[k] in _INITIALS and jamo[k + 1] in _VOWELS

    if i >= len(jamo) or jamo[i] not in _FINALS or starts_syllable(i):
        return "", i
    if i + 1 < len(jamo) and jamo[i] + jamo[i + 1] in _FINAL_PAIRS and not starts_syllable(i + 1):
        return _FINAL_PAIRS[jamo[i] + jamo[i + 1]], i + 2
    return jamo[i], i + 1


_FINALLESS = "".join(chr(0xAC00 + k * 28) for k in range(399))  # syllables without a final consonant
_BARE_VOWELS = "".join(chr(0xAC00 + (11 * 21 + v) * 28) for v in range(21))  # 아 애 … 이 (ㅇ + vowel)
_STRETCH = re.compile("(?<=[" + _FINALLESS + "])[" + _BARE_VOWELS + "]+")


def _squeeze_vowels(text: str) -> str:
    """Drop bare vowel syllables (이, 아 …) that repeat the vowel of a final-less syllable before them."""

    def squeeze(m: re.Match) -> str:
        vowel = (ord(text[m.start() - 1]) - 0xAC00) // 28 % 21
        run = m.group()
        keep = 0
        while keep < len(run) and (ord(run[keep]) - 0xAC00) // 28 % 21 == vowel:
            keep += 1
        return run[keep:]

    return _STRETCH.sub(squeeze, text)


def skeleton(text: str) -> str:
    """The text with keyboard spellings read, look-alikes and inner separators gone (see module doc)."""
    text = _LATIN_WORD.sub(lambda m: keyboard_to_hangul(m.group()), text)
    text = _INNER_NOISE.sub("", text)
    text = _SINGLE_LETTERS.sub(lambda m: m.group().replace(" ", ""), text)
    return _squeeze_vowels(text)


# --- the lexicon ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lexicon:
    patterns: dict[str, re.Pattern]  # one alternation per category
    allow: re.Pattern | None = None  # innocent words blanked before matching

    def hits(self, text: str, *, see_through: bool = True) -> Counter:
        """Hits per category, plus ``disguised``: how many of them were written in a disguise.
        ``see_through=False`` matches the text as written only (cheaper, for whole documents)."""
        if self.allow is not None:
            text = self.allow.sub(lambda m: "□" * len(m.group()), text)
        marks: Counter = Counter()
        plain = self._count(text, marks)
        disguised = marks["n"]
        squeezed = skeleton(text) if see_through else text
        found = Counter(plain)
        if squeezed != text:
            deep = self._count(squeezed, Counter())
            for category, n in deep.items():
                extra = n - plain.get(category, 0)
                if extra > 0:
                    found[category] += extra
                    disguised += extra
        if disguised:
            found[DISGUISED] = disguised
        return found

    def _count(self, text: str, disguised: Counter) -> Counter:
        found: Counter = Counter()
        for category, rx in self.patterns.items():
            for m in rx.finditer(text):
                if category == "hate" and _MENTION.match(text, m.end()):
                    continue
                found[category] += 1
                if _JAMO_LATIN_DIGIT.search(m.group()):
                    disguised["n"] += 1
        return found


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    path = Path(path) if path else DEFAULT_LEXICON
    if not path.exists():
        raise SanchaekError(
            f"toxicity lexicon {path} not found: fix preprocess.toxicity.lexicon or set it to null"
        )
    by_category: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        category, sep, pattern = line.partition("\t")
        category = category.strip()
        if not sep or category not in (*CATEGORIES, "allow") or not pattern.strip():
            raise SanchaekError(
                f"{path}:{lineno}: expected '<category>\\t<regex>' with category in "
                f"{', '.join(CATEGORIES)} or allow: fix that line"
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SanchaekError(f"{path}:{lineno}: bad regex ({exc}): fix that line") from None
        by_category.setdefault(category, []).append(pattern)
    allow = by_category.pop("allow", None)
    return Lexicon(
        {c: re.compile("|".join(f"(?:{p})" for p in ps)) for c, ps in by_category.items()},
        re.compile("|".join(f"(?:{p})" for p in allow)) if allow else None,
    )
