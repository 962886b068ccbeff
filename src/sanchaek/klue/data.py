"""KLUE-RE files: the official JSON schema (also what ``datasets.load_dataset("klue", "re")`` yields),
validated into ``ReExample``s, with the provenance of every file a report scores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SanchaekError
from ..io import read_json

NO_RELATION = "no_relation"
RELATION_LIST_FILE = "relation_list.json"
PARTIAL_LABELED = "partial/train_subset_6494_labeled.json"
PARTIAL_UNLABELED = "partial/dev_7765_unlabeled.json"
OFFICIAL_TRAIN = "klue-re-v1.1_train.json"
OFFICIAL_DEV = "klue-re-v1.1_dev.json"
# git blob ids of the official files in KLUE-benchmark/KLUE @ 3efd987 (see the data folder's PROVENANCE.md)
OFFICIAL_GIT_BLOBS = {
    OFFICIAL_TRAIN: "83b1fd41b1ea65dc29cd5bcfe1721bcdb25bd4d6",
    OFFICIAL_DEV: "f3e013f47e0a5a5d234410f8cdaa1eb8d89ccce3",
}
UNLABELED_FIX = (
    "KLUE-RE dev labels are hidden in the partial copy (see PROVENANCE.md); "
    "use evaluate.re_source: partial (a sentence-grouped split of the labelled subset) or the official files"
)


@dataclass(frozen=True)
class Entity:
    word: str
    start: int  # character offset of the first character
    end: int  # character offset of the last character (inclusive, as in KLUE)
    type: str  # PER, ORG, LOC, DAT, POH, NOH


@dataclass(frozen=True)
class ReExample:
    guid: str
    sentence: str
    subject: Entity
    object: Entity
    label: str | None  # a relation name from relation_list.json; None where the label is hidden
    source: str = ""


def load_relations(klue_re_dir: str | Path) -> list[str]:
    """The 30 relation names in official order (index = class id, no_relation first)."""
    path = Path(klue_re_dir) / RELATION_LIST_FILE
    data = read_json(
        path, what="KLUE-RE relation list", fix="set evaluate.klue_re_dir to the folder holding it"
    )
    relations = data.get("relations") if isinstance(data, dict) else data
    if (
        not isinstance(relations, list)
        or not all(isinstance(r, str) for r in relations)
        or len(set(relations)) != len(relations)
        or NO_RELATION not in relations
    ):
        raise SanchaekError(
            f"{path}: expected {{'relations': [unique names incl. '{NO_RELATION}']}}: restore the official file"
        )
    return relations


def _parse_entity(raw: Any, sentence: str, where: str, role: str) -> Entity:
    if not isinstance(raw, dict):
        raise SanchaekError(
            f"{where}: {role} is not an object with word/start_idx/end_idx/type: fix the file"
        )
    try:
        word, start, end, kind = raw["word"], raw["start_idx"], raw["end_idx"], raw["type"]
    except KeyError as exc:
        raise SanchaekError(
            f"{where}: {role} lacks key {exc}: the file does not follow the KLUE-RE schema"
        ) from None
    if not (
        isinstance(start, int) and isinstance(end, int) and isinstance(word, str) and isinstance(kind, str)
    ):
        raise SanchaekError(
            f"{where}: {role} has wrong value types (start_idx/end_idx int, word/type str): fix the file"
        )
    # end_idx is inclusive in KLUE-RE; a span that does not spell the word means shifted offsets.
    if sentence[start : end + 1] != word or not word:
        raise SanchaekError(
            f"{where}: {role} span [{start}, {end}] reads {sentence[start : end + 1]!r}, not {word!r}: "
            "fix start_idx/end_idx (end_idx is inclusive)"
        )
    return Entity(word=word, start=start, end=end, type=kind)


def parse_examples(
    rows: Iterable[dict[str, Any]],
    *,
    origin: str,
    relations: Sequence[str],
    label_names: Sequence[str] | None = None,
    require_labels: bool = True,
) -> list[ReExample]:
    """Validate rows of the official KLUE-RE schema into ``ReExample``s.

    ``label`` may be the relation string (official JSON) or an int index into ``label_names``
    (``datasets``' ClassLabel, which is relation_list order); null means hidden.
    """
    names = list(label_names or relations)
    known = set(relations)
    examples = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SanchaekError(
                f"{origin}: item {i} is not an object: the file does not follow the KLUE-RE schema"
            )
        guid = str(row.get("guid", f"#{i}"))
        where = f"{origin}: {guid}"
        sentence = row.get("sentence")
        if not isinstance(sentence, str) or not sentence:
            raise SanchaekError(f"{where}: missing or empty 'sentence': fix the file")
        subject = _parse_entity(row.get("subject_entity"), sentence, where, "subject_entity")
        obj = _parse_entity(row.get("object_entity"), sentence, where, "object_entity")
        if not (subject.end < obj.start or obj.end < subject.start):
            raise SanchaekError(
                f"{where}: subject and object spans overlap: markers cannot be inserted; fix or drop the row"
            )
        label = row.get("label")
        if isinstance(label, int) and not isinstance(label, bool):
            if not 0 <= label < len(names):
                raise SanchaekError(
                    f"{where}: label index {label} is outside 0..{len(names) - 1}: fix the file"
                )
            label = names[label]
        if label is None:
            if require_labels:
                raise SanchaekError(
                    f"{origin} has no labels (label null, e.g. {guid}): it cannot be scored; {UNLABELED_FIX}"
                )
        elif label not in known:
            raise SanchaekError(
                f"{where}: label {label!r} is not in relation_list.json: fix the label or the relation list"
            )
        examples.append(ReExample(guid, sentence, subject, obj, label, str(row.get("source") or "")))
    if not examples:
        raise SanchaekError(f"{origin} holds no examples: point evaluate.re_* at a KLUE-RE JSON list")
    return examples


def load_re_file(
    path: str | Path, relations: Sequence[str], *, require_labels: bool = True
) -> list[ReExample]:
    """Read one official-schema KLUE-RE JSON file (a list of examples)."""
    path = Path(path)
    rows = read_json(path, what="KLUE-RE file", fix="check evaluate.klue_re_dir and evaluate.re_* file names")
    if not isinstance(rows, list):
        raise SanchaekError(
            f"{path}: expected a JSON list of KLUE-RE examples, got {type(rows).__name__}: use the official schema"
        )
    return parse_examples(rows, origin=str(path), relations=relations, require_labels=require_labels)


def file_info(path: Path) -> dict[str, Any]:
    """sha256 and git blob id, so a report says exactly which file it scored (and whether it is official)."""
    data = path.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    info: dict[str, Any] = {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "git_blob": blob}
    if path.name in OFFICIAL_GIT_BLOBS:
        info["official_verified"] = blob == OFFICIAL_GIT_BLOBS[path.name]
    return info


def find_official_files(klue_re_dir: Path) -> tuple[Path, Path] | None:
    """The official train/dev pair in the folder itself or in its ``klue-re-v1.1/`` subfolder."""
    for folder in (klue_re_dir, klue_re_dir / "klue-re-v1.1"):
        train, dev = folder / OFFICIAL_TRAIN, folder / OFFICIAL_DEV
        if train.is_file() and dev.is_file():
            return train, dev
    return None


def resolve_path(klue_re_dir: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else klue_re_dir / path


def load_hf(dataset: str, relations: list[str]) -> tuple[list[ReExample], list[ReExample]]:
    """``datasets.load_dataset(dataset, "re")``: labels are ints in relation_list order."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise SanchaekError(
            "evaluate.re_source: hf needs the `datasets` package (pip install datasets) and network once; or use re_source: auto"
        ) from None
    try:
        ds = datasets.load_dataset(dataset, "re")
    except Exception as exc:  # any hub/network/cache failure: one line with the cause
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SanchaekError(
            f"cannot load {dataset}/re with datasets ({first}): check the network and HF_DATASETS_OFFLINE, or use re_source: auto"
        ) from exc
    feature = getattr(ds["train"], "features", {}).get("label") if hasattr(ds["train"], "features") else None
    names = list(getattr(feature, "names", None) or relations)
    if sorted(names) != sorted(relations):
        raise SanchaekError(
            f"{dataset}/re label names differ from relation_list.json: use the matching relation list"
        )
    train = parse_examples(
        ds["train"], origin=f"hf:{dataset}/re train", relations=relations, label_names=names
    )
    dev = parse_examples(
        ds["validation"], origin=f"hf:{dataset}/re validation", relations=relations, label_names=names
    )
    return train, dev
