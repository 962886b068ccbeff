"""KLUE Relation Extraction (KLUE-RE) on top of any causal LM.

What is here, in reading order:
1. the loader for the official KLUE-RE JSON schema (also fed by ``datasets.load_dataset("klue", "re")``),
   with span validation and the stratified RE-train / RE-dev split of the labelled partial subset;
2. entity markers ("typed entity marker (punct)", Zhou & Chen 2021: ``@ * PER * 이름 @`` for the subject,
   ``# ^ ORG ^ 회사 #`` for the object): plain punctuation, so no vocabulary resize is needed;
3. the official metrics, computed exactly like KLUE-baseline: micro-F1 over the 29 relations
   (no_relation excluded from the label set) and AUPRC averaged over all 30 classes, both ×100;
4. ``ReObjective``: a linear head over the LM's last hidden states that draws its own mini-batches,
   so ``train`` can add ``re_weight * objective.loss(model)`` to the LM loss on the shared backbone,
   plus ``evaluate_re`` and ``finetune_re`` for the evaluate stage.

Why our own head and not ``AutoModelForSequenceClassification``: the same head must sit on the
backbone while the LM trains (joint objective) and on a copy of it in the evaluate stage; a
``*ForSequenceClassification`` model would be a second copy of the backbone. The head reads
``hidden_states[-1]`` of the causal LM's own forward, which works for every HF causal LM (Llama,
GPT-2, ...), and pools at the *closing* entity markers plus the last token: in a causal LM the opening
marker has not yet seen the entity it opens, the closing one has seen type and word, and the last
token has seen the whole sentence.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import math
import random
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .errors import SanchaekError
from .io import read_json

if TYPE_CHECKING:
    from .config import EvaluateParams

log = logging.getLogger(__name__)

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
    "use evaluate.re_source: partial (a stratified split of the labelled subset) or the official files"
)


# ---------------------------------------------------------------------------------------------------
# 1. data


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


@dataclass
class ReSplit:
    """RE-train and RE-dev examples plus where they came from (written into reports/eval.json)."""

    train: list[ReExample]
    dev: list[ReExample]
    relations: list[str]
    source: str  # official | partial | files | hf
    split: str  # how RE-dev was obtained, in words
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "split": self.split,
            "files": self.files,
            "n_train": len(self.train),
            "n_dev": len(self.dev),
        }


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


def stratified_split(
    examples: Sequence[ReExample], dev_fraction: float, seed: int
) -> tuple[list[ReExample], list[ReExample]]:
    """Hold out ``dev_fraction`` of every label; a label with >= 2 examples lands on both sides.

    Deterministic for the seed; both sides keep the input order.
    """
    rng = random.Random(seed)
    dev_ids: set[int] = set()
    for _, ids in sorted(_ids_by_label(examples).items()):
        rng.shuffle(ids)
        n_dev = round(len(ids) * dev_fraction)
        if len(ids) >= 2:
            n_dev = min(max(n_dev, 1), len(ids) - 1)
        else:
            n_dev = 0
        dev_ids.update(ids[:n_dev])
    train = [ex for i, ex in enumerate(examples) if i not in dev_ids]
    dev = [ex for i, ex in enumerate(examples) if i in dev_ids]
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


def _resolve(klue_re_dir: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else klue_re_dir / path


def _load_hf(dataset: str, relations: list[str]) -> tuple[list[ReExample], list[ReExample]]:
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
    held_out = f"stratified {params.re_dev_fraction:g} of RE-train, seed {params.re_split_seed}"
    files: dict[str, dict[str, Any]] = {}
    if source == "official":
        if official is None:
            raise SanchaekError(
                f"official {OFFICIAL_TRAIN} / {OFFICIAL_DEV} not in {klue_dir} (see its PROVENANCE.md): "
                "add them or use evaluate.re_source: partial"
            )
        train, dev = (load_re_file(p, relations) for p in official)
        files = {"train": file_info(official[0]), "dev": file_info(official[1])}
        split = "official train / official dev"
    elif source == "hf":
        train, dev = _load_hf(params.re_hf_dataset, relations)
        files = {
            "train": {"path": f"hf:{params.re_hf_dataset}/re train"},
            "dev": {"path": f"hf:{params.re_hf_dataset}/re validation"},
        }
        split = "official train / official dev (datasets)"
    else:
        train_path = (
            klue_dir / PARTIAL_LABELED
            if source == "partial"
            else _resolve(klue_dir, str(params.re_train_file))
        )
        labelled = load_re_file(train_path, relations)
        files = {"train": file_info(train_path)}
        if source == "files" and params.re_dev_file:
            dev_path = _resolve(klue_dir, params.re_dev_file)
            train, dev = labelled, load_re_file(dev_path, relations)
            files["dev"] = file_info(dev_path)
            split = "given train / given dev"
        else:
            train, dev = stratified_split(labelled, params.re_dev_fraction, params.re_split_seed)
            split = held_out
    n_train, n_dev = len(train), len(dev)
    train = stratified_sample(train, params.re_max_train_examples, params.re_split_seed)
    dev = stratified_sample(dev, params.re_max_dev_examples, params.re_split_seed + 1)
    if len(train) < n_train or len(dev) < n_dev:
        split += f"; stratified caps {len(train)}/{n_train} train, {len(dev)}/{n_dev} dev"
    return ReSplit(train=train, dev=dev, relations=relations, source=source, split=split, files=files)


# ---------------------------------------------------------------------------------------------------
# 2. entity markers and tokenization


def mark_entities(example: ReExample, style: str) -> tuple[str, int, int]:
    """Insert the markers; return the text and the character offsets of the two *closing* markers."""

    def marker(entity: Entity, is_subject: bool) -> str:
        outer, inner = ("@", "*") if is_subject else ("#", "^")
        if style == "typed_punct":
            return f"{outer} {inner} {entity.type} {inner} {entity.word} {outer}"
        if style == "punct":
            return f"{outer} {entity.word} {outer}"
        raise SanchaekError(f"evaluate.re_marker_style = {style!r} is unknown: use typed_punct or punct")

    s = example.sentence
    first, second = sorted([(example.subject, True), (example.object, False)], key=lambda e: e[0].start)
    parts, closing, cursor = [], {}, 0
    for entity, is_subject in (first, second):
        parts.append(s[cursor : entity.start])
        text = marker(entity, is_subject)
        offset = sum(len(p) for p in parts)
        closing[is_subject] = offset + len(text) - 1
        parts.append(text)
        cursor = entity.end + 1
    parts.append(s[cursor:])
    return "".join(parts), closing[True], closing[False]


@dataclass
class EncodedRe:
    """Token ids with the pooling positions (closing subject / object marker) and label ids (-1: none)."""

    input_ids: list[list[int]]
    subject_pos: list[int]
    object_pos: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def _window(ids: list[int], positions: tuple[int, int], keep: int) -> tuple[list[int], tuple[int, int]]:
    """Cut ``ids`` to ``keep`` tokens around both entities (centred), shifting the positions."""
    if len(ids) <= keep:
        return ids, positions
    lo, hi = min(positions), max(positions)
    span = hi - lo + 1
    if span <= keep:
        start = min(max(lo - (keep - span) // 2, 0), len(ids) - keep)
    else:
        start = max(hi - keep + 1, 0)  # keep the later closing marker; the earlier one is clipped
    cut = ids[start : start + keep]
    return cut, tuple(min(max(p - start, 0), keep - 1) for p in positions)  # type: ignore[return-value]


def encode_examples(
    examples: Sequence[ReExample],
    tokenizer: Any,
    *,
    relations: Sequence[str],
    marker_style: str,
    max_length: int,
) -> EncodedRe:
    """Mark, tokenize (fast tokenizer: char -> token offsets), window to ``max_length``, end with EOS."""
    if not getattr(tokenizer, "is_fast", False):
        raise SanchaekError(
            "KLUE-RE encoding needs a fast tokenizer (offset mapping): use a tokenizer.json tokenizer"
        )
    label_id = {name: i for i, name in enumerate(relations)}
    marked = [mark_entities(ex, marker_style) for ex in examples]
    batch = tokenizer([text for text, _, _ in marked], add_special_tokens=True)
    eos = tokenizer.eos_token_id
    keep = max_length - (1 if eos is not None else 0)
    out = EncodedRe([], [], [], [])
    for i, ((_, subj_char, obj_char), ex) in enumerate(zip(marked, examples, strict=True)):
        ids = list(batch["input_ids"][i])
        if eos is not None and ids and ids[-1] == eos:
            ids = ids[:-1]  # re-appended after windowing so every input ends in EOS
        positions = (batch.char_to_token(i, subj_char), batch.char_to_token(i, obj_char))
        if None in positions:
            raise SanchaekError(
                f"{ex.guid}: the tokenizer maps an entity marker to no token: use a tokenizer that keeps punctuation"
            )
        ids, (subj_pos, obj_pos) = _window(ids, positions, keep)  # type: ignore[arg-type]
        if eos is not None:
            ids.append(eos)
        out.input_ids.append(ids)
        out.subject_pos.append(subj_pos)
        out.object_pos.append(obj_pos)
        out.labels.append(label_id[ex.label] if ex.label is not None else -1)
    return out


# ---------------------------------------------------------------------------------------------------
# 3. metrics, exactly as KLUE-baseline computes them


def klue_re_micro_f1(
    preds: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, label_list: Sequence[str]
) -> float:
    """Micro-F1 ×100 over every relation except no_relation (passed to sklearn as the label set)."""
    from sklearn.metrics import f1_score

    no_relation = list(label_list).index(NO_RELATION)
    label_indices = [i for i in range(len(label_list)) if i != no_relation]
    return float(f1_score(labels, preds, average="micro", labels=label_indices, zero_division=0) * 100.0)


def klue_re_auprc(probs: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Mean over all classes (no_relation included) of the one-vs-rest PR-curve area, ×100.

    As in KLUE-baseline: ``precision_recall_curve`` then ``auc(recall, precision)`` per class. A class
    absent from ``labels`` still counts (sklearn sets its recall to 1, giving 0.5): compare AUPRC only
    between runs on the same RE-dev.
    """
    from sklearn.metrics import auc, precision_recall_curve

    probs = np.asarray(probs, dtype=np.float64)
    num_classes = probs.shape[1]
    onehot = np.eye(num_classes)[np.asarray(labels, dtype=np.int64)]
    score = np.zeros((num_classes,))
    for c in range(num_classes):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No positive class found in y_true")
            precision, recall, _ = precision_recall_curve(onehot[:, c], probs[:, c])
        score[c] = auc(recall, precision)
    return float(np.average(score) * 100.0)


# ---------------------------------------------------------------------------------------------------
# 4. the head, the joint objective, evaluation and fine-tuning

POOLING_WIDTH = {"last": 1, "entity_end": 2, "entity_end_last": 3}


def unwrap_lm(model: Any) -> Any:
    """The plain HF model under DDP (``.module``) or ``torch.compile`` (``._orig_mod``) wrappers.

    The RE forward goes to the plain model so that a DDP-wrapped LM is not run twice per step
    through DDP (its gradient hooks still fire once: LM and RE losses share one backward).
    """
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None or inner is model:
            return model
        model = inner


def last_hidden_states(lm_model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden_states[-1]`` (after the final norm) of any HF causal LM; vocab logits only for one position."""
    model = unwrap_lm(lm_model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        output_hidden_states=True,
        use_cache=False,
        **extra,
    )
    return out.hidden_states[-1]


class ReHead(nn.Module):
    """Dropout + one linear layer over the pooled hidden states."""

    def __init__(self, hidden_size: int, num_labels: int, pooling: str, dropout: float):
        super().__init__()
        if pooling not in POOLING_WIDTH:
            raise SanchaekError(
                f"evaluate.re_pooling = {pooling!r} is unknown: use one of {', '.join(POOLING_WIDTH)}"
            )
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(POOLING_WIDTH[pooling] * hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        last = hidden[rows, batch["attention_mask"].sum(dim=1) - 1]  # right padding: last real token
        subj, obj = hidden[rows, batch["subject_pos"]], hidden[rows, batch["object_pos"]]
        pooled = {"last": [last], "entity_end": [subj, obj], "entity_end_last": [subj, obj, last]}
        return self.classifier(self.dropout(torch.cat(pooled[self.pooling], dim=-1).float()))


class ReObjective(nn.Module):
    """KLUE-RE cross-entropy on a shared causal-LM backbone; holds RE-train (and RE-dev) itself.

    ``loss(lm_model)`` draws the next RE-train mini-batch (a fresh seeded permutation per epoch),
    puts it on the LM's device, runs the LM, applies the head and returns the mean cross-entropy.
    The head weights and the batch cursor are in ``state_dict``, so a resumed run continues the
    same batch sequence.
    """

    def __init__(
        self,
        train: EncodedRe,
        *,
        hidden_size: int,
        relations: Sequence[str],
        pad_token_id: int,
        batch_size: int,
        seed: int,
        pooling: str,
        dropout: float,
        dev: EncodedRe | None = None,
        eval_batch_size: int = 64,
        info: dict[str, Any] | None = None,
    ):
        super().__init__()
        if len(train) == 0:
            raise SanchaekError(
                "KLUE-RE training set is empty: check evaluate.re_max_train_examples and the data folder"
            )
        self.relations = list(relations)
        # The head init depends only on the seed, not on what ran before in this process.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head = ReHead(hidden_size, len(self.relations), pooling, dropout)
        self.train_data, self.dev_data = train, dev
        self.pad_token_id = pad_token_id
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed = seed
        self.info = info or {}
        self.tokenizer: Any = None  # set by from_params; evaluate_re needs it only for raw examples
        self.encode_settings: dict[str, Any] = {}
        self._epoch, self._cursor = 0, 0
        self._perm: list[int] = []
        self._perm_epoch = -1

    @classmethod
    def from_params(
        cls, evaluate_params: EvaluateParams, tokenizer: Any, hidden_size: int, seed: int
    ) -> ReObjective:
        """RE-train and RE-dev from ``evaluate.*`` params, marked and tokenized for ``tokenizer``."""
        p = evaluate_params
        split = load_re_split(p)
        settings = {
            "relations": split.relations,
            "marker_style": p.re_marker_style,
            "max_length": p.re_max_length,
        }
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        objective = cls(
            encode_examples(split.train, tokenizer, **settings),
            hidden_size=hidden_size,
            relations=split.relations,
            pad_token_id=pad,
            batch_size=p.re_batch_size,
            seed=seed,
            pooling=p.re_pooling,
            dropout=p.re_dropout,
            dev=encode_examples(split.dev, tokenizer, **settings),
            eval_batch_size=p.re_eval_batch_size,
            info=split.describe(),
        )
        objective.tokenizer, objective.encode_settings = tokenizer, settings
        return objective

    # batches ---------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_data) / self.batch_size)

    def _next_indices(self) -> list[int]:
        if self._cursor >= len(self.train_data):
            self._epoch, self._cursor = self._epoch + 1, 0
        if self._perm_epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self._epoch)
            self._perm = torch.randperm(len(self.train_data), generator=generator).tolist()
            self._perm_epoch = self._epoch
        ids = self._perm[self._cursor : self._cursor + self.batch_size]
        self._cursor += len(ids)
        return ids

    def collate(self, data: EncodedRe, ids: Sequence[int], device: Any) -> dict[str, torch.Tensor]:
        """Right-padded batch of ``data[ids]`` on ``device``."""
        width = max(len(data.input_ids[i]) for i in ids)
        input_ids = torch.full((len(ids), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, i in enumerate(ids):
            seq = data.input_ids[i]
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        batch = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "subject_pos": torch.tensor([data.subject_pos[i] for i in ids], dtype=torch.long),
            "object_pos": torch.tensor([data.object_pos[i] for i in ids], dtype=torch.long),
            "labels": torch.tensor([data.labels[i] for i in ids], dtype=torch.long),
        }
        return {k: v.to(device) for k, v in batch.items()}

    # forward --------------------------------------------------------------------------------
    def logits(self, lm_model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = last_hidden_states(lm_model, batch["input_ids"], batch["attention_mask"])
        return self.head(hidden, batch)

    def loss(self, lm_model: Any) -> torch.Tensor:
        device = next(unwrap_lm(lm_model).parameters()).device
        if self.head.classifier.weight.device != device:
            self.to(device)  # in place: optimizer references to the head stay valid
        batch = self.collate(self.train_data, self._next_indices(), device)
        return nn.functional.cross_entropy(self.logits(lm_model, batch), batch["labels"])

    def forward(self, lm_model: Any) -> torch.Tensor:
        """Same as ``loss``: lets ``accelerator.prepare(objective)`` (DDP) all-reduce the head's gradients."""
        return self.loss(lm_model)

    def evaluate(
        self, lm_model: Any, examples: Sequence[ReExample] | EncodedRe | None = None
    ) -> dict[str, Any]:
        return evaluate_re(lm_model, self, examples)

    # resumable batch order ------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self._epoch, "cursor": self._cursor, "seed": self.seed}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self._epoch, self._cursor, self.seed = int(state["epoch"]), int(state["cursor"]), int(state["seed"])
        self._perm_epoch = -1


@contextlib.contextmanager
def _eval_mode(*modules: nn.Module):
    """Eval mode (no dropout) for the duration, then each module's previous mode back."""
    before = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, was_training in zip(modules, before, strict=True):
            m.train(was_training)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def evaluate_re(
    lm_model: Any,
    objective: ReObjective,
    examples: Sequence[ReExample] | EncodedRe | None = None,
    *,
    batch_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """KLUE-RE metrics of ``objective``'s head on ``lm_model`` over ``examples`` (default: its RE-dev).

    Returns ``micro_f1`` and ``auprc`` (KLUE-baseline definitions, ×100), ``accuracy`` (×100),
    ``loss`` (mean cross-entropy), ``n`` and ``labels_present`` (how many of the classes occur).
    """
    if examples is None:
        data = objective.dev_data
        if data is None:
            raise SanchaekError("evaluate_re: no examples given and the objective holds no RE-dev")
    elif isinstance(examples, EncodedRe):
        data = examples
    else:
        if objective.tokenizer is None:
            raise SanchaekError(
                "evaluate_re: raw examples need an objective built by ReObjective.from_params (it has the tokenizer)"
            )
        data = encode_examples(examples, objective.tokenizer, **objective.encode_settings)
    if len(data) == 0 or min(data.labels) < 0:
        raise SanchaekError("evaluate_re: RE examples are empty or unlabelled; they cannot be scored")
    model = unwrap_lm(lm_model)
    device = next(model.parameters()).device
    objective.to(device)
    size = batch_size or objective.eval_batch_size
    # Longest first in batches of similar length: less padding; results go back to input order.
    order = sorted(range(len(data)), key=lambda i: -len(data.input_ids[i]))
    probs = np.zeros((len(data), len(objective.relations)), dtype=np.float64)
    with _eval_mode(model, objective):
        for start in range(0, len(order), size):
            ids = order[start : start + size]
            batch = objective.collate(data, ids, device)
            with _autocast(device, autocast_dtype):
                logits = objective.logits(model, batch)
            probs[ids] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    labels = np.asarray(data.labels)
    preds = probs.argmax(axis=1)
    return {
        "micro_f1": klue_re_micro_f1(preds, labels, objective.relations),
        "auprc": klue_re_auprc(probs, labels),
        "accuracy": float((preds == labels).mean() * 100.0),
        "loss": float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean()),
        "n": len(labels),
        "labels_present": int(len(set(labels.tolist()))),
    }


def planned_steps(n_train: int, batch_size: int, epochs: float, max_steps: int | None) -> int:
    """Optimizer steps for ``epochs`` over ``n_train`` examples, capped by ``max_steps``."""
    steps = math.ceil(epochs * math.ceil(n_train / batch_size))
    return steps if max_steps is None else min(steps, max_steps)


def finetune_re(
    lm_model: Any,
    objective: ReObjective,
    *,
    steps: int,
    lr: float,
    head_lr: float,
    weight_decay: float,
    warmup_ratio: float,
    grad_clip: float,
    train_backbone: bool = True,
    autocast_dtype: torch.dtype | None = None,
    log_every: int = 25,
) -> dict[str, Any]:
    """Fine-tune ``lm_model`` (in place: pass a copy) and the head on RE-train for ``steps`` steps.

    AdamW, linear warmup then linear decay to zero, gradient clipping, as in KLUE-baseline's RE recipe.
    Returns ``steps``, ``epochs`` (passes over RE-train), ``seconds``, ``first_loss``, ``last_loss``.
    """
    model = unwrap_lm(lm_model)
    device = next(model.parameters()).device
    objective.to(device)
    for param in model.parameters():
        param.requires_grad_(train_backbone)
    groups = [{"params": list(objective.parameters()), "lr": head_lr}]
    if train_backbone:
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        groups += [{"params": decay, "lr": lr}, {"params": no_decay, "lr": lr, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)
    warmup = int(steps * warmup_ratio)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    model.train()
    objective.train()
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(steps):
        with _autocast(device, autocast_dtype):
            loss = objective.loss(model)
        if not torch.isfinite(loss):
            raise SanchaekError(
                f"KLUE-RE fine-tune loss became {loss.item()} at step {step}: lower evaluate.re_lr / re_head_lr"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], grad_clip)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            log.info(
                "re step %d/%d loss %.4f",
                step + 1,
                steps,
                sum(losses[-log_every:]) / len(losses[-log_every:]),
            )
    model.eval()
    objective.eval()
    tail = losses[-min(len(losses), 10) :] if losses else []
    return {
        "steps": steps,
        "epochs": steps * objective.batch_size / len(objective.train_data),
        "seconds": time.perf_counter() - start,
        "first_loss": losses[0] if losses else None,
        "last_loss": sum(tail) / len(tail) if tail else None,
    }
