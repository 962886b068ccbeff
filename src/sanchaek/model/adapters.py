"""LoRA and QLoRA adapters (Hugging Face ``peft``) on any causal LM: which layers, how the base is
loaded, and how a trained adapter is saved so that peft's own loaders read it back.

``train.method: lora`` freezes the base (bf16 on a GPU, fp32 on the CPU) and trains a low-rank update
of every linear layer of the transformer blocks; ``qlora`` does the same on a 4-bit NF4 base
(``bitsandbytes``, bf16 compute; CUDA only). The default targets are read off the model itself (the
``nn.Linear`` modules inside its block list), so Llama's q/k/v/o/gate/up/down_proj, GPT-NeoX's
query_key_value/dense/dense_h_to_4h/dense_4h_to_h and any other layout are found the same way; an
explicit list is checked against those names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config.model import LoraParams
from ..errors import SanchaekError

ADAPTER_CONFIG = "adapter_config.json"
MERGED_DIR = "merged"  # models/lm/merged/: the adapter merged into its base (train.merge_adapter)
_IN_BLOCK = re.compile(r"\.\d+\.")  # a module inside a ModuleList of blocks: model.layers.3.mlp.up_proj


def decoder_prefix(model: Any) -> str:
    """The text decoder's module path with a trailing dot (``model.`` for Llama, ``gpt_neox.``,
    ``model.language_model.`` in Gemma 3's image-text model), or ``""`` when the model names none."""
    try:
        decoder = model.get_decoder()
    except (AttributeError, NotImplementedError, TypeError):
        return ""
    name = next((n for n, module in model.named_modules() if module is decoder), "")
    return f"{name}." if name else ""


def block_linears(model: Any) -> list[tuple[str, Any]]:
    """``(full name, module)`` of the linear layers inside the text decoder's blocks: the head, the
    embeddings and a multimodal model's vision or audio tower (blocks of linear layers too) left out.

    ``bitsandbytes``' 4-bit layers subclass ``nn.Linear``, so a quantized base gives the same layers.
    """
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    prefix = decoder_prefix(model)
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and module is not head
        and name.startswith(prefix)
        and _IN_BLOCK.search(f".{name}.")
    ]


def block_linear_names(model: Any) -> list[str]:
    """Leaf names of the linear layers inside the text decoder's blocks (see ``block_linears``)."""
    return sorted({name.rsplit(".", 1)[-1] for name, _ in block_linears(model)})


def peft_target_modules(model: Any, names: list[str]) -> str | list[str]:
    """peft's ``target_modules`` for the leaf ``names``: the names themselves (peft matches them as
    suffixes anywhere), or, when a layer outside the decoder's blocks has one of them (Gemma 3's
    vision tower has q_proj, k_proj ...), a regex that peft full-matches against the decoder's
    blocks alone, so no adapter lands in the vision tower."""
    import torch

    inside = {name for name, _ in block_linears(model)}
    clash = any(
        isinstance(module, torch.nn.Linear) and name not in inside and name.rsplit(".", 1)[-1] in names
        for name, module in model.named_modules()
    )
    if not clash:
        return names
    leaves = "|".join(re.escape(n) for n in names)
    return rf"{re.escape(decoder_prefix(model))}.*\.(?:{leaves})"


def resolve_target_modules(model: Any, requested: str | list[str]) -> list[str]:
    """The module names LoRA wraps: ``all`` -> every block linear layer; a list -> checked, one line
    naming the model's real names when one is unknown."""
    names = block_linear_names(model)
    if not names:
        kind = getattr(getattr(model, "config", None), "model_type", "?")
        raise SanchaekError(
            f"model type {kind!r} has no linear layers in its blocks: LoRA needs them; use train.method: full"
        )
    if requested == "all":
        return names
    unknown = [n for n in requested if n not in names]
    if unknown:
        kind = getattr(model.config, "model_type", "?")
        raise SanchaekError(
            f"train.lora.target_modules: {', '.join(unknown)} not in this {kind} model; its linear layers are "
            f"{', '.join(names)} (or use all)"
        )
    return list(requested)


def grown_vocabulary_modules(model: Any, tokenizer: Any) -> list[str]:
    """When the tokenizer has more tokens than the model has embedding rows: resize them, and return
    the embedding and head module names, which must then train whole (their new rows are random)."""
    embeddings = model.get_input_embeddings()
    if len(tokenizer) <= embeddings.num_embeddings:
        return []
    model.resize_token_embeddings(len(tokenizer))
    names = {_leaf_name(model, model.get_input_embeddings())}
    head = model.get_output_embeddings()
    if head is not None and head.weight is not model.get_input_embeddings().weight:
        names.add(_leaf_name(model, head))
    return sorted(names)


def _leaf_name(model: Any, target: Any) -> str:
    return next(name for name, module in model.named_modules() if module is target).rsplit(".", 1)[-1]


def add_lora(model: Any, lora: LoraParams, tokenizer: Any, *, gradient_checkpointing: bool) -> Any:
    """Wrap ``model`` in a trainable ``PeftModel``: base frozen, adapter (and modules_to_save) trainable."""
    from peft import LoraConfig, get_peft_model

    targets = resolve_target_modules(model, lora.target_modules)
    to_save = (
        grown_vocabulary_modules(model, tokenizer) if lora.modules_to_save == "auto" else lora.modules_to_save
    )
    if isinstance(lora.modules_to_save, list):
        known = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        unknown = [n for n in to_save if n not in known]
        if unknown:
            raise SanchaekError(
                f"train.lora.modules_to_save: {', '.join(unknown)} not in this model: name modules such as "
                f"{_leaf_name(model, model.get_input_embeddings())} (or use auto)"
            )
    if gradient_checkpointing:
        # The frozen embeddings give no gradient for checkpointed blocks to start from: ask for one.
        model.enable_input_require_grads()
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=peft_target_modules(model, targets),
        modules_to_save=to_save or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def require_qlora_support(device_type: str) -> None:
    """QLoRA's 4-bit kernels are bitsandbytes' CUDA kernels: one line elsewhere, before any loading."""
    import importlib.util

    if device_type != "cuda":
        raise SanchaekError(
            "train.method: qlora needs a CUDA GPU (bitsandbytes' 4-bit kernels): use train.method: lora here"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise SanchaekError("train.method: qlora needs bitsandbytes: pip install bitsandbytes==0.50.2")


def nf4_config() -> Any:
    """4-bit NormalFloat weights with double-quantized scales and bf16 compute (the QLoRA paper's)."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_quant_storage=torch.bfloat16,
    )


def is_adapter_dir(path: str | Path) -> bool:
    path = Path(path).expanduser()
    return (path / ADAPTER_CONFIG).exists() and not (path / "config.json").exists()


def adapter_base(path: str | Path) -> str:
    """The base model an adapter folder names (``base_model_name_or_path``), checked to exist."""
    import json

    config_file = Path(path).expanduser() / ADAPTER_CONFIG
    try:
        base = json.loads(config_file.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError) as exc:
        raise SanchaekError(
            f"{config_file} is unreadable or names no base model ({exc}): retrain the adapter"
        ) from exc
    if not base:
        raise SanchaekError(f"{config_file} names no base model: retrain the adapter")
    return base


def base_for_adapter_config(name_or_path: str, root: Path = Path(".")) -> str:
    """What an adapter records as its base: a hub id as given, a local folder as an absolute path (so
    ``AutoPeftModelForCausalLM.from_pretrained`` finds it from any working directory)."""
    local = Path(name_or_path).expanduser()
    local = local if local.is_absolute() else root / local
    return str(local.resolve()) if local.exists() else name_or_path


def save_adapter(peft_model: Any, out_dir: Path, state_dict: dict[str, Any] | None, base: str) -> None:
    """The adapter alone (``adapter_config.json`` + ``adapter_model.safetensors``), naming ``base``."""
    peft_model.peft_config["default"].base_model_name_or_path = base
    peft_model.save_pretrained(out_dir, state_dict=state_dict, safe_serialization=True)


def merged_model(peft_model: Any) -> Any:
    """The base with the adapter folded into its weights: a plain transformers model again."""
    return peft_model.merge_and_unload()


class AdapterRun:
    """What ``train`` keeps of a LoRA run to save it: the ``PeftModel`` and the base it names."""

    def __init__(self, peft_model: Any, base: str, merge: bool):
        self.peft_model = peft_model
        self.base = base
        self.merge = merge

    @property
    def lm(self) -> Any:
        """The transformers model with the adapter layers inside it: what the loop trains and runs."""
        return self.peft_model.get_base_model()

    def save(self, out_dir: Path, lm_state_dict: dict[str, Any] | None) -> None:
        """The adapter into ``out_dir``, from the gathered state dict of ``lm`` (FSDP-safe)."""
        state = None
        if lm_state_dict is not None:
            state = {f"base_model.model.{k}": v for k, v in lm_state_dict.items()}
        save_adapter(self.peft_model, out_dir, state, self.base)


def write_merged_model(adapter_dir: Path) -> Path:
    """``adapter_dir/merged/``: the adapter folded into its base, a plain ``save_pretrained`` model
    (``train.merge_adapter`` and ``sanchaek merge``)."""
    from .loading import load_adapter_merged

    model, tokenizer = load_adapter_merged(str(adapter_dir), dtype="auto")
    out = adapter_dir / MERGED_DIR
    model.config.use_cache = True
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
