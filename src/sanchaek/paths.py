"""Where each stage reads and writes, relative to the project root (the DVC repo).

The file contracts between stages live here once; ../shared/DESIGN.md describes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path = Path(".")

    # crawl
    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    def raw_file(self, source: str) -> Path:
        return self.raw_dir / f"{source}.jsonl"

    # preprocess
    @property
    def interim_dir(self) -> Path:
        return self.root / "data" / "interim"

    @property
    def documents(self) -> Path:
        return self.interim_dir / "documents.jsonl"

    @property
    def passages(self) -> Path:
        return self.interim_dir / "passages.jsonl"

    # index
    @property
    def index_dir(self) -> Path:
        return self.root / "data" / "index"

    # query
    @property
    def processed_dir(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def hits(self) -> Path:
        return self.processed_dir / "hits.jsonl"

    @property
    def train_split(self) -> Path:
        return self.processed_dir / "train.jsonl"

    @property
    def val_split(self) -> Path:
        return self.processed_dir / "val.jsonl"

    @property
    def preferences(self) -> Path:
        return self.processed_dir / "preferences.jsonl"

    # train
    @property
    def model_dir(self) -> Path:
        return self.root / "models" / "lm"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "models" / "checkpoints"

    # align
    @property
    def aligned_dir(self) -> Path:
        return self.root / "models" / "aligned"

    @property
    def align_checkpoints_dir(self) -> Path:
        return self.root / "models" / "align_checkpoints"

    @property
    def cache_dir(self) -> Path:
        return self.root / "data" / "cache"

    # reports
    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def report(self, name: str) -> Path:
        return self.reports_dir / name
