"""The one-token attention kernel (``model.decode_attention``) and its place in the engine
(``decode_attention: fused``): the kernels under Triton's interpreter on the CPU against SDPA, the
model's logits and the engine's tokens with it, and the kernels on a GPU in bf16."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_compiled_steps import PROMPTS, static_cache_logits
from tiny_models import ARCHITECTURES, LAYERS, tiny

from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.model.compiled_steps import DECODE_FUSED, compile_steps, use_decode_attention
from sanchaek.model.decoding import encode, load_model, sample_batch

pytest.importorskip("triton")
from sanchaek.model import decode_attention as fused  # noqa: E402  (imports triton)

HERE = Path(__file__).parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_kernels_attend_as_sdpa_over_the_grouped_heads_under_the_interpreter():
    """Grouped and one-per-query key/value heads, bool, additive, shared and no masks, a head size
    that is no power of two, and caches split into slices (one of them wholly masked)."""
    env = {
        **os.environ,
        "TRITON_INTERPRET": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)]),
    }
    run = subprocess.run([sys.executable, str(HERE / "decode_attention_interpreted.py")], env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    diffs = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(diffs) == 7 and all(d < 1e-5 for d in diffs.values()), diffs


@pytest.mark.parametrize("kind", list(ARCHITECTURES))
def test_one_token_steps_go_through_the_op_and_give_sdpas_logits(kind, monkeypatch):
    """The prompt keeps SDPA; each one-token step calls the op once per layer, with the static
    cache's mask, and the logits are SDPA's (on the CPU the op computes in torch: the interpreter
    test above checks the kernels)."""
    model = tiny(kind)
    reference = static_cache_logits(model)
    calls = []
    real_op = fused.decode_attention

    def counting(q, k, v, mask, scale):
        calls.append((q.shape[2], None if mask is None else mask.dtype))
        return real_op(q, k, v, mask, scale)

    monkeypatch.setattr(fused, "decode_attention", counting)
    assert use_decode_attention(model, "fused")
    assert model.config._attn_implementation == DECODE_FUSED
    for ours, theirs in zip(static_cache_logits(model), reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert calls == [(1, torch.bool)] * (3 * LAYERS)


def test_what_the_kernel_does_not_compute_stays_with_sdpa():
    q1, q5 = torch.zeros(1, 4, 1, 8), torch.zeros(1, 4, 5, 8)
    k = torch.zeros(1, 2, 16, 8)
    mask = torch.ones(1, 1, 1, 16, dtype=torch.bool)
    assert fused.applies(q1, k, mask, 0.0, {}) and fused.applies(q1, k, None, 0.0, {"sliding_window": None})
    assert not fused.applies(q5, k, mask, 0.0, {})  # a prompt
    assert not fused.applies(q1, k, mask, 0.1, {})  # dropout
    assert not fused.applies(q1, k, mask[..., :8], 0.0, {})  # a mask of another width
    for name in ("sliding_window", "softcap", "s_aux", "position_bias"):
        assert not fused.applies(q1, k, mask, 0.0, {name: 4}), name


def test_fused_attention_without_triton_is_one_line_naming_the_fix(monkeypatch):
    import importlib.util

    from sanchaek.errors import SanchaekError

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real_find_spec(name, *a)
    )
    model = tiny("llama")
    with pytest.raises(SanchaekError, match="decode_attention: fused needs triton") as err:
        use_decode_attention(model, "fused")
    assert "\n" not in str(err.value) and "set it to model" in str(err.value)
    assert model.config._attn_implementation == "sdpa"


def test_the_compiled_engine_with_the_op_samples_like_the_plain_loop(tiny_lm_dir):
    """Dynamo traces the op into the one-token step (the eager backend keeps this fast on the CPU);
    batch after batch, the tokens are the plain loop's."""
    torch._dynamo.reset()
    lm = load_model(str(tiny_lm_dir), EngineParams(device="cpu"))
    engine = EngineParams(kind="static", device="cpu", compile=True, batch_size=2)
    steps = compile_steps(lm.model, engine, backend="eager")
    assert lm.model.config._attn_implementation == "sdpa"  # the engine switches a GPU's model only
    assert use_decode_attention(lm.model, "fused")
    compiled = dataclasses.replace(lm, compiled=steps)
    s = SamplingParams(max_new_tokens=10, top_k=30)
    prompts = [encode(lm, t) for t in PROMPTS]
    plain = sample_batch(lm, prompts, s, EngineParams(kind="plain", device="cpu", batch_size=2), seed=5)
    assert sample_batch(compiled, prompts, s, engine, seed=5) == plain


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("width", [192, 1100])  # one slice; three, the last one partly written
def test_on_a_gpu_the_kernels_attend_as_sdpa(dtype, width):
    """The Llama-3.1-8B layer's shapes (32 query heads on 8 key/value heads of 128), a left-padded
    row, the unwritten end of the cache masked."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(2, 32, 1, 128, device="cuda", generator=gen).to(dtype)
    k, v = (torch.randn(2, 8, width, 128, device="cuda", generator=gen).to(dtype) for _ in range(2))
    mask = torch.zeros(2, 1, 1, width, dtype=torch.bool, device="cuda")
    mask[..., : width - 60] = True
    mask[0, ..., :7] = False
    ours = fused.decode_attention(q, k, v, mask, 128**-0.5)
    theirs = fused.reference(q.float(), k.float(), v.float(), mask, 128**-0.5)
    assert ours.dtype == dtype and ours.shape == q.shape
    # bf16: the probabilities are rounded to bf16 for the second product, as flash attention does
    tol = 2e-2 if dtype == torch.bfloat16 else 2e-4
    torch.testing.assert_close(ours.float(), theirs, rtol=tol, atol=tol)


@needs_cuda
def test_on_a_gpu_the_fused_model_gives_sdpas_logits():
    model = tiny("llama").cuda()
    reference = static_cache_logits(model, "cuda")
    assert use_decode_attention(model, "fused")
    for ours, theirs in zip(static_cache_logits(model, "cuda"), reference, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
