"""What the static engine compiles (``model.compiled_steps``), on tiny random models built in memory:
the MLP activation written out once per layer, the decode-only eager attention, and the prompt's
forward compiled with dynamic shapes. None may change what the model computes or samples."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import transformers
from tiny_models import ARCHITECTURES, LAYERS, tiny

from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.model.compiled_steps import (
    DECODE_EAGER,
    compile_steps,
    realize_mlp_activations,
    use_decode_attention,
)
from sanchaek.model.decoding import encode, load_model, sample_batch


def realizations(gm: torch.fx.GraphModule) -> int:
    return sum(1 for n in gm.graph.nodes if "inductor_force_stride_order" in str(n.target))


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_each_mlp_activation_is_written_out_once_in_the_graph(kind):
    """One hook per block's MLP output layer (named per architecture), added once however often the
    engine is built; eager logits unchanged; the traced graph holds one realization per block."""
    torch._dynamo.reset()
    model = tiny(kind)
    ids = torch.randint(0, 101, (2, 7))
    with torch.no_grad():
        before = model(ids).logits
    assert realize_mlp_activations(model) == LAYERS
    assert realize_mlp_activations(model) == 0
    graphs = []

    def keeping(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    with torch.no_grad():
        assert torch.equal(model(ids).logits, before)
        traced = torch.compile(model, backend=keeping, dynamic=False)(ids).logits
    torch.testing.assert_close(traced, before, rtol=0, atol=1e-6)
    assert sum(realizations(gm) for gm in graphs) == LAYERS


def test_inductor_computes_the_model_with_its_activations_realized():
    torch._dynamo.reset()
    model = tiny("llama")
    ids = torch.randint(0, 101, (1, 5))
    with torch.no_grad():
        before = model(ids).logits
        realize_mlp_activations(model)
        after = torch.compile(model, dynamic=False)(ids).logits
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def static_cache_logits(model: torch.nn.Module, device: str = "cpu") -> list[torch.Tensor]:
    """The last-position logits of a left-padded two-row prompt and of three one-token steps after
    it, with a static cache wider than the text (the engine's masks and positions)."""
    torch.manual_seed(3)
    ids = torch.randint(0, 101, (2, 6)).to(device)
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # a left-padded row
    cache = transformers.StaticCache(config=model.config, max_cache_len=16)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    full = torch.cat([mask, torch.ones(2, 16 - 6, dtype=mask.dtype, device=device)], dim=1)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=full, position_ids=positions, past_key_values=cache)
        logits = [out.logits[:, -1]]
        token, position = logits[-1].argmax(-1, keepdim=True), positions[:, -1:] + 1
        for _ in range(3):
            out = model(input_ids=token, attention_mask=full, position_ids=position, past_key_values=cache)
            logits.append(out.logits[:, -1])
            token, position = logits[-1].argmax(-1, keepdim=True), position + 1
    return logits


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_decode_eager_attention_is_eager_for_one_token_and_sdpa_for_prompts(kind, monkeypatch):
    """The prompt and each one-token step give the logits SDPA gives, with the static cache; the
    model's own eager function runs for the one-token steps only."""
    import sys

    model = tiny(kind)
    reference = static_cache_logits(model)
    modeling = sys.modules[type(model).__module__]
    eager_calls = []
    real_eager = modeling.eager_attention_forward

    def counting_eager(module, query, *args, **kwargs):
        eager_calls.append(query.shape[2])
        return real_eager(module, query, *args, **kwargs)

    monkeypatch.setattr(modeling, "eager_attention_forward", counting_eager)
    assert use_decode_attention(model, "eager")
    assert model.config._attn_implementation == DECODE_EAGER
    for ours, theirs in zip(static_cache_logits(model), reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert eager_calls and set(eager_calls) == {1} and len(eager_calls) == 3 * LAYERS


def test_a_model_without_sdpa_keeps_its_attention():
    model = tiny("llama")
    model.set_attn_implementation("eager")
    assert not use_decode_attention(model, "eager")
    assert not use_decode_attention(model, "fused")
    assert model.config._attn_implementation == "eager"


@pytest.fixture
def tiny_lm(tiny_lm_dir):
    return load_model(str(tiny_lm_dir), EngineParams(device="cpu"))


PROMPTS = ["오늘 엄마가", "나는 강가를 따라 천천히 걸었다.", "다리", "어머니의 손은 따뜻했다. 나는"]


def test_every_compiled_step_together_samples_like_the_plain_loop(tiny_lm):
    """Compiled prompt forward, realized activations and the decode-only eager attention (traced by
    Dynamo; the eager backend keeps this fast on CPU) give the plain loop's tokens, batch after batch."""
    torch._dynamo.reset()
    engine = EngineParams(kind="static", device="cpu", compile=True, prefill="compiled", decode_attention="eager", batch_size=2)
    steps = compile_steps(tiny_lm.model, engine, backend="eager")
    assert steps.prefill is not None
    compiled = dataclasses.replace(tiny_lm, compiled=steps)
    s = SamplingParams(max_new_tokens=12, top_k=30)
    prompts = [encode(tiny_lm, t) for t in PROMPTS]
    plain = sample_batch(tiny_lm, prompts, s, EngineParams(kind="plain", device="cpu", batch_size=2), seed=7)
    assert sample_batch(compiled, prompts, s, engine, seed=7) == plain


def test_one_prompt_graph_serves_every_prompt_length(tiny_lm):
    """The prompt's forward compiles on the first call (a new cache is allocated before it), once,
    with dynamic shapes: prompts of other lengths reuse it."""
    torch._dynamo.reset()
    prompt_graphs = []

    def counting(gm, example_inputs):
        if any(isinstance(x, torch.SymInt) for x in example_inputs):  # the dynamic-shape graph
            prompt_graphs.append(gm)
        return gm.forward

    engine = EngineParams(kind="static", device="cpu", compile=True, prefill="compiled", cache_bucket=8)
    compiled = dataclasses.replace(tiny_lm, compiled=compile_steps(tiny_lm.model, engine, backend=counting))
    s = SamplingParams(max_new_tokens=4)
    for text in PROMPTS:
        sample_batch(compiled, [encode(tiny_lm, text)], s, engine, seed=1, min_cache_len=64)
        assert len(prompt_graphs) == 1  # from the first prompt on: its cache was allocated before it


def test_a_cache_that_cannot_be_allocated_early_keeps_the_prompt_forward_eager(tiny_lm, monkeypatch):
    """Early allocation failing (an architecture whose layers differ from its config) must not let a
    compiled prompt forward allocate the cache inside a graph: that prompt runs eagerly, and the
    tokens are still the plain loop's."""
    torch._dynamo.reset()

    def refuse(self, *args, **kwargs):
        raise ValueError("the layers differ")

    monkeypatch.setattr(transformers.StaticCache, "early_initialization", refuse)
    engine = EngineParams(kind="static", device="cpu", compile=True, prefill="compiled")
    steps = compile_steps(tiny_lm.model, engine, backend="eager")
    prompt_calls = []
    compiled_prefill = steps.prefill

    def counting_prefill(*args, **kwargs):
        prompt_calls.append(1)
        return compiled_prefill(*args, **kwargs)

    compiled = dataclasses.replace(tiny_lm, compiled=dataclasses.replace(steps, prefill=counting_prefill))
    s = SamplingParams(max_new_tokens=6)
    prompts = [encode(tiny_lm, t) for t in PROMPTS[:2]]
    plain = sample_batch(tiny_lm, prompts, s, EngineParams(kind="plain", device="cpu"), seed=2)
    assert sample_batch(compiled, prompts, s, engine, seed=2) == plain
    assert prompt_calls == []


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_the_static_cache_is_allocated_up_front_as_the_model_would_allocate_it(kind):
    """The engine allocates a new static cache before the first forward (a compiled prompt forward
    must not trace the allocation): the same shapes and dtype the model's own first update gives,
    and decoding on it samples what the plain loop samples."""
    from sanchaek.model.decoding import _allocated, _static_cache, decode

    model = tiny(kind)
    ids = torch.randint(3, 101, (2, 5))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0
    early = _static_cache(model, 2, 64, None)
    assert _allocated(early)
    lazy = transformers.StaticCache(config=model.config, max_cache_len=64)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask, past_key_values=lazy)
    for a, b in zip(early.layers, lazy.layers, strict=True):
        assert (a.keys.shape, a.values.shape, a.keys.dtype) == (b.keys.shape, b.values.shape, b.keys.dtype)
    s = SamplingParams(max_new_tokens=6, top_k=20)
    runs = [decode(model, ids, mask, s, EngineParams(kind=k, device="cpu"), seed=0, eos_token_id=None, pad_token_id=0)
            for k in ("plain", "static")]  # fmt: skip
    assert torch.equal(runs[0].tokens, runs[1].tokens)
