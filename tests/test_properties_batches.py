"""Properties of the training batch plan: a pure function of (seed, step) covering every block once
per pass over the data, split over processes and micro-steps without loss or overlap."""

from __future__ import annotations

import numpy as np
import torch  # noqa: F401  (imported once here, not inside the first timed example)
from hypothesis import given, settings
from hypothesis import strategies as st

from sanchaek.model.data import GlobalBatches, MicroBatchDataset, TokenBlocks

FAST = settings(max_examples=50, deadline=5000)

plans = st.tuples(st.integers(1, 40), st.integers(1, 16), st.integers(0, 2**32 - 1))


@FAST
@given(plan=plans, steps=st.lists(st.integers(0, 60), min_size=1, max_size=12))
def test_batch_of_a_step_depends_only_on_seed_and_step(plan, steps):
    n_blocks, global_batch, seed = plan
    visited = GlobalBatches(n_blocks, global_batch, seed)
    for step in steps:  # any history of earlier queries (and the permutation cache's evictions)
        visited.indices(step)
    for step in steps:
        fresh = GlobalBatches(n_blocks, global_batch, seed).indices(step)
        again = visited.indices(step)
        assert fresh.dtype == np.int64 and len(fresh) == global_batch
        assert fresh.tolist() == again.tolist()
        assert all(0 <= b < n_blocks for b in fresh.tolist())


@FAST
@given(plan=plans, epochs=st.integers(1, 4))
def test_every_block_once_per_epoch(plan, epochs):
    n_blocks, global_batch, seed = plan
    batches = GlobalBatches(n_blocks, global_batch, seed)
    n_steps = -(-epochs * n_blocks // global_batch)
    stream = np.concatenate([batches.indices(s) for s in range(n_steps)])
    for e in range(epochs):
        assert sorted(stream[e * n_blocks : (e + 1) * n_blocks].tolist()) == list(range(n_blocks))


@FAST
@given(
    n_blocks=st.integers(1, 30),
    world=st.integers(1, 4),
    micro=st.integers(1, 3),
    accum=st.integers(1, 3),
    seed=st.integers(0, 1000),
    start=st.integers(0, 5),
    n_steps=st.integers(1, 4),
)
def test_processes_and_micro_steps_share_each_global_batch_exactly(
    n_blocks, world, micro, accum, seed, start, n_steps
):
    plan = GlobalBatches(n_blocks, world * micro * accum, seed)
    seq_len = 3
    stream = np.arange(n_blocks * seq_len + 1, dtype=np.int32)
    blocks = TokenBlocks(stream, seq_len)
    per_rank = [
        MicroBatchDataset(
            blocks,
            plan,
            start_step=start,
            end_step=start + n_steps,
            grad_accum_steps=accum,
            micro_batch_size=micro,
            rank=r,
            world=world,
        )
        for r in range(world)
    ]
    assert all(len(d) == n_steps * accum for d in per_rank)
    for s in range(n_steps):
        seen = []
        for m in range(accum):
            for r in range(world):
                batch = per_rank[r][s * accum + m].numpy()
                assert batch.shape == (micro, seq_len + 1)
                seen.extend(int(row[0]) // seq_len for row in batch)
                for row in batch:  # each row is one block: seq_len + 1 consecutive tokens
                    assert row.tolist() == list(range(row[0], row[0] + seq_len + 1))
        assert seen == plan.indices(start + s).tolist()
