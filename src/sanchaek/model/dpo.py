"""Direct Preference Optimization: preference pairs in, token pairs, padded batches, sequence
log-probabilities and the DPO / IPO loss out. Shared by the ``align`` stage, its tests and its bench.

The batch layout is TRL's ``DataCollatorForPreference``: the B chosen sequences (prompt + chosen) then
the B rejected ones, right-padded, with a completion mask marking the tokens that are scored. So one
forward covers both halves of every pair, and the loss equals TRL's ``DPOTrainer`` loss for the same
ids (tests/test_align_loss.py checks it against TRL itself).

Log-probabilities are taken from the hidden states of the completion positions only (the head runs on
those rows, not on every prompt and padding position), as TRL's fused LM head does; a model whose head
is more than a plain linear layer (a logit scale or soft-cap) is scored from its full logits instead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import SanchaekError
from ..io import read_jsonl
from .lm_eval import supports_fused_cross_entropy

SKIP_REASONS = ("not_text", "empty", "chosen_equals_rejected", "prompt_too_long")


@dataclass(frozen=True)
class TokenPair:
    prompt: list[int]
    chosen: list[int]
    rejected: list[int]


# ----------------------------------------------------------------------------- pairs


def read_preferences(path: str | Path, on_bad_line: str = "raise") -> tuple[list[dict], int]:
    """The records of a preferences JSONL file and how many broken lines were skipped.

    A line that is not a JSON object fails naming ``file:line`` (``on_bad_line: raise``) or is counted."""
    bad: list[int] = []
    records = list(
        read_jsonl(
            path,
            on_error=on_bad_line,
            skipped=lambda lineno, _reason: bad.append(lineno),
            missing_fix="run `sanchaek ratings export` (or `dvc repro ratings`)",
        )
    )
    return records, len(bad)


def tokenize_pairs(
    records: Iterable[dict], tokenizer: Any, max_seq_len: int
) -> tuple[list[TokenPair], Counter]:
    """Usable pairs as token ids, and a count per skip reason (``SKIP_REASONS``).

    The prompt is tokenized as generation sees it (with the tokenizer's special prefix, e.g. BOS); the
    completions without special tokens and without an EOS: the rated samples were cut at a length, not
    ended. A completion is cut to fit ``max_seq_len`` after its prompt; a pair whose two completions
    are then equal carries no preference and is skipped like one whose texts were equal."""
    pairs: list[TokenPair] = []
    skipped: Counter = Counter({reason: 0 for reason in SKIP_REASONS})
    for record in records:
        prompt, chosen, rejected = (record.get(k) for k in ("prompt", "chosen", "rejected"))
        if not all(isinstance(x, str) for x in (prompt, chosen, rejected)):
            skipped["not_text"] += 1
            continue
        if not prompt.strip() or not chosen.strip() or not rejected.strip():
            skipped["empty"] += 1
            continue
        if chosen.strip() == rejected.strip():
            skipped["chosen_equals_rejected"] += 1
            continue
        prompt_ids = tokenizer(prompt)["input_ids"]
        room = max_seq_len - len(prompt_ids)
        if room < 1:
            skipped["prompt_too_long"] += 1
            continue
        chosen_ids = tokenizer(chosen, add_special_tokens=False)["input_ids"][:room]
        rejected_ids = tokenizer(rejected, add_special_tokens=False)["input_ids"][:room]
        if chosen_ids == rejected_ids:
            skipped["chosen_equals_rejected"] += 1
            continue
        pairs.append(TokenPair(list(prompt_ids), list(chosen_ids), list(rejected_ids)))
    return pairs, skipped


def split_heldout(
    pairs: list[TokenPair], fraction: float, seed: int
) -> tuple[list[TokenPair], list[TokenPair]]:
    """(train, held-out): a seeded share of the pairs kept out of training to measure reward accuracy."""
    import numpy as np

    n_heldout = int(math.floor(len(pairs) * fraction))
    if n_heldout == 0:
        return pairs, []
    order = np.random.default_rng(seed).permutation(len(pairs))
    held = set(order[:n_heldout].tolist())
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


# ----------------------------------------------------------------------------- batches


@dataclass
class PairBatch:
    """``2B`` sequences: rows ``[:B]`` are prompt + chosen, rows ``[B:]`` prompt + rejected."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor

    def to(self, device: Any) -> PairBatch:
        return PairBatch(*(t.to(device, non_blocking=True) for t in self.tensors()))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.input_ids, self.attention_mask, self.completion_mask

    def completion_lengths(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scored tokens of each chosen and each rejected completion."""
        return self.completion_mask.sum(-1).chunk(2)


def collate_pairs(pairs: list[TokenPair], pad_id: int, pad_to_multiple_of: int = 1) -> PairBatch:
    """TRL's preference collation: chosen rows then rejected rows, right-padded to the longest (rounded
    up to ``pad_to_multiple_of``: fewer shapes for a compiled forward)."""
    rows = [p.prompt + p.chosen for p in pairs] + [p.prompt + p.rejected for p in pairs]
    scored = [[0] * len(p.prompt) + [1] * len(p.chosen) for p in pairs] + [
        [0] * len(p.prompt) + [1] * len(p.rejected) for p in pairs
    ]
    width = max(len(r) for r in rows)
    width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    completion = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, mask) in enumerate(zip(rows, scored, strict=True)):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention[i, : len(row)] = 1
        completion[i, : len(row)] = torch.tensor(mask)
    return PairBatch(input_ids, attention, completion)


# ----------------------------------------------------------------------------- log-probs and loss


def _backbone(lm: Any) -> Any:
    return getattr(lm, "base_model", lm)


def sequence_logps(
    lm: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor
) -> torch.Tensor:
    """Summed log-probability of each row's completion tokens, in fp32: ``(2B,)``.

    Position ``t`` predicts token ``t + 1``; only positions whose next token is scored go through the
    head (plain-head models), so the prompt and the padding cost no head matmul or softmax."""
    targets = input_ids[:, 1:]
    scored = completion_mask[:, 1:].bool()
    if supports_fused_cross_entropy(lm):
        hidden = _backbone(lm)(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        hidden = hidden.last_hidden_state[:, :-1]
        logits = lm.get_output_embeddings()(hidden[scored]).float()
    else:
        logits = lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1]
        logits = logits[scored].float()
    token_logps = logits.gather(-1, targets[scored].unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
    row = torch.arange(input_ids.size(0), device=input_ids.device).unsqueeze(1).expand_as(scored)[scored]
    return torch.zeros(input_ids.size(0), dtype=torch.float32, device=input_ids.device).index_add(
        0, row, token_logps
    )


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float,
    loss: str,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, chosen rewards, rejected rewards); rewards are ``beta * (logp - ref_logp)``.

    sigmoid: ``-log sigmoid(beta * margin)`` with margin the difference of the two log-ratios (DPO).
    ipo: ``(margin' - 1 / (2 beta))^2`` with each log-ratio divided by its completion's length first
    (TRL's length-normalised IPO; the lengths are required)."""
    chosen_ratio = chosen_logps - ref_chosen_logps
    rejected_ratio = rejected_logps - ref_rejected_logps
    if loss == "sigmoid":
        per_pair = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    elif loss == "ipo":
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError("the ipo loss needs the completion lengths")
        margin = chosen_ratio / chosen_lengths.clamp(min=1) - rejected_ratio / rejected_lengths.clamp(min=1)
        per_pair = (margin - 1 / (2 * beta)) ** 2
    else:
        raise SanchaekError(f"align.loss = {loss!r} is unknown: use sigmoid or ipo")
    return per_pair.mean(), beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


class PairLogps(torch.nn.Module):
    """A causal LM and ``sequence_logps`` as one module: what the align loop prepares and compiles
    (the forward and the fp32 log-softmax trace into one graph, as ``NextTokenLoss`` does for train)."""

    def __init__(self, lm: Any):
        super().__init__()
        self.lm = lm
        self._no_split_modules = getattr(lm, "_no_split_modules", None)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor
    ) -> torch.Tensor:
        return sequence_logps(self.lm, input_ids, attention_mask, completion_mask)


@torch.no_grad()
def pair_logps(
    scorer: Any, pairs: list[TokenPair], pad_id: int, batch_pairs: int, device: Any, autocast: Any = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen, rejected) summed log-probs of every pair, in batches, without gradients (CPU tensors)."""
    import contextlib

    chosen, rejected = [], []
    for start in range(0, len(pairs), batch_pairs):
        batch = collate_pairs(pairs[start : start + batch_pairs], pad_id).to(device)
        with autocast() if autocast is not None else contextlib.nullcontext():
            logps = scorer(*batch.tensors()).float().cpu()
        c, r = logps.chunk(2)
        chosen.append(c)
        rejected.append(r)
    if not chosen:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(chosen), torch.cat(rejected)


def reward_stats(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> dict[str, float]:
    """Reward accuracy (chosen above rejected) and mean margin over pairs."""
    if chosen_rewards.numel() == 0:
        return {"reward_accuracy": float("nan"), "reward_margin": float("nan")}
    return {
        "reward_accuracy": float((chosen_rewards > rejected_rewards).float().mean()),
        "reward_margin": float((chosen_rewards - rejected_rewards).mean()),
    }


@torch.no_grad()
def bits_per_char(
    lm: Any, texts: list[str], tokenizer: Any, *, max_len: int, batch_size: int, device: Any
) -> float:
    """Held-out language-model quality: nats of every token after a text's first, over ln 2 and the
    texts' characters. Long texts are scored in windows of ``max_len + 1`` tokens that overlap by one,
    so every token but the first is predicted once."""
    windows: list[list[int]] = []
    chars = 0
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        if len(ids) < 2:
            continue
        chars += len(text)
        windows.extend(ids[start : start + max_len + 1] for start in range(0, len(ids) - 1, max_len))
    if not windows or chars == 0:
        return float("nan")
    total = 0.0
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        width = max(len(w) for w in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, w in enumerate(chunk):
            ids[i, : len(w)] = torch.tensor(w)
            mask[i, : len(w)] = 1
        ids, mask = ids.to(device), mask.to(device)
        total += float(sequence_logps(lm, ids, mask, mask).sum())
    return -total / math.log(2) / chars
