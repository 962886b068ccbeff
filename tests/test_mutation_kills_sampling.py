"""Tests that pin src/sanchaek/model/sampling.py beyond test_generate.py's comparisons with Hugging Face
(`make mutation`, reports/quality/mutation.json): the whole step as the engine calls it (greedy and
among the top k), the exponential race row by row, the fallback of a fully banned row, n-gram bans in a
left-padded batch, and top-p at exactly its boundary against transformers' own warper."""

from __future__ import annotations

import math

import torch

from sanchaek.config.generate import SamplingParams
from sanchaek.model.sampling import (
    adjust_logits,
    ban_repeated_ngrams,
    candidate_count,
    choose_tokens,
    draws_among_top_k,
    make_next_token,
    process_logits,
    sample_candidates,
    top_candidates,
    top_p_filter,
)

LOGITS = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0], [4.0, 0.0, 1.0, 0.5, 3.0]])
SEQ = torch.zeros((2, 3), dtype=torch.long)
VALID = torch.zeros((2, 3), dtype=torch.bool)  # nothing written: no penalty applies
CUR = torch.tensor(0)


def plain(**kw) -> SamplingParams:
    return SamplingParams(**{"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, **kw})


def test_who_draws_among_the_top_k_and_how_many():
    assert draws_among_top_k(plain(top_k=1)) and not draws_among_top_k(plain(top_k=0))
    assert not draws_among_top_k(plain(do_sample=False, top_k=5))
    assert candidate_count(plain(top_k=3), 5) == 3 and candidate_count(plain(top_k=9), 5) == 5
    assert candidate_count(plain(top_k=0), 5) == 5 and candidate_count(plain(do_sample=False, top_k=3), 5) == 5


def test_choose_tokens_greedy_or_by_the_exponential_race_per_row():
    assert choose_tokens(LOGITS, None).tolist() == [1, 0]
    # p / E: a small E for a candidate makes it win even against a larger p
    noise = torch.ones((2, 5))
    noise[0, 3] = 0.01
    noise[1, 2] = 0.001
    assert choose_tokens(LOGITS, noise).tolist() == [3, 2]
    assert choose_tokens(LOGITS, torch.ones((2, 5))).tolist() == [1, 0]


def test_the_step_among_the_top_k_picks_by_candidate_rank():
    s = plain(top_k=2, top_p=1.0, temperature=1.0)
    step = make_next_token(s)
    noise = torch.tensor([[1.0, 0.01], [1.0, 1.0]])  # row 0: the second candidate wins the race
    assert step(LOGITS, SEQ, VALID, CUR, noise).tolist() == [3, 0]
    assert sample_candidates(LOGITS, s, noise).tolist() == [3, 0]
    greedy = make_next_token(plain(do_sample=False))
    assert greedy(LOGITS, SEQ, VALID, CUR, None).tolist() == [1, 0]
    full = make_next_token(plain(top_k=0, top_p=1.0, temperature=1.0))  # over the whole vocabulary
    noise = torch.ones((2, 5))
    noise[1, 4] = 0.1
    assert full(LOGITS, SEQ, VALID, CUR, noise).tolist() == [1, 4]


def test_penalties_and_temperature_follow_their_settings():
    seq = torch.tensor([[1, 2, 0], [0, 0, 0]])
    valid = torch.tensor([[True, True, False], [False, False, False]])
    penalised = adjust_logits(LOGITS, seq, valid, torch.tensor(2), plain(repetition_penalty=2.0, do_sample=False))
    assert penalised[0].tolist() == [0.0, 1.5, 0.5, 2.0, -1.0] and penalised[1].tolist() == LOGITS[1].tolist()
    # n = 1: every token already written is banned
    banned = adjust_logits(LOGITS, seq, valid, torch.tensor(2), plain(no_repeat_ngram_size=1, do_sample=False))
    assert banned[0, 1] == -math.inf and banned[0, 2] == -math.inf and banned[0, 0] == 0.0
    assert adjust_logits(LOGITS, seq, valid, torch.tensor(2), plain(do_sample=False)).tolist() == LOGITS.tolist()
    cooled = adjust_logits(LOGITS, seq, valid, torch.tensor(2), plain(temperature=0.5))
    assert cooled.tolist() == (LOGITS / 0.5).tolist()
    assert adjust_logits(LOGITS, seq, valid, torch.tensor(2), plain(temperature=0.5, do_sample=False)).tolist() == (
        LOGITS.tolist()
    )


def test_a_fully_banned_row_falls_back_to_its_raw_logits_alone():
    logits = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    seq = torch.tensor([[0, 1, 2, 0], [0, 0, 0, 0]])
    valid = torch.tensor([[True, True, True, False], [True, False, False, False]])
    out = adjust_logits(logits, seq, valid, torch.tensor(3), plain(no_repeat_ngram_size=1, do_sample=False))
    assert out[0].tolist() == [1.0, 2.0, 3.0]  # every token of row 0 is banned: its raw logits
    assert out[1].tolist() == [-math.inf, 2.0, 1.0]  # row 1 keeps its one ban


def test_ngram_bans_per_row_of_a_left_padded_batch():
    # n = 3, written positions 0..3; row 0 holds one real token (its prefix reaches into the padding)
    seq = torch.tensor([[0, 0, 0, 7, 0, 0], [5, 6, 5, 6, 0, 0]])
    valid = torch.tensor([[False, False, False, True, False, False], [True, True, True, True, False, False]])
    logits = torch.zeros((2, 10))
    out = ban_repeated_ngrams(logits, seq, valid, torch.tensor(4), 3)
    assert torch.isinf(out[0]).sum() == 0
    assert torch.isinf(out[1]).nonzero().flatten().tolist() == [5]  # 5 6 -> 5 was written: 5 6 5 is banned
    # at cur = n the one complete window already bans
    seq = torch.tensor([[4, 4, 0, 0]])
    out = ban_repeated_ngrams(torch.zeros((1, 6)), seq, torch.tensor([[True, True, False, False]]), torch.tensor(2), 2)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [4]


def test_top_k_of_one_and_top_p_at_its_exact_boundary():
    s = plain(top_k=1, top_p=1.0, temperature=1.0)
    kept = process_logits(LOGITS, SEQ, VALID, CUR, s)
    assert [int(torch.isfinite(row).sum()) for row in kept] == [1, 1]
    # probabilities 0.5, 0.25, 0.25 and p = 0.5: the first token alone reaches p
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    from transformers.generation.logits_process import TopPLogitsWarper

    reference = TopPLogitsWarper(top_p=0.5)(torch.zeros((1, 1), dtype=torch.long), logits.clone())
    ln2 = float(logits[0, 2])
    assert top_p_filter(logits, 0.5).tolist() == reference.tolist() == [[-math.inf, -math.inf, ln2]]
    values, indices = top_candidates(logits, 3, 0.5)
    assert indices.tolist() == [[2, 0, 1]] and values.tolist() == [[ln2, -math.inf, -math.inf]]


def test_the_race_normalises_each_row_on_its_own():
    # row-wise softmax: row 0 is [0.73, 0.27] -> / [1, 0.5] -> token 0; normalising over the rows
    # instead would give row 0 [0.12, 0.12] -> token 1
    logits = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    assert choose_tokens(logits, torch.tensor([[1.0, 0.5], [1.0, 1.0]])).tolist() == [0, 0]


def test_the_step_applies_the_penalties_to_the_written_text():
    seq = torch.tensor([[1, 0, 0], [0, 0, 0]])
    valid = torch.tensor([[True, False, False], [True, False, False]])
    cur = torch.tensor(1)
    # token 1 (row 0's best) and token 0 (row 1's best) are written: n = 1 bans them
    greedy = make_next_token(plain(do_sample=False, no_repeat_ngram_size=1))
    assert greedy(LOGITS, seq, valid, cur, None).tolist() == [3, 4]
    among = make_next_token(plain(top_k=2, top_p=1.0, temperature=1.0, no_repeat_ngram_size=1))
    assert among(LOGITS, seq, valid, cur, torch.ones((2, 2))).tolist() == [3, 4]


def test_the_noise_width_is_the_number_of_candidates():
    # two rows, three candidates: the third-ranked one wins row 0's race
    s = plain(top_k=3, top_p=1.0, temperature=1.0)
    noise = torch.tensor([[1.0, 1.0, 0.001], [1.0, 1.0, 1.0]])
    assert sample_candidates(LOGITS, s, noise).tolist() == [2, 0]
