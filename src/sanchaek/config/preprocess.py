"""``preprocess`` params (draft: the preprocess stage owns and extends this)."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class PreprocessParams(Section):
    passage_chars: int = Field(600, ge=50, le=20000)
