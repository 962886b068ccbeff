"""``sanchaek align``: preference tuning (DPO) of the trained model on the raters' preference pairs.

Reads ``data/processed/preferences.jsonl`` (the ratings stage: prompt, chosen, rejected) and the
trained model ``models/lm/``; writes ``models/aligned/`` (see ``model/aligned.py``), checkpoints to
``models/align_checkpoints/step_<n>/``, dvclive curves to ``reports/align/`` and ``reports/align.json``.

With fewer usable pairs than ``align.min_pairs`` (a fresh clone has none) ``models/aligned/`` is a
record that names ``models/lm``: generate and compose then load the trained model itself.

The loop in one breath: pairs -> token ids (bad pairs counted) -> a seeded held-out share -> the
reference log-probs of every pair, once (LoRA: the same weights with the adapter disabled; full: the
weights before the first update), so no second model is held in memory and no step pays a reference
forward -> per step, the pairs a pure function of (seed, step) picks, chosen and rejected in one
forward, the DPO or IPO loss, AdamW, cosine lr -> held-out reward accuracy and val bits/char against
the model before tuning. The host reads the device only every ``log_every`` steps.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .errors import SanchaekError
from .io import replace_dir
from .paths import Layout
from .report import write_stage_report

log = logging.getLogger(__name__)

# Params that do not change the trajectory: a checkpoint made under other values still resumes.
_RESUME_NEUTRAL = {"compile", "log_every", "checkpoint_every", "keep_checkpoints", "resume", "contender", "on_bad_line"}
VAL_TEXTS = 64  # val.jsonl documents scored for bits/char before and after tuning (a CPU-cheap sample)


@dataclass
class PreparedPairs:
    train: list[Any]
    heldout: list[Any]
    counts: dict[str, Any]


def prepare_pairs(params: Params, layout: Layout, tokenizer: Any) -> PreparedPairs:
    """Read, check, tokenize and split the preference pairs; counts for reports/align.json."""
    from .model.dpo import read_preferences, split_heldout, tokenize_pairs

    a = params.align
    records, bad_lines = read_preferences(layout.preferences, a.on_bad_line)
    pairs, skipped = tokenize_pairs(records, tokenizer, a.max_seq_len)
    train, heldout = split_heldout(pairs, a.eval_fraction, a.seed)
    counts = {"records": len(records), "bad_lines": bad_lines, "skipped": dict(skipped), "usable": len(pairs),
              "train": len(train), "heldout": len(heldout)}  # fmt: skip
    return PreparedPairs(train, heldout, counts)


def pass_through(layout: Layout, report: dict[str, Any]) -> dict[str, Any]:
    """``models/aligned/`` as a record naming ``models/lm``; the report says why."""
    from .model.aligned import write_record

    report = {**report, "status": "passthrough", "model": str(layout.model_dir)}
    replace_dir(
        layout.aligned_dir,
        lambda tmp: write_record(tmp, status="passthrough", base_dir=layout.model_dir, method=None, report=report),
    )
    return report


def resolve_precision(choice: str) -> str:
    import torch

    if choice == "auto":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return choice


def fingerprint(params: Params, layout: Layout) -> dict[str, Any]:
    """What must match for a checkpoint to continue this run bit for bit: params, pairs, trained model."""
    from .model.data import file_sha256

    model_record = next(
        (layout.model_dir / n for n in ("sanchaek_train.json", "adapter_config.json", "config.json")
         if (layout.model_dir / n).exists()), None,
    )  # fmt: skip
    align = {k: v for k, v in params.align.model_dump().items() if k not in _RESUME_NEUTRAL}
    return {"align": align, "pairs": file_sha256(layout.preferences),
            "model": file_sha256(model_record) if model_record else None}  # fmt: skip


def load_policy(params: Params, layout: Layout, precision: str) -> tuple[Any, Any, Any]:
    """(trainable LM, tokenizer, the peft model or None): the trained model, with a fresh adapter on
    its frozen weights (LoRA) or every weight trainable (full)."""
    import torch

    from .model.adapters import add_lora
    from .model.loading import load_causal_lm

    a = params.align
    dtype = torch.bfloat16 if precision == "bf16" and a.method == "lora" else torch.float32
    lm, tokenizer = load_causal_lm(str(layout.model_dir), dtype=dtype)
    lm.config.use_cache = False
    if a.method == "full":
        lm.train()
        return lm, tokenizer, None
    for p in lm.parameters():
        p.requires_grad_(False)
    peft_model = add_lora(lm, a.lora, tokenizer, gradient_checkpointing=False)
    peft_model.train()
    return peft_model.get_base_model(), tokenizer, peft_model


def held_out_stats(ref: tuple[Any, Any], policy: tuple[Any, Any], beta: float) -> dict[str, float]:
    """Reward accuracy and margin of the tuned model on pairs it never saw, beside what the model
    before tuning preferred (its log-likelihood of chosen over rejected)."""
    from .model.dpo import reward_stats

    if ref[0].numel() == 0:
        return {}
    stats = reward_stats(beta * (policy[0] - ref[0]), beta * (policy[1] - ref[1]))
    stats["baseline_likelihood_accuracy"] = float((ref[0] > ref[1]).float().mean())
    stats["likelihood_accuracy"] = float((policy[0] > policy[1]).float().mean())
    return stats


def save_aligned(layout: Layout, lm: Any, peft_model: Any, tokenizer: Any, report: dict[str, Any]) -> None:
    from .model.adapters import save_adapter
    from .model.aligned import write_record

    def fill(tmp: Path) -> None:
        if peft_model is not None:
            save_adapter(peft_model, tmp, None, str(layout.model_dir.resolve()))
        else:
            lm.config.use_cache = True
            lm.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        method = "lora" if peft_model is not None else "full"
        write_record(tmp, status="aligned", base_dir=layout.model_dir, method=method, report=report)

    replace_dir(layout.aligned_dir, fill)


def align(
    params: Params,
    layout: Layout,
    *,
    live_dir: Path | None | bool = True,
    stop_after_steps: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The pure core of ``sanchaek align``: returns the report (also recorded in models/aligned/).

    ``live_dir``: True -> ``reports/align``; a path; None/False for no dvclive output.
    ``stop_after_steps``: end the loop early (tests simulate a kill; checkpoints as usual, no model).
    ``on_step``: called with the number of finished steps (benchmarks time a window with it)."""
    import torch
    from accelerate.utils import set_seed

    from .model.accelerator import run_accelerator
    from .model.checkpoints import (
        checkpoint_trainable_only,
        choose_checkpoint,
        load_checkpoint,
        open_live,
        save_checkpoint,
    )  # fmt: skip
    from .model.data import GlobalBatches
    from .model.dpo import PairLogps, collate_pairs, dpo_loss, pair_logps
    from .model.loading import check_model_dir, load_tokenizer
    from .model.optim import build_optimizer, build_scheduler

    a = params.align
    started = time.monotonic()
    check_model_dir(str(layout.model_dir))
    pairs = prepare_pairs(params, layout, load_tokenizer(str(layout.model_dir)))
    report: dict[str, Any] = {"pairs": pairs.counts, "min_pairs": a.min_pairs, "method": a.method, "loss": a.loss,
                              "beta": a.beta}  # fmt: skip
    if pairs.counts["usable"] < a.min_pairs:
        report["reason"] = (
            f"{pairs.counts['usable']} usable preference pairs, fewer than align.min_pairs = {a.min_pairs}: "
            "the trained model passes through unchanged (rate more pairs in the app)"
        )
        return pass_through(layout, report)

    precision = resolve_precision(a.mixed_precision)
    accelerator = run_accelerator(precision, step_scheduler_with_optimizer=False)
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    set_seed(a.seed)
    lm, tokenizer, peft_model = load_policy(params, layout, precision)
    pad_id = tokenizer.pad_token_id
    scorer = PairLogps(lm).to(device)

    # The reference, once per pair: the adapter disabled (LoRA) or the weights before any update (full).
    reference_started = time.monotonic()
    with peft_model.disable_adapter() if peft_model is not None else contextlib.nullcontext():
        scorer.eval()
        ref_train = pair_logps(scorer, pairs.train, pad_id, a.pairs_per_step, device, accelerator.autocast)
        ref_held = pair_logps(scorer, pairs.heldout, pad_id, a.pairs_per_step, device, accelerator.autocast)
        reference_seconds = time.monotonic() - reference_started
        bpc_before = _val_bits_per_char(lm, tokenizer, layout, a.max_seq_len, device)
    scorer.train()

    trainable = [p for p in scorer.parameters() if p.requires_grad]
    optimizer = build_optimizer(
        trainable, lr=a.lr, weight_decay=a.weight_decay, betas=(a.beta1, a.beta2), eps=a.eps,
        fused=device.type == "cuda",
    )  # fmt: skip
    scheduler = build_scheduler(
        optimizer, warmup_steps=a.warmup_steps, total_steps=a.max_steps, min_lr_ratio=a.min_lr_ratio
    )
    model, optimizer, scheduler = accelerator.prepare(scorer, optimizer, scheduler)
    if peft_model is not None:
        checkpoint_trainable_only(accelerator, model)
    uncompiled = model
    if a.compile:
        model = torch.compile(model, dynamic=True)

    ckpt_dir = layout.align_checkpoints_dir
    run_print = fingerprint(params, layout)
    start_step, history = 0, []
    resume_from = choose_checkpoint(a.resume, ckpt_dir, run_print, knob="align.resume")
    if resume_from is not None:
        state = load_checkpoint(accelerator, resume_from, partial=peft_model is not None, knob="align.resume")
        start_step, history = state["step"], state.get("history", [])
        accelerator.print(f"resumed from {resume_from} at step {start_step}")
    elif a.resume == "never" and accelerator.is_main_process:
        shutil.rmtree(ckpt_dir, ignore_errors=True)

    live = open_live(
        live_dir, layout.report("align"), resumed=resume_from is not None, start_step=start_step, accelerator=accelerator
    )
    plan = GlobalBatches(len(pairs.train), a.pairs_per_step, a.seed)
    sums = torch.zeros(6, device=device)  # loss, accuracy, margin, chosen logp, rejected logp, non-finite
    tokens, last_log, last_time, done = 0, start_step, time.monotonic(), start_step
    pad_multiple = 64 if a.compile else 1
    loop_started = time.monotonic()
    for step in range(start_step, a.max_steps):
        idx = plan.indices(step)[rank::world]
        batch = collate_pairs([pairs.train[i] for i in idx], pad_id, pad_multiple).to(device)
        with accelerator.autocast():
            logps = model(*batch.tensors())
        chosen, rejected = logps.float().chunk(2)
        chosen_len, rejected_len = batch.completion_lengths()
        loss, chosen_rewards, rejected_rewards = dpo_loss(
            chosen, rejected, ref_train[0][torch.as_tensor(idx)].to(device), ref_train[1][torch.as_tensor(idx)].to(device), beta=a.beta, loss=a.loss,
            chosen_lengths=chosen_len, rejected_lengths=rejected_len,
        )  # fmt: skip
        accelerator.backward(loss)
        if a.grad_clip is not None:
            accelerator.clip_grad_norm_(trainable, a.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        sums += torch.stack([
            loss.detach(), (chosen_rewards > rejected_rewards).float().mean(), (chosen_rewards - rejected_rewards).mean(),
            chosen.detach().mean(), rejected.detach().mean(), (~torch.isfinite(loss.detach())).float(),
        ])  # fmt: skip
        tokens += int(batch.attention_mask.sum())
        done = step + 1
        if on_step is not None:
            on_step(done)
        if done % a.log_every == 0 or done == a.max_steps:
            record = _log_window(accelerator, sums, done, last_log, tokens, last_time, scheduler, a.lr)
            history.append(record)
            _live_log(live, done, record)
            accelerator.print(
                f"step {done}/{a.max_steps}: loss {record['loss']:.4f} reward accuracy {record['reward_accuracy']:.3f} "
                f"margin {record['reward_margin']:.3f}"
            )
            sums.zero_()
            tokens, last_log, last_time = 0, done, time.monotonic()
        if a.checkpoint_every and done % a.checkpoint_every == 0 and done != a.max_steps:
            state = {"step": done, "history": history, "fingerprint": run_print}
            save_checkpoint(accelerator, ckpt_dir, done, state, a.keep_checkpoints)
        if stop_after_steps is not None and done >= stop_after_steps:
            return {**report, "status": "stopped", "steps": done}
    loop_seconds = time.monotonic() - loop_started

    scorer.eval()
    policy_held = pair_logps(uncompiled, pairs.heldout, pad_id, a.pairs_per_step, device, accelerator.autocast)
    bpc_after = _val_bits_per_char(lm, tokenizer, layout, a.max_seq_len, device)
    report.update({
        "status": "aligned", "model": str(layout.aligned_dir), "steps": done, "history": history,
        "final": history[-1] if history else {}, "heldout": held_out_stats(ref_held, policy_held, a.beta),
        "val_bits_per_char": {"before": bpc_before, "after": bpc_after,
                              "change": (bpc_after / bpc_before - 1) if bpc_before and bpc_after else None},
        "seconds": round(time.monotonic() - started, 2), "loop_seconds": round(loop_seconds, 2),
        "reference_seconds": round(reference_seconds, 3),
    })  # fmt: skip
    if live is not None:
        for key, value in report["heldout"].items():
            live.log_metric(f"heldout/{key}", value, plot=False)
        live.end()
    if accelerator.is_main_process:
        save_aligned(layout, lm, peft_model, tokenizer, report)
    accelerator.wait_for_everyone()
    return report


def _val_bits_per_char(lm: Any, tokenizer: Any, layout: Layout, max_len: int, device: Any) -> float | None:
    from .model.data import read_texts
    from .model.dpo import bits_per_char

    if not layout.val_split.exists():
        return None
    texts = [t for _, t in zip(range(VAL_TEXTS), read_texts(layout.val_split, what="validation text"), strict=False)]
    bpc = bits_per_char(lm, texts, tokenizer, max_len=max_len, batch_size=8, device=device)
    return None if bpc != bpc else bpc  # NaN: no text long enough to score


def _log_window(
    accelerator: Any, sums: Any, done: int, last_log: int, tokens: int, last_time: float, scheduler: Any, lr: float
) -> dict[str, float]:
    """Means over the steps since the last log (one host read), averaged over processes."""
    steps = done - last_log
    values = (accelerator.reduce(sums, reduction="mean") / steps).tolist()
    if values[5] > 0:
        raise SanchaekError(
            f"the DPO loss became NaN/inf before step {done}: lower align.lr (now {lr}) or raise align.beta"
        )
    keys = ("loss", "reward_accuracy", "reward_margin", "logps_chosen", "logps_rejected")
    record = {"step": done, **dict(zip(keys, values[:5], strict=True))}
    record["lr"] = scheduler.get_last_lr()[0]
    record["tokens_per_s"] = tokens * accelerator.num_processes / max(time.monotonic() - last_time, 1e-9)
    return record


def _live_log(live: Any, step: int, record: dict[str, float]) -> None:
    if live is None:
        return
    live.step = step
    for key, value in record.items():
        if key != "step":
            live.log_metric(f"train/{key}", value)
    live.make_summary()


# What steers: reports/metrics/align.json (history, skipped pairs per reason: reports/align.json).
ALIGN_HEADLINE = ("pairs.usable", "steps", "heldout.reward_accuracy", "heldout.reward_margin",
                  "heldout.baseline_likelihood_accuracy", "val_bits_per_char.before", "val_bits_per_char.after")  # fmt: skip
ALIGN_TIMINGS = ("seconds", "loop_seconds", "reference_seconds", "final.tokens_per_s")


@click.command("align")
@params_option
def command(params_path: str) -> None:
    """DPO on the preference pairs, on top of the trained model (models/aligned/)."""
    params = load_params(params_path)
    layout = Layout()
    report = align(params, layout)
    for entry in report.get("history", []):
        entry.pop("tokens_per_s", None)  # a rate: reports/timings/align.json has the run's seconds
    write_stage_report(layout, "align", report, headline=ALIGN_HEADLINE, timing_keys=ALIGN_TIMINGS)
    if report["status"] == "passthrough":
        click.echo(f"not aligned: {report['reason']}")
        return
    held = report["heldout"]
    acc = f"held-out reward accuracy {held['reward_accuracy']:.3f}" if held else "no held-out pairs"
    click.echo(
        f"aligned {report['steps']} steps on {report['pairs']['train']} pairs ({acc}) -> {report['model']}"
    )
