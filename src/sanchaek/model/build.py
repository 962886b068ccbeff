"""The model and tokenizer a training run starts from: a pretrained causal LM, or ``scratch:<size>``.

For scratch models the byte-level BPE tokenizer is trained on the training text (plus optional
extra modern text) once and cached under ``data/cache/tokenizer-<key>/``, keyed on the texts and
the vocabulary size, so resumed runs and every process of a multi-GPU run use the same one.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..config import ModelParams
from ..errors import SanchaekError
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
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tokenizer-", dir=out.parent))
        try:
            tokenizer.save_pretrained(tmp)
            os.replace(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
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
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in train mode, fp32 weights (mixed precision is autocast), SDPA attention."""
    name = model_params.name_or_path
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
        limit = getattr(model.config, "max_position_embeddings", None)
        if limit is not None and seq_len > limit:
            raise SanchaekError(
                f"train.seq_len = {seq_len} exceeds {name}'s {limit} positions: lower train.seq_len"
            )
    if model_params.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.config.use_cache = False
    model.train()
    return model, tokenizer
