"""``evaluate`` params (draft: the evaluate stage owns and extends this)."""

from __future__ import annotations

from .base import Section


class EvaluateParams(Section):
    klue_re_dir: str = "../shared/data/klue-re"
