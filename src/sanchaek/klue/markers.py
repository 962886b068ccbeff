"""Entity markers and tokenization of KLUE-RE examples for a causal LM.

Marker styles (``evaluate.re_marker_style``):

- ``klue`` (default): ``<subj>김하늘</subj>은 <obj>푸른출판사</obj>의``, the untyped markers of
  KLUE-baseline. KLUE-baseline adds the four tags to the vocabulary; we leave them as text (the BPE
  splits them into a few punctuation and letter tokens), because with ``train.re_weight > 0`` the
  same backbone trains on them and a resized vocabulary would change the saved model for every stage.
- ``typed_punct``: ``@ * PER * 김하늘 @`` / ``# ^ ORG ^ 푸른출판사 #`` ("typed entity marker (punct)",
  Zhou & Chen 2021). It hands the entity types to the model, and the types alone predict much of the
  label (see the type-prior baseline); reports label it as typed.
- ``punct``: ``@ 김하늘 @`` / ``# 푸른출판사 #``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SanchaekError
from .data import Entity, ReExample

MARKER_STYLES = ("klue", "typed_punct", "punct")
TYPED_STYLES = frozenset({"typed_punct"})


def marker_label(style: str) -> str:
    """How a report names the marker style: typed markers give the model the entity types."""
    return f"{style} (typed: entity types in the input)" if style in TYPED_STYLES else f"{style} (untyped)"


def mark_entities(example: ReExample, style: str) -> tuple[str, int, int]:
    """Insert the markers; return the text and the character offsets of the two *closing* markers.

    The closing offset is the marker's last character (``>`` of ``</subj>``, the second ``@``), whose
    token has read the whole entity in a causal LM.
    """

    def marker(entity: Entity, is_subject: bool) -> str:
        if style == "klue":
            tag = "subj" if is_subject else "obj"
            return f"<{tag}>{entity.word}</{tag}>"
        outer, inner = ("@", "*") if is_subject else ("#", "^")
        if style == "typed_punct":
            return f"{outer} {inner} {entity.type} {inner} {entity.word} {outer}"
        if style == "punct":
            return f"{outer} {entity.word} {outer}"
        raise SanchaekError(
            f"evaluate.re_marker_style = {style!r} is unknown: use one of {', '.join(MARKER_STYLES)}"
        )

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
