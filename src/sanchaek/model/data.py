"""Tokenize once, pack into blocks, cache as a memory-mapped token stream.

Documents are tokenized in batches with the fast tokenizer and concatenated with EOS after each
one. The stream is cached under ``data/cache/`` keyed on the tokenizer and the text, so a second
run (or another process) maps it in milliseconds. Block ``i`` is ``stream[i*L : i*L + L + 1]``:
``L + 1`` tokens, so inputs ``[:-1]`` and targets ``[1:]`` cover every token of the stream once.

``GlobalBatches`` decides which blocks form the global batch of each optimizer step as a pure
function of ``(seed, step)``. Resuming at step ``s`` and splitting a global batch over ``N``
processes therefore need no sampler state: every process computes its share.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SanchaekError
from ..io import read_jsonl, write_json

TOKENIZE_BATCH = 1000  # documents per fast-tokenizer call: large enough to use its threads


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash that changes whenever the tokenizer would produce other ids."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = backend.to_str()
    else:  # slow tokenizer: its vocabulary is the best proxy we have
        spec = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False)
    return hashlib.sha256(f"{spec}|eos={tokenizer.eos_token_id}".encode()).hexdigest()


def read_texts(
    path: str | Path, *, what: str = "training text", fix: str = "run `dvc repro query`"
) -> Iterator[str]:
    """The ``text`` field of every record of a JSONL file (empty texts skipped)."""
    for record in read_jsonl(path, missing_fix=fix):
        text = record.get("text")
        if not isinstance(text, str):
            raise SanchaekError(f"{path}: a record has no string 'text' field ({what}): regenerate the file")
        if text.strip():
            yield text


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max + 1 else np.dtype(np.uint32)


def tokenize_stream(texts: Iterable[str], tokenizer: Any, out_path: Path) -> int:
    """Tokenize ``texts`` in batches and write ``ids + [eos]`` per document to a raw binary file."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise SanchaekError(
            "the tokenizer has no EOS token to separate documents: use a causal LM tokenizer with eos_token"
        )
    dtype = token_dtype(len(tokenizer))
    n_tokens = 0
    with out_path.open("wb") as fh:
        for batch in _batched(texts, TOKENIZE_BATCH):
            encoded = tokenizer(batch, add_special_tokens=False, return_attention_mask=False)["input_ids"]
            flat = np.fromiter(
                (tok for ids in encoded for tok in (*ids, eos)),
                dtype=dtype,
                count=sum(len(i) + 1 for i in encoded),
            )
            fh.write(flat.tobytes())
            n_tokens += flat.size
        fh.flush()
        os.fsync(fh.fileno())
    return n_tokens


class TokenBlocks:
    """``len(self)`` blocks of ``seq_len + 1`` token ids over a memory-mapped stream."""

    def __init__(self, stream: np.ndarray, seq_len: int):
        self.stream = stream
        self.seq_len = seq_len

    def __len__(self) -> int:
        return max(0, (len(self.stream) - 1) // self.seq_len)

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(i)
        start = i * self.seq_len
        return self.stream[start : start + self.seq_len + 1]

    def batch(self, indices: Iterable[int]) -> np.ndarray:
        """Stack blocks as int64 (what embedding layers take)."""
        return np.stack([self[int(i)] for i in indices]).astype(np.int64)

    @property
    def n_tokens(self) -> int:
        return len(self) * self.seq_len


def load_token_stream(
    path: str | Path, tokenizer: Any, cache_dir: str | Path, *, what: str = "training text"
) -> np.ndarray:
    """The token stream of a JSONL text file, from the cache or tokenized now (atomically cached)."""
    path = Path(path)
    if not path.exists():
        raise SanchaekError(
            f"{what} {path} not found: run `dvc repro query` (or point train at an existing file)"
        )
    key = hashlib.sha256(f"{file_sha256(path)}|{tokenizer_fingerprint(tokenizer)}".encode()).hexdigest()[:24]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    bin_path = cache_dir / f"tokens-{key}.bin"
    meta_path = cache_dir / f"tokens-{key}.json"
    dtype = token_dtype(len(tokenizer))
    if not (bin_path.exists() and meta_path.exists()):
        fd, tmp = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=cache_dir)
        os.close(fd)
        try:
            n = tokenize_stream(read_texts(path, what=what), tokenizer, Path(tmp))
            os.replace(tmp, bin_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        meta = {
            "source": str(path),
            "n_tokens": n,
            "dtype": dtype.name,
            "tokenizer": tokenizer_fingerprint(tokenizer),
        }
        write_json(meta_path, meta)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["n_tokens"] == 0 or bin_path.stat().st_size != meta["n_tokens"] * dtype.itemsize:
        if meta["n_tokens"] == 0:
            raise SanchaekError(f"{what} {path} has no text to train on: check the query stage's output")
        raise SanchaekError(f"token cache {bin_path} is truncated: delete {cache_dir} and rerun")
    return np.memmap(bin_path, dtype=dtype, mode="r", shape=(meta["n_tokens"],))


def load_blocks(
    path: str | Path, tokenizer: Any, seq_len: int, cache_dir: str | Path, *, what: str = "training text"
) -> TokenBlocks:
    """Tokenized, packed, cached blocks of a JSONL text file (``train.jsonl``, ``val.jsonl``)."""
    blocks = TokenBlocks(load_token_stream(path, tokenizer, cache_dir, what=what), seq_len)
    if len(blocks) == 0:
        raise SanchaekError(
            f"{what} {path} has {len(blocks.stream)} tokens, fewer than train.seq_len + 1 = {seq_len + 1}: "
            "lower train.seq_len or add text"
        )
    return blocks


class GlobalBatches:
    """Block indices of each step's global batch: a fresh seeded permutation per pass over the data."""

    def __init__(self, n_blocks: int, global_batch: int, seed: int):
        self.n_blocks = n_blocks
        self.global_batch = global_batch
        self.seed = seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n_blocks)
        return self._perms[epoch]

    def indices(self, step: int) -> np.ndarray:
        """The global batch of optimizer step ``step`` (0-based)."""
        positions = np.arange(step * self.global_batch, (step + 1) * self.global_batch)
        epochs, offsets = np.divmod(positions, self.n_blocks)
        return np.array([self._perm(int(e))[o] for e, o in zip(epochs, offsets, strict=True)], dtype=np.int64)

    def micro_indices(
        self, step: int, micro_step: int, rank: int, world: int, micro_batch: int
    ) -> np.ndarray:
        """This process's share of micro-step ``micro_step``: slice ``micro_step * world + rank``."""
        slot = micro_step * world + rank
        return self.indices(step)[slot * micro_batch : (slot + 1) * micro_batch]


class MicroBatchDataset:
    """Map-style dataset whose item ``k`` is this process's ``k``-th micro-batch from ``start_step``.

    Used with ``DataLoader(batch_size=None, pin_memory=True)`` so workers prefetch pinned batches.
    """

    def __init__(
        self,
        blocks: TokenBlocks,
        plan: GlobalBatches,
        *,
        start_step: int,
        end_step: int,
        grad_accum_steps: int,
        micro_batch_size: int,
        rank: int,
        world: int,
    ):
        self.blocks, self.plan = blocks, plan
        self.start_step, self.end_step = start_step, end_step
        self.accum, self.micro = grad_accum_steps, micro_batch_size
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step) * self.accum

    def __getitem__(self, k: int) -> Any:
        import torch

        step, micro_step = divmod(k, self.accum)
        idx = self.plan.micro_indices(self.start_step + step, micro_step, self.rank, self.world, self.micro)
        return torch.from_numpy(self.blocks.batch(idx))
