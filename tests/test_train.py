"""The train stage: packing, batch plan, the Accelerate loop, resume, NaN and corrupt inputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import KOREAN_LINES

from sanchaek.config import params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.paths import Layout

# Placeholder prose of our own, varied enough that a tiny model has something to learn.
DOCS = [" ".join(KOREAN_LINES[i:] + KOREAN_LINES[:i]) for i in range(len(KOREAN_LINES))] * 6


def tiny_params(**train) -> object:
    base = {
        "seed": 7, "seq_len": 32, "micro_batch_size": 4, "grad_accum_steps": 1, "max_steps": 12, "lr": 3e-3,
        "warmup_steps": 2, "log_every": 2, "eval_every": 6, "eval_max_blocks": 8, "eval_batch_size": 4,
        "checkpoint_every": 6, "keep_checkpoints": 2, "mixed_precision": "no",
    }  # fmt: skip
    base.update(train)
    return params_from_dict(
        {
            "model": {"name_or_path": "scratch:tiny", "vocab_size": 300, "tokenizer_extra_text": None},
            "train": base,
        }
    )


def make_project(root: Path, docs: list[str] = DOCS) -> Layout:
    layout = Layout(root)
    layout.processed_dir.mkdir(parents=True, exist_ok=True)
    layout.train_split.write_text(
        "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs), "utf-8"
    )
    val = [
        KOREAN_LINES[(i * 3) % len(KOREAN_LINES)] + " " + KOREAN_LINES[i % len(KOREAN_LINES)]
        for i in range(8)
    ]
    layout.val_split.write_text(
        "".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in val), "utf-8"
    )
    return layout


@pytest.fixture
def project(tmp_path) -> Layout:
    return make_project(tmp_path)


# ----------------------------------------------------------------------------- data


def test_packing_puts_eos_after_each_document_and_caches(tmp_path, tiny_lm_dir, monkeypatch):
    from sanchaek.model import data
    from sanchaek.model.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_lm_dir))
    src = tmp_path / "t.jsonl"
    src.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in KOREAN_LINES[:3]), "utf-8"
    )
    blocks = data.load_blocks(src, tok, 8, tmp_path / "cache")
    expected = []
    for text in KOREAN_LINES[:3]:
        expected += tok(text, add_special_tokens=False).input_ids + [tok.eos_token_id]
    assert blocks.stream.tolist() == expected
    assert len(blocks) == (len(expected) - 1) // 8
    # Consecutive blocks share one token: block i's last token is block i+1's first input.
    assert blocks[0][-1] == blocks[1][0] and len(blocks[0]) == 9

    # The second load maps the cache instead of tokenizing again.
    def refuse(*args, **kwargs):
        raise RuntimeError("tokenized twice")

    monkeypatch.setattr(data, "tokenize_stream", refuse)
    again = data.load_blocks(src, tok, 8, tmp_path / "cache")
    assert isinstance(again.stream, np.memmap) and again.stream.tolist() == expected
    # Changed data -> a new cache key.
    src.write_text(json.dumps({"text": KOREAN_LINES[4]}, ensure_ascii=False) + "\n", "utf-8")
    with pytest.raises(RuntimeError, match="tokenized twice"):
        data.load_blocks(src, tok, 4, tmp_path / "cache")


def test_too_little_text_is_named(tmp_path, tiny_lm_dir):
    from sanchaek.model.data import load_blocks
    from sanchaek.model.loading import load_tokenizer

    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"text": "짧다"}, ensure_ascii=False) + "\n", "utf-8")
    with pytest.raises(SanchaekError, match="lower train.seq_len"):
        load_blocks(src, load_tokenizer(str(tiny_lm_dir)), 512, tmp_path / "cache")


def test_global_batches_split_over_processes_equals_one_process():
    from sanchaek.model.data import GlobalBatches

    plan = GlobalBatches(n_blocks=10, global_batch=4, seed=3)
    # Every pass over the data is a permutation; passes differ.
    first_pass = np.concatenate([plan.indices(s) for s in range(5)])[:10]
    assert sorted(first_pass.tolist()) == list(range(10))
    assert plan.indices(0).tolist() == GlobalBatches(10, 4, 3).indices(0).tolist()
    # 2 processes x 1 micro-step of 2 == 1 process x 2 micro-steps of 2, for every step.
    for step in range(6):
        one = np.concatenate([plan.micro_indices(step, m, 0, 1, 2) for m in range(2)])
        two = np.concatenate([plan.micro_indices(step, 0, r, 2, 2) for r in range(2)])
        assert one.tolist() == two.tolist() == plan.indices(step).tolist()


def test_cosine_schedule_shape():
    from sanchaek.model.optim import cosine_with_warmup

    f = [cosine_with_warmup(s, warmup_steps=4, total_steps=20, min_lr_ratio=0.1) for s in range(21)]
    assert f[0] == pytest.approx(0.25) and f[3] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[4:], f[5:], strict=False))
    assert f[20] == pytest.approx(0.1)


# ----------------------------------------------------------------------------- evaluation


def test_evaluate_lm_matches_hugging_face_loss(tiny_lm_dir):
    from sanchaek.model.lm_eval import evaluate_lm
    from sanchaek.model.loading import load_causal_lm

    model, _ = load_causal_lm(str(tiny_lm_dir))
    torch.manual_seed(0)
    blocks = torch.randint(0, model.config.vocab_size, (6, 17))
    metrics = evaluate_lm(model, blocks, batch_size=4)
    with torch.no_grad():
        hf = model(input_ids=blocks, labels=blocks).loss.item()  # HF shifts labels inside
    assert metrics["loss"] == pytest.approx(hf, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(hf), rel=1e-5)
    assert metrics["tokens"] == 6 * 16 and 0 <= metrics["token_accuracy"] <= 1
    # A loader of batches gives the same numbers; max_blocks limits the work.
    assert evaluate_lm(model, [blocks[:3], blocks[3:]])["loss"] == pytest.approx(hf, rel=1e-5)
    assert evaluate_lm(model, blocks, max_blocks=2)["tokens"] == 32


# ----------------------------------------------------------------------------- the loop


def test_train_learns_writes_model_metrics_and_plots(project):
    from transformers import AutoModelForCausalLM

    from sanchaek.train import train

    result = train(tiny_params(max_steps=24, eval_every=8), project)
    history = [h["val_loss"] for h in result.history]
    assert len(history) == 3 and history[-1] < history[0] - 0.3 < math.log(300) - 1  # it learns
    assert result.final["val_token_accuracy"] > 0.1
    model = AutoModelForCausalLM.from_pretrained(project.model_dir)  # plain HF load
    assert model.config.model_type == "llama"
    metrics = json.loads((project.report("train") / "metrics.json").read_text())
    assert metrics["step"] == 24 and metrics["val"]["loss"] == pytest.approx(result.final["val_loss"])
    # No wall-clock value among the metrics or curves: tokens/s is in the timings file only.
    assert "tokens_per_s" not in json.dumps(metrics) and "seconds" not in json.dumps(metrics)
    timings = json.loads((project.report("timings") / "train.json").read_text())
    assert timings["tokens_per_s"] > 0 and timings["seconds"] >= timings["loop_seconds"] > 0
    headline = json.loads((project.report("metrics") / "train.json").read_text())
    assert headline["val_loss"] == pytest.approx(result.final["val_loss"]) and headline["steps"] == 24
    assert set(headline) == {"val_loss", "val_token_accuracy", "val_bits_per_char", "val_bits_per_byte", "train_loss", "steps", "tokens"}
    tsv = (project.report("train") / "plots" / "metrics" / "val" / "loss.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:2] == ["timestamp", "step"] or "step" in tsv[0]
    assert len(tsv) == 4
    # No partial checkpoint folder is left behind; only the last K complete ones.
    names = sorted(p.name for p in project.checkpoints_dir.iterdir())
    assert names == ["step_12", "step_18"]


def test_resume_reaches_the_same_loss_as_an_uninterrupted_run(tmp_path):
    from sanchaek.train import train

    whole = train(tiny_params(), make_project(tmp_path / "a"), live_dir=None)
    layout = make_project(tmp_path / "b")
    cut = train(
        tiny_params(), layout, stop_after_steps=7, live_dir=None
    )  # "killed" after the step-6 checkpoint
    assert cut.steps == 7 and (layout.checkpoints_dir / "step_6").exists()
    resumed = train(tiny_params(), layout, live_dir=None)
    assert resumed.steps == 12
    assert resumed.final["val_loss"] == pytest.approx(whole.final["val_loss"], abs=1e-5)
    assert resumed.final["train_loss"] == pytest.approx(whole.final["train_loss"], abs=1e-5)


def test_resume_never_starts_fresh_and_auto_ignores_other_params(tmp_path):
    from sanchaek.model.checkpoints import choose_checkpoint
    from sanchaek.train import run_fingerprint, train

    layout = make_project(tmp_path)
    train(tiny_params(), layout, stop_after_steps=6, live_dir=None)
    assert (layout.checkpoints_dir / "step_6").exists()
    other = tiny_params(lr=1e-3)
    assert choose_checkpoint("auto", layout.checkpoints_dir, run_fingerprint(other, "x", 1), knob="train.resume") is None
    result = train(tiny_params(resume="never"), layout, stop_after_steps=2, live_dir=None)
    assert result.steps == 2 and not (layout.checkpoints_dir / "step_6").exists()


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(project, monkeypatch):
    from sanchaek.model import lm_eval
    from sanchaek.train import train

    real_loss, calls = lm_eval.lm_loss, {"n": 0}

    def poisoned(model, blocks, fused=False):
        calls["n"] += 1
        loss = real_loss(model, blocks, fused)
        return loss * float("nan") if calls["n"] > 8 else loss

    monkeypatch.setattr(lm_eval, "lm_loss", poisoned)
    with pytest.raises(SanchaekError, match=r"NaN/inf between steps 8 and 10.*step_6"):
        train(tiny_params(), project, live_dir=None)
    assert (project.checkpoints_dir / "step_6").exists() and not project.model_dir.exists()


def test_huge_lr_diverges_into_the_nan_error(project):
    from sanchaek.train import train

    with pytest.raises(SanchaekError, match="lower train.lr"):
        train(tiny_params(lr=1e30, warmup_steps=0, grad_clip=None, max_steps=4), project, live_dir=None)


def test_corrupt_and_missing_checkpoints_are_named(project):
    from sanchaek.train import train

    train(tiny_params(), project, stop_after_steps=6, live_dir=None)
    ckpt = project.checkpoints_dir / "step_6"
    (ckpt / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(SanchaekError, match=r"checkpoint .*step_6 is corrupt.*set train.resume: never"):
        train(tiny_params(), project, live_dir=None)
    with pytest.raises(SanchaekError, match=r"checkpoint .*step_99 not found: set train.resume"):
        train(tiny_params(resume=str(project.checkpoints_dir / "step_99")), project, live_dir=None)


def test_missing_model_path_and_missing_data_are_named(tmp_path):
    from sanchaek.train import train

    layout = make_project(tmp_path)
    params = params_from_dict(
        {"model": {"name_or_path": str(tmp_path / "no-model")}, "train": {"max_steps": 1}}
    )
    with pytest.raises(SanchaekError, match="no-model not found"):
        train(params, layout, live_dir=None)
    layout.val_split.unlink()
    with pytest.raises(SanchaekError, match=r"val.jsonl not found"):
        train(tiny_params(), layout, live_dir=None)


def test_fine_tunes_a_pretrained_model_by_path(project, tiny_lm_dir):
    from sanchaek.train import train

    params = params_from_dict(
        {"model": {"name_or_path": str(tiny_lm_dir)},
         "train": {"seq_len": 16, "max_steps": 4, "micro_batch_size": 2, "eval_every": 0, "checkpoint_every": 0,
                   "mixed_precision": "no"}}
    )  # fmt: skip
    result = train(params, project, live_dir=None)
    assert result.steps == 4 and math.isfinite(result.final["val_loss"])
    saved = json.loads((project.model_dir / "tokenizer_config.json").read_text())
    assert saved  # the fine-tuned folder carries its tokenizer


def test_params_need_a_budget_and_reject_bad_values():
    with pytest.raises(SanchaekError, match="max_steps or train.max_tokens"):
        params_from_dict({"train": {"max_steps": None, "max_tokens": None}})
    with pytest.raises(SanchaekError, match="train.mixed_precision"):
        params_from_dict({"train": {"mixed_precision": "fp8"}})


def test_flash_attn_4_where_it_cannot_run_stops_before_training_with_the_fix(project):
    from sanchaek.train import train

    with pytest.raises(
        SanchaekError, match=r"flash_attn_4 cannot run: it needs a CUDA GPU.*train.attention: sdpa"
    ):
        train(tiny_params(attention="flash_attn_4"), project, live_dir=None)
    assert not project.checkpoints_dir.exists() and not project.model_dir.exists()
    with pytest.raises(SanchaekError, match="train.attention"):
        params_from_dict({"train": {"attention": "flash_attn_3"}})


def test_flash_attn_4_on_a_model_whose_attention_cannot_switch_says_so(project, monkeypatch, caplog):
    """Where FlashAttention 4 could run but the model keeps its own attention (not SDPA, sliding
    windows), training goes on with that attention and says flash_attn_4 was not used."""
    from sanchaek.model import flash4, speed
    from sanchaek.train import train

    monkeypatch.setattr(flash4, "require", lambda device: None)  # as on an SM90 GPU with the package
    monkeypatch.setattr(speed, "use_packed_causal_attention", lambda model, attention: None)
    with caplog.at_level("WARNING", logger="sanchaek.train"):
        train(tiny_params(attention="flash_attn_4", max_steps=2, eval_every=0), project, live_dir=None)
    assert "flash_attn_4 not used" in caplog.text


def test_max_minutes_stops_early_with_a_checkpoint_and_a_model(project):
    from sanchaek.train import train

    result = train(tiny_params(max_minutes=1e-6, max_steps=50), project, live_dir=None)
    assert result.stopped_by == "max_minutes" and result.steps == 2  # the first log step checks the clock
    assert (project.checkpoints_dir / "step_2").exists() and (project.model_dir / "config.json").exists()


def test_cuda_oom_names_the_knobs_to_turn(project, monkeypatch):
    from sanchaek.model import lm_eval
    from sanchaek.train import train

    def out_of_memory(model, blocks, fused=False):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(lm_eval, "lm_loss", out_of_memory)
    with pytest.raises(SanchaekError) as err:
        train(tiny_params(), project, live_dir=None)
    for knob in ("train.micro_batch_size", "train.grad_accum_steps", "train.seq_len"):
        assert knob in str(err.value)


def test_on_step_sees_every_finished_step_and_training_runs_without_dvclive(project, monkeypatch):
    import sanchaek.model.checkpoints as checkpoints_module
    from sanchaek.train import train

    monkeypatch.setattr(checkpoints_module, "dvclive_available", lambda: False)  # a GPU box without dvc/dvclive
    seen: list[int] = []
    result = train(tiny_params(max_steps=4), project, checkpoints=False, on_step=seen.append)
    assert seen == [1, 2, 3, 4] and result.steps == 4
    assert not (project.report("train") / "metrics.json").exists()


@pytest.mark.parametrize("scope", ["model", "blocks"])
def test_a_compiled_run_saves_weights_that_load_back(project, monkeypatch, scope):
    """torch.compile's wrapper renames every weight (_orig_mod.*); the saved model must not. The
    block scope compiles in place, evaluation included."""
    import functools

    import torch

    from sanchaek.model.data import load_blocks
    from sanchaek.model.lm_eval import evaluate_lm
    from sanchaek.model.loading import load_causal_lm
    from sanchaek.train import train

    # Dynamo's eager backend: the same OptimizedModule wrapper, without code generation (fast on CPU).
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    result = train(
        tiny_params(compile=True, compile_scope=scope, max_steps=6, eval_every=0, eval_max_blocks=None),
        project,
        checkpoints=False,
    )
    model, tokenizer = load_causal_lm(str(project.model_dir))
    blocks = load_blocks(project.val_split, tokenizer, 32, project.cache_dir)
    reloaded = evaluate_lm(model, blocks, batch_size=4)
    assert abs(reloaded["loss"] - result.final["val_loss"]) < 1e-4
    # Training's mask-free attention is not saved: users load the model with plain SDPA.
    assert model.config._attn_implementation == "sdpa"
    assert "sanchaek" not in (project.model_dir / "config.json").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- bf16 with fp32 masters


def test_bf16_master_follows_the_autocast_curve_and_saves_full_precision(tmp_path):
    from accelerate.state import AcceleratorState
    from transformers import AutoModelForCausalLM

    from sanchaek.train import train

    runs = {}
    for mode in ("bf16", "bf16-master"):
        AcceleratorState._reset_state(True)  # one precision per process, as `sanchaek train` runs
        runs[mode] = train(
            tiny_params(mixed_precision=mode, max_steps=24, eval_every=8), make_project(tmp_path / mode)
        )
    autocast, master = ([h["val_loss"] for h in runs[m].history] for m in ("bf16", "bf16-master"))
    assert master[-1] < master[0] - 0.3  # it learns
    assert master == pytest.approx(autocast, abs=0.02)  # the same curve within bf16 noise
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "bf16-master" / "models" / "lm")
    weight = model.model.layers[0].mlp.up_proj.weight
    # The saved weights are the fp32 masters, not their bf16 rounding.
    assert weight.dtype == torch.float32 and (weight.to(torch.bfloat16).float() != weight).any()


def test_bf16_master_resumes_to_the_same_loss(tmp_path):
    from accelerate.state import AcceleratorState

    from sanchaek.train import train

    AcceleratorState._reset_state(True)
    params = tiny_params(mixed_precision="bf16-master")
    whole = train(params, make_project(tmp_path / "a"), live_dir=None)
    layout = make_project(tmp_path / "b")
    train(params, layout, stop_after_steps=7, live_dir=None)  # "killed" after the step-6 checkpoint
    resumed = train(params, layout, live_dir=None)
    assert resumed.final["val_loss"] == pytest.approx(whole.final["val_loss"], abs=1e-5)
    assert resumed.final["train_loss"] == pytest.approx(whole.final["train_loss"], abs=1e-5)


@pytest.mark.parametrize("max_grad_norm", [None, 0.05])
def test_master_adamw_is_clip_grad_norm_then_torch_adamw_on_the_widened_gradients(max_grad_norm):
    """The one-pass update must be the old path's arithmetic: widen the bf16 gradients, clip them with
    clip_grad_norm_, step fp32 masters with torch's AdamW, narrow the masters into the model."""
    from sanchaek.model.optim import MasterAdamW, MasterWeights, build_optimizer

    torch.manual_seed(0)
    used, unused = torch.nn.Linear(8, 6), torch.nn.Linear(8, 6)
    params = [*used.parameters(), *unused.parameters()]
    reference = [p.detach().clone().requires_grad_(True) for p in params]
    untouched = params[2].detach().clone()
    master = MasterWeights(params, torch.device("cpu"))
    assert all(p.dtype == torch.bfloat16 for p in params)
    hyper = {"lr": 0.01, "weight_decay": 0.1, "betas": (0.9, 0.95), "eps": 1e-8}
    ours = MasterAdamW(master, **hyper, max_grad_norm=max_grad_norm, compiled=False)
    theirs = build_optimizer(reference, **hyper, fused=False)
    for _ in range(3):
        used(torch.randn(4, 8, dtype=torch.bfloat16)).pow(2).sum().backward()
        for r, p in zip(reference, params, strict=True):
            r.grad = None if p.grad is None else p.grad.float()
        with_grads = [r for r in reference if r.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(with_grads, max_grad_norm or float("inf"))
        ours.step()
        theirs.step()
        assert float(ours.grad_norm) == pytest.approx(float(norm), rel=1e-6)
        if max_grad_norm is not None:
            assert norm > max_grad_norm  # the clipping is exercised
        for m, r in zip(master.master, reference, strict=True):
            torch.testing.assert_close(m.detach(), r.detach(), rtol=1e-6, atol=1e-7)
        assert all(torch.equal(p, m.to(torch.bfloat16)) for p, m in zip(params, master.master, strict=True))
        assert all(p.grad is None for p in params)  # the bf16 gradients are freed
    assert torch.equal(master.master[2], untouched)  # no gradient: not even weight decay
    assert set(ours.state[master.master[0]]) == set(theirs.state[reference[0]])  # AdamW's layout
    with pytest.raises(ValueError, match="do not match"):
        master.load_state_dict({"master": master.state_dict()["master"][:2]})


def test_bf16_master_refuses_the_re_objective_with_the_fix():
    with pytest.raises(SanchaekError, match="re_weight: 0") as err:
        tiny_params(mixed_precision="bf16-master", re_weight=0.5)
    assert "\n" not in str(err.value)


def test_auto_precision_is_bf16_master_on_a_bf16_gpu_where_it_applies(monkeypatch):
    from sanchaek.train import resolve_mixed_precision

    def auto(**train):
        return resolve_mixed_precision(tiny_params(mixed_precision="auto", **train).train)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert auto() == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert auto() == "bf16-master"
    assert auto(grad_accum_steps=4) == "bf16"  # no bf16 accumulation over micro-steps
    assert auto(re_weight=0.5) == "bf16"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert auto() == "bf16"


# ----------------------------------------------------------------------------- what each step trains on


def test_step_0_trains_on_the_plans_step_0_batch(project, monkeypatch):
    """The batches the loop feeds the model are the plan's, in the plan's order: a loop that trained on
    step k+1's batch at step k (every resumed/multi-process comparison would share that shift) fails."""
    from sanchaek.model import lm_eval
    from sanchaek.model.data import GlobalBatches, load_blocks
    from sanchaek.model.loading import load_tokenizer
    from sanchaek.train import train

    seen: list[torch.Tensor] = []
    loss = lm_eval.lm_loss

    def record(model, blocks, fused=False):
        if model.training:
            seen.append(blocks.detach().clone())
        return loss(model, blocks, fused)

    monkeypatch.setattr(lm_eval, "lm_loss", record)
    params = tiny_params(max_steps=3, eval_every=0, checkpoint_every=0)
    train(params, project, live_dir=None)
    blocks = load_blocks(project.train_split, load_tokenizer(str(project.model_dir)), 32, project.cache_dir)
    plan = GlobalBatches(len(blocks), global_batch=4, seed=7)
    expected = [
        torch.as_tensor(np.stack([blocks[i] for i in plan.indices(s)]).astype(np.int64)) for s in range(3)
    ]
    assert not torch.equal(expected[0], expected[1])  # a shifted loop would be told apart
    assert len(seen) == 3
    for step, (got, want) in enumerate(zip(seen, expected, strict=True)):
        assert torch.equal(got, want), f"step {step} trained on another batch than the plan's"


def test_gradient_clipping_bounds_the_norm_the_optimizer_steps_with(project, monkeypatch):
    """Every AdamW step sees gradients of global norm <= train.grad_clip; without clipping the same run
    steps with larger ones, so a loop that skipped clipping fails here, not by an accuracy margin."""
    from sanchaek.train import train

    norms: list[float] = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    clip = 0.05
    train(tiny_params(max_steps=6, eval_every=0, checkpoint_every=0, grad_clip=clip), project, live_dir=None)
    clipped, norms[:] = list(norms), []
    train(
        tiny_params(max_steps=6, eval_every=0, checkpoint_every=0, grad_clip=None, resume="never"),
        project,
        live_dir=None,
    )
    assert len(clipped) == len(norms) == 6
    assert max(clipped) <= clip * (1 + 1e-4), clipped
    assert min(norms) > 2 * clip, norms  # unclipped, every step's gradient is far above the bound


def test_runs_of_different_precisions_share_one_process(project):
    """A sweep over re_weight on a GPU switches bf16-master (Accelerator 'no') to bf16 autocast: the
    second run's Accelerator must not be refused by the first run's process-wide state."""
    from sanchaek.train import train

    base = dict(max_steps=1, eval_every=0, checkpoint_every=0)
    first = train(tiny_params(mixed_precision="no", **base), project, checkpoints=False, live_dir=None)
    second = train(tiny_params(mixed_precision="bf16", **base), project, checkpoints=False, live_dir=None)
    assert first.steps == second.steps == 1
