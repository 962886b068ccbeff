"""``crawl`` params (draft: the crawl stage owns and extends this)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section

SourceName = Literal["corpus", "munjang", "brunch", "mirror"]


class CorpusSourceParams(Section):
    path: str = "../shared/data/corpus/works.jsonl"


class CrawlParams(Section):
    sources: list[SourceName] = Field(default_factory=lambda: ["corpus"], min_length=1)
    corpus: CorpusSourceParams = CorpusSourceParams()
