"""Strict base model shared by every params section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A params section: unknown keys are errors, values are validated, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
