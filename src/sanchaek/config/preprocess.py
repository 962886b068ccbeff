"""``preprocess`` params: every knob of the KLUE-style cleaning stage, with its default.

Grouped like the stage runs: normalize -> hanja/modernity -> split -> pii -> toxicity -> quality
-> dedup -> passages. ``sanchaek preprocess`` reads them through ``load_params``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

# Lines dropped whole as site furniture / transcription boilerplate (regexes, matched per line with
# re.search after NFC and whitespace normalization). Kept short and literal on purpose: a pattern
# here removes a line everywhere.
DEFAULT_BOILERPLATE = [
    r"^(?:ⓒ|©|\(c\)|copyright\b)",
    r"무단\s*(?:전재|복제|배포)",
    r"(?i)all rights reserved",
    r"^(?:구독|공유|좋아요|댓글|신고|목록|이전글|다음글|글쓰기|답글)(?:\s*\d+)?$",
    r"^(?:작가의\s*이전\s*글|작가의\s*다음\s*글|브런치\s*작가|키워드|매거진)",
    r"^\[?(?:광고|AD|sponsored)\]?$",
]


class NormalizeParams(Section):
    html: bool = True  # unescape entities, strip tags/scripts/comments
    page_markers: bool = True  # drop transcription page numbers like <121>
    corner_quotes: Literal["ascii", "keep"] = "ascii"  # 『』 -> "…", 「」 -> '…' (modern dialogue style)
    boilerplate: list[str] = Field(default_factory=lambda: list(DEFAULT_BOILERPLATE))
    broken_chars: Literal["drop_sentence", "keep"] = "drop_sentence"  # U+FFFD and private-use old hangul

    @field_validator("boilerplate")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"boilerplate regex {pattern!r} does not compile: {exc}") from None
        return patterns


class SplitParams(Section):
    # hybrid: punctuation + quotes first, Kiwi on pieces >= kiwi_min_chars (best F1 on both gold
    # sets at about half Kiwi's cost, see bench/preprocess.py); kiwi: Kiwi everywhere; regex: no Kiwi
    splitter: Literal["hybrid", "kiwi", "regex"] = "hybrid"
    kiwi_min_chars: int = Field(120, ge=1)
    quote_aware: bool = True  # never split inside a quotation; split before an opening quote
    max_quote_chars: int = Field(500, ge=10)  # longer "quotations" are unbalanced marks: ignored
    workers: int = Field(0, ge=0, le=256)  # Kiwi threads; 0 = all cores
    batch_chars: int = Field(2_000_000, ge=10_000)  # text handed to Kiwi per batch call


PiiKind = Literal[
    "email",
    "url",
    "phone",
    "rrn",
    "card",
    "account",
    "handle",
    "address",
    "ip",
    "passport",
    "licence",
    "person",
]


class PiiParams(Section):
    action: Literal["replace", "drop"] = "replace"  # replace with <EMAIL>… or drop the sentence
    # on by default: contact and payment details; optional: address (도로명/지번/동·호), ip, passport,
    # licence (driver's), person (a name with an honorific: for essays, not for fiction's characters)
    kinds: list[PiiKind] = Field(
        default_factory=lambda: ["email", "url", "phone", "rrn", "card", "account", "handle"]
    )


class ToxicityParams(Section):
    lexicon: str | None = None  # TSV path; null = the lexicon shipped in sanchaek/text/
    hate_max_per_sentence: int = Field(0, ge=0)  # identity slurs tolerated in a sentence
    profanity_max_per_sentence: int = Field(2, ge=0)  # literary dialogue swears; spam piles them up
    sexual_max_per_sentence: int = Field(0, ge=0)
    # hits written in a disguise (ㅅㅂ, 시 발, 병1신, tlqkf): web abuse, not a character swearing
    disguised_max_per_sentence: int = Field(0, ge=0)
    doc_max_per_1k_chars: float = Field(3.0, ge=0)  # whole document dropped above this hit density
    doc_min_hits: int = Field(3, ge=1)  # ... and at least this many hits (one hit never drops a short one)


class QualityParams(Section):
    min_sentence_chars: int = Field(2, ge=1)
    max_sentence_chars: int = Field(1000, ge=10)  # longer = run-on transcription / missing punctuation
    min_hangul_ratio: float = Field(0.5, ge=0, le=1)  # hangul (+hanja if kept) among letters
    max_char_repeat: int = Field(10, ge=2)  # a run of one char longer than this is noise
    max_digit_ratio: float = Field(0.3, ge=0, le=1)
    max_symbol_ratio: float = Field(0.3, ge=0, le=1)
    min_doc_chars: int = Field(20, ge=0)
    max_dup_line_share: float = Field(0.5, ge=0, le=1)  # share of repeated lines in a document
    max_list_line_share: float = Field(0.5, ge=0, le=1)  # share of bullet/table/number-run lines


class StyleParams(Section):
    hanja: Literal["hangul", "keep"] = "hangul"  # hanja -> hangul reading with the `hanja` package
    modernity_threshold: float = Field(0.01, ge=0, le=1)  # period-spelling share above = not modern
    modernity_action: Literal["tag", "drop"] = "tag"  # tag: keep and mark modern=false; drop: remove


class DedupParams(Section):
    exact: bool = True
    near: bool = True
    near_threshold: float = Field(0.8, gt=0, le=1)  # estimated Jaccard of char shingles
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_chars: int = Field(5, ge=2, le=20)
    seed: int = 1


class PreprocessParams(Section):
    on_bad_line: Literal["raise", "skip"] = "raise"  # broken JSON, invalid UTF-8, empty text, dup id
    # where the per-document steps run: local = worker processes here; dask = a Dask cluster
    # (the `scale` extra). Dedup stays global in the calling process: same output either way.
    executor: Literal["local", "dask"] = "local"
    workers: int = Field(0, ge=0, le=1024)  # processes (local, or a local Dask cluster); 0 = all cores
    batch_chars: int = Field(500_000, ge=1_000)  # raw characters per batch handed to a worker
    dask_scheduler: str | None = None  # dask: address of a running scheduler; null = a local cluster
    passage_chars: int = Field(600, ge=50, le=20000)  # passages: whole sentences up to this length
    passage_min_chars: int = Field(10, ge=0)  # shorter passages are dropped (counted)
    normalize: NormalizeParams = NormalizeParams()
    split: SplitParams = SplitParams()
    pii: PiiParams = PiiParams()
    toxicity: ToxicityParams = ToxicityParams()
    quality: QualityParams = QualityParams()
    style: StyleParams = StyleParams()
    dedup: DedupParams = DedupParams()

    @model_validator(mode="after")
    def _passage_bounds(self) -> PreprocessParams:
        if self.passage_min_chars >= self.passage_chars:
            raise ValueError("passage_min_chars must be smaller than passage_chars")
        return self
