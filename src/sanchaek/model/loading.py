"""Load any causal LM by local path or hub id, with errors a user can act on: the one loader of
evaluate, generate, compose, ``sanchaek write``, the app and the benches.

A local folder written by ``save_pretrained`` and a hub id take the same code path
(``AutoModelForCausalLM.from_pretrained``); tests rely on that. A LoRA adapter folder (what
``train.method: lora | qlora`` writes to ``models/lm/``) loads transparently: its merged model
(``models/lm/merged/``) when one was written, else its base with the adapter merged in memory, so the
caller always runs plain merged weights.
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
    from .adapters import ADAPTER_CONFIG
    from .aligned import has_record, resolve_passthrough

    if has_record(name_or_path):  # the align stage's output: a pass-through record names the model
        name_or_path = resolve_passthrough(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise SanchaekError(
            f"model {path} not found: run `{produced_by}` or set the model path in params.yaml"
        )
    if not (path / "config.json").exists() and not (path / ADAPTER_CONFIG).exists():
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
    """Return ``(model, tokenizer)`` in eval mode; clear errors for missing or corrupt weights.

    An adapter folder gives its merged model (see the module's docstring); the align stage's output
    folder, the model it records (``model/aligned.py``)."""
    from .adapters import MERGED_DIR, is_adapter_dir
    from .aligned import has_record, load_aligned

    check_model_dir(name_or_path)
    if has_record(name_or_path):
        return load_aligned(name_or_path, dtype=dtype, device=device)
    if is_adapter_dir(name_or_path):
        merged = Path(name_or_path).expanduser() / MERGED_DIR
        if (merged / "config.json").exists():
            return load_causal_lm(str(merged), dtype=dtype, device=device)
        return load_adapter_merged(name_or_path, dtype=dtype, device=device)
    tokenizer = load_tokenizer(name_or_path)
    model = load_weights(name_or_path, dtype=dtype)
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_weights(name_or_path: str, *, dtype: Any = None, **kwargs: Any) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with one line for missing or corrupt weights."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype or torch.float32, **kwargs)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SanchaekError(
            f"cannot load model {name_or_path} ({first}): the weights are missing or corrupt; retrain or re-download"
        ) from exc


def load_adapter_merged(adapter_dir: str, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """The base an adapter names, with the adapter merged into its weights (in memory)."""
    from peft import PeftModel

    from .adapters import adapter_base, merged_model

    base = adapter_base(adapter_dir)
    check_model_dir(base, produced_by=f"the download of {adapter_dir}'s base model")
    tokenizer = load_tokenizer(adapter_dir)  # saved with the adapter: it may have grown
    model = load_weights(base, dtype=dtype)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    try:
        model = merged_model(PeftModel.from_pretrained(model, adapter_dir))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SanchaekError(
            f"cannot apply adapter {adapter_dir} to {base} ({first}): the adapter is corrupt or for another model; retrain"
        ) from exc
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer
