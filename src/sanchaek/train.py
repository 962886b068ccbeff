"""``sanchaek train``: one Accelerate loop for 1 CPU, 1 GPU or N GPUs (``accelerate launch``).

Reads ``data/processed/{train,val}.jsonl`` and the ``model``/``train`` params; writes the model to
``models/lm/`` (``save_pretrained``), checkpoints to ``models/checkpoints/step_<n>/`` and dvclive
metrics and plots to ``reports/train/``.

The loop in one breath: packed blocks (no padding) -> each process takes its slice of the global
batch for this step -> forward under autocast -> loss / grad_accum_steps -> backward (gradients
all-reduced only on the last micro-step) -> clip -> AdamW -> cosine lr. Losses are accumulated on
the device; the host reads them only every ``log_every`` steps, so the GPU never waits on Python.
Which blocks form a step's batch is a pure function of (seed, step), so a resumed run and an
N-process run see exactly the batches of an uninterrupted 1-process run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .errors import SanchaekError
from .io import replace_dir, write_json
from .model.checkpoints import (
    checkpoint_trainable_only,
    choose_checkpoint,
    list_checkpoints,
    load_checkpoint,
    open_live,
    save_checkpoint,
)
from .paths import Layout
from .report import headline_of, write_headline, write_timings

log = logging.getLogger(__name__)

# Params that do not change the trajectory: a checkpoint made under other values still resumes.
_RESUME_NEUTRAL = {
    "max_minutes", "compile", "compile_mode", "fused_cross_entropy", "attention", "num_workers", "log_every",
    "eval_every", "eval_max_blocks", "eval_batch_size", "checkpoint_every", "keep_checkpoints", "resume", "tf32",
    "merge_adapter", "memory_gib",
}  # fmt: skip


@dataclass
class TrainResult:
    steps: int
    tokens: int
    final: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)  # one record per eval
    stopped_by: str = "max_steps"
    model_dir: Path | None = None
    loop_seconds: float = 0.0  # wall time of the optimizer steps (with periodic evals/checkpoints), no setup


# ----------------------------------------------------------------------------- setup helpers


def run_fingerprint(params: Params, data_sha: str, world: int) -> dict[str, Any]:
    """What must match for a checkpoint to continue this run bit for bit."""
    train = {k: v for k, v in params.train.model_dump().items() if k not in _RESUME_NEUTRAL}
    return {"model": params.model.model_dump(), "train": train, "data": data_sha, "processes": world}


def resolve_mixed_precision(t: Any) -> str:
    """The precision mode to train in: ``no``, ``bf16`` (autocast) or ``bf16-master``.

    ``auto`` on a bf16 GPU is bf16-master (on an H100 4.5-5.4% faster than autocast, with the same
    loss curve: reports/bench/train_gpu.json) wherever it applies and gradients need no bf16
    accumulation over micro-steps; otherwise autocast: with the RE objective, grad_accum_steps > 1,
    or an FSDP/DeepSpeed launch (they bring their own mixed precision).
    """
    import torch
    from accelerate.utils import parse_flag_from_env

    choice = t.mixed_precision
    if choice == "auto":
        if not (torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
            return "no"
        sharded = parse_flag_from_env("ACCELERATE_USE_FSDP") or parse_flag_from_env(
            "ACCELERATE_USE_DEEPSPEED"
        )
        return "bf16-master" if t.re_weight == 0 and t.grad_accum_steps == 1 and not sharded else "bf16"
    if choice in ("bf16", "bf16-master") and not torch.cuda.is_available():
        # CPU autocast to bf16 works but is slower than fp32 on most CPUs; honour the explicit ask.
        log.warning("train.mixed_precision = %s on CPU: expect it to be slower than 'no'", choice)
    return choice


def _fused_cross_entropy_blocker(lm: Any, device: Any, accelerator: Any) -> str | None:
    """What keeps ``fused_ce`` from running here, or None."""
    import importlib.util

    from .model.lm_eval import supports_fused_cross_entropy

    if device.type != "cuda":
        return "no CUDA device"
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed"
    if shards_the_model(accelerator):
        return f"the {accelerator.distributed_type.name} launch shards the head"
    if not supports_fused_cross_entropy(lm):
        return f"model type {getattr(lm.config, 'model_type', '?')!r} has no plain head"
    return None


def resolve_fused_cross_entropy(t: Any, lm: Any, device: Any, accelerator: Any) -> bool:
    """Whether the training loss runs through ``fused_ce`` (see ``train.fused_cross_entropy``); says
    why not when it was asked for and cannot apply."""
    if not t.fused_cross_entropy:
        return False
    why_not = _fused_cross_entropy_blocker(lm, device, accelerator)
    if why_not is not None:
        log.info("train.fused_cross_entropy: not used (%s): logits + F.cross_entropy", why_not)
    return why_not is None


def total_steps_for(params: Params, tokens_per_step: int) -> int:
    steps = [s for s in (params.train.max_steps,) if s is not None]
    if params.train.max_tokens is not None:
        steps.append(math.ceil(params.train.max_tokens / tokens_per_step))
    return min(steps)


def save_model(
    accelerator: Any, model: Any, tokenizer: Any, out_dir: Path, meta: dict[str, Any], adapter: Any = None
) -> None:
    """``save_pretrained`` of the prepared ``NextTokenLoss``'s LM into a temp folder beside ``out_dir``,
    then swap it in. ``adapter``: the run's ``AdapterRun``; the folder then holds the adapter (naming
    its base), and with ``train.merge_adapter`` the merged model in ``merged/``."""
    state_dict = accelerator.get_state_dict(model)  # gathers FSDP shards; every process must call it
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model).lm
        state_dict = {k.removeprefix("lm."): v for k, v in state_dict.items()}
        unwrapped.config.use_cache = True  # for generation downstream

        def fill(tmp: Path) -> None:
            if adapter is None:
                unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
            else:
                adapter.save(tmp, state_dict)
            tokenizer.save_pretrained(tmp)
            write_json(tmp / "sanchaek_train.json", meta)
            if adapter is not None and adapter.merge:
                from .model.adapters import write_merged_model

                write_merged_model(tmp)

        replace_dir(out_dir, fill)
    accelerator.wait_for_everyone()


def oom_error(params: Params, exc: BaseException) -> SanchaekError:
    t = params.train
    return SanchaekError(
        f"CUDA out of memory at train.micro_batch_size={t.micro_batch_size}, train.seq_len={t.seq_len}: "
        f"lower train.micro_batch_size (raise train.grad_accum_steps={t.grad_accum_steps} to keep the global batch), "
        "lower train.seq_len, or set model.gradient_checkpointing: true"
    )


def shards_the_model(accelerator: Any) -> bool:
    """FSDP and DeepSpeed shard the model (and bring their own mixed precision)."""
    return accelerator.distributed_type.name in ("FSDP", "DEEPSPEED")


def refuse_under_sharding(accelerator: Any, feature: str, fix: str) -> None:
    """What needs the whole model on every process refuses a sharded launch, naming the fix."""
    if shards_the_model(accelerator):
        kind = accelerator.distributed_type.name
        raise SanchaekError(f"{feature} is not supported under {kind}: {fix}")


def check_memory_plan(params: Params, accelerator: Any, precision: str) -> Any:
    """The memory plan of this run, refused in one line when it cannot fit (GPU or train.memory_gib)."""
    from .model.memory_plan import available_memory, check_fits, memory_plan_for

    available, where = available_memory(params.train, accelerator.device)
    if available is None:
        return None
    shape, run = memory_plan_for(
        params, precision=precision, processes=accelerator.num_processes,
        sharded=shards_the_model(accelerator), cuda=accelerator.device.type == "cuda",
    )  # fmt: skip
    return check_fits(shape, run, available, where=where)


def build_re_objective(params: Params, tokenizer: Any, model: Any) -> Any:
    try:
        from .klue import ReObjective
    except ImportError as exc:
        raise SanchaekError(
            f"train.re_weight = {params.train.re_weight} needs sanchaek.klue.ReObjective ({exc}): "
            "set train.re_weight: 0 or update sanchaek"
        ) from exc
    return ReObjective.from_params(params.evaluate, tokenizer, model.config.hidden_size, params.train.seed)


# ----------------------------------------------------------------------------- the loop


def train(
    params: Params,
    layout: Layout,
    *,
    save_final_model: bool = True,
    checkpoints: bool = True,
    live_dir: Path | None | bool = True,
    stop_after_steps: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train per ``params``; the pure core of ``sanchaek train`` and of each sweep run.

    ``live_dir``: True -> ``reports/train``; a path; or None/False for no dvclive output.
    ``stop_after_steps``: end the process's loop early at that step (tests simulate a kill with it;
    checkpoints are written as usual, the final model is not).
    ``on_step``: called with the number of finished optimizer steps after each step (benchmarks time
    a steady-state window with it; it must not sync the device on every step if speed matters).
    """
    import torch
    from accelerate.utils import set_seed

    from .model.accelerator import run_accelerator
    from .model.bits import bits_per_unit, scored_text_size
    from .model.build import build_model_and_tokenizer
    from .model.data import GlobalBatches, MicroBatchDataset, file_sha256, load_blocks
    from .model.lm_eval import NextTokenLoss, evaluate_lm
    from .model.optim import MasterAdamW, MasterWeights, build_optimizer, build_scheduler
    from .model.speed import PACKED_CAUSAL, compile_for_training, compile_mode_uses_cudagraphs, fast_training

    t = params.train
    started = time.monotonic()
    if t.method == "qlora":  # bitsandbytes' 4-bit kernels: refused before anything starts elsewhere
        from .model.adapters import require_qlora_support

        require_qlora_support("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_mixed_precision(t)
    # bf16-master runs the model in bf16 itself (MasterWeights below): no autocast on top.
    accelerator = run_accelerator(
        "no" if precision == "bf16-master" else precision, step_scheduler_with_optimizer=False
    )
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    if t.tf32 and device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    set_seed(t.seed)

    memory = check_memory_plan(params, accelerator, precision)  # before any weight is loaded
    if memory is not None:
        accelerator.print(f"memory plan: {memory.describe()}")
    # The main process tokenizes and caches first; the others then map its files.
    with accelerator.main_process_first():
        model, tokenizer = build_model_and_tokenizer(
            params.model, train_path=layout.train_split, cache_dir=layout.cache_dir, seq_len=t.seq_len,
            seed=t.seed, root=layout.root, train=t, precision=precision, device=device,
        )  # fmt: skip
        train_blocks = load_blocks(layout.train_split, tokenizer, t.seq_len, layout.cache_dir)
        val_blocks = load_blocks(
            layout.val_split, tokenizer, t.seq_len, layout.cache_dir, what="validation text"
        )
    val_text = scored_text_size(val_blocks, tokenizer, t.eval_max_blocks)  # for bits per char / byte
    # where a cold start goes: loading and tokenizing here, compiling in the first step
    accelerator.print(f"model and data ready in {time.monotonic() - started:.0f} s")

    global_batch = t.micro_batch_size * t.grad_accum_steps * world
    tokens_per_step = global_batch * t.seq_len
    total_steps = total_steps_for(params, tokens_per_step)
    plan = GlobalBatches(len(train_blocks), global_batch, t.seed)
    fingerprint = run_fingerprint(params, file_sha256(layout.train_split), world)

    if t.attention == "flash_attn_4":
        from .model.flash4 import require

        require(device)
    adapter = None
    if t.method != "full":
        from .model.adapters import AdapterRun, base_for_adapter_config

        adapter = AdapterRun(
            model, base_for_adapter_config(params.model.name_or_path, layout.root), t.merge_adapter
        )
        model = adapter.lm  # the base with the adapter layers in it: the loop trains it like any model
    undo_speedups = fast_training(model, t.seq_len, t.attention)
    if t.attention == "flash_attn_4" and model.config._attn_implementation != PACKED_CAUSAL:
        log.warning(
            "train.attention: flash_attn_4 not used: the model's attention (%s, or sliding windows) stays",
            model.config._attn_implementation,
        )
    lm = model  # the Hugging Face model itself: saved, and run by the RE objective
    model = NextTokenLoss(lm, resolve_fused_cross_entropy(t, lm, device, accelerator))
    optimizer_params = [p for p in model.parameters() if p.requires_grad]  # the adapter alone under LoRA
    objective = None
    if t.re_weight > 0:
        refuse_under_sharding(
            accelerator,
            "train.re_weight > 0",
            "use DDP (configs/accelerate/multi_gpu.yaml) or set train.re_weight: 0",
        )
        objective = build_re_objective(params, tokenizer, lm)
        optimizer_params += list(objective.parameters())
    master = None
    if precision == "bf16-master":  # params refuse it with the RE objective
        refuse_under_sharding(
            accelerator,
            "train.mixed_precision: bf16-master",
            "set train.mixed_precision: bf16 (it has its own)",
        )
        master = MasterWeights(optimizer_params, device)
        # It clips too (by the bf16 gradients' norm): the loop's clip_grad_norm_ is for the other modes.
        optimizer = MasterAdamW(
            master, lr=t.lr, weight_decay=t.weight_decay, betas=(t.beta1, t.beta2), eps=t.eps,
            max_grad_norm=t.grad_clip, compiled=device.type == "cuda",
        )  # fmt: skip
    else:
        optimizer = build_optimizer(
            optimizer_params, lr=t.lr, weight_decay=t.weight_decay, betas=(t.beta1, t.beta2), eps=t.eps,
            fused=device.type == "cuda",
        )  # fmt: skip
    stepper = optimizer  # before prepare wraps it: MasterAdamW's grad_norm is read from here
    scheduler = build_scheduler(
        optimizer, warmup_steps=t.warmup_steps, total_steps=total_steps, min_lr_ratio=t.min_lr_ratio
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    # FSDP saves its own sharded state (not through the hook): adapter runs keep whole checkpoints there.
    adapter_checkpoints = adapter is not None and not shards_the_model(accelerator)
    if adapter_checkpoints:
        checkpoint_trainable_only(accelerator, model)
    if objective is not None:
        # Not DDP-wrapped: its loss() is no forward(); its gradients are all-reduced by hand below.
        objective.to(device)
        accelerator.register_for_checkpointing(objective)
    if master is not None:
        accelerator.register_for_checkpointing(master)
    # compile_scope model: the compiled wrapper prefixes every state-dict key with `_orig_mod.`; saving
    # through it gives a folder from_pretrained silently re-initialises. Save (and checkpoint) the
    # module it wraps, and evaluate with it too: eval's shapes and no_grad would each cost a recompile
    # of the training graph. compile_scope blocks compiles in place: the two are the same module.
    uncompiled_model = model
    if t.compile:
        model = compile_for_training(model, t.compile_scope, t.compile_mode)
    # CUDA graphs replay into the same output buffers: each micro-step starts a new generation of them.
    graphs = t.compile and compile_mode_uses_cudagraphs(t.compile_mode) and device.type == "cuda"

    # Resume.
    start_step, tokens_seen, history = 0, 0, []
    ckpt_dir = layout.checkpoints_dir
    resume_from = (
        choose_checkpoint(t.resume, ckpt_dir, fingerprint, knob="train.resume")
        if checkpoints or t.resume not in ("auto", "never")
        else None
    )
    if resume_from is not None:
        state = load_checkpoint(accelerator, resume_from, partial=adapter_checkpoints, knob="train.resume")
        start_step, tokens_seen, history = state["step"], state["tokens"], state.get("history", [])
        accelerator.print(f"resumed from {resume_from} at step {start_step}")
    elif checkpoints and t.resume == "never" and accelerator.is_main_process:
        shutil.rmtree(ckpt_dir, ignore_errors=True)  # a fresh run must not later resume a stale one

    live = open_live(
        live_dir, layout.report("train"), resumed=resume_from is not None, start_step=start_step, accelerator=accelerator
    )
    if live is not None:
        live.log_params({"global_batch": global_batch, "tokens_per_step": tokens_per_step, "total_steps": total_steps,
                         "processes": world, "n_params": sum(p.numel() for p in model.parameters()),
                         "n_trainable_params": sum(p.numel() for p in optimizer_params)})  # fmt: skip

    loader = torch.utils.data.DataLoader(
        MicroBatchDataset(
            train_blocks, plan, start_step=start_step, end_step=total_steps, grad_accum_steps=t.grad_accum_steps,
            micro_batch_size=t.micro_batch_size, rank=rank, world=world,
        ),
        batch_size=None, shuffle=False, num_workers=t.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False,
        # Its own generator: iter() must not draw from the global RNG, or a resumed run's dropout differs.
        generator=torch.Generator().manual_seed(t.seed), prefetch_factor=4 if t.num_workers > 0 else None,
    )  # fmt: skip
    batches = iter(loader)

    def log_metrics(step: int, values: dict[str, float]) -> None:
        if live is not None:
            live.step = step
            for name, value in values.items():
                live.log_metric(name, value)
            live.make_summary()

    def run_eval(step: int) -> dict[str, float]:
        metrics = evaluate_lm(
            uncompiled_model,
            val_blocks,
            batch_size=t.eval_batch_size,
            accelerator=accelerator,
            max_blocks=t.eval_max_blocks,
        )
        bits = bits_per_unit(metrics["loss"], metrics["tokens"], val_text)
        record = {"step": step, "tokens": tokens_seen, "val_loss": metrics["loss"],
                  "val_token_accuracy": metrics["token_accuracy"], "val_perplexity": metrics["perplexity"],
                  "val_bits_per_char": bits["bits_per_char"], "val_bits_per_byte": bits["bits_per_byte"]}  # fmt: skip
        history.append(record)
        log_metrics(step, {"val/loss": metrics["loss"], "val/token_accuracy": metrics["token_accuracy"],
                           "val/perplexity": metrics["perplexity"], "val/bits_per_char": bits["bits_per_char"],
                           "val/bits_per_byte": bits["bits_per_byte"]})  # fmt: skip
        accelerator.print(f"step {step}: val loss {metrics['loss']:.4f} acc {metrics['token_accuracy']:.4f}")
        return record

    def check_finite(step: int, last_good: int) -> None:
        if accelerator.reduce(nonfinite.float(), reduction="sum").item() > 0:
            kept = list_checkpoints(ckpt_dir)[-1:] if checkpoints else []
            where = f"; last good checkpoint kept: {kept[0]}" if kept else ""
            raise SanchaekError(
                f"training loss became NaN/inf between steps {last_good} and {step}: lower train.lr "
                f"(now {t.lr}), keep train.grad_clip set, or use train.mixed_precision: bf16 not fp16{where}"
            )

    loss_sum = torch.zeros((), device=device)  # sum of step losses since the last log, on the device
    re_sum = torch.zeros((), device=device)
    nonfinite = torch.zeros((), dtype=torch.bool, device=device)
    grad_norm = torch.zeros((), device=device)
    last_checked, last_log_step, last_log_time = start_step, start_step, time.monotonic()
    stopped_by, done, last_train_loss = "max_steps", start_step, float("nan")
    model.train()
    loop_started = time.monotonic()
    try:
        for step in range(start_step, total_steps):
            for micro in range(t.grad_accum_steps):
                batch = next(batches).to(device, non_blocking=True)
                if graphs:
                    torch.compiler.cudagraph_mark_step_begin()
                last_micro = micro == t.grad_accum_steps - 1
                # DDP all-reduces gradients only on the last micro-step (and never when RE syncs by hand).
                sync = last_micro and objective is None
                with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                    with accelerator.autocast():
                        loss = model(batch)
                    accelerator.backward(loss / t.grad_accum_steps)
                    if objective is not None:
                        with accelerator.autocast():
                            re_loss = objective.loss(lm)
                        accelerator.backward(t.re_weight * re_loss / t.grad_accum_steps)
                        re_sum += re_loss.detach().float() / t.grad_accum_steps
                loss_sum += loss.detach().float() / t.grad_accum_steps
                nonfinite |= ~torch.isfinite(loss.detach())
            if objective is not None and world > 1:
                all_reduce_gradients(accelerator, [*model.parameters(), *objective.parameters()])
            if t.grad_clip is not None and master is None:
                grad_norm = accelerator.clip_grad_norm_(
                    optimizer_params if objective is not None else model.parameters(), t.grad_clip
                )
            optimizer.step()
            if master is not None:
                grad_norm = stepper.grad_norm
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            tokens_seen += tokens_per_step
            done = step + 1
            if on_step is not None:
                on_step(done)

            if done % t.log_every == 0 or done == total_steps:
                check_finite(done, last_checked)
                last_checked = done
                now = time.monotonic()
                mean_loss = accelerator.reduce(loss_sum, reduction="mean").item() / (done - last_log_step)
                # Wall-clock rates are printed and go to reports/timings/train.json, never into the
                # dvclive metrics/plots: those must be the same on every run of the same params.
                rate = (done - last_log_step) * tokens_per_step / max(now - last_log_time, 1e-9)
                values = {"train/loss": mean_loss, "train/lr": scheduler.get_last_lr()[0],
                          "train/grad_norm": float(grad_norm), "train/tokens": tokens_seen}  # fmt: skip
                if objective is not None:
                    values["train/re_loss"] = accelerator.reduce(re_sum, reduction="mean").item() / (
                        done - last_log_step
                    )
                    re_sum.zero_()
                log_metrics(done, values)
                last_train_loss = mean_loss
                accelerator.print(f"step {done}/{total_steps}: loss {mean_loss:.4f} {rate:.0f} tok/s")
                loss_sum.zero_()
                last_log_step, last_log_time = done, now
                if t.max_minutes is not None:
                    over = torch.tensor(float((now - started) / 60 > t.max_minutes), device=device)
                    if accelerator.reduce(over, reduction="sum").item() > 0:
                        stopped_by = "max_minutes"
            if t.eval_every and done % t.eval_every == 0 and done != total_steps:
                run_eval(done)
            periodic = t.checkpoint_every and done % t.checkpoint_every == 0 and done != total_steps
            if checkpoints and (periodic or (t.checkpoint_every and stopped_by == "max_minutes")):
                check_finite(done, last_checked)
                last_checked = done
                state = {"step": done, "tokens": tokens_seen, "history": history, "fingerprint": fingerprint}
                save_checkpoint(accelerator, ckpt_dir, done, state, t.keep_checkpoints)
            if stopped_by == "max_minutes":
                break
            if stop_after_steps is not None and done >= stop_after_steps:
                return TrainResult(
                    steps=done, tokens=tokens_seen, final={}, history=history, stopped_by="stop_after_steps"
                )
    except torch.OutOfMemoryError as exc:
        raise oom_error(params, exc) from exc

    check_finite(done, last_checked)
    loop_seconds = time.monotonic() - loop_started
    final = run_eval(done) if history == [] or history[-1]["step"] != done else history[-1]
    final = {**final, "train_loss": last_train_loss}
    elapsed = time.monotonic() - started
    summary = {"steps": done, "tokens": tokens_seen, "stopped_by": stopped_by}
    timings = {"seconds": round(elapsed, 2), "loop_seconds": round(loop_seconds, 2),
               "tokens_per_s": (done - start_step) * tokens_per_step / max(loop_seconds, 1e-9)}  # fmt: skip
    if live is not None:
        log_metrics(done, {"final/" + k: v for k, v in summary.items() if k not in ("stopped_by",)})
        live.end()
    if live_dir is True and accelerator.is_main_process:
        write_timings(layout, "train", {**timings, "processes": world})
        write_headline(layout, "train", headline_of(final, done, tokens_seen))
    model_dir = None
    if save_final_model:
        model_dir = layout.model_dir
        meta = {
            **summary,
            "final": final,
            "model": params.model.model_dump(),
            "train": params.train.model_dump(),
        }
        undo_speedups()  # users load the model as it was: plain SDPA, the original rotary module
        if master is not None:
            master.restore_full_precision()
        save_model(accelerator, uncompiled_model, tokenizer, model_dir, meta, adapter)
    accelerator.end_training()
    return TrainResult(
        steps=done,
        tokens=tokens_seen,
        final=final,
        history=history,
        stopped_by=stopped_by,
        model_dir=model_dir,
        loop_seconds=loop_seconds,
    )


def all_reduce_gradients(accelerator: Any, parameters: list[Any]) -> None:
    """Average gradients over processes (used when an extra objective runs outside DDP's forward)."""
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


@click.command(
    help="Fine-tune or train the causal LM with Accelerate (launch with `accelerate launch` for N GPUs)."
)
@params_option
@click.option(
    "--plan", "plan_only", is_flag=True, help="Print the memory plan per GPU and exit (loads no weights)."
)
def command(params_path: str, plan_only: bool) -> None:
    params = load_params(params_path)
    if plan_only:
        from accelerate.utils import parse_flag_from_env

        processes = int(os.environ.get("WORLD_SIZE", "1"))
        from .model.memory_plan import plan_report

        click.echo(plan_report(params, processes, parse_flag_from_env("ACCELERATE_USE_FSDP")))
        return
    result = train(params, Layout(Path(".")))
    click.echo(
        f"trained {result.steps} steps ({result.tokens} tokens, stopped by {result.stopped_by}): "
        f"val loss {result.final.get('val_loss', float('nan')):.4f}, "
        f"token accuracy {result.final.get('val_token_accuracy', float('nan')):.4f} -> {result.model_dir}"
    )


@click.command("merge")
@click.option("--model", "model_dir", default="models/lm", show_default=True, help="the adapter folder")
def merge_command(model_dir: str) -> None:
    """Write the LoRA adapter in MODEL merged into its base, as a plain model in MODEL/merged/."""
    from .model.adapters import is_adapter_dir, write_merged_model

    if not is_adapter_dir(model_dir):
        raise SanchaekError(
            f"{model_dir} is not a LoRA adapter folder (no adapter_config.json): it is already a whole model"
        )
    click.echo(f"merged -> {write_merged_model(Path(model_dir))}")
