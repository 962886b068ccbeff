"""Typed params: ``params.yaml`` parsed into pydantic models.

This package is the only place defaults live. ``load_params`` fails before any work with one
line naming the dotted key, the bad value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import SanchaekError
from . import sections
from .base import Section
from .sections import (
    AlignParams,
    AppParams,
    ComposeParams,
    CrawlParams,
    EmbedParams,
    EvaluateParams,
    GenerateParams,
    IndexParams,
    ModelParams,
    PreprocessParams,
    QueryParams,
    RatingsParams,
    SweepParams,
    TrainParams,
)

__all__ = [
    "Params",
    "Section",
    "load_params",
    "params_from_dict",
    "format_validation_error",
    *sections.__all__,
]


class Params(Section):
    crawl: CrawlParams = CrawlParams()
    preprocess: PreprocessParams = PreprocessParams()
    index: IndexParams = IndexParams()
    query: QueryParams = QueryParams()
    embed: EmbedParams = EmbedParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    align: AlignParams = AlignParams()
    generate: GenerateParams = GenerateParams()
    compose: ComposeParams = ComposeParams()
    ratings: RatingsParams = RatingsParams()
    app: AppParams = AppParams()
    sweep: SweepParams = SweepParams()


def _describe_allowed(err: dict[str, Any], model: type[Section], loc: tuple) -> str:
    """What the user may write instead, from the error context or the model's fields."""
    if err["type"] == "extra_forbidden":
        parent: Any = model
        for part in loc[:-1]:
            fields = getattr(parent, "model_fields", {})
            if part in fields:
                parent = fields[part].annotation
            else:
                parent = None
                break
        if parent is not None and hasattr(parent, "model_fields"):
            return "known keys: " + ", ".join(parent.model_fields)
        return "remove it"
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"allowed: {ctx['expected']}"
    return err["msg"][0].lower() + err["msg"][1:]


def format_validation_error(exc: ValidationError, source: str, model: type[Section] = Params) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = tuple(p for p in err["loc"] if not isinstance(p, int) or True)
    dotted = ".".join(str(p) for p in loc) or "(root)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{dotted}'; {_describe_allowed(err, model, loc)}{more}"
    if err["type"] == "missing":
        return f"{source}: '{dotted}' is required{more}"
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{source}: {dotted} = {shown} is invalid: {_describe_allowed(err, model, loc)}{more}"


def params_from_dict(data: Any, source: str = "params") -> Params:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SanchaekError(f"{source}: top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise SanchaekError(format_validation_error(exc, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise SanchaekError(f"{path} not found: run from the project root or pass --params PATH")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise SanchaekError(f"{path}{where}: {problem}: fix the YAML syntax") from None
    except UnicodeDecodeError:
        raise SanchaekError(f"{path} is not UTF-8: save it as UTF-8") from None
    return params_from_dict(data, str(path))
