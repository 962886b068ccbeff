"""bench/fused_projections.py, behind bench/lora_gpu.py's ``fused_qkv`` generation variant: a
block's q/k/v (and gate/up) projections as one matmul each, on tiny random Llama, Qwen2, Gemma and
GPT-NeoX models built in memory, and the graph pass that keeps one product per group in a compiled
step. A variant's tokens/s only count if the fused model computes what the original does."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import LAYERS, tiny
from torch.fx.experimental.proxy_tensor import make_fx

from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.model.compiled_steps import compile_steps, inductor_options
from sanchaek.model.decoding import encode, load_model, sample_batch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "fused_projections.py"
spec = importlib.util.spec_from_file_location("fused_projections", BENCH)
fp = importlib.util.module_from_spec(spec)
sys.modules["fused_projections"] = fp  # Inductor's cache key imports the graph pass by its module
spec.loader.exec_module(fp)

# The architectures with projections to fuse (GPT-2 has one c_attn layer already).
FUSABLE = ["llama", "qwen2", "gemma", "gpt_neox"]


def matmuls(graph: torch.fx.Graph) -> int:
    return sum(1 for n in graph.nodes if n.op == "call_function" and "mm" in str(n.target))


@pytest.mark.parametrize("kind", FUSABLE)
@pytest.mark.parametrize("groups", [("qkv_proj",), ("qkv_proj", "gate_up_proj")])
def test_fused_model_computes_what_the_original_does(kind, groups):
    model = tiny(kind)
    ids = torch.randint(0, 101, (2, 9))
    numel = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        before = model(ids).logits
    fused = fp.fuse_parallel_projections(model, groups)
    with torch.no_grad():
        after = model(ids).logits
    assert fused == (0 if kind == "gpt_neox" else len(groups) * LAYERS)
    assert sum(p.numel() for p in model.parameters()) == numel  # each weight is held once, in its group
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    # the eager memo is dropped after the group's last projection: no step's activations stay alive
    assert all(m._memo is None for m in model.modules() if isinstance(m, fp.FusedProjection))
    if kind != "gpt_neox":
        mlp = model.model.layers[0].mlp
        assert isinstance(mlp.gate_proj, fp.ProjectionSlice) == ("gate_up_proj" in groups)


def test_groups_of_unlike_layers_are_left_alone():
    """A group fuses only plain nn.Linear layers of one input size, dtype and device."""
    model = tiny("llama")
    attention = model.model.layers[0].self_attn
    attention.k_proj = attention.k_proj.to(torch.float64)
    assert fp.fuse_parallel_projections(model) == 2 * LAYERS - 1
    assert isinstance(attention.q_proj, torch.nn.Linear) and isinstance(attention.k_proj, torch.nn.Linear)
    assert isinstance(model.model.layers[0].mlp.gate_proj, fp.ProjectionSlice)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_compiled_step_keeps_one_product_per_group(kind):
    """Every slice of a fused group writes the whole product in the traced graph; the post-grad pass
    must leave one matmul per group (4 a block: qkv, o, gate_up, down; 1 for the head) and
    Inductor's code must still compute the model."""
    torch._dynamo.reset()
    model = tiny(kind)
    fp.fuse_parallel_projections(model)
    counted = {}

    class Counting(fp.DedupeIdenticalNodes):
        def __call__(self, graph):
            counted["before"] = matmuls(graph)
            super().__call__(graph)
            counted["after"] = matmuls(graph)

    options = {**inductor_options(EngineParams(compile_mode="default")), "post_grad_custom_pre_pass": Counting()}
    ids = torch.randint(0, 101, (1, 5))
    # No cache: a graph compiled before (this test in another run) would come back without the pass running.
    with torch.no_grad(), torch._inductor.config.patch(force_disable_caches=True):
        expected = model(ids).logits
        got = torch.compile(model, dynamic=False, options=options)(ids).logits
    assert counted == {"before": 7 * LAYERS + 1, "after": 4 * LAYERS + 1}
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_the_pass_keeps_random_ops_and_reads_across_a_mutation():
    """Only repeats of a pure op on the same arguments merge: two draws of randomness stay two,
    and a read of a tensor before an in-place update is not merged with a read after it."""

    def f(x):
        before = x.sin()
        x.add_(1)
        after, again = x.sin(), x.sin()
        return before + after + again, torch.rand(3), torch.rand(3)

    gm = make_fx(f)(torch.randn(3))
    targets = [str(n.target) for n in gm.graph.nodes]
    assert targets.count("aten.sin.default") == 3 and targets.count("aten.rand.default") == 2
    fp.DedupeIdenticalNodes()(gm.graph)
    gm.recompile()
    targets = [str(n.target) for n in gm.graph.nodes]
    assert targets.count("aten.sin.default") == 2
    assert targets.count("aten.rand.default") == 2 and targets.count("aten.add_.Tensor") == 1
    x = torch.randn(3)
    total, first, second = gm(x.clone())
    torch.testing.assert_close(total, f(x.clone())[0])
    assert not torch.equal(first, second)


def test_engine_with_fused_qkv_samples_like_the_plain_loop(tiny_lm_dir):
    """The static engine on a model with fused q/k/v (traced by torch.compile's eager backend, as
    the compiled-step test in test_generate does) picks the same tokens as the unfused plain loop."""
    torch._dynamo.reset()
    plain_lm = load_model(str(tiny_lm_dir), EngineParams(device="cpu"))
    fused_lm = load_model(str(tiny_lm_dir), EngineParams(device="cpu"))
    assert fp.fuse_parallel_projections(fused_lm.model, ("qkv_proj",)) > 0
    engine = EngineParams(kind="static", device="cpu", compile=True)
    fused_lm = dataclasses.replace(fused_lm, compiled=compile_steps(fused_lm.model, engine, backend="eager"))
    prompts = [encode(plain_lm, t) for t in ["오늘 엄마가", "나는 강가를 따라 천천히 걸었다.", "골목"]]
    s = SamplingParams(max_new_tokens=16)
    plain = sample_batch(plain_lm, prompts, s, EngineParams(kind="plain", device="cpu"), seed=5)
    assert sample_batch(fused_lm, prompts, s, engine, seed=5) == plain
