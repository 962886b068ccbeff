"""The embedded Lucene index is the same bytes build after build (so DVC sees an unchanged
``data/index`` and nothing downstream reruns), with the worker threads racing as they do in the stage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sanchaek.config.search import IndexParams
from sanchaek.paths import Layout
from sanchaek.search import open_backend

pytestmark = pytest.mark.slow


def passages(shared: Path, n: int) -> list[dict]:
    """``n`` passages cut from the public-domain corpus (several hundred, so that both workers add some)."""
    out = []
    with (shared / "data/corpus/works.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            work = json.loads(line)
            for k, para in enumerate(p for p in work["text"].split("\n") if len(p) > 20):
                out.append({"passage_id": f"{work['id']}-{k:04d}", "doc_id": work["id"], "text": para[:400]})
                if len(out) == n:
                    return out
    return out


def files(index_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(index_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(index_dir.rglob("*"))
        if p.is_file()
    }


def build(root: Path, rows: list[dict], threads: int) -> dict[str, str]:
    # A tiny RAM buffer makes the workers flush many scratch segments, in an order that races.
    params = IndexParams(backend="embedded", index_threads=threads, ram_buffer_mb=1)
    backend = open_backend(params, Layout(root))
    try:
        assert backend.index(iter(rows)) == len(rows)
        hits = [h.passage_id for h in backend.search("죽음", 5)]
    finally:
        backend.close()
    return {"files": files(root / "data" / "index"), "hits": hits}


def test_two_builds_write_the_same_bytes_whatever_the_thread_timing(tmp_path, shared_dir):
    rows = passages(shared_dir, 3000)
    first = build(tmp_path / "a", rows, threads=3)
    second = build(tmp_path / "b", rows, threads=3)
    assert first["files"] == second["files"]
    assert first["hits"] == second["hits"]
    lucene = [name for name in first["files"] if name.startswith("lucene/")]
    assert len([name for name in lucene if name.endswith(".si")]) == 1, lucene  # one segment
    # The order passages arrive in and the thread count do not change the index either.
    assert build(tmp_path / "c", rows[::-1], threads=1)["files"] == first["files"]
