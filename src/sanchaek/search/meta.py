"""What ``data/index/`` holds besides the index itself: ``meta.json`` and the build-then-rename dance.

Both backends keep ``<index_dir>/meta.json`` (backend, analysis settings, document count; for
Elasticsearch also the alias and the live versioned index), so DVC tracks one directory either way
and a search can refuse an index built with other analysis settings.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..config.search import IndexParams
from ..errors import SanchaekError
from ..io import swap_into_place  # noqa: F401  (the backends import it from here)
from .analysis import analysis_dict, analysis_fingerprint, describe

INDEX_FORMAT = 1
REBUILD_HINT = "run `sanchaek index` (or `dvc repro index`)"


def index_meta(params: IndexParams, backend: str, docs: int, **extra: object) -> dict:
    return {
        "format": INDEX_FORMAT,
        "backend": backend,
        "analyzer": describe(params.analysis),
        "analysis": analysis_dict(params.analysis),
        "analysis_fingerprint": analysis_fingerprint(params.analysis),
        "docs": docs,
        **extra,
    }


def write_meta(directory: Path, meta: dict) -> None:
    (directory / "meta.json").write_text(
        json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def read_meta(index_dir: Path, params: IndexParams, backend: str) -> dict:
    """The index's metadata, checked against the params the caller searches with."""
    meta_path = index_dir / "meta.json"
    if not meta_path.exists():
        raise SanchaekError(f"no search index at {index_dir}: {REBUILD_HINT}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SanchaekError(f"{meta_path} is damaged ({exc}): {REBUILD_HINT}") from exc
    if meta.get("backend") != backend:
        raise SanchaekError(
            f"{index_dir} holds a {meta.get('backend')} index, params ask for {backend}: {REBUILD_HINT}"
        )
    if meta.get("analysis_fingerprint") != analysis_fingerprint(params.analysis):
        raise SanchaekError(f"{index_dir} was built with other index.analysis settings: {REBUILD_HINT}")
    return meta


def building_dir(target: Path) -> Path:
    """A fresh sibling temp directory for a new build (dead builds' leftovers are removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.building-*"):
        if not _process_alive(leftover.name.rsplit("-", 1)[-1]):
            shutil.rmtree(leftover, ignore_errors=True)
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    return building


def _process_alive(pid: str) -> bool:
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
