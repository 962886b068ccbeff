"""RE-train / RE-dev: the official pair when present, else a sentence-grouped, stratified split.

KLUE-RE has several examples per sentence (different entity pairs). A split by example puts the same
sentence on both sides, and a model that has memorised a sentence's wording scores well on its other
pairs for the wrong reason; so a held-out RE-dev is cut by sentence (scikit-learn's
``StratifiedGroupKFold``: one fold of ``round(1 / re_dev_fraction)`` is RE-dev, the class shares kept
as close as the grouping allows). A class left with fewer than 2 RE-dev examples is named in a
warning: its per-class score is noise and the micro-F1 barely sees it.
"""

from __future__ import annotations

import logging
import random
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SanchaekError
from .data import (
    OFFICIAL_DEV,
    OFFICIAL_TRAIN,
    PARTIAL_LABELED,
    ReExample,
    file_info,
    find_official_files,
    load_hf,
    load_re_file,
    load_relations,
    resolve_path,
)

if TYPE_CHECKING:
    from ..config import EvaluateParams

log = logging.getLogger(__name__)

MIN_DEV_PER_CLASS = 2


@dataclass
class ReSplit:
    """RE-train and RE-dev examples plus where they came from (written into the eval reports)."""

    train: list[ReExample]
    dev: list[ReExample]
    relations: list[str]
    source: str  # official | partial | files | hf
    split: str  # how RE-dev was obtained, in words
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """RE-dev is cut from the labelled partial subset, not the official dev: not comparable with KLUE."""
        return self.source in ("partial", "files") and "given dev" not in self.split

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "split": self.split,
            "partial_split": self.partial,
            "files": self.files,
            "n_train": len(self.train),
            "n_dev": len(self.dev),
            "n_dev_sentences": len({sentence_key(ex) for ex in self.dev}),
            "dev_label_counts": dict(sorted(Counter(str(ex.label) for ex in self.dev).items())),
            "warnings": self.warnings,
        }


def sentence_key(example: ReExample) -> str:
    """The group of an example: its sentence with runs of whitespace folded (the same text, re-spaced)."""
    return " ".join(example.sentence.split())


def grouped_split(
    examples: Sequence[ReExample], dev_fraction: float, seed: int
) -> tuple[list[ReExample], list[ReExample]]:
    """Hold out about ``dev_fraction`` of the examples, whole sentences at a time, stratified by label.

    No sentence is on both sides. Deterministic for the seed; both sides keep the input order.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    folds = max(2, round(1 / dev_fraction))
    labels = [str(ex.label) for ex in examples]
    groups = [sentence_key(ex) for ex in examples]
    if len(set(groups)) < folds:
        raise SanchaekError(
            f"KLUE-RE: {len(set(groups))} distinct sentences cannot be split into {folds} sentence groups: "
            "add examples or raise evaluate.re_dev_fraction"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only k members": reported per class below, after the cut.
        warnings.filterwarnings("ignore", message="The least populated class")
        _, dev_ids = next(splitter.split(examples, labels, groups))
    held = set(dev_ids.tolist())
    train = [ex for i, ex in enumerate(examples) if i not in held]
    dev = [ex for i, ex in enumerate(examples) if i in held]
    return train, dev


def stratified_sample(examples: Sequence[ReExample], n: int | None, seed: int) -> list[ReExample]:
    """At most ``n`` examples with the label shares of the input and, where ``n`` allows, every label.

    Largest-remainder allocation after one example per label; deterministic; input order kept.
    """
    if n is None or n >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    by_label = _ids_by_label(examples)
    labels = sorted(by_label)
    for label in labels:
        rng.shuffle(by_label[label])
    quota = {label: 1 if n >= len(labels) else 0 for label in labels}
    left = n - sum(quota.values())
    avail = {label: len(by_label[label]) - quota[label] for label in labels}
    total = sum(avail.values())
    exact = {label: left * avail[label] / total if total else 0.0 for label in labels}
    for label in labels:
        quota[label] += int(exact[label])
    short = n - sum(quota.values())
    by_remainder = sorted(labels, key=lambda lab: (-(exact[lab] - int(exact[lab])), lab))
    for label in by_remainder[:short]:
        quota[label] += 1
    chosen = {i for label in labels for i in by_label[label][: quota[label]]}
    return [ex for i, ex in enumerate(examples) if i in chosen]


def _ids_by_label(examples: Sequence[ReExample]) -> dict[str, list[int]]:
    by_label: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_label.setdefault(str(ex.label), []).append(i)
    return by_label


def thin_dev_classes(train: Sequence[ReExample], dev: Sequence[ReExample], where: str) -> list[str]:
    """One warning line naming the classes of RE-train that RE-dev holds fewer than 2 examples of."""
    dev_counts = Counter(ex.label for ex in dev)
    thin = sorted(
        {str(ex.label) for ex in train if dev_counts[ex.label] < MIN_DEV_PER_CLASS},
        key=lambda label: (dev_counts[label], label),
    )
    if not thin:
        return []
    named = ", ".join(f"{label} ({dev_counts[label]})" for label in thin)
    return [
        f"KLUE-RE dev ({where}) holds fewer than {MIN_DEV_PER_CLASS} examples of {len(thin)} class(es): "
        f"{named}; their per-class scores are noise (raise evaluate.re_max_dev_examples or use the official dev)"
    ]


def load_re_split(params: EvaluateParams) -> ReSplit:
    """RE-train / RE-dev as ``params.re_source`` says, capped by ``re_max_{train,dev}_examples``."""
    klue_dir = Path(params.klue_re_dir).expanduser()
    if not klue_dir.is_dir():
        raise SanchaekError(
            f"KLUE-RE folder {klue_dir} not found: set evaluate.klue_re_dir (default ../shared/data/klue-re)"
        )
    relations = load_relations(klue_dir)
    source = params.re_source
    official = find_official_files(klue_dir)
    if source == "auto":
        source = "official" if official else "partial"
    files: dict[str, dict[str, Any]] = {}
    dev_origin = "official dev"
    if source == "official":
        if official is None:
            raise SanchaekError(
                f"official {OFFICIAL_TRAIN} / {OFFICIAL_DEV} not in {klue_dir} (see its PROVENANCE.md): "
                "add them or use evaluate.re_source: partial"
            )
        train, dev = (load_re_file(p, relations) for p in official)
        files = {"train": file_info(official[0]), "dev": file_info(official[1])}
        split = "official train / official dev"
        dev_origin = str(official[1])
    elif source == "hf":
        train, dev = load_hf(params.re_hf_dataset, relations)
        files = {
            "train": {"path": f"hf:{params.re_hf_dataset}/re train"},
            "dev": {"path": f"hf:{params.re_hf_dataset}/re validation"},
        }
        split = "official train / official dev (datasets)"
        dev_origin = files["dev"]["path"]
    else:
        train_path = (
            klue_dir / PARTIAL_LABELED
            if source == "partial"
            else resolve_path(klue_dir, str(params.re_train_file))
        )
        labelled = load_re_file(train_path, relations)
        files = {"train": file_info(train_path)}
        if source == "files" and params.re_dev_file:
            dev_path = resolve_path(klue_dir, params.re_dev_file)
            train, dev = labelled, load_re_file(dev_path, relations)
            files["dev"] = file_info(dev_path)
            split = "given train / given dev"
            dev_origin = str(dev_path)
        else:
            train, dev = grouped_split(labelled, params.re_dev_fraction, params.re_split_seed)
            split = (
                f"sentence-grouped stratified {params.re_dev_fraction:g} of {train_path.name}, "
                f"seed {params.re_split_seed}"
            )
            dev_origin = f"held out of {train_path}"
    n_train, n_dev = len(train), len(dev)
    train = stratified_sample(train, params.re_max_train_examples, params.re_split_seed)
    dev = stratified_sample(dev, params.re_max_dev_examples, params.re_split_seed + 1)
    if len(train) < n_train or len(dev) < n_dev:
        split += f"; stratified caps {len(train)}/{n_train} train, {len(dev)}/{n_dev} dev"
    notes = thin_dev_classes(train, dev, dev_origin)
    for note in notes:
        log.warning(note)
    return ReSplit(
        train=train, dev=dev, relations=relations, source=source, split=split, files=files, warnings=notes
    )
