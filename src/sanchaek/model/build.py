"""The model and tokenizer a training run starts from: a pretrained causal LM, or ``scratch:<size>``.

For scratch models the byte-level BPE tokenizer is trained on the training text (plus optional
extra modern text) once and cached under ``data/cache/tokenizer-<key>/``, keyed on the texts and
the vocabulary size, so resumed runs and every process of a multi-GPU run use the same one.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

from ..config import ModelParams
from ..config.model import TrainParams
from ..errors import SanchaekError, first_line
from ..io import replace_dir
from .adapters import add_lora, nf4_config, require_qlora_support
from .data import file_sha256, read_texts
from .loading import load_causal_lm
from .scratch import build_scratch_model, is_scratch, scratch_preset, train_bpe_tokenizer


def _extra_text_path(model_params: ModelParams, root: Path) -> Path | None:
    if model_params.tokenizer_extra_text is None:
        return None
    path = Path(model_params.tokenizer_extra_text)
    path = path if path.is_absolute() else root / path
    if not path.exists():
        raise SanchaekError(
            f"model.tokenizer_extra_text {path} not found: point it at a JSONL file with 'text' or set it to null"
        )
    return path


def scratch_tokenizer(
    model_params: ModelParams, train_path: Path, cache_dir: Path, *, root: Path = Path(".")
) -> Any:
    """Train (or load the cached) BPE tokenizer for a scratch model."""
    import tokenizers

    extra = _extra_text_path(model_params, root)
    parts = [
        file_sha256(train_path),
        file_sha256(extra) if extra else "-",
        str(model_params.vocab_size),
        tokenizers.__version__,
    ]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    out = Path(cache_dir) / f"tokenizer-{key}"
    if not (out / "tokenizer.json").exists():
        texts = read_texts(train_path)
        if extra is not None:
            texts = itertools.chain(
                texts, read_texts(extra, what="extra tokenizer text", fix="fix model.tokenizer_extra_text")
            )
        tokenizer = train_bpe_tokenizer(texts, model_params.vocab_size)
        replace_dir(out, tokenizer.save_pretrained)
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(out))


def build_model_and_tokenizer(
    model_params: ModelParams,
    *,
    train_path: Path,
    cache_dir: Path,
    seq_len: int,
    seed: int,
    root: Path = Path("."),
    train: TrainParams | None = None,
    precision: str = "no",
    device: Any = None,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in train mode, SDPA attention.

    ``train.method: full`` (or no ``train``): fp32 weights (bf16-master casts them later). lora/qlora:
    a ``PeftModel`` whose base is frozen, in bf16 where ``precision`` computes in bf16 (4-bit NF4 on
    ``device`` for qlora), with the adapter of ``train.lora`` trainable."""
    method = train.method if train is not None else "full"
    name = model_params.name_or_path
    if method != "full":
        if is_scratch(name):
            raise SanchaekError(
                f"train.method: {method} adapts a pretrained model, and {name} starts from random weights: "
                "set model.name_or_path to a model folder or hub id, or train.method: full"
            )
        model, tokenizer = load_base_for_adapter(name, method, precision, device)
        check_positions(model, name, seq_len)
        _enable_checkpointing(model, model_params)
        model.config.use_cache = False
        model = add_lora(
            model, train.lora, tokenizer, gradient_checkpointing=model_params.gradient_checkpointing
        )
        model.train()
        return model, tokenizer
    if is_scratch(name):
        preset = scratch_preset(name)
        if seq_len > preset.max_positions:
            raise SanchaekError(
                f"train.seq_len = {seq_len} exceeds {name}'s {preset.max_positions} positions: lower train.seq_len"
            )
        if not train_path.exists():
            raise SanchaekError(f"training text {train_path} not found: run `dvc repro query`")
        tokenizer = scratch_tokenizer(model_params, train_path, cache_dir, root=root)
        model = build_scratch_model(preset, tokenizer, seed=seed)
    else:
        model, tokenizer = load_causal_lm(name)  # transformers picks SDPA where the model supports it
        check_positions(model, name, seq_len)
    _enable_checkpointing(model, model_params)
    model.config.use_cache = False
    model.train()
    return model, tokenizer


def _enable_checkpointing(model: Any, model_params: ModelParams) -> None:
    if model_params.gradient_checkpointing:
        # Non-reentrant: it also works when the inputs of a block need no gradient (a frozen base).
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def check_positions(model: Any, name: str, seq_len: int) -> None:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and seq_len > limit:
        raise SanchaekError(
            f"train.seq_len = {seq_len} exceeds {name}'s {limit} positions: lower train.seq_len"
        )


def load_base_for_adapter(name: str, method: str, precision: str, device: Any) -> tuple[Any, Any]:
    """The frozen base of a LoRA run: bf16 where the run computes in bf16 (fp32 otherwise), or 4-bit
    NF4 placed on ``device`` for qlora (bitsandbytes quantizes while loading)."""
    import torch

    from .loading import load_tokenizer, load_weights

    if method == "qlora":
        require_qlora_support(getattr(device, "type", str(device)))
        tokenizer = load_tokenizer(name)
        model = load_weights(
            name,
            dtype=torch.bfloat16,
            quantization_config=nf4_config(),
            device_map={"": getattr(device, "index", None) or 0},
        )
    else:
        tokenizer = load_tokenizer(name)
        model = load_weights(name, dtype=torch.bfloat16 if precision != "no" else torch.float32)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tokenizer


def model_config(model_params: ModelParams) -> Any:
    """The model's config without its weights (config.json of a folder or hub id; a scratch preset's)."""
    from transformers import AutoConfig, LlamaConfig

    name = model_params.name_or_path
    if is_scratch(name):
        p = scratch_preset(name)
        return LlamaConfig(
            vocab_size=model_params.vocab_size, hidden_size=p.d_model, intermediate_size=p.ffn,
            num_hidden_layers=p.n_layers, num_attention_heads=p.n_heads, num_key_value_heads=p.n_kv_heads,
            max_position_embeddings=p.max_positions, tie_word_embeddings=True,
        )  # fmt: skip
    from .loading import check_model_dir

    check_model_dir(name)
    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        first = first_line(exc)
        raise SanchaekError(
            f"cannot read the config of model {name} ({first}): check model.name_or_path"
        ) from exc
