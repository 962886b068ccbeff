"""What the ``align`` stage leaves in ``models/aligned/`` and how the loader reads it.

Always a small record, ``sanchaek_align.json``, that names the trained model it starts from by a path
relative to itself (``../lm``), so the DVC output stays valid wherever the project is checked out:

- ``status: passthrough`` (too few preference pairs): the record alone. Loading the folder loads the
  trained model it names; nothing is copied (a 1B model is gigabytes) and no link is made (DVC would
  check a linked folder out as a copy).
- ``status: aligned``, ``method: lora``: the DPO adapter (peft's ``adapter_config.json`` +
  ``adapter_model.safetensors``) and the tokenizer beside the record. Loading merges the adapter into
  the trained model in memory, whatever that model is (a whole model, or a LoRA adapter folder itself).
- ``status: aligned``, ``method: full``: a whole ``save_pretrained`` model beside the record.

``load_causal_lm`` and ``check_model_dir`` (``model/loading.py``) hand such a folder to this module, so
every loader of the project (generate, compose, ``sanchaek write``, the app) reads it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import SanchaekError
from ..io import read_json, write_json

ALIGN_RECORD = "sanchaek_align.json"
ALIGNED_LABEL_SUFFIX = "+aligned"  # the contender name of the aligned model's samples: <experiment>+aligned


def has_record(path: str | Path) -> bool:
    return (Path(path).expanduser() / ALIGN_RECORD).is_file()


def read_record(path: str | Path) -> dict[str, Any]:
    record = read_json(
        Path(path).expanduser() / ALIGN_RECORD,
        what="align record",
        fix="run `sanchaek align` (or `dvc repro align`)",
    )
    if (
        not isinstance(record, dict)
        or record.get("status") not in ("passthrough", "aligned")
        or not record.get("base")
    ):
        raise SanchaekError(
            f"{Path(path) / ALIGN_RECORD} is not an align record (status, base): rerun `sanchaek align`"
        )
    return record


def record_base(path: str | Path, record: dict[str, Any]) -> str:
    """The trained model the record names, as a path usable from the current directory."""
    base = Path(record["base"]).expanduser()
    if not base.is_absolute():
        base = Path(os.path.normpath(Path(path).expanduser() / base))
    return str(base)


def write_record(
    out_dir: Path, *, status: str, base_dir: Path, method: str | None, report: dict[str, Any]
) -> None:
    """The record naming ``base_dir`` relative to ``out_dir`` (both under the project root)."""
    relative = os.path.relpath(Path(base_dir).resolve(), Path(out_dir).resolve())
    write_json(
        out_dir / ALIGN_RECORD, {"status": status, "base": relative, "method": method, "report": report}
    )


def resolve_passthrough(path: str | Path) -> str:
    """``path``, or the trained model a pass-through record names (followed to a real model folder)."""
    seen = 0
    current = str(path)
    while has_record(current) and read_record(current)["status"] == "passthrough":
        current = record_base(current, read_record(current))
        seen += 1
        if seen > 8:
            raise SanchaekError(
                f"{path}: align records point at each other in a loop: rerun `sanchaek align`"
            )
    return current


def is_aligned(path: str | Path) -> bool:
    """Whether ``path`` holds a model that DPO tuned (not a pass-through record)."""
    return has_record(path) and read_record(path)["status"] == "aligned"


def load_aligned(path: str | Path, *, dtype: Any = None, device: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of an align output folder, in eval mode (see the module docstring)."""
    from .loading import load_causal_lm, load_tokenizer, load_weights

    path = Path(path).expanduser()
    record = read_record(path)
    if record["status"] == "passthrough":
        return load_causal_lm(resolve_passthrough(path), dtype=dtype, device=device)
    if record.get("method") == "full":
        model = load_weights(str(path), dtype=dtype)
        tokenizer = load_tokenizer(str(path))
    else:
        model, tokenizer = _merged_adapter(path, record_base(path, record), dtype)
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer


def _merged_adapter(path: Path, base: str, dtype: Any) -> tuple[Any, Any]:
    """The trained model (loaded by the project's loader, merged if it is an adapter itself) with the
    DPO adapter merged into its weights."""
    from peft import PeftModel

    from .adapters import merged_model
    from .loading import load_causal_lm

    model, tokenizer = load_causal_lm(base, dtype=dtype)
    try:
        model = merged_model(PeftModel.from_pretrained(model, str(path)))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SanchaekError(
            f"cannot apply the aligned adapter {path} to {base} ({first}): the trained model changed since "
            "`sanchaek align` ran, or the adapter is corrupt; rerun `dvc repro align`"
        ) from exc
    return model, tokenizer


def aligned_variant(model: str, aligned_dir: Path, trained_dir: Path) -> Path | None:
    """The aligned model to use in place of ``model``: ``aligned_dir`` when it holds a DPO-tuned model
    and ``model`` is the trained model it was tuned from (a model named elsewhere has no aligned twin)."""
    if not is_aligned(aligned_dir):
        return None
    base = Path(record_base(aligned_dir, read_record(aligned_dir)))
    same = Path(model).expanduser().resolve() == base.resolve() == Path(trained_dir).resolve()
    return aligned_dir if same else None
