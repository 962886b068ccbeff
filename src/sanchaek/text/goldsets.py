"""Readers and scores for the hand-labelled filter sets in ``tests/data/`` (PII, toxicity, sentence
boundaries), shared by the tests and ``bench/preprocess.py`` so both score the same way.

Formats (each file starts with ``#`` comment lines):
  * PII: ``split<TAB>kind<TAB>sentence`` with the PII string marked ``⟦…⟧``; clean look-alikes and
    toxicity sets: ``split<TAB>label<TAB>sentence``. ``split`` is ``dev`` (tuned against) or
    ``holdout`` (kept aside as a check on the tuned code).
  * boundaries: paragraphs separated by a blank line, one gold sentence per line; a line starting
    with ``~ `` may or may not start a new sentence (an optional boundary scores neither way).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

OPEN, CLOSE = "⟦", "⟧"


@dataclass(frozen=True)
class LabelledLine:
    split: str
    label: str
    text: str


@dataclass(frozen=True)
class PiiCase:
    split: str
    kind: str
    text: str  # the sentence without the marks
    start: int  # the PII string is text[start:end]
    end: int


def read_labelled(path: Path) -> list[LabelledLine]:
    out = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in ("dev", "holdout"):
            raise ValueError(f"{path}:{lineno}: expected 'dev|holdout<TAB>label<TAB>text'")
        out.append(LabelledLine(*parts))
    return out


def read_pii_cases(path: Path) -> list[PiiCase]:
    cases = []
    for row in read_labelled(path):
        start = row.text.index(OPEN)
        end = row.text.index(CLOSE) - 1
        text = row.text.replace(OPEN, "").replace(CLOSE, "")
        cases.append(PiiCase(row.split, row.label, text, start, end))
    return cases


def pii_recall(scrub: Callable[[str], str], cases: Iterable[PiiCase], tags: dict[str, str]) -> dict:
    """Per kind: strings, caught, recall and the misses. Caught means the sentence comes back as
    ``before + TAG + after`` exactly: the whole string tagged with its kind, nothing else touched."""
    by_kind: dict[str, dict] = defaultdict(lambda: {"n": 0, "caught": 0, "misses": []})
    for case in cases:
        want = case.text[: case.start] + tags[case.kind] + case.text[case.end :]
        got = scrub(case.text)
        row = by_kind[case.kind]
        row["n"] += 1
        if got == want:
            row["caught"] += 1
        else:
            row["misses"].append(got)
    return {k: {**v, "recall": round(v["caught"] / v["n"], 4)} for k, v in sorted(by_kind.items())}


def clean_altered(scrub: Callable[[str], str], rows: Iterable[LabelledLine]) -> list[tuple[str, str]]:
    """(original, scrubbed) for every clean sentence the scrubber changed."""
    return [(r.text, out) for r in rows if (out := scrub(r.text)) != r.text]


# ------------------------------------------------------------------------------------------------
# sentence boundaries


@dataclass(frozen=True)
class GoldParagraph:
    sentences: tuple[str, ...]
    optional: tuple[bool, ...]  # optional[i]: the boundary before sentences[i] is optional (i >= 1)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def read_boundary_gold(path: Path) -> list[GoldParagraph]:
    paragraphs = []
    for block in re.split(r"\n\s*\n", Path(path).read_text(encoding="utf-8")):
        lines = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
        if not lines:
            continue
        optional = tuple(i > 0 and ln.startswith("~ ") for i, ln in enumerate(lines))
        sentences = tuple(ln[2:] if ln.startswith("~ ") else ln for ln in lines)
        paragraphs.append(GoldParagraph(sentences, optional))
    return paragraphs


def _offsets(sentences: Iterable[str]) -> list[int]:
    """Boundary positions counted in non-space characters (spacing differences do not matter)."""
    out, pos = [], 0
    for s in sentences:
        pos += len(re.sub(r"\s+", "", s))
        out.append(pos)
    return out[:-1]


def boundary_scores(gold: list[GoldParagraph], predicted: list[list[str]]) -> dict:
    """Boundary precision / recall / F1 with optional boundaries neither rewarded nor punished."""
    tp = fp = fn = 0
    counts: Counter = Counter()
    for g, p in zip(gold, predicted, strict=True):
        cuts = _offsets(g.sentences)
        required = {c for c, opt in zip(cuts, g.optional[1:], strict=True) if not opt}
        optional = set(cuts) - required
        pred = set(_offsets(p))
        tp += len(pred & required)
        fp += len(pred - required - optional)
        fn += len(required - pred)
        counts["paragraphs"] += 1
        counts["exact"] += required <= pred <= required | optional
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "paragraphs": counts["paragraphs"],
        "boundary_precision": round(precision, 4),
        "boundary_recall": round(recall, 4),
        "boundary_f1": round(f1, 4),
        "paragraphs_exact": round(counts["exact"] / counts["paragraphs"], 4),
    }
