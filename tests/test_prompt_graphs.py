"""The prompt's forward recorded as CUDA graphs (``model.prompt_graphs``, ``prefill: cuda_graph``).

What holds on the CPU: left-padding a prompt to a bucket (what lets prompts of nearby lengths share
a recorded graph) samples what the unpadded prompt samples, on every architecture the engine meets.
With a GPU, the recorded graphs themselves: replayed prompts sample what the plain loop samples,
each (cache, bucket) is recorded once, and a forward that cannot be recorded runs eagerly.
"""

from __future__ import annotations

import logging

import pytest
import torch
import transformers
from tiny_models import ARCHITECTURES, tiny

from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.model.compiled_steps import CompiledSteps, compile_steps
from sanchaek.model.decoding import decode
from sanchaek.model.prompt_graphs import PromptGraphs, left_pad

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SAMPLING = SamplingParams(max_new_tokens=8, top_k=20)


def batch(lengths: list[int], device: str = "cpu", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded random prompts of these lengths (pad id 0, real ids from 3)."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.zeros((len(lengths), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, width - n :] = torch.randint(3, 101, (n,), generator=gen)
        mask[row, width - n :] = 1
    return ids.to(device), mask.to(device)


def sampled(model, ids, mask, engine: EngineParams, **kwargs) -> tuple[list, list]:
    out = decode(model, ids, mask, SAMPLING, engine, seed=3, eos_token_id=None, pad_token_id=0, **kwargs)
    return out.tokens.tolist(), out.lengths


def test_left_pad_reaches_the_next_multiple_and_masks_what_it_adds():
    ids, mask = batch([5, 3])
    padded_ids, padded_mask = left_pad(ids, mask, 8, pad_token_id=0)
    assert padded_ids.shape == (2, 8) and torch.equal(padded_ids[:, 3:], ids)
    assert padded_mask[:, :3].sum() == 0 and torch.equal(padded_mask[:, 3:], mask)
    assert left_pad(padded_ids, padded_mask, 8, 0)[0] is padded_ids  # already a multiple: untouched
    assert left_pad(ids, mask, 8, 0, max_len=7)[0] is ids  # the next multiple would not fit: untouched
    assert left_pad(ids, mask, 8, 0, max_len=8)[0].shape == (2, 8)


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_a_prompt_padded_to_its_bucket_samples_what_it_samples_unpadded(kind):
    model = tiny(kind)
    ids, mask = batch([7, 4, 1])
    engine = EngineParams(kind="static", device="cpu")
    assert sampled(model, *left_pad(ids, mask, 16, 0), engine) == sampled(model, ids, mask, engine)


def test_without_a_gpu_the_engine_records_no_prompt_graphs():
    steps = compile_steps(
        tiny("llama"), EngineParams(kind="static", device="cpu", compile=True), backend="eager"
    )
    assert steps is not None and steps.prefill is None


class EagerPromptGraphs(PromptGraphs):
    """What the engine hands a recorded prompt forward, on a machine without CUDA graphs: the
    forward runs eagerly, and the prompt shapes are kept."""

    def __init__(self, model):
        super().__init__(model)
        self.prompt_shapes: list[tuple[int, ...]] = []

    def __call__(self, *, past_key_values, **inputs):
        self.prompt_shapes.append(tuple(inputs["input_ids"].shape))
        return self.model(past_key_values=past_key_values, **inputs)


def test_prompts_are_padded_to_their_bucket_only_within_the_cache_they_would_get_anyway():
    """A 20-token prompt goes to 32 inside a 64-wide cache; a 60-token one stays at 60, because 64 +
    the new tokens would need a wider cache (another compiled step). Both sample the plain loop's
    tokens, on one pooled cache."""
    model = tiny("llama")
    engine = EngineParams(kind="static", device="cpu", prompt_bucket=32, cache_bucket=64)
    steps = CompiledSteps(forward=model, prefill=EagerPromptGraphs(model))
    pool: dict = {}
    for length, padded in ((20, 32), (60, 60)):
        ids, mask = batch([length, length - 3], seed=length)
        s = SamplingParams(max_new_tokens=4, top_k=20)
        plain = decode(model, ids, mask, s, EngineParams(kind="plain", device="cpu"), seed=3,
                       eos_token_id=None, pad_token_id=0)  # fmt: skip
        ours = decode(model, ids, mask, s, engine, seed=3, eos_token_id=None, pad_token_id=0,
                      compiled=steps, cache_pool=pool)  # fmt: skip
        assert (ours.tokens.tolist(), ours.lengths) == (plain.tokens.tolist(), plain.lengths)
        assert steps.prefill.prompt_shapes[-1] == (2, padded)
    assert list(pool) == [(2, 64)]


def test_a_sliding_window_cache_keeps_the_prompt_forward_eager():
    """A sliding-window layer counts its length in a Python int, which a recorded graph cannot
    update: such a model's prompt runs eagerly, and samples the plain loop's tokens."""
    config = transformers.MistralConfig(
        vocab_size=101, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, max_position_embeddings=64, sliding_window=16, attn_implementation="sdpa",
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    engine = EngineParams(kind="static", device="cpu", prompt_bucket=8)
    steps = CompiledSteps(forward=model, prefill=EagerPromptGraphs(model))
    ids, mask = batch([5, 3])
    s = SamplingParams(max_new_tokens=6, top_k=20)
    plain = decode(model, ids, mask, s, EngineParams(kind="plain", device="cpu"), seed=3,
                   eos_token_id=None, pad_token_id=0)  # fmt: skip
    ours = decode(model, ids, mask, s, engine, seed=3, eos_token_id=None, pad_token_id=0,
                  compiled=steps, cache_pool={})  # fmt: skip
    assert (ours.tokens.tolist(), ours.lengths) == (plain.tokens.tolist(), plain.lengths)
    assert steps.prefill.prompt_shapes == []


def gpu_engine(**kwargs) -> EngineParams:
    return EngineParams(
        kind="static", device="cuda", dtype="float32", compile=True, prompt_bucket=8, **kwargs
    )


@needs_cuda
@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_replayed_prompt_graphs_sample_like_the_plain_loop(kind):
    """Batches of several lengths, twice over: the first pass records one graph per (cache, bucket),
    the second only replays; every call samples the plain loop's tokens."""
    torch._dynamo.reset()
    model = tiny(kind).cuda()
    engine = gpu_engine()
    steps = compile_steps(model, engine, backend="eager")
    assert isinstance(steps.prefill, PromptGraphs)
    pool: dict = {}
    calls = [batch(lengths, "cuda", seed) for seed, lengths in enumerate([[5, 2], [7, 7], [11, 3], [9, 1]])]
    plain = [sampled(model, ids, mask, EngineParams(kind="plain", device="cuda")) for ids, mask in calls]
    first = [
        sampled(model, ids, mask, engine, compiled=steps, cache_pool=pool, min_cache_len=40)
        for ids, mask in calls
    ]
    recorded = len(steps.prefill.recorded)
    again = [
        sampled(model, ids, mask, engine, compiled=steps, cache_pool=pool, min_cache_len=40)
        for ids, mask in calls
    ]
    assert first == plain and again == plain
    assert recorded == 2  # prompts of 7 and 9 tokens: buckets 8 and 16, one cache
    assert len(steps.prefill.recorded) == recorded and not steps.prefill.failed
    # one memory pool for all of them: what recording costs does not grow with the number of buckets
    assert len({entry.graph.pool() for entry in steps.prefill.recorded.values()}) == 1


@needs_cuda
def test_without_a_cache_pool_the_prompt_runs_eagerly():
    """A graph writes into the cache it was recorded with: a cache made for one call gets none."""
    model = tiny("llama").cuda()
    engine = gpu_engine()
    steps = compile_steps(model, engine, backend="eager")
    ids, mask = batch([5, 3], "cuda")
    plain = sampled(model, ids, mask, EngineParams(kind="plain", device="cuda"))
    assert sampled(model, ids, mask, engine, compiled=steps) == plain
    assert steps.prefill.recorded == {}


@needs_cuda
def test_a_forward_that_syncs_with_the_host_is_not_recorded_and_runs_eagerly(caplog):
    model = tiny("llama").cuda()

    def reads_a_value_on_the_host(module, args, kwargs):
        int(kwargs["input_ids"].sum())  # a host sync: not allowed while a graph records

    model.register_forward_pre_hook(reads_a_value_on_the_host, with_kwargs=True)
    engine = gpu_engine()
    steps = compile_steps(model, engine, backend="eager")
    ids, mask = batch([6, 2], "cuda")
    plain = sampled(model, ids, mask, EngineParams(kind="plain", device="cuda"))
    pool: dict = {}
    rng_before = torch.cuda.get_rng_state()
    with caplog.at_level(logging.WARNING, logger="sanchaek.model.prompt_graphs"):
        for _ in range(2):
            assert sampled(model, ids, mask, engine, compiled=steps, cache_pool=pool) == plain
    assert steps.prefill.failed and steps.prefill.recorded == {}
    assert caplog.text.count("recording it as a CUDA graph failed") == 1
    # the failed recording leaves the device's default random generator where it was, and usable
    assert torch.equal(torch.cuda.get_rng_state(), rng_before)
    assert torch.randint(0, 10, (3,), device="cuda").shape == (3,)
