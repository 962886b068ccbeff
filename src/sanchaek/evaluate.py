"""``sanchaek evaluate``: LM metrics on the val split and KLUE-RE micro-F1 / AUPRC.

Reads ``models/lm/`` (or ``evaluate.model_path``), ``data/processed/val.jsonl`` and the KLUE-RE folder;
writes ``reports/eval.json``. Order matters: the LM is scored first, then the same in-memory weights
are fine-tuned on RE-train with a fresh head and scored on RE-dev. The model on disk is never changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .errors import SanchaekError
from .io import write_json
from .paths import Layout

log = logging.getLogger(__name__)

REPORT_NAME = "eval.json"
LOCAL_PREFIXES = ("models/", "./", "../", "/", "~")


def resolve_model_path(model_path: str, root: Path) -> str:
    """A folder under the project root if it exists or looks local, else a hub id as given."""
    local = Path(model_path).expanduser()
    local = local if local.is_absolute() else root / local
    if local.exists():
        return str(local)
    if model_path.startswith(LOCAL_PREFIXES):
        raise SanchaekError(
            f"model {local} not found: run `dvc repro train` (sanchaek train) or set evaluate.model_path"
        )
    return model_path


def resolve_device(choice: str) -> Any:
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise SanchaekError("evaluate.device = cuda but no CUDA GPU is visible: use device: auto or cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def autocast_dtype(precision: str, device: Any) -> Any:
    """bf16 autocast on CUDA (auto or bf16); None means full fp32."""
    import torch

    if device.type != "cuda" or precision == "fp32":
        return None
    return torch.bfloat16


def lm_metrics(
    model: Any, tokenizer: Any, params: Params, layout: Layout, device: Any, dtype: Any
) -> dict[str, Any]:
    """Val loss, token accuracy and perplexity on ``val.jsonl`` packed into blocks like train does."""
    import torch

    from .model.data import load_blocks
    from .model.lm_eval import evaluate_lm

    p = params.evaluate
    seq_len = p.lm_seq_len or params.train.seq_len
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and seq_len > max_positions:
        raise SanchaekError(
            f"evaluate.lm_seq_len = {seq_len} exceeds the model's {max_positions} positions: lower it (or train.seq_len)"
        )
    started = time.perf_counter()
    blocks = load_blocks(layout.val_split, tokenizer, seq_len, layout.cache_dir, what="validation text")
    autocast = torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    with autocast:
        result = evaluate_lm(
            model, blocks, batch_size=p.lm_batch_size, device=device, max_blocks=p.lm_max_blocks
        )
    n_blocks = len(blocks) if p.lm_max_blocks is None else min(p.lm_max_blocks, len(blocks))
    return {
        "val_loss": result["loss"],
        "perplexity": result["perplexity"],
        "token_accuracy": result["token_accuracy"],
        "val_tokens": result["tokens"],
        "val_blocks": n_blocks,
        "lm_seq_len": seq_len,
        "lm_seconds": round(time.perf_counter() - started, 2),
    }


def klue_re_metrics(model: Any, tokenizer: Any, params: Params, dtype: Any) -> dict[str, Any]:
    """Fine-tune ``model`` (in place) with a fresh head on RE-train; KLUE metrics on RE-dev."""
    from .klue_re import ReObjective, evaluate_re, finetune_re, planned_steps

    p = params.evaluate
    started = time.perf_counter()
    objective = ReObjective.from_params(p, tokenizer, model.config.hidden_size, p.seed)
    steps = planned_steps(len(objective.train_data), p.re_batch_size, p.re_epochs, p.re_max_steps)
    log.info(
        "KLUE-RE: %d train / %d dev examples, %d steps",
        len(objective.train_data),
        len(objective.dev_data),
        steps,
    )
    fit = finetune_re(
        model,
        objective,
        steps=steps,
        lr=p.re_lr,
        head_lr=p.re_head_lr,
        weight_decay=p.re_weight_decay,
        warmup_ratio=p.re_warmup_ratio,
        grad_clip=p.re_grad_clip,
        train_backbone=p.re_train_backbone,
        autocast_dtype=dtype,
    )
    scores = evaluate_re(model, objective, autocast_dtype=dtype)
    info = objective.info
    return {
        "re_micro_f1": scores["micro_f1"],
        "re_auprc": scores["auprc"],
        "re_accuracy": scores["accuracy"],
        "re_dev_loss": scores["loss"],
        "re_labels_in_dev": scores["labels_present"],
        "re_source": info["source"],
        "re_split": info["split"],
        "re_files": info["files"],
        "re_n_train": info["n_train"],
        "re_n_dev": info["n_dev"],
        "re_steps": fit["steps"],
        "re_epochs": round(fit["epochs"], 3),
        "re_train_loss_first": fit["first_loss"],
        "re_train_loss_last": fit["last_loss"],
        "re_train_backbone": p.re_train_backbone,
        "re_seconds": round(time.perf_counter() - started, 2),
    }


RE_KEYS = (
    "re_micro_f1 re_auprc re_accuracy re_dev_loss re_labels_in_dev re_source re_split re_files re_n_train "
    "re_n_dev re_steps re_epochs re_train_loss_first re_train_loss_last re_train_backbone re_seconds"
).split()


def evaluate(params: Params, layout: Layout) -> dict[str, Any]:
    """The pure core of ``sanchaek evaluate``: returns the ``reports/eval.json`` record."""
    import torch

    from .model.loading import load_causal_lm

    p = params.evaluate
    started = time.perf_counter()
    torch.manual_seed(p.seed)
    device = resolve_device(p.device)
    dtype = autocast_dtype(p.precision, device)
    model_path = resolve_model_path(p.model_path, layout.root)
    model, tokenizer = load_causal_lm(model_path, device=device)
    report: dict[str, Any] = {
        "model_path": p.model_path,
        "device": device.type,
        "precision": "bf16" if dtype else "fp32",
    }
    report.update(lm_metrics(model, tokenizer, params, layout, device, dtype))
    if p.re_enabled:
        report.update(klue_re_metrics(model, tokenizer, params, dtype))
    else:
        report.update(dict.fromkeys(RE_KEYS))
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


@click.command(help="LM metrics and KLUE relation extraction micro-F1 / AUPRC -> reports/eval.json.")
@params_option
def command(params_path: str) -> None:
    params = load_params(params_path)
    layout = Layout(Path("."))
    report = evaluate(params, layout)
    out = layout.report(REPORT_NAME)
    write_json(out, report)
    re_part = (
        f", KLUE-RE micro-F1 {report['re_micro_f1']:.2f} AUPRC {report['re_auprc']:.2f} ({report['re_source']})"
        if report["re_micro_f1"] is not None
        else ""
    )
    click.echo(
        f"val loss {report['val_loss']:.4f} ppl {report['perplexity']:.2f} acc {report['token_accuracy']:.4f}{re_part} -> {out}"
    )
