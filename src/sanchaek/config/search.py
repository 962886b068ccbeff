"""``index`` and ``query`` params (draft: the search stages own and extend this)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section


class IndexParams(Section):
    backend: Literal["embedded", "elasticsearch"] = "embedded"
    elasticsearch_url: str | None = None


class QueryParams(Section):
    themes: list[str] = Field(default_factory=lambda: ["죽음", "담대하다"], min_length=1)
