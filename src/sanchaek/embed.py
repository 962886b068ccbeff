"""``sanchaek embed``: passage embeddings for semantic theme retrieval.

Reads ``data/interim/passages.jsonl`` and writes ``data/embeddings/`` (vectors, ids, meta) and
``reports/embed.json``. Batches are cached under ``data/cache/embed/`` as they finish, so a killed
run resumes without recomputing, under ``sanchaek embed`` and ``dvc repro`` alike. With
``embed.enabled: false`` (the CPU default) it writes an empty set in no time and ``query.semantic``
stays off.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from .cli import params_option
from .config import load_params
from .config.search import EmbedParams
from .io import read_jsonl
from .paths import Layout
from .report import write_stage_report
from .search.embedding import (
    BatchEncoder,
    Embedder,
    embed_texts,
    load_embedder,
    model_cache_dir,
    process_pool_encoder,
    write_embeddings,
)


def embeddings_dir(layout: Layout) -> Path:
    return layout.root / "data" / "embeddings"


def embed_cache_root(layout: Layout) -> Path:
    return layout.cache_dir / "embed"


def _batch_encoder(params: EmbedParams) -> BatchEncoder | None:
    """Worker processes when ``embed.workers`` > 1 (one thread each unless ``embed.threads`` says
    otherwise, so the workers do not fight over cores); else None: batches run in this process."""
    if params.workers <= 1:
        return None
    return process_pool_encoder(params.model, params.workers, params.threads or 1)


def run_embed(
    params: EmbedParams,
    passages_path: Path,
    out_dir: Path,
    cache_root: Path,
    embedder: Embedder | None = None,
) -> dict:
    """Embed every passage (cached ones are reused) into ``out_dir``; returns the report."""
    records = list(
        read_jsonl(passages_path, missing_fix="run `sanchaek preprocess` (or `dvc repro preprocess`)")
    )
    ids = [str(r["passage_id"]) for r in records]
    if not params.enabled:
        write_embeddings(
            out_dir, [], np.zeros((0, 0), np.float32), {"enabled": False, "model": None, "count": 0}
        )
        return {"enabled": False, "passages": len(ids), "embedded": 0}
    embedder = embedder or load_embedder(params.model, params.threads or None)
    start = time.perf_counter()
    bar = tqdm(
        total=len(ids), desc="embed", unit="passage",
        disable=not (params.progress and sys.stderr.isatty()),
    )  # fmt: skip
    with bar:
        vectors, computed = embed_texts(
            embedder,
            [r["text"] for r in records],
            model_cache_dir(cache_root, embedder.name),
            params.batch_size,
            progress=bar.update,
            encode_batches=_batch_encoder(params),
        )
    seconds = time.perf_counter() - start
    meta = {"enabled": True, "model": embedder.name, "dim": embedder.dim, "count": len(ids)}
    write_embeddings(out_dir, ids, vectors, meta)
    return {
        "enabled": True,
        "model": embedder.name,
        "dim": embedder.dim,
        "passages": len(ids),
        "embedded": computed,
        "from_cache": len(ids) - computed,
        "seconds": round(seconds, 2),
        "passages_per_s": round(computed / seconds, 2) if computed and seconds > 0 else None,
        "workers": params.workers,
    }


EMBED_TIMINGS = ("embedded", "from_cache", "seconds", "passages_per_s")


@click.command()
@params_option
def command(params_path: str) -> None:
    """Embed passages for semantic theme retrieval (resumable)."""
    params = load_params(params_path)
    layout = Layout()
    report = run_embed(params.embed, layout.passages, embeddings_dir(layout), embed_cache_root(layout))
    # counts of this run (computed vs cached) and its speed differ run to run: timings, not outputs
    write_stage_report(layout, "embed", report, headline=("enabled", "passages", "dim"), timing_keys=EMBED_TIMINGS)
    if not report["enabled"]:
        click.echo("embed.enabled is false: wrote an empty embedding set (query.semantic needs it on)")
    else:
        click.echo(
            f"embedded {report['passages']} passages ({report['embedded']} computed, "
            f"{report['from_cache']} from cache) with {report['model']} in {report['seconds']} s"
        )
