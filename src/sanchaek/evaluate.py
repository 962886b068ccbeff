"""``sanchaek evaluate``: LM metrics on the val split, and KLUE-RE beside its baselines and control.

Reads ``models/lm/`` (or ``evaluate.model_path``), ``data/processed/val.jsonl`` and the KLUE-RE folder.
Writes two files: ``reports/eval.json``, the headline numbers that ``dvc metrics`` compares (val loss,
perplexity, bits per character and per byte, RE micro-F1 and AUPRC with their bootstrap intervals for
the model, each baseline and the control, the model's gain over each, counts), and
``reports/eval_detail.json`` (split, files, settings, per-class tables, warnings, timings).

Order matters: the LM is scored first, then the same in-memory weights are fine-tuned on RE-train
with a fresh head and scored on RE-dev. The model on disk is never changed. Both files are written
only when everything is computed, so a failure leaves the previous ones as they were.
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
from .report import take, write_timings

log = logging.getLogger(__name__)

REPORT_NAME = "eval.json"
DETAIL_NAME = "eval_detail.json"
# wall-clock values of the detail, moved to reports/timings/evaluate.json
TIMING_KEYS = ("seconds", "lm.seconds", "re.seconds", "re.systems.*.seconds", "re.systems.*.fit.seconds")
LOCAL_PREFIXES = ("models/", "./", "../", "/", "~")
# What the model's RE score is set beside, in report order (names of eval.json's re_baselines keys).
REFERENCES = ("type_prior", "char_ngram", "control")
RE_KEYS = (
    "re_micro_f1 re_micro_f1_lo re_micro_f1_hi re_auprc re_auprc_lo re_auprc_hi re_n_train re_n_dev"
).split()


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
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Val loss, perplexity, token accuracy, bits per char / byte on ``val.jsonl`` packed like train does.

    Returns the headline numbers and the detail (block count, sequence length, timing).
    """
    import torch

    from .model.bits import bits_per_unit, scored_text_size
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
    size = scored_text_size(blocks, tokenizer, p.lm_max_blocks)
    headline = {
        "val_loss": result["loss"],
        "perplexity": result["perplexity"],
        "token_accuracy": result["token_accuracy"],
        **bits_per_unit(result["loss"], result["tokens"], size),
        "val_tokens": result["tokens"],
        "val_chars": size["chars"],
        "val_bytes": size["bytes"],
    }
    detail = {
        "val_blocks": len(blocks) if p.lm_max_blocks is None else min(p.lm_max_blocks, len(blocks)),
        "lm_seq_len": seq_len,
        "chars_per_token": size["chars"] / max(size["tokens"], 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return headline, detail


def re_system_probs(
    model: Any, tokenizer: Any, params: Params, dtype: Any
) -> tuple[Any, dict[str, Any], dict[str, dict[str, Any]]]:
    """RE-dev probabilities of the model (fine-tuned in place) and, if asked, of each baseline.

    Returns the objective (RE-dev labels, relations, split info), ``{system: probs}`` and
    ``{system: detail}`` (fit statistics, settings, seconds, or why it was skipped).
    """
    from .klue import (
        CharNgramModel,
        ReObjective,
        TypePrior,
        finetune_with_params,
        load_re_split,
        predict_re,
        random_init_like,
    )

    p = params.evaluate
    split = load_re_split(p)
    objective = ReObjective.from_split(split, p, tokenizer, model.config.hidden_size, p.seed)
    log.info("KLUE-RE: %d train / %d dev examples", len(split.train), len(split.dev))
    probs: dict[str, Any] = {}
    details: dict[str, dict[str, Any]] = {}

    def timed(name: str, run: Any, **settings: Any) -> None:
        started = time.perf_counter()
        probs[name], fit = run()
        details[name] = {**({"fit": fit} if fit else {}), "settings": settings,
                         "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip

    def fine_tuned(lm: Any, head_objective: Any) -> Any:
        fit = finetune_with_params(lm, head_objective, p, dtype)
        return predict_re(lm, head_objective, head_objective.dev_data, autocast_dtype=dtype), fit

    timed("model", lambda: fine_tuned(model, objective), backbone="the evaluated model")
    if not p.re_baselines:
        for name in REFERENCES:
            details[name] = {"skipped": "evaluate.re_baselines: false (the model's RE score stands alone)"}
        return objective, probs, details
    prior = TypePrior(split.relations, smoothing=p.re_type_prior_smoothing)
    timed("type_prior", lambda: (prior.fit(split.train).predict_proba(split.dev), None),
          smoothing=p.re_type_prior_smoothing)  # fmt: skip
    ngram = CharNgramModel(split.relations, max_n=p.re_ngram_max_n, c=p.re_ngram_c, seed=p.seed)
    timed("char_ngram", lambda: (ngram.fit(split.train).predict_proba(split.dev), None),
          max_n=p.re_ngram_max_n, c=p.re_ngram_c)  # fmt: skip
    details["char_ngram"]["settings"]["converged"] = ngram.converged
    if p.re_control:
        timed("control", lambda: fine_tuned(random_init_like(model, p.seed), objective.fresh()),
              backbone=f"random init of the model's architecture, seed {p.seed}")  # fmt: skip
    else:
        details["control"] = {"skipped": "evaluate.re_control: false (no random-init control in this run)"}
    return objective, probs, details


def verdict(gain: dict[str, float], level: float) -> str:
    """Whether the model beats a reference by micro-F1: the paired interval of the gain against 0."""
    if gain["micro_f1_lo"] > 0:
        return "beats"
    if gain["micro_f1_hi"] < 0:
        return "below"
    return f"no clear difference ({level:.0%} interval of the gain includes 0)"


def klue_re_metrics(
    model: Any, tokenizer: Any, params: Params, dtype: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """KLUE-RE of the model beside its baselines and control, each with a bootstrap interval.

    Headline: the model's micro-F1 / AUPRC (``re_*``), each reference's (``re_baselines``) and the
    model minus each reference (``re_gain``), intervals paired over the same resamples.
    """
    import numpy as np

    from .klue import marker_label
    from .klue.metrics import paired_gain, per_class, resample_counts, score_with_interval

    p = params.evaluate
    started = time.perf_counter()
    objective, probs, details = re_system_probs(model, tokenizer, params, dtype)
    labels = np.asarray(objective.dev_data.labels)
    counts = resample_counts(len(labels), p.re_bootstrap, p.seed)
    scores, samples = {}, {}
    for name, system_probs in probs.items():
        scores[name], samples[name] = score_with_interval(
            system_probs, labels, objective.relations, counts, p.re_ci_level
        )
        details[name]["per_class"] = per_class(system_probs.argmax(axis=1), labels, objective.relations)
    references = [name for name in REFERENCES if name in scores]
    gains = {
        f"over_{name}": paired_gain(
            scores["model"], samples["model"], scores[name], samples[name], p.re_ci_level
        )
        for name in references
    }
    info = objective.info
    headline = {f"re_{k}": v for k, v in scores["model"].items()}
    headline.update(re_n_train=info["n_train"], re_n_dev=info["n_dev"])
    if references:
        headline["re_baselines"] = {name: scores[name] for name in references}
        # the F1 gain steers (does the model beat x?); its interval and the AUPRC gain are detail, so
        # that `dvc exp show` stays a table a person can read
        headline["re_gain"] = {name: {"micro_f1": g["micro_f1"]} for name, g in gains.items()}
    detail = {
        **info,
        "marker_style": marker_label(p.re_marker_style),
        "pooling": p.re_pooling,
        "train_backbone": p.re_train_backbone,
        "bootstrap": {"resamples": p.re_bootstrap, "level": p.re_ci_level, "seed": p.seed, "paired": True},
        "verdict": {name: verdict(gains[f"over_{name}"], p.re_ci_level) for name in references},
        "gain": gains,
        "systems": details,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return headline, detail


def evaluate(params: Params, layout: Layout) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pure core of ``sanchaek evaluate``: the ``eval.json`` and ``eval_detail.json`` records."""
    import torch

    from .model.loading import load_causal_lm

    p = params.evaluate
    started = time.perf_counter()
    torch.manual_seed(p.seed)
    device = resolve_device(p.device)
    dtype = autocast_dtype(p.precision, device)
    model_path = resolve_model_path(p.model_path, layout.root)
    model, tokenizer = load_causal_lm(model_path, device=device)
    report, lm_detail = lm_metrics(model, tokenizer, params, layout, device, dtype)
    detail: dict[str, Any] = {
        "model_path": p.model_path,
        "device": device.type,
        "precision": "bf16" if dtype else "fp32",
        "lm": lm_detail,
    }
    if p.re_enabled:
        re_headline, detail["re"] = klue_re_metrics(model, tokenizer, params, dtype)
        report.update(re_headline)
    else:
        report.update(dict.fromkeys(RE_KEYS))
        detail["re"] = {"skipped": "evaluate.re_enabled: false"}
    detail["seconds"] = round(time.perf_counter() - started, 2)
    return report, detail


def summary_lines(report: dict[str, Any], detail: dict[str, Any]) -> list[str]:
    """What the command prints: the LM numbers, then the model's RE score beside each reference."""
    lines = [
        f"val loss {report['val_loss']:.4f} ppl {report['perplexity']:.2f} "
        f"bits/char {report['bits_per_char']:.4f} bits/byte {report['bits_per_byte']:.4f}"
    ]
    if report.get("re_micro_f1") is None:
        return lines
    re_detail = detail["re"]
    flag = "partial split, " if re_detail["partial_split"] else ""
    lines.append(
        f"KLUE-RE micro-F1 {report['re_micro_f1']:.1f}% [{report['re_micro_f1_lo']:.1f}, "
        f"{report['re_micro_f1_hi']:.1f}] AUPRC {report['re_auprc']:.1f} "
        f"({flag}{re_detail['source']}, markers {re_detail['marker_style']})"
    )
    for name, scores in (report.get("re_baselines") or {}).items():
        lines.append(
            f"  {name}: micro-F1 {scores['micro_f1']:.1f}% [{scores['micro_f1_lo']:.1f}, "
            f"{scores['micro_f1_hi']:.1f}]: the model {re_detail['verdict'][name]}"
        )
    for name in REFERENCES:
        skipped = re_detail["systems"].get(name, {}).get("skipped")
        if skipped:
            lines.append(f"  {name}: skipped ({skipped})")
    return lines


@click.command(
    help="LM metrics (loss, perplexity, bits/char) and KLUE-RE beside its baselines -> reports/eval.json."
)
@params_option
def command(params_path: str) -> None:
    params = load_params(params_path)
    layout = Layout(Path("."))
    report, detail = evaluate(params, layout)
    for warning in (detail.get("re") or {}).get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    # seconds go to reports/timings/evaluate.json: the detail file is a tracked output and must be
    # the same bytes run after run
    write_timings(layout, "evaluate", take(detail, TIMING_KEYS))
    write_json(layout.report(DETAIL_NAME), detail)
    write_json(layout.report(REPORT_NAME), report)
    click.echo("\n".join(summary_lines(report, detail)) + f" -> {layout.report(REPORT_NAME)}")
