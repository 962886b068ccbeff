"""The fused head + cross-entropy (``model/fused_ce.py``) against logits + ``F.cross_entropy``.

On the CPU the Triton kernel runs under Triton's interpreter. Triton decides between compiled and
interpreted kernels when a kernel is defined, at import, so those checks run in a fresh Python with
``TRITON_INTERPRET=1`` (``tests/fused_ce_interpreted.py``). With a GPU, the compiled kernel is
checked instead, eager and under ``torch.compile`` (CUDA graphs included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from sanchaek.model.lm_eval import NextTokenLoss, supports_fused_cross_entropy
from sanchaek.train import resolve_fused_cross_entropy

pytest.importorskip("triton")

HERE = Path(__file__).resolve().parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def interpreted(tiny_lm_dir) -> dict:
    if torch.cuda.is_available():
        # The GPU machine's torch (2.11) cannot wrap interpreted kernels; the GPU tests below run
        # the compiled kernel there instead.
        pytest.skip("a GPU is here: the compiled kernel is tested instead")
    env = {**os.environ, "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(HERE / "fused_ce_interpreted.py"), str(tiny_lm_dir)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", ["fp32_ragged_vocab", "fp32_one_block", "fp32_huge_logits"])
def test_the_kernel_gives_the_loss_and_gradients_of_f_cross_entropy_in_fp32(interpreted, case):
    got = interpreted[case]
    assert got["finite"]
    assert got["loss"] <= 1e-5 * max(1.0, got["loss_value"])
    assert got["grad_hidden"] < 1e-5 and got["grad_weight"] < 1e-5


def test_in_bf16_the_gradients_differ_by_about_one_rounding(interpreted):
    got = interpreted["bf16"]
    assert got["finite"] and got["loss"] < 1e-4
    # The gradient of the logits is rounded to bf16 in both paths; ours also rounds the head's
    # products before scaling them by the incoming gradient: one more bf16 rounding (2^-8 relative).
    assert got["grad_hidden"] < 0.02 and got["grad_weight"] < 0.02


def test_a_frozen_head_gets_no_weight_gradient_matmul(interpreted):
    got = interpreted["frozen_head"]
    assert got["grad_hidden"] < 1e-5
    # The one matmul left is the hidden state's gradient, (tokens, d); the head's (vocab, d) is skipped.
    assert got["backward_matmuls"] == [[24, 32]]


def test_a_tied_embedding_llama_trains_on_the_same_loss_and_gradients(interpreted):
    got = interpreted["tiny_llama"]
    assert got["tied"]  # the head's weight is the embedding: both gradients must add up
    assert got["loss"] < 1e-5 and got["grad"] < 1e-4


def test_the_op_passes_torch_library_opcheck(interpreted):
    assert set(interpreted["opcheck"].values()) == {"SUCCESS"}, interpreted["opcheck"]


def test_only_plain_bias_free_heads_qualify(tiny_lm_dir):
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    assert supports_fused_cross_entropy(AutoModelForCausalLM.from_pretrained(tiny_lm_dir))
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32))
    assert not supports_fused_cross_entropy(gpt2)  # not in the checked list of model types


def test_training_uses_it_only_where_it_applies(tiny_lm_dir, caplog):
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    ddp = types.SimpleNamespace(distributed_type=types.SimpleNamespace(name="MULTI_GPU"))
    fsdp = types.SimpleNamespace(distributed_type=types.SimpleNamespace(name="FSDP"))
    asked, off = (
        types.SimpleNamespace(fused_cross_entropy=True),
        types.SimpleNamespace(fused_cross_entropy=False),
    )
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    with caplog.at_level("INFO", logger="sanchaek.train"):
        assert resolve_fused_cross_entropy(asked, lm, cuda, ddp)
        assert not resolve_fused_cross_entropy(off, lm, cuda, ddp)
        assert not resolve_fused_cross_entropy(asked, lm, cpu, ddp)
        assert not resolve_fused_cross_entropy(asked, lm, cuda, fsdp)
    assert "no CUDA device" in caplog.text and "FSDP" in caplog.text


@needs_cuda
@pytest.mark.parametrize("mode", [None, "default", "reduce-overhead"])
def test_on_a_gpu_compiled_or_not_it_is_the_plain_loss(tiny_lm_dir, mode):
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, dtype=torch.bfloat16).cuda()
    blocks = torch.randint(0, lm.config.vocab_size, (4, 65), device="cuda")
    results = []
    for fused in (True, False):
        step = NextTokenLoss(lm, fused_cross_entropy=fused)
        if mode is not None:
            step = torch.compile(step, dynamic=False, mode=mode)
        for _ in range(3):  # compile, warm up, then replay (CUDA graphs) the step we compare
            lm.zero_grad(set_to_none=True)
            loss = step(blocks)
            loss.backward()
        results.append((float(loss.detach()), {n: p.grad.float().clone() for n, p in lm.named_parameters()}))
    (fused_loss, fused_grads), (plain_loss, plain_grads) = results
    assert abs(fused_loss - plain_loss) < 2e-3 * plain_loss
    for name, grad in plain_grads.items():
        assert (fused_grads[name] - grad).abs().max() <= 0.03 * grad.abs().max() + 1e-6, name


@needs_cuda
def test_on_a_gpu_the_eager_kernel_matches_in_fp32():
    from sanchaek.model.fused_ce import linear_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(300, 64, device="cuda", requires_grad=True)
    weight = torch.randn(10007, 64, device="cuda", requires_grad=True)
    targets = torch.randint(0, 10007, (300,), device="cuda")
    loss = linear_cross_entropy(hidden, weight, targets)
    loss.backward()
    h, w = hidden.detach().clone().requires_grad_(), weight.detach().clone().requires_grad_()
    reference = torch.nn.functional.cross_entropy(h @ w.t(), targets)
    reference.backward()
    assert torch.allclose(loss, reference, rtol=1e-5)
    assert torch.allclose(hidden.grad, h.grad, atol=1e-5, rtol=1e-3)
    assert torch.allclose(weight.grad, w.grad, atol=1e-5, rtol=1e-3)


@needs_cuda
def test_on_a_gpu_the_gradient_is_written_over_the_logits():
    """The forward holds one (tokens x vocab) buffer, not two: the logits become their gradient."""
    from sanchaek.model.fused_ce import linear_cross_entropy

    hidden = torch.randn(2048, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    weight = torch.randn(32000, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    targets = torch.randint(0, 32000, (2048,), device="cuda")
    logits_bytes = 2048 * 32000 * 2
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    loss = linear_cross_entropy(hidden, weight, targets)
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() - before < 1.2 * logits_bytes
    loss.backward()
