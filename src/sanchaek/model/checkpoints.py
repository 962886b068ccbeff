"""Checkpoints and live curves of a training loop, shared by ``train`` and ``align``.

A checkpoint is ``<dir>/step_<n>/``: Accelerate's ``save_state`` (model, optimizer, scheduler, RNG
and whatever the loop registered) plus ``trainer_state.json``, written last, so a folder without it
is incomplete and never resumed. It is written into a hidden temp folder and renamed, so a kill
never leaves half of one. Each loop passes its own resume knob (``train.resume``, ``align.resume``)
so that an error names the setting that fixes it.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import SanchaekError, first_line
from ..io import write_json

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step_"
STATE_FILE = "trainer_state.json"  # written last: a checkpoint without it is incomplete


def dvclive_available() -> bool:
    # dvclive imports dvc; a bare GPU machine may have neither, and training must still run there.
    try:
        import dvclive  # noqa: F401
    except ImportError:
        return False
    return True


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not ckpt_dir.exists():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and p.name[len(CHECKPOINT_PREFIX) :].isdigit():
            if (p / STATE_FILE).exists():
                found.append(p)
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def read_checkpoint_state(path: Path, *, knob: str) -> dict[str, Any]:
    state_file = path / STATE_FILE
    if not path.exists():
        raise SanchaekError(
            f"checkpoint {path} not found: set {knob} to auto, never or an existing step_<n> folder"
        )
    try:
        return json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SanchaekError(
            f"checkpoint {path} is incomplete or corrupt ({STATE_FILE}: {exc}): delete it or set {knob}: never"
        ) from exc


def choose_checkpoint(resume: str, ckpt_dir: Path, fingerprint: dict[str, Any], *, knob: str) -> Path | None:
    """The checkpoint to resume from: ``never`` -> none; ``auto`` -> newest that matches; else the path."""
    if resume == "never":
        return None
    if resume != "auto":
        path = Path(resume)
        state = read_checkpoint_state(path, knob=knob)
        if state.get("fingerprint") != fingerprint:
            log.warning("checkpoint %s was made with other params; resuming from it anyway as asked", path)
        return path
    for path in reversed(list_checkpoints(ckpt_dir)):
        if read_checkpoint_state(path, knob=knob).get("fingerprint") == fingerprint:
            return path
        log.warning("ignoring checkpoint %s: made with other params or data", path)
    return None


def save_checkpoint(accelerator: Any, ckpt_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """``accelerator.save_state`` into a temp folder, then rename: a kill never leaves a half checkpoint."""
    final = ckpt_dir / f"{CHECKPOINT_PREFIX}{step}"
    tmp = ckpt_dir / f".{CHECKPOINT_PREFIX}{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(tmp / STATE_FILE, state)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in list_checkpoints(ckpt_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def checkpoint_trainable_only(accelerator: Any, model: Any) -> None:
    """Checkpoints of an adapter run hold what trains, not the frozen base (16 GB for an 8B model):
    the base is the one ``model.name_or_path`` names, loaded again on resume."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}

    def keep_trainable(models: list[Any], weights: list[dict[str, Any]], output_dir: str) -> None:
        for i, state in enumerate(weights):
            weights[i] = {k: v for k, v in state.items() if k in trainable}

    accelerator.register_save_state_pre_hook(keep_trainable)


def load_checkpoint(accelerator: Any, path: Path, *, partial: bool, knob: str) -> dict[str, Any]:
    """``partial``: the checkpoint holds only the trainable weights (``checkpoint_trainable_only``)."""
    state = read_checkpoint_state(path, knob=knob)
    try:
        accelerator.load_state(str(path), **({"strict": False} if partial else {}))
    except Exception as exc:  # safetensors, pickle, shape mismatch: all mean "this checkpoint is unusable"
        first = first_line(exc)
        raise SanchaekError(
            f"checkpoint {path} is corrupt or from another model ({first}): delete it or set {knob}: never"
        ) from exc
    return state


def trim_live_history(live_dir: Path, last_step: int) -> None:
    """Drop plot rows logged after the checkpoint we resume from, so curves have no doubled steps."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        with tsv.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        kept = [r for r in rows if int(r["step"]) <= last_step]
        with tsv.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()), delimiter="\t")
            writer.writeheader()
            writer.writerows(kept)


def open_live(live_dir: Path | bool | None, default_dir: Path, *, resumed: bool, start_step: int, accelerator: Any) -> Any:
    """The main process's dvclive ``Live`` for a loop's curves, or None (no curves asked for, another
    process, or no dvclive: then a warning, and the loop runs on). ``live_dir``: True for
    ``default_dir``, a path, or None/False. A resumed run first drops the rows after its checkpoint."""
    if not live_dir or not accelerator.is_main_process:
        return None
    path = default_dir if live_dir is True else Path(live_dir)
    if not dvclive_available():
        accelerator.print(f"warning: dvclive is not installed: no curves under {path} (pip install dvclive)")
        return None
    from dvclive import Live

    if resumed:
        trim_live_history(path, start_step)
    return Live(dir=str(path), resume=resumed, save_dvc_exp=False, dvcyaml=None)
