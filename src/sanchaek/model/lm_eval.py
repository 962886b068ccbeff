"""Causal-LM loss and evaluation on packed blocks, shared by the train and evaluate stages.

A block holds ``seq_len + 1`` token ids: inputs are ``block[:, :-1]``, targets ``block[:, 1:]``.
We compute the cross-entropy ourselves (in fp32, from the logits) rather than passing ``labels``
to the model, so that train and eval measure exactly the same thing for any causal LM.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# Model types whose causal-LM forward computes ``logits = lm_head(hidden_states)`` and nothing more
# (no logit scale or soft-cap), read from transformers' modeling code: the fused loss may stand in.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def supports_fused_cross_entropy(model: Any) -> bool:
    """Whether ``model``'s logits are ``lm_head(base_model(...).last_hidden_state)``, bias-free."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return model_type in PLAIN_HEAD_MODEL_TYPES and isinstance(head, torch.nn.Linear) and head.bias is None


def lm_logits(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    # use_cache=False: no KV cache is wanted in training or scoring, and building one costs memory.
    return model(input_ids=inputs, use_cache=False).logits


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, in fp32, of ``(N, V)`` logits against ``(N,)`` target ids.

    Eager, it is ``F.cross_entropy`` on the fp32 logits. Compiled, it is written as logsumexp minus
    the target's logit (picked by a mask, not a gather). Why: from ``F.cross_entropy`` Inductor keeps
    the fp32 log-softmax, a (tokens x vocab) tensor twice the size of the bf16 logits, written in
    the forward and read back in the backward; from this form each pass is one fused kernel over the
    bf16 logits (the backward recomputes exp(logit - logsumexp) from them), with no scatter.
    """
    if not torch.compiler.is_compiling():
        return F.cross_entropy(logits.float(), targets)
    x = logits.float()
    vocab = torch.arange(x.size(-1), device=x.device)
    target_logit = torch.where(vocab == targets[:, None], x, 0.0).sum(-1)
    return (torch.logsumexp(x, dim=-1) - target_logit).mean()


def lm_loss(model: Any, blocks: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """Mean next-token cross-entropy over every position of a ``(B, seq_len + 1)`` batch.

    ``fused``: the head and the loss in one step with a Triton kernel (``fused_ce``), for a model
    that ``supports_fused_cross_entropy``; the same loss, with the logits' gradient made in the forward.
    """
    inputs, targets = blocks[:, :-1], blocks[:, 1:]
    if fused:
        from .fused_ce import fused_lm_loss

        return fused_lm_loss(model, inputs, targets)
    logits = lm_logits(model, inputs)
    return token_cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def next_token_totals(model: Any, blocks: torch.Tensor) -> torch.Tensor:
    """``[summed cross-entropy, correct argmax predictions]`` over a batch, in fp64 (for evaluation)."""
    inputs, targets = blocks[:, :-1], blocks[:, 1:]
    logits = lm_logits(model, inputs).float()
    loss_sum = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
    correct = (logits.argmax(-1) == targets).sum()
    return torch.stack([loss_sum.double(), correct.double()])


class NextTokenLoss(torch.nn.Module):
    """A causal LM and its loss as one module, which is what training prepares and compiles.

    Why: with the loss inside the module, ``torch.compile`` traces the forward *and* the fp32
    cross-entropy into one graph, so the upcast, log-softmax and their backward fuse into a few
    kernels over the bf16 logits instead of materialising (tokens x vocab) fp32 tensors in eager
    mode (2 GiB per 16k tokens at a 32k vocabulary). DDP and FSDP wrap it like any model.
    """

    def __init__(self, lm: Any, fused_cross_entropy: bool = False):
        super().__init__()
        self.lm = lm
        self.fused_cross_entropy = fused_cross_entropy  # the training loss only (see lm_loss)
        # FSDP's auto-wrap policy reads the transformer block classes from the top module.
        self._no_split_modules = getattr(lm, "_no_split_modules", None)

    def forward(self, blocks: torch.Tensor, totals: bool = False) -> torch.Tensor:
        return (
            next_token_totals(self.lm, blocks)
            if totals
            else lm_loss(self.lm, blocks, self.fused_cross_entropy)
        )


def _batches(
    blocks_or_loader: Any, batch_size: int, max_blocks: int | None, rank: int, world: int
) -> Iterable[torch.Tensor]:
    """Batches of this process's share: index-able blocks are split ``rank::world``; loaders pass through."""
    indexable = hasattr(blocks_or_loader, "__getitem__") and hasattr(blocks_or_loader, "__len__")
    if indexable and len(blocks_or_loader) and np.ndim(blocks_or_loader[0]) == 1:  # a sequence of blocks
        n = len(blocks_or_loader) if max_blocks is None else min(max_blocks, len(blocks_or_loader))
        mine = list(range(rank, n, world))
        for start in range(0, len(mine), batch_size):
            chunk = [blocks_or_loader[i] for i in mine[start : start + batch_size]]
            if isinstance(chunk[0], torch.Tensor):
                yield torch.stack(chunk).long()
            else:
                yield torch.from_numpy(np.stack(chunk).astype(np.int64))
    else:  # already batches (a list of 2-D tensors, or a loader already sharded per process)
        yield from (torch.as_tensor(batch) for batch in blocks_or_loader)


@torch.no_grad()
def evaluate_lm(
    model: Any,
    blocks_or_loader: Any,
    *,
    batch_size: int = 16,
    device: Any = None,
    accelerator: Any = None,
    max_blocks: int | None = None,
) -> dict[str, float]:
    """Val loss, token accuracy and perplexity of ``model`` on packed blocks.

    ``blocks_or_loader``: ``TokenBlocks`` (or any sequence of ``seq_len + 1`` id arrays/tensors, or
    a ``(n, seq_len + 1)`` tensor), or an iterable of ``(B, seq_len + 1)`` batches. With an
    ``accelerator``, each process scores its share and the sums are reduced, so the result is the
    same on 1 or N processes. Returns ``{"loss", "token_accuracy", "perplexity", "tokens"}``.
    """
    rank, world = (
        (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    )
    if accelerator is not None:
        device = accelerator.device
    elif device is None:
        device = next(model.parameters()).device
    scorer = model if isinstance(getattr(model, "module", model), NextTokenLoss) else NextTokenLoss(model)
    was_training = scorer.training
    scorer.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    for batch in _batches(blocks_or_loader, batch_size, max_blocks, rank, world):
        batch = batch.to(device, non_blocking=True)
        with accelerator.autocast() if accelerator is not None else contextlib.nullcontext():
            totals[:2] += scorer(batch, totals=True)
        totals[2] += batch.shape[0] * (batch.shape[1] - 1)
    if accelerator is not None and world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    loss_sum_v, correct_v, count_v = (float(x) for x in totals.tolist())
    if was_training:
        scorer.train()
    if count_v == 0:
        return {"loss": float("nan"), "token_accuracy": float("nan"), "perplexity": float("nan"), "tokens": 0}
    loss = loss_sum_v / count_v
    return {
        "loss": loss,
        "token_accuracy": correct_v / count_v,
        "perplexity": math.exp(min(loss, 700.0)),
        "tokens": int(count_v),
    }
