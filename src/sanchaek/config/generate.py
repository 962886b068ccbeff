"""``generate`` and ``compose`` params (draft: those stages own and extend this)."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class GenerateParams(Section):
    seed: int = 1234
    temperature: float = Field(0.9, gt=0, le=5)


class ComposeParams(Section):
    seed: int = 1234
