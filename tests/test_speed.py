"""Training-time speed-ups (model/speed.py): the same model function, faster compiled code."""

from __future__ import annotations

import types

import pytest
import torch

from sanchaek.model.lm_eval import NextTokenLoss, lm_loss
from sanchaek.model.loading import load_causal_lm
from sanchaek.model.speed import (
    PACKED_CAUSAL,
    CachedRotaryEmbedding,
    fast_training,
    use_packed_causal_attention,
)


def random_blocks(model, n: int = 3, width: int = 17) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, model.config.vocab_size, (n, width))


def test_packed_causal_attention_keeps_the_loss_and_gives_sdpa_no_mask_under_compile(
    tiny_lm_dir, monkeypatch
):
    """Under torch.compile HF builds a (B, 1, T, T) mask, which rules out SDPA's flash kernel; packed
    blocks need none. The switched model must score exactly as before, with is_causal and no mask."""
    model, _ = load_causal_lm(str(tiny_lm_dir))
    blocks = random_blocks(model)
    with torch.no_grad():
        before = lm_loss(model, blocks)
        assert use_packed_causal_attention(model) == "sdpa"
        assert model.config._attn_implementation == PACKED_CAUSAL
        assert torch.allclose(lm_loss(model, blocks), before, atol=1e-6)

        seen = []
        real_sdpa = torch.nn.functional.scaled_dot_product_attention

        def spy(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, **kw):
            seen.append((attn_mask is None, is_causal))
            return real_sdpa(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, **kw)

        monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
        compiled = torch.compile(NextTokenLoss(model), backend="eager", dynamic=False)
        assert torch.allclose(compiled(blocks), before, atol=1e-6)
    assert seen and set(seen) == {(True, True)}


def test_packed_causal_attention_leaves_sliding_window_models_alone():
    from transformers import MistralConfig, MistralForCausalLM

    config = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=2, sliding_window=8,
                           attn_implementation="sdpa")  # fmt: skip
    model = MistralForCausalLM(config)
    assert use_packed_causal_attention(model) is None
    assert model.config._attn_implementation == "sdpa"


def test_cached_rotary_tables_give_the_same_loss_and_gradients_and_undo_cleanly(tiny_lm_dir):
    model, _ = load_causal_lm(str(tiny_lm_dir))
    blocks = random_blocks(model)
    keys = set(model.state_dict())
    lm_loss(model, blocks).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    undo = fast_training(model, seq_len=16)
    assert isinstance(model.model.rotary_emb, CachedRotaryEmbedding)
    assert model.config._attn_implementation == PACKED_CAUSAL
    assert set(model.state_dict()) == keys  # the tables are not weights: checkpoints do not change
    loss = lm_loss(model, blocks)
    loss.backward()
    for name, param in model.named_parameters():
        assert torch.allclose(param.grad, expected[name], atol=1e-6), name

    undo()
    assert type(model.model.rotary_emb).__name__ == "LlamaRotaryEmbedding"
    assert model.config._attn_implementation == "sdpa"


def test_cached_rotary_falls_back_beyond_its_table(tiny_lm_dir):
    model, _ = load_causal_lm(str(tiny_lm_dir))
    rotary = model.model.rotary_emb
    cached = CachedRotaryEmbedding(rotary, size=8)
    x = torch.zeros(1, dtype=torch.float32)
    for length in (8, 12):  # inside the table, then past it
        positions = torch.arange(length)[None]
        for got, want in zip(cached(x, positions), rotary(x, positions), strict=True):
            assert torch.allclose(got, want, atol=1e-6)


def test_compiled_cross_entropy_is_the_eager_one_and_keeps_no_fp32_logits():
    """Compiled, the loss is written as logsumexp minus the target logit; it must give F.cross_entropy's
    loss and gradient, and what its forward keeps for the backward must be the bf16 logits, not an
    fp32 (tokens x vocab) log-softmax."""
    from functorch.compile import make_boxed_func, min_cut_rematerialization_partition
    from torch._functorch.aot_autograd import aot_module_simplified
    from torch._inductor.decomposition import select_decomp_table

    from sanchaek.model.lm_eval import token_cross_entropy

    torch.manual_seed(0)
    logits = (4 * torch.randn(48, 500)).bfloat16().requires_grad_(True)
    targets = torch.randint(0, 500, (48,))
    eager = token_cross_entropy(logits, targets)
    eager.backward()
    expected_grad, logits.grad = logits.grad.clone(), None
    assert torch.equal(eager, torch.nn.functional.cross_entropy(logits.float(), targets))

    kept = []

    def forward_compiler(gm, example_inputs):
        outputs = next(n for n in gm.graph.nodes if n.op == "output").args[0]
        kept.extend(o.meta["val"] for o in outputs[1:])  # what the forward saves for the backward
        return make_boxed_func(gm.forward)

    def backend(gm, example_inputs):  # Inductor's decompositions and partitioner, without its codegen
        return aot_module_simplified(
            gm, example_inputs, fw_compiler=forward_compiler, decompositions=select_decomp_table(),
            bw_compiler=lambda g, _: make_boxed_func(g.forward), partition_fn=min_cut_rematerialization_partition,
        )  # fmt: skip

    compiled = torch.compile(token_cross_entropy, backend=backend, dynamic=False)(logits, targets)
    compiled.backward()
    assert torch.allclose(compiled, eager, atol=1e-5)
    assert torch.allclose(logits.grad.float(), expected_grad.float(), atol=1e-4)
    assert not any(t.dtype == torch.float32 and t.shape == logits.shape for t in kept)


def test_the_compile_modes_that_replay_cuda_graphs_are_the_ones_train_and_generate_treat_so():
    """Training marks each step and generation clones its logits exactly under these modes; the
    params offer max-autotune to both, which replays CUDA graphs as reduce-overhead does."""
    from typing import get_args

    from sanchaek.config.generate import EngineParams
    from sanchaek.config.model import TrainParams
    from sanchaek.model.speed import compile_mode_uses_cudagraphs

    offered = {*get_args(TrainParams.model_fields["compile_mode"].annotation),
               *get_args(EngineParams.model_fields["compile_mode"].annotation)}  # fmt: skip
    assert offered == {"default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune"}
    assert {m for m in offered if compile_mode_uses_cudagraphs(m)} == {"reduce-overhead", "max-autotune"}


def test_flash_attn_4_where_it_cannot_run_is_an_error_naming_the_fix():
    from sanchaek.errors import SanchaekError
    from sanchaek.model.flash4 import require, unavailable_reason

    assert "CUDA" in unavailable_reason(torch.device("cpu"))
    with pytest.raises(SanchaekError, match="train.attention: sdpa"):
        require(torch.device("cpu"))


def test_flash_attn_4_attention_hands_padded_batches_to_sdpa():
    """A mask (the RE objective's padded batches) never reaches FlashAttention 4: SDPA gets it."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from sanchaek.model.flash4 import flash4_attention_forward

    module = types.SimpleNamespace(is_causal=True, num_key_value_groups=1, training=False)
    q, k, v = (torch.randn(2, 4, 8, 16) for _ in range(3))
    mask = torch.ones(2, 1, 8, 8, dtype=torch.bool).tril()
    mask[1, :, :, 6:] = False
    got, _ = flash4_attention_forward(module, q, k, v, mask, scaling=0.25)
    want, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.25)
    assert torch.equal(got, want)


def test_train_attention_flash_attn_4_switches_the_packed_attention_and_undoes_it(tiny_lm_dir):
    from transformers import AttentionInterface, AutoModelForCausalLM
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from sanchaek.model.flash4 import flash4_attention_forward

    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, attn_implementation="sdpa")
    undo = fast_training(model, 16, "flash_attn_4")
    assert model.config._attn_implementation == PACKED_CAUSAL
    assert AttentionInterface()[PACKED_CAUSAL] is flash4_attention_forward
    undo()
    assert model.config._attn_implementation == "sdpa"
    fast_training(model, 16)()  # the default puts SDPA back under the same name
    assert AttentionInterface()[PACKED_CAUSAL] is sdpa_attention_forward


def _tiny_llama(layers: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)  # fmt: skip
    return LlamaForCausalLM(config)


def _graphs_of_block_scope(layers: int) -> int:
    """Compile a tiny Llama of ``layers`` blocks with compile_scope blocks; check it against eager
    (loss and gradients), its module (same object, same state-dict keys); return Dynamo's graphs."""
    from torch._dynamo.utils import counters

    from sanchaek.model.speed import compile_for_training

    torch._dynamo.reset()
    counters.clear()
    eager = NextTokenLoss(_tiny_llama(layers))
    compiled = NextTokenLoss(_tiny_llama(layers))
    keys = list(compiled.state_dict())
    assert compile_for_training(compiled, "blocks", "default") is compiled
    assert list(compiled.state_dict()) == keys  # saved as it is: no `_orig_mod.` prefix
    assert all(layer._compiled_call_impl is not None for layer in compiled.lm.model.layers)
    blocks = random_blocks(compiled.lm)
    want, got = eager(blocks), compiled(blocks)
    want.backward()
    got.backward()
    assert torch.allclose(got, want, atol=1e-5)
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name
    graphs = counters["stats"]["unique_graphs"]
    torch._dynamo.reset()
    return graphs


def test_block_scope_compiles_one_block_for_every_layer_and_keeps_the_module():
    """The number of graphs Dynamo makes does not grow with depth: the warm-up of an 80-layer model
    is that of one block (plus the embedding, norm and head)."""
    two, four = _graphs_of_block_scope(2), _graphs_of_block_scope(4)
    assert 0 < two == four <= 6
