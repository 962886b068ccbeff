"""Tests that pin src/sanchaek/model/memory_plan.py term by term (`make mutation`,
reports/quality/mutation.json): on a small hand-made model shape every byte of the plan is worked out
here from the formulas in the module's docstring; the routes to a fitting run, the one-line refusal,
the shape read off a config (against transformers' own parameter count) and the `--plan` report."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from sanchaek.errors import SanchaekError
from sanchaek.model.memory_plan import (
    GIB,
    NF4_BYTES_PER_WEIGHT,
    WORKSPACE_BYTES,
    MemoryPlan,
    ModelShape,
    RunShape,
    _smallest_change,
    alternatives,
    available_memory,
    check_fits,
    lora_params,
    model_shape,
    plan,
    plan_report,
)

# two blocks of hidden 10, each with a q_proj 10 -> 10 and a down_proj 20 -> 10
SHAPE = ModelShape(
    params=1000,
    block_linear_params=600,
    layers=2,
    hidden=10,
    kv_dim=4,
    ffn=20,
    vocab=50,
    linear_shapes={"q_proj": [(10, 10), (10, 10)], "down_proj": [(20, 10), (20, 10)]},
    largest_linear=200,
)


def run(method="full", precision="bf16-master", **kw) -> RunShape:
    knobs = dict(seq_len=3, micro_batch_size=2, gradient_checkpointing=False, fused_loss=True, compiled=True)
    return RunShape(method, precision, **{**knobs, **kw})


def terms(p: MemoryPlan) -> tuple:
    return (p.weights, p.trainable_state, p.activations, p.logits, p.workspace, p.trainable_params)


def test_nf4_bytes_and_the_workspace():
    assert NF4_BYTES_PER_WEIGHT == pytest.approx(0.5 + 1 / 64 + 1 / 4096) and WORKSPACE_BYTES == GIB == 2**30


def test_lora_parameters_and_adapted_inputs():
    assert lora_params(SHAPE, 2, ()) == (2 * 20 * 2 + 2 * 30 * 2, (10 + 10 + 20 + 20) // 2)
    assert lora_params(SHAPE, 2, ("q_proj",)) == (80, 10)
    assert lora_params(SHAPE, 4, ("down_proj", "o_proj")) == (240, 20)
    no_layers = ModelShape(10, 0, 0, 1, 1, 1, 1, {"q_proj": [(3, 1)]}, 3)
    assert lora_params(no_layers, 1, ()) == (4, 3)  # no division by zero layers


def test_full_training_terms():
    # 6 tokens; bf16 activations: 2 * (6*10 + 2*4 + 3*20) = 256 bytes a token and layer
    assert terms(plan(SHAPE, run())) == (2000, 14000, 6 * 2 * 256, 6 * 50 * 2 * 1, WORKSPACE_BYTES, 1000)
    # fp32: weights 4 bytes, state 4 + 8, activations 4 bytes wide, an unfused loss (4 compiled buffers)
    assert terms(plan(SHAPE, run(precision="no"))) == (4000, 12000, 6 * 2 * 512, 6 * 50 * 2 * 4, GIB, 1000)
    # bf16 autocast, eager, checkpointed, unfused: per layer 256 + 8 * 2 * 10; kept: each block's input
    # (2 * 10 bytes a layer) plus one block recomputed; 7 eager loss buffers
    eager = plan(SHAPE, run(precision="bf16", compiled=False, gradient_checkpointing=True, fused_loss=False))
    assert terms(eager) == (4000, 14000, 6 * (2 * 2 * 10 + 416), 6 * 50 * 2 * 7, GIB, 1000)
    assert eager.total == 4000 + 14000 + 6 * 456 + 4200 + GIB


def test_adapter_training_terms():
    lora = plan(SHAPE, run("lora", "bf16", lora_rank=2, lora_dropout=0.1, compiled=False))
    # per layer: 256 + dropout's (2 + 1) * 30 + eager frozen norms 5 * 2 * 10 + autocast's fp32 copy 4 * 30
    assert terms(lora) == (1000 * 2 + 200 * 4, 200 * 14, 6 * 2 * (256 + 90 + 100 + 120), 600, GIB, 200)
    plain = plan(SHAPE, run("lora", "bf16-master", lora_rank=2))  # no dropout, compiled, bf16 adapters
    assert terms(plain) == (1000 * 2 + 200 * 2, 200 * 14, 6 * 2 * 256, 600, GIB, 200)
    fp32 = plan(SHAPE, run("lora", "no", lora_rank=2, fused_loss=False, compiled=False))
    assert terms(fp32) == (1000 * 4 + 200 * 4, 200 * 12, 6 * 2 * (512 + 5 * 4 * 10), 6 * 50 * 2 * 7, GIB, 200)
    qlora = plan(SHAPE, run("qlora", "bf16-master", lora_rank=2, lora_targets=("q_proj",)))
    # NF4 blocks, the other 400 weights in bf16, the largest layer dequantized, bf16 adapters
    assert qlora.weights == pytest.approx(600 * NF4_BYTES_PER_WEIGHT + 400 * 2 + 200 * 2 + 80 * 2)
    assert terms(qlora)[1:] == (80 * 14, 6 * 2 * 256, 600, GIB, 80)


def test_sharding_divides_weights_and_state_only():
    sharded = plan(SHAPE, run(processes=4, sharded=True))
    assert terms(sharded) == (500, 3500, 6 * 2 * 256, 600, GIB, 1000)
    assert terms(plan(SHAPE, run(processes=4))) == terms(plan(SHAPE, run()))  # replicated: no division


def test_describe_in_gib():
    p = MemoryPlan(1.5 * GIB, 0.3 * GIB, 2 * GIB, 0.1 * GIB, GIB, 1_234_567)
    assert p.total == pytest.approx(4.9 * GIB)
    assert p.describe() == (
        "4.9 GiB per GPU (weights 1.5, trainable_state 0.3, activations 2.0, logits 0.1, workspace 1.0; "
        "1,234,567 trainable parameters)"
    )


# a model whose full training state and activations, not its weights, decide what fits
BIG = ModelShape(200_000_000, 32 * 262_144, 32, 512, 128, 2048, 1000, {"q_proj": [(512, 512)] * 32}, 262_144)


def big(**kw) -> RunShape:
    return run(**{"seq_len": 512, "micro_batch_size": 8, "fused_loss": False, **kw})


def total(**kw) -> float:
    return plan(BIG, big(**kw)).total


def test_the_smallest_change_halves_the_micro_batch_then_adds_checkpointing():
    assert _smallest_change(BIG, big(), total()) == []  # fits as it is, even at exactly the limit
    assert _smallest_change(BIG, big(), total(micro_batch_size=2)) == [
        "train.micro_batch_size: 2 (x4 train.grad_accum_steps)"
    ]
    assert _smallest_change(BIG, big(), total(micro_batch_size=2) - 1) == [
        "train.micro_batch_size: 1 (x8 train.grad_accum_steps)"
    ]
    at_one = total(micro_batch_size=1)
    assert total(micro_batch_size=8, gradient_checkpointing=True) < at_one
    assert _smallest_change(BIG, big(), at_one - 1) == ["model.gradient_checkpointing: true"]
    assert _smallest_change(BIG, big(micro_batch_size=6), total(micro_batch_size=3) + 1) == [
        "train.micro_batch_size: 3 (x2 train.grad_accum_steps)"
    ]
    floor = total(micro_batch_size=1, gradient_checkpointing=True)
    assert _smallest_change(BIG, big(), floor - 1) is None
    assert _smallest_change(BIG, big(gradient_checkpointing=True), floor) == [
        "train.micro_batch_size: 1 (x8 train.grad_accum_steps)"
    ]


def test_alternatives_name_each_route_once_and_the_first_fsdp_that_fits():
    lora_fits = plan(BIG, big(method="lora")).total
    assert lora_fits < total(micro_batch_size=1, gradient_checkpointing=True)
    assert alternatives(BIG, big(), lora_fits) == [
        "train.method: lora",
        "train.method: qlora",
        "FSDP over 2 GPUs with train.micro_batch_size: 4 (x2 train.grad_accum_steps)",  # 4 and 8 GPUs not named
    ]
    assert alternatives(BIG, big(), plan(BIG, big(processes=2, sharded=True)).total) == [
        "train.micro_batch_size: 2 (x4 train.grad_accum_steps)",
        "train.method: lora",
        "train.method: qlora",
        "FSDP over 2 GPUs",
    ]
    four = plan(BIG, big(processes=4, sharded=True)).total
    assert alternatives(BIG, big(method="lora", micro_batch_size=1), four)[-1] == "FSDP over 2 GPUs"
    assert alternatives(BIG, big(method="qlora"), plan(BIG, big(method="qlora", micro_batch_size=4)).total) == [
        "train.micro_batch_size: 4 (x2 train.grad_accum_steps)",
        "FSDP over 2 GPUs with train.micro_batch_size: 4 (x2 train.grad_accum_steps)",
    ]
    assert alternatives(BIG, big(sharded=True, processes=2), 1.0) == []
    assert all("FSDP" not in f for f in alternatives(BIG, big(sharded=True, processes=2), lora_fits))


def test_check_fits_returns_the_plan_or_one_line_with_the_fixes():
    assert check_fits(BIG, big(), total(), where="x") == plan(BIG, big())
    lora_fits = plan(BIG, big(method="lora")).total
    with pytest.raises(SanchaekError) as err:
        check_fits(BIG, big(), lora_fits, where="this card")
    fixes = "; or ".join(alternatives(BIG, big(), lora_fits))
    assert str(err.value) == (
        f"memory plan: train.method full at train.micro_batch_size=8, train.seq_len=512 needs "
        f"~{total() / GIB:.1f} GiB per GPU, more than the {lora_fits / GIB:.1f} GiB of this card: set {fixes}"
    )
    with pytest.raises(SanchaekError, match=r"set a GPU with more memory, or a smaller model$"):
        check_fits(BIG, big(), 1.0, where="x")


def test_model_shape_reads_a_config_without_optional_fields():
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    gpt2 = GPT2Config(n_embd=32, n_head=4, n_layer=2, vocab_size=50, n_positions=64)
    shape = model_shape(gpt2)  # no kv heads, no head_dim, no intermediate size; Conv1D, not Linear
    assert shape.params == AutoModelForCausalLM.from_config(gpt2).num_parameters()
    assert (shape.layers, shape.hidden, shape.kv_dim, shape.ffn, shape.vocab) == (2, 32, 32, 128, 50)
    assert (shape.linear_shapes, shape.block_linear_params, shape.largest_linear) == ({}, 0, 0)
    llama = LlamaConfig(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                        intermediate_size=96, num_hidden_layers=2, vocab_size=100)  # fmt: skip
    shape = model_shape(llama)
    assert shape.params == AutoModelForCausalLM.from_config(llama).num_parameters()
    assert (shape.kv_dim, shape.ffn) == (2 * 32, 96)
    assert shape.linear_shapes == {
        "q_proj": [(64, 128)] * 2, "k_proj": [(64, 64)] * 2, "v_proj": [(64, 64)] * 2, "o_proj": [(128, 64)] * 2,
        "gate_proj": [(64, 96)] * 2, "up_proj": [(64, 96)] * 2, "down_proj": [(96, 64)] * 2,
    }  # fmt: skip
    assert shape.block_linear_params == 2 * (8192 + 4096 + 4096 + 8192 + 3 * 6144)
    assert shape.largest_linear == 8192


def test_available_memory_from_params_or_nothing_on_a_cpu():
    assert available_memory(SimpleNamespace(memory_gib=40.0), "cpu") == (40.0 * GIB, "train.memory_gib")
    import torch

    assert available_memory(SimpleNamespace(memory_gib=None), torch.device("cpu")) == (None, "no GPU")
    assert available_memory(SimpleNamespace(memory_gib=None), "cpu") == (None, "no GPU")


LLAMA_1B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000, "hidden_size": 2048,
    "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
    "max_position_embeddings": 2048, "tie_word_embeddings": False,
}  # fmt: skip


@pytest.mark.parametrize(("train", "precision", "fits"), [
    ({"method": "lora", "memory_gib": 40}, "bf16-master", True),
    ({"method": "full", "memory_gib": 8, "grad_accum_steps": 2}, "bf16", False),
    ({"method": "full", "memory_gib": 8, "mixed_precision": "bf16"}, "bf16", False),
])  # fmt: skip
def test_the_plan_report(tmp_path, train, precision, fits):
    from sanchaek.config import params_from_dict
    from sanchaek.model.memory_plan import memory_plan_for

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_1B))
    params = params_from_dict(
        {"model": {"name_or_path": str(tmp_path)}, "train": {"seq_len": 2048, "micro_batch_size": 4, **train}}
    )
    report = plan_report(params, processes=1, sharded=False).split("\n")
    shape, run_shape = memory_plan_for(params, precision=precision, processes=1, sharded=False, cuda=True)
    estimate = plan(shape, run_shape)
    assert run_shape.fused_loss == params.train.fused_cross_entropy and run_shape.precision == precision
    assert report[0] == f"memory plan ({train['method']}, {precision}, 1 process(es)): {estimate.describe()}"
    gib = float(train["memory_gib"])
    assert report[1] == f"{'fits' if fits else 'does not fit'} in the {gib:.1f} GiB of train.memory_gib"
    if fits:
        assert len(report) == 2
    else:
        assert report[2] == "would fit: " + "; ".join(alternatives(shape, run_shape, gib * GIB))
    unfused, _ = memory_plan_for(params, precision=precision, processes=2, sharded=True, cuda=True)[1], None
    assert unfused.fused_loss is False and unfused.sharded and unfused.processes == 2
    assert memory_plan_for(params, precision=precision, processes=1, sharded=False, cuda=False)[1].fused_loss is False


def test_adapted_inputs_per_block_are_whole_bytes_and_follow_the_targets():
    odd = ModelShape(1000, 420, 2, 10, 4, 20, 50, {"q_proj": [(10, 10), (11, 10)], "down_proj": [(20, 10)] * 2}, 200)
    assert lora_params(odd, 1, ("q_proj",)) == (41, 10)  # 21 // 2
    assert isinstance(lora_params(odd, 1, ())[1], int)
    # dropout and autocast copies count only the targeted layers' inputs (q_proj: 10 a block, not 30)
    targeted = plan(SHAPE, run("lora", "bf16", lora_rank=2, lora_dropout=0.1, lora_targets=("q_proj",)))
    assert targeted.activations == 6 * 2 * (256 + 3 * 10 + 4 * 10)
    # full training has no adapter: its dropout setting adds nothing
    assert plan(SHAPE, run(lora_dropout=0.5)).activations == plan(SHAPE, run()).activations


# weights and optimizer state dominate: a smaller micro-batch cannot make the full run fit
STATEFUL = ModelShape(1_000_000_000, 900_000_000, 2, 64, 64, 128, 100, {"q_proj": [(64, 64)] * 2}, 4096)


def test_fsdp_is_named_with_the_fewest_gpus_that_fit():
    tiny = run(seq_len=8, micro_batch_size=1)
    for n in (4, 8):
        available = plan(STATEFUL, replace(tiny, processes=n, sharded=True)).total
        found = [f for f in alternatives(STATEFUL, tiny, available) if f.startswith("FSDP")]
        assert found == [f"FSDP over {n} GPUs"]


def test_qlora_is_named_where_only_the_4bit_base_fits():
    tiny = run(seq_len=8, micro_batch_size=1)
    available = plan(STATEFUL, replace(tiny, method="qlora")).total
    assert plan(STATEFUL, replace(tiny, method="lora")).total > available
    assert alternatives(STATEFUL, tiny, available) == ["train.method: qlora"]


def test_two_changes_are_joined_with_and():
    needs_both = total(micro_batch_size=2, gradient_checkpointing=True)
    assert total(micro_batch_size=1) > needs_both and total(micro_batch_size=4, gradient_checkpointing=True) > needs_both
    assert alternatives(BIG, big(), needs_both)[0] == (
        "train.micro_batch_size: 2 (x4 train.grad_accum_steps) and model.gradient_checkpointing: true"
    )


def test_a_multimodal_config_is_read_from_its_text_part():
    from transformers import Gemma3Config

    config = Gemma3Config(
        text_config=dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, vocab_size=300),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
    )  # fmt: skip
    shape = model_shape(config)  # the top-level config has no hidden_size of its own
    assert (shape.layers, shape.hidden, shape.kv_dim, shape.ffn, shape.vocab) == (2, 64, 32, 96, 300)


def test_a_head_dim_from_the_hidden_size_is_a_whole_number():
    from transformers import GPT2Config

    shape = model_shape(GPT2Config(n_embd=32, n_head=4, n_layer=1, vocab_size=20, n_positions=16))
    assert shape.kv_dim == 32 and isinstance(shape.kv_dim, int)


@pytest.mark.parametrize("targets", ["all", ["q_proj", "v_proj"]])
def test_the_run_shape_carries_every_knob_from_params(tmp_path, targets):
    from sanchaek.config import params_from_dict
    from sanchaek.model.memory_plan import memory_plan_for

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_1B))
    params = params_from_dict({
        "model": {"name_or_path": str(tmp_path), "gradient_checkpointing": True},
        "train": {"method": "lora", "seq_len": 512, "micro_batch_size": 3, "compile": False,
                  "lora": {"rank": 4, "dropout": 0.05, "target_modules": targets}},
    })  # fmt: skip
    _, shape = memory_plan_for(params, precision="bf16", processes=2, sharded=False, cuda=True)
    assert shape == RunShape(
        method="lora", precision="bf16", seq_len=512, micro_batch_size=3, gradient_checkpointing=True,
        fused_loss=params.train.fused_cross_entropy, compiled=False, processes=2, sharded=False, lora_rank=4,
        lora_targets=() if targets == "all" else tuple(targets), lora_dropout=0.05,
    )  # fmt: skip


def _report(tmp_path, **train):
    from sanchaek.config import params_from_dict

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_1B))
    base = {"method": "lora", "seq_len": 256, "micro_batch_size": 1, "mixed_precision": "bf16"}
    return params_from_dict({"model": {"name_or_path": str(tmp_path)}, "train": {**base, **train}})


def test_the_report_at_exactly_the_memory_and_with_nothing_that_fits(tmp_path):
    from sanchaek.model.memory_plan import memory_plan_for

    shape, run_shape = memory_plan_for(_report(tmp_path), precision="bf16", processes=1, sharded=False, cuda=True)
    exact = plan(shape, run_shape).total / GIB
    lines = plan_report(_report(tmp_path, memory_gib=exact), processes=1, sharded=False).split("\n")
    assert len(lines) == 2 and lines[1].startswith("fits in the ")
    lines = plan_report(_report(tmp_path, memory_gib=0.5), processes=1, sharded=False).split("\n")
    assert lines[1:] == ["does not fit in the 0.5 GiB of train.memory_gib", "would fit: nothing here"]
    only = plan_report(_report(tmp_path), processes=1, sharded=False).split("\n")  # no GPU, no memory_gib
    assert len(only) == 1 and only[0].startswith("memory plan (lora, bf16, 1 process(es)): ")


def test_the_report_of_a_sharded_run_divides_by_its_processes(tmp_path):
    from sanchaek.model.memory_plan import memory_plan_for

    params = _report(tmp_path, method="full", memory_gib=80)
    report = plan_report(params, processes=4, sharded=True).split("\n")
    shape, run_shape = memory_plan_for(params, precision="bf16", processes=4, sharded=True, cuda=True)
    assert report[0] == f"memory plan (full, bf16, 4 process(es)): {plan(shape, run_shape).describe()}"
    assert plan(shape, run_shape).weights == plan(shape, replace(run_shape, sharded=False)).weights / 4
