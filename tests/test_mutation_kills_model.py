"""Tests that kill the mutants of batch planning (src/sanchaek/model/data.py) and the optimizer step
(src/sanchaek/model/optim.py) that the training tests let live (`make mutation`,
reports/quality/mutation.json)."""

from __future__ import annotations

import numpy as np
import pytest

from sanchaek.model.data import GlobalBatches, MicroBatchDataset, TokenBlocks


@pytest.mark.parametrize(
    ("n_tokens", "seq_len", "blocks"), [(0, 4, 0), (1, 4, 0), (4, 4, 0), (5, 4, 1), (9, 4, 2), (12, 4, 2)]
)
def test_token_blocks_count_whole_blocks_of_seq_len_plus_one(n_tokens, seq_len, blocks):
    """A block needs seq_len + 1 tokens (inputs and their next-token labels); blocks share one token."""
    tb = TokenBlocks(np.arange(n_tokens, dtype=np.uint16), seq_len)
    assert len(tb) == blocks and tb.n_tokens == blocks * seq_len


def test_token_block_bounds_and_contents():
    tb = TokenBlocks(np.arange(13, dtype=np.uint16), 4)  # 3 blocks
    assert tb[0].tolist() == [0, 1, 2, 3, 4] and tb[2].tolist() == [8, 9, 10, 11, 12]
    for bad in (-1, 3):
        with pytest.raises(IndexError, match=f"^{bad}$"):  # names the index asked for
            tb[bad]
    batch = tb.batch([2, 0])
    assert batch.dtype == np.int64 and batch.tolist() == [[8, 9, 10, 11, 12], [0, 1, 2, 3, 4]]


def test_the_plan_of_a_seed_never_changes():
    """Golden values: the step-k batch of a seed is part of a run's identity (resuming relies on it)."""
    plan = GlobalBatches(n_blocks=7, global_batch=3, seed=11)
    assert [plan.indices(s).tolist() for s in range(4)] == GOLDEN_PLAN
    assert plan.micro_indices(1, 1, 0, 1, 1).tolist() == [GOLDEN_PLAN[1][1]]


# numpy's default_rng([11, epoch]).permutation(7) is [3, 1, 4, 5, 2, 0, 6] for epoch 0 and
# [5, 0, 6, 4, 3, 1, 2] for epoch 1; steps of 3 read it in order, step 2 straddles the two epochs.
GOLDEN_PLAN = [[3, 1, 4], [5, 2, 0], [6, 5, 0], [6, 4, 3]]


def test_a_resumed_run_that_is_already_finished_has_no_micro_batches():
    blocks = TokenBlocks(np.arange(41, dtype=np.uint16), 4)
    plan = GlobalBatches(len(blocks), 2, seed=0)
    for start, end in ((5, 5), (6, 5)):
        data = MicroBatchDataset(
            blocks,
            plan,
            start_step=start,
            end_step=end,
            grad_accum_steps=2,
            micro_batch_size=1,
            rank=0,
            world=1,
        )
        assert len(data) == 0
