"""Load any causal LM by local path or hub id, with errors a user can act on.

A local folder written by ``save_pretrained`` and a hub id take the same code path
(``AutoModelForCausalLM.from_pretrained``); tests rely on that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SanchaekError


def _looks_like_path(name_or_path: str) -> bool:
    return (
        name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists() or name_or_path.count("/") > 1
    )


def check_model_dir(name_or_path: str, *, produced_by: str = "sanchaek train (dvc repro train)") -> None:
    """Fail early with one line when a local model folder is missing or incomplete."""
    if not _looks_like_path(name_or_path):
        return
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise SanchaekError(
            f"model {path} not found: run `{produced_by}` or set the model path in params.yaml"
        )
    if not (path / "config.json").exists():
        raise SanchaekError(
            f"model {path} has no config.json: it is not a save_pretrained folder; retrain or point elsewhere"
        )


def load_tokenizer(name_or_path: str) -> Any:
    from transformers import AutoTokenizer

    check_model_dir(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as exc:
        raise SanchaekError(f"cannot load tokenizer {name_or_path}: {exc}") from exc
    if tokenizer.pad_token is None:
        # Causal LMs often ship without a pad token; padding with EOS is the standard choice.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(name_or_path: str, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` in eval mode; clear errors for missing or corrupt weights."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(name_or_path)
    from safetensors import SafetensorError

    try:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype or torch.float32)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SanchaekError(
            f"cannot load model {name_or_path} ({first}): the weights are missing or corrupt; retrain or re-download"
        ) from exc
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
