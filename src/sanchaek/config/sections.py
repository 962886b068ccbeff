"""Every params section, one module each (owned by the stage that reads it)."""

from .align import AlignParams
from .app import AppParams
from .crawl import CrawlParams
from .evaluate import EvaluateParams
from .generate import ComposeParams, GenerateParams
from .model import ModelParams, SweepParams, TrainParams
from .preprocess import PreprocessParams
from .ratings import RatingsParams
from .search import EmbedParams, IndexParams, QueryParams

__all__ = [
    "AlignParams",
    "AppParams",
    "ComposeParams",
    "CrawlParams",
    "EmbedParams",
    "EvaluateParams",
    "GenerateParams",
    "IndexParams",
    "ModelParams",
    "PreprocessParams",
    "QueryParams",
    "RatingsParams",
    "SweepParams",
    "TrainParams",
]
