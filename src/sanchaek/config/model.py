"""``model``, ``train`` and ``sweep`` params (draft: the train stage owns and extends this)."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class ModelParams(Section):
    name_or_path: str = "scratch:tiny"
    vocab_size: int = Field(8000, ge=256, le=262144)


class TrainParams(Section):
    seed: int = 1234
    lr: float = Field(1e-3, gt=0, le=1)


class SweepParams(Section):
    grid: dict[str, list] = Field(default_factory=dict)
