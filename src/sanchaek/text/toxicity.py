"""Lexicon-based toxicity filter: counts hits per category in a sentence.

The lexicon (``toxicity_lexicon.tsv`` beside this file, or a path from params) is a list of
regexes per category. What it cannot catch: hate or harassment written without a listed word
(irony, coded language, new slang, spaced-out or jamo-split spellings beyond the few listed),
context (a slur quoted in order to condemn it counts the same as the slur), and period
vocabulary (1920s–30s terms for groups that are offensive today are mostly not listed). It also
over-counts swearing that literature uses on purpose, which is why profanity has a per-sentence
threshold instead of zero tolerance. See reports/preprocess.json for the hits it found.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import SanchaekError

DEFAULT_LEXICON = Path(__file__).with_name("toxicity_lexicon.tsv")
CATEGORIES = ("hate", "profanity", "sexual")


@dataclass(frozen=True)
class Lexicon:
    patterns: dict[str, re.Pattern]  # one alternation per category

    def hits(self, text: str) -> Counter:
        found: Counter = Counter()
        for category, rx in self.patterns.items():
            n = sum(1 for _ in rx.finditer(text))
            if n:
                found[category] = n
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
        if not sep or category not in CATEGORIES or not pattern.strip():
            raise SanchaekError(
                f"{path}:{lineno}: expected '<category>\\t<regex>' with category in {', '.join(CATEGORIES)}: fix that line"
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SanchaekError(f"{path}:{lineno}: bad regex ({exc}): fix that line") from None
        by_category.setdefault(category, []).append(pattern)
    return Lexicon({c: re.compile("|".join(f"(?:{p})" for p in ps)) for c, ps in by_category.items()})
