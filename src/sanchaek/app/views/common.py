"""Helpers every page shares: cached reads keyed on file mtimes, dvc calls with a TTL, empty states."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from ... import repo
from ...votes.samples import Sample, collect_samples
from ...votes.store import RatingsStore
from .. import catalog
from .. import project as proj

# Korean first, English after: the app is for a Korean writer; the English keeps logs searchable.
CRITERIA_LABELS = {
    "fluency": "유창성 fluency",
    "literariness": "문학성 literariness",
    "theme_fit": "주제 적합성 theme fit",
}


def criterion_label(name: str) -> str:
    return CRITERIA_LABELS.get(name, name)


def stamp(path: Path) -> tuple[int, int]:
    """(mtime, size) of a file, the cache key of what is read from it; (0, -1) when it is missing."""
    try:
        st_ = path.stat()
        return st_.st_mtime_ns, st_.st_size
    except OSError:
        return 0, -1


@st.cache_data(show_spinner=False, max_entries=64)
def _json_at(path: str, stamp: tuple[int, int]) -> Any:
    return proj.read_json_file(Path(path))


def report(project: proj.Project, name: str) -> Any:
    """A report by its short name (see project.REPORTS), re-read when the file changes; None if absent."""
    path = project.root / proj.REPORTS[name]
    return _json_at(str(path), stamp(path))


# Shared, read-only objects (not copied per rerun as st.cache_data would): 10k passages stay cheap.
@st.cache_resource(show_spinner="문단을 읽는 중 · reading passages …", max_entries=2)
def _passages_at(path: str, stamp: tuple[int, int]) -> catalog.PassageCatalog:
    return catalog.load_passages(Path(path))


def passages(project: proj.Project) -> catalog.PassageCatalog:
    path = project.layout.passages
    return _passages_at(str(path), stamp(path))


@st.cache_resource(show_spinner="문서 정보를 읽는 중 · reading document metadata …", max_entries=2)
def _documents_at(path: str, stamp: tuple[int, int]) -> dict[str, dict]:
    return catalog.load_document_meta(Path(path))


def documents(project: proj.Project) -> dict[str, dict]:
    path = project.layout.documents
    return _documents_at(str(path), stamp(path))


def _bucket(ttl: float) -> int:
    return int(time.time() // ttl) if ttl > 0 else time.time_ns()


class Refreshing:
    """A slow value (``dvc status``) that readers get at once: computed on the first read, then, once
    older than the TTL, recomputed in a background thread while readers keep the last value. A page
    switch never waits for dvc after the first visit."""

    def __init__(self, compute):
        self._compute = compute
        self._lock = threading.Lock()
        self._value: Any = None
        self._at = 0.0
        self._thread: threading.Thread | None = None

    def get(self, ttl: float) -> Any:
        with self._lock:
            value, stale = self._value, time.monotonic() - self._at >= ttl
            if value is not None and stale and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._refresh, daemon=True)
                self._thread.start()
        if value is None:
            value = self._refresh()
        return value

    def _refresh(self) -> Any:
        value = self._compute()
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value


@st.cache_resource(show_spinner="dvc status …", max_entries=8)
def _dvc_status(root: str, timeout: float, dvc_yaml: tuple[int, int]) -> Refreshing:
    return Refreshing(lambda: repo.dvc_status(Path(root), timeout))


def dvc_status(project: proj.Project) -> tuple[list[repo.StageStatus], str]:
    """`dvc status` per stage: at most ratings.dvc_cache_ttl_s old, refreshed in the background."""
    p = project.params.ratings
    holder = _dvc_status(str(project.root), p.dvc_timeout_s, stamp(project.root / "dvc.yaml"))
    return holder.get(p.dvc_cache_ttl_s)


@st.cache_data(show_spinner="dvc exp show …", max_entries=4)
def _exp_show(root: str, timeout: float, fingerprint: str):
    return repo.exp_show(Path(root), timeout)


# Files whose change changes `dvc exp show` (besides git refs and the queue, see repo.exp_fingerprint).
EXP_FILES = ["params.yaml", "dvc.yaml", "dvc.lock", *proj.REPORTS.values()]


def exp_rows(project: proj.Project) -> tuple[list[repo.ExpRow], str]:
    """`dvc exp show`, asked again only when refs, HEAD, the queue or the tracked files changed."""
    timeout = project.params.ratings.dvc_timeout_s
    fingerprint = repo.exp_fingerprint(project.root, timeout, EXP_FILES)
    return _exp_show(str(project.root), timeout, fingerprint)


@st.cache_data(show_spinner=False, max_entries=8)
def _workspace_run(root: str, files: tuple[str, ...], timeout: float, bucket: int, stamps: tuple) -> str:
    return repo.workspace_run(Path(root), list(files), timeout)


def workspace_run(project: proj.Project) -> str:
    """The run the workspace's metrics come from: main@<sha>, an experiment's name, or uncommitted."""
    p = project.params.ratings
    files = (proj.REPORTS["eval"], proj.REPORTS["train"])
    stamps = tuple(stamp(project.root / f) for f in files)
    return _workspace_run(str(project.root), files, p.dvc_timeout_s, _bucket(p.dvc_cache_ttl_s), stamps)


@st.cache_data(show_spinner=False, max_entries=32)
def _commit_curves(root: str, rev: str, timeout: float):
    return proj.commit_curves(Path(root), rev, timeout)  # a commit never changes: no TTL


def curves_of(project: proj.Project, row: repo.ExpRow) -> dict[str, list[dict[str, float]]]:
    if row.kind == "workspace":
        return proj.workspace_curves(project.root)
    return _commit_curves(str(project.root), row.rev, project.params.ratings.dvc_timeout_s)


@st.cache_data(show_spinner="샘플을 모으는 중 …", max_entries=4)
def _samples(root: str, params_json: str, fingerprint: str) -> list[Sample]:
    from ...config import RatingsParams

    return collect_samples(Path(root), RatingsParams.model_validate_json(params_json))


def samples(project: proj.Project) -> list[Sample]:
    """Every run's samples, collected again only when the experiment refs, HEAD or the files changed."""
    p = project.params.ratings
    fingerprint = repo.exp_fingerprint(project.root, p.dvc_timeout_s, [*EXP_FILES, *p.sample_files])
    return _samples(str(project.root), p.model_dump_json(), fingerprint)


def store(project: proj.Project) -> RatingsStore:
    return RatingsStore.from_params(project.root, project.params.ratings)


def how_to_run(what: str, stage: str) -> None:
    st.info(
        f"{what} 아직 없습니다. `dvc repro {stage}` (또는 `sanchaek {stage}`)를 실행하세요. · No {stage} output yet."
    )


_EM = re.compile(r"&lt;(/?)em&gt;")


def highlight_html(fragment: str) -> str:
    """Escape a highlight fragment but keep the backend's <em>…</em> marks as <mark>."""
    return _EM.sub(lambda m: f"<{m.group(1)}mark>", html.escape(fragment))


def text_block(text: str) -> str:
    """Korean prose shown with its line breaks, safely escaped."""
    return "<div style='white-space: pre-wrap; line-height: 1.8'>" + html.escape(text) + "</div>"


def prompt_block(text: str) -> str:
    """A prompt (what the model was given), set apart from generated text: grey box, muted colour."""
    return (
        "<div class='sanchaek-prompt' style='white-space: pre-wrap; line-height: 1.8; color: #555;"
        " background: #f1f3f5; border-left: 4px solid #adb5bd; padding: 0.4em 0.8em; margin-bottom: 0.6em'>"
        + html.escape(text)
        + "</div>"
    )


def inline(text: str, limit: int) -> str:
    """One line of ``text`` for a list (newlines folded, cut at ``limit`` with an ellipsis), markdown-escaped."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[:limit] + "…"
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", flat)


def fmt(value: Any, spec: str) -> str:
    """A number for a table cell; a missing one is '—', never 'None'."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return format(value, spec)


def interval(low: Any, high: Any) -> str:
    return "—" if low is None or high is None else f"[{low:.0%}, {high:.0%}]"


def as_cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
