"""``ratings`` params (draft: the app/ratings work owns and extends this)."""

from __future__ import annotations

from .base import Section


class RatingsParams(Section):
    db_path: str = "data/ratings.sqlite"
