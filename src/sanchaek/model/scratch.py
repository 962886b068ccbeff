"""``scratch:<size>``: a Llama-style model built from a config, with a byte-level BPE tokenizer
trained on the training text. Everything is local, so it works offline and in CI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SanchaekError

SCRATCH_PREFIX = "scratch:"
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


@dataclass(frozen=True)
class Preset:
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    max_positions: int


# Sizes are approximate parameter counts at a 32k vocabulary (embeddings tied).
PRESETS: dict[str, Preset] = {
    "tiny": Preset(d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, ffn=256, max_positions=512),  # CPU tests
    "10m": Preset(d_model=256, n_layers=6, n_heads=8, n_kv_heads=8, ffn=768, max_positions=1024),  # CPU runs
    "125m": Preset(d_model=768, n_layers=12, n_heads=12, n_kv_heads=12, ffn=2048, max_positions=2048),
    "350m": Preset(d_model=1024, n_layers=24, n_heads=16, n_kv_heads=16, ffn=2816, max_positions=2048),
    "1b": Preset(d_model=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn=5632, max_positions=2048),
}


def is_scratch(name_or_path: str) -> bool:
    return name_or_path.startswith(SCRATCH_PREFIX)


def scratch_preset(name_or_path: str) -> Preset:
    size = name_or_path[len(SCRATCH_PREFIX) :]
    if size not in PRESETS:
        raise SanchaekError(
            f"model.name_or_path = '{name_or_path}': unknown scratch size; allowed: "
            + ", ".join(f"scratch:{k}" for k in PRESETS)
        )
    return PRESETS[size]


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """Byte-level BPE trained on ``texts``, wrapped as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def build_scratch_model(preset: Preset, tokenizer: Any, *, seed: int = 0) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=preset.d_model,
        intermediate_size=preset.ffn,
        num_hidden_layers=preset.n_layers,
        num_attention_heads=preset.n_heads,
        num_key_value_heads=preset.n_kv_heads,
        max_position_embeddings=preset.max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save_scratch(
    texts: Iterable[str], preset_name: str, vocab_size: int, out_dir: str | Path, *, seed: int = 0
) -> Path:
    """Train a tokenizer, build the model and ``save_pretrained`` both: a folder any HF loader reads."""
    preset = scratch_preset(SCRATCH_PREFIX + preset_name)
    tokenizer = train_bpe_tokenizer(texts, vocab_size)
    model = build_scratch_model(preset, tokenizer, seed=seed)
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
