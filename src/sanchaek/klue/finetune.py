"""Fine-tuning a causal LM with the KLUE-RE head, and its predictions and scores on RE-dev.

The recipe is KLUE-baseline's for RE: AdamW, linear warmup then linear decay to zero, gradient
clipping; the fresh head learns at its own, higher rate.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import SanchaekError
from .data import ReExample
from .markers import EncodedRe, encode_examples
from .metrics import klue_re_auprc, klue_re_micro_f1
from .objective import ReObjective, unwrap_lm

if TYPE_CHECKING:
    from ..config import EvaluateParams

log = logging.getLogger(__name__)


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
def predict_re(
    lm_model: Any,
    objective: ReObjective,
    data: EncodedRe,
    *,
    batch_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Class probabilities ``(len(data), classes)`` of ``objective``'s head on ``lm_model``."""
    if len(data) == 0:
        raise SanchaekError(
            "KLUE-RE: no examples to predict: check evaluate.re_max_dev_examples and the data folder"
        )
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
    return probs


def score_probs(probs: np.ndarray, labels: Sequence[int], relations: Sequence[str]) -> dict[str, Any]:
    """``micro_f1``, ``auprc`` (KLUE-baseline, ×100), ``accuracy`` (×100), ``loss``, ``n``, ``labels_present``."""
    labels_arr = np.asarray(labels)
    preds = probs.argmax(axis=1)
    picked = probs[np.arange(len(labels_arr)), labels_arr]
    return {
        "micro_f1": klue_re_micro_f1(preds, labels_arr, relations),
        "auprc": klue_re_auprc(probs, labels_arr),
        "accuracy": float((preds == labels_arr).mean() * 100.0),
        "loss": float(-np.log(np.clip(picked, 1e-12, None)).mean()),
        "n": len(labels_arr),
        "labels_present": int(len(set(labels_arr.tolist()))),
    }


def evaluate_re(
    lm_model: Any,
    objective: ReObjective,
    examples: Sequence[ReExample] | EncodedRe | None = None,
    *,
    batch_size: int | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """KLUE-RE metrics of ``objective``'s head on ``lm_model`` over ``examples`` (default: its RE-dev).

    Returns what ``score_probs`` returns.
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
    probs = predict_re(lm_model, objective, data, batch_size=batch_size, autocast_dtype=autocast_dtype)
    return score_probs(probs, data.labels, objective.relations)


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


def finetune_with_params(
    lm_model: Any, objective: ReObjective, params: EvaluateParams, autocast_dtype: torch.dtype | None = None
) -> dict[str, Any]:
    """``finetune_re`` with the ``evaluate.re_*`` recipe: the same for the model and for the control."""
    p = params
    steps = planned_steps(len(objective.train_data), p.re_batch_size, p.re_epochs, p.re_max_steps)
    return finetune_re(
        lm_model,
        objective,
        steps=steps,
        lr=p.re_lr,
        head_lr=p.re_head_lr,
        weight_decay=p.re_weight_decay,
        warmup_ratio=p.re_warmup_ratio,
        grad_clip=p.re_grad_clip,
        train_backbone=p.re_train_backbone,
        autocast_dtype=autocast_dtype,
    )
