"""Tiny random causal LMs of the architectures the decoding engine meets, built in memory from their
configs (seed 0, SDPA attention): the tests of the compiled steps and of the bench's fused
projections share them."""

from __future__ import annotations

import torch
import transformers

LAYERS = 2
ARCHITECTURES = {
    "llama": ("LlamaConfig", {"num_key_value_heads": 2, "intermediate_size": 128}),
    "qwen2": ("Qwen2Config", {"num_key_value_heads": 2, "intermediate_size": 128}),  # q/k/v with biases
    "gemma": ("GemmaConfig", {"num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 128}),
    # one query_key_value layer already, an ungated MLP
    "gpt_neox": ("GPTNeoXConfig", {"intermediate_size": 128}),
    "gpt2": ("GPT2Config", {"n_inner": 128}),
}


def tiny(kind: str) -> torch.nn.Module:
    cls_name, extra = ARCHITECTURES[kind]
    config = getattr(transformers, cls_name)(
        vocab_size=101, hidden_size=64, num_hidden_layers=LAYERS, num_attention_heads=4,
        max_position_embeddings=64, initializer_range=0.2, attn_implementation="sdpa", **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(config).eval()
