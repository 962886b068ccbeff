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


# ----------------------------------------------------------------------------- optimizer step


def test_weight_decay_on_matrices_only_and_never_on_frozen_parameters():
    import torch

    from sanchaek.model.optim import decay_groups

    matrix, bias, cube = (
        torch.nn.Parameter(torch.ones(2, 3)),
        torch.nn.Parameter(torch.ones(3)),
        torch.nn.Parameter(torch.ones(2, 2, 2)),
    )
    frozen = torch.nn.Parameter(torch.ones(2, 2), requires_grad=False)
    decay, no_decay = decay_groups([matrix, bias, cube, frozen], 0.1)
    assert [id(p) for p in decay["params"]] == [id(matrix), id(cube)] and decay["weight_decay"] == 0.1
    assert [id(p) for p in no_decay["params"]] == [id(bias)] and no_decay["weight_decay"] == 0.0


@pytest.mark.parametrize(
    ("step", "warmup", "total", "expected"),
    [
        (0, 1, 10, 1.0),  # one warmup step reaches the full rate at once
        (4, 4, 20, 1.0),  # the first step after warmup is the top of the cosine
        (12, 4, 20, 0.1 + 0.9 * 0.5),  # halfway down: progress 0.5
        (8, 4, 20, 0.1 + 0.9 * 0.5 * (1 + 0.5**0.5)),  # a quarter of the way: cos(pi / 4)
        (5, 4, 5, 0.1),  # one decay step: at its end, the floor
        (30, 4, 20, 0.1),  # past the end: stays on the floor
        (3, 0, 10, 0.1 + 0.9 * 0.5 * (1 + 0.5877852522924731)),  # no warmup: cosine from step 0, cos(0.3 pi)
    ],
)
def test_cosine_with_warmup_values(step, warmup, total, expected):
    from sanchaek.model.optim import cosine_with_warmup

    assert cosine_with_warmup(
        step, warmup_steps=warmup, total_steps=total, min_lr_ratio=0.1
    ) == pytest.approx(expected, abs=1e-12)


def _adamw(params, max_grad_norm):
    import torch

    from sanchaek.model.optim import MasterAdamW, MasterWeights

    master = MasterWeights(params, torch.device("cpu"))
    opt = MasterAdamW(master, lr=0.01, weight_decay=0.0, betas=(0.9, 0.95), eps=1e-8, max_grad_norm=max_grad_norm,
                      compiled=False)  # fmt: skip
    return master, opt


def test_one_parameter_model_and_a_step_without_gradients():
    import torch

    weight = torch.nn.Parameter(torch.ones(3, 2))
    master, opt = _adamw([weight], 1.0)
    assert float(opt.grad_norm) == 0.0  # readable (logged) before the first step
    before = master.master[0].detach().clone()
    opt.step()  # nothing reached the model: nothing moves
    assert float(opt.grad_norm) == 0.0 and torch.equal(master.master[0], before)
    weight.grad = torch.full((3, 2), 0.5, dtype=torch.bfloat16)
    opt.step()
    assert float(opt.grad_norm) == pytest.approx(0.5 * 6**0.5)
    assert not torch.equal(master.master[0], before)


@pytest.mark.parametrize(("norm", "max_norm"), [(1e-5, 1e-6), (4.0, 1.0), (0.3, 1.0)])
def test_clip_coefficient_is_clip_grad_norm_s(norm, max_norm):
    import torch

    weight = torch.nn.Parameter(torch.ones(4))
    _, opt = _adamw([weight], max_norm)
    grad = torch.tensor([norm, 0.0, 0.0, 0.0])
    reference = grad.clone().requires_grad_(False)
    holder = torch.nn.Parameter(torch.zeros(4))
    holder.grad = reference.clone()
    torch.nn.utils.clip_grad_norm_([holder], max_norm)
    expected = float(holder.grad[0] / grad[0])
    scale = float(opt._clip_scale([grad]))
    assert scale == pytest.approx(expected, rel=1e-6)
    assert scale <= 1.0  # clipping never scales a gradient up
