"""Tests that pin src/sanchaek/model/dpo.py beyond tests/test_align_loss.py (`make mutation`,
reports/quality/mutation.json): the cut at the context length, the held-out split, the padded batch
layout, both scoring paths of sequence_logps, the loss's refusals, batched scoring, reward statistics
and bits per character, each against a value worked out here from the model's own logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import KOREAN_LINES

from sanchaek.errors import SanchaekError
from sanchaek.model.dpo import (
    SKIP_REASONS,
    PairBatch,
    PairLogps,
    TokenPair,
    bits_per_char,
    collate_pairs,
    dpo_loss,
    pair_logps,
    read_preferences,
    reward_stats,
    sequence_logps,
    split_heldout,
    tokenize_pairs,
)


@pytest.fixture(scope="module")
def lm_tok(tiny_lm_dir):
    from sanchaek.model.loading import load_causal_lm

    lm, tok = load_causal_lm(str(tiny_lm_dir))
    lm.eval()
    return lm, tok


def _reference_logps(lm, ids: list[int], scored_from: int) -> float:
    """Summed log-probabilities of ids[scored_from:], each given everything before it."""
    with torch.no_grad():
        logprobs = lm(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)
    return sum(logprobs[t - 1, ids[t]].item() for t in range(scored_from, len(ids)))


def test_completions_are_cut_to_the_room_after_the_prompt(lm_tok):
    _, tok = lm_tok
    prompt, chosen, rejected = KOREAN_LINES[0], KOREAN_LINES[1], KOREAN_LINES[2]
    n_prompt = len(tok(prompt)["input_ids"])
    full_c = tok(chosen, add_special_tokens=False)["input_ids"]
    full_r = tok(rejected, add_special_tokens=False)["input_ids"]
    assert full_c[:3] != full_r[:3]
    record = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    pairs, skipped = tokenize_pairs([record], tok, max_seq_len=n_prompt + 3)
    assert dict(skipped) == dict.fromkeys(SKIP_REASONS, 0)  # every reason present, none used
    assert pairs == [TokenPair(tok(prompt)["input_ids"], full_c[:3], full_r[:3])]
    pairs, skipped = tokenize_pairs([record], tok, max_seq_len=n_prompt + 1)  # room for one token
    if full_c[:1] != full_r[:1]:
        assert pairs == [TokenPair(tok(prompt)["input_ids"], full_c[:1], full_r[:1])]
    else:
        assert pairs == [] and skipped["chosen_equals_rejected"] == 1
    pairs, skipped = tokenize_pairs([record], tok, max_seq_len=n_prompt)  # no room at all
    assert pairs == [] and skipped["prompt_too_long"] == 1
    same_start = {"prompt": prompt, "chosen": chosen, "rejected": chosen + " 그리고 더"}
    pairs, skipped = tokenize_pairs([same_start], tok, max_seq_len=n_prompt + len(full_c))
    assert pairs == [] and skipped["chosen_equals_rejected"] == 1  # equal once cut: no preference left
    for blank in ({**record, "rejected": "  "}, {**record, "prompt": "\n"}):
        assert tokenize_pairs([blank], tok, 512)[1]["empty"] == 1
    for missing in ({"chosen": chosen, "rejected": rejected}, {**record, "rejected": 3}):
        assert tokenize_pairs([missing], tok, 512)[1]["not_text"] == 1


def test_read_preferences_counts_broken_lines_or_names_them(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "a"}\nnot json\n{"prompt": "b"}\n', "utf-8")
    records, bad = read_preferences(path, on_bad_line="skip")
    assert records == [{"prompt": "a"}, {"prompt": "b"}] and bad == 1
    with pytest.raises(SanchaekError, match=r"prefs\.jsonl:2"):
        read_preferences(path)
    with pytest.raises(SanchaekError, match="sanchaek ratings export"):
        read_preferences(tmp_path / "none.jsonl")


def test_the_held_out_share_is_seeded_floored_and_keeps_order():
    pairs = [TokenPair([i], [i + 100], [i + 200]) for i in range(10)]
    train, held = split_heldout(pairs, 0.25, seed=3)
    chosen = set(np.random.default_rng(3).permutation(10)[:2].tolist())  # floor(2.5) = 2
    assert held == [p for i, p in enumerate(pairs) if i in chosen]
    assert train == [p for i, p in enumerate(pairs) if i not in chosen]
    assert split_heldout(pairs, 0.25, seed=3) == (train, held)
    assert split_heldout(pairs, 0.25, seed=4) != (train, held)
    one_train, one_held = split_heldout(pairs, 0.19, seed=3)  # floor(1.9) = 1
    assert len(one_held) == 1 and len(one_train) == 9 and one_held[0] in held
    assert split_heldout(pairs, 0.09, seed=3) == (pairs, [])


def test_collated_rows_chosen_first_right_padded_to_a_multiple():
    pairs = [TokenPair([1, 2], [3], [4, 5, 6]), TokenPair([7], [8, 9], [10])]
    batch = collate_pairs(pairs, pad_id=0, pad_to_multiple_of=4)
    assert batch.input_ids.tolist() == [
        [1, 2, 3, 0, 0, 0, 0, 0],
        [7, 8, 9, 0, 0, 0, 0, 0],
        [1, 2, 4, 5, 6, 0, 0, 0],
        [7, 10, 0, 0, 0, 0, 0, 0],
    ]  # the longest row has 5 tokens: 8 columns
    assert batch.attention_mask.tolist() == [
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
    ]
    assert batch.completion_mask.tolist() == [
        [0, 0, 1, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0],
    ]
    assert all(t.dtype == torch.long for t in batch.tensors())
    assert [t.tolist() for t in batch.completion_lengths()] == [[1, 2], [3, 1]]
    assert collate_pairs(pairs, pad_id=99).input_ids.shape == (4, 5)
    assert collate_pairs(pairs, pad_id=99).input_ids[3].tolist() == [7, 10, 99, 99, 99]
    moved = batch.to("cpu")
    assert isinstance(moved, PairBatch)
    assert [t.tolist() for t in moved.tensors()] == [t.tolist() for t in batch.tensors()]


def _pairs(tok) -> list[TokenPair]:
    ids = [tok(line)["input_ids"] for line in KOREAN_LINES]
    return [TokenPair(ids[i][:4], ids[i + 1][1:6], ids[i + 2][1:3]) for i in range(5)]


def test_both_scoring_paths_and_the_batched_scorer_match_a_token_by_token_sum(lm_tok):
    lm, tok = lm_tok
    pairs = _pairs(tok)
    expected_c = [_reference_logps(lm, p.prompt + p.chosen, len(p.prompt)) for p in pairs]
    expected_r = [_reference_logps(lm, p.prompt + p.rejected, len(p.prompt)) for p in pairs]
    batch = collate_pairs(pairs, tok.pad_token_id, pad_to_multiple_of=8)
    got = sequence_logps(lm, *batch.tensors())
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.tolist(), expected_c + expected_r, atol=1e-4)
    for size in (1, 2, 5):
        chosen, rejected = pair_logps(PairLogps(lm), pairs, tok.pad_token_id, size, "cpu")
        np.testing.assert_allclose(chosen.tolist(), expected_c, atol=1e-4)
        np.testing.assert_allclose(rejected.tolist(), expected_r, atol=1e-4)
    entered = []

    class Autocast:
        def __enter__(self):
            entered.append(True)

        def __exit__(self, *exc):
            return False

    pair_logps(PairLogps(lm), pairs, tok.pad_token_id, 2, "cpu", autocast=Autocast)
    assert entered == [True, True, True]
    empty = pair_logps(PairLogps(lm), [], tok.pad_token_id, 2, "cpu")
    assert [t.tolist() for t in empty] == [[], []]


def test_a_head_with_a_bias_is_scored_from_the_full_logits(tiny_lm_dir):
    from sanchaek.model.loading import load_causal_lm

    lm, tok = load_causal_lm(str(tiny_lm_dir))
    head = lm.get_output_embeddings()
    head.bias = torch.nn.Parameter(torch.linspace(-2.0, 2.0, head.out_features))  # not a plain head
    pairs = _pairs(tok)[:2]
    batch = collate_pairs(pairs, tok.pad_token_id)
    expected = [_reference_logps(lm, p.prompt + p.chosen, len(p.prompt)) for p in pairs] + [
        _reference_logps(lm, p.prompt + p.rejected, len(p.prompt)) for p in pairs
    ]
    with torch.no_grad():
        got = sequence_logps(lm, *batch.tensors())
    np.testing.assert_allclose(got.tolist(), expected, atol=1e-4)


def test_the_loss_refuses_what_it_cannot_compute_and_clamps_empty_lengths():
    c, r = torch.tensor([-3.0], requires_grad=True), torch.tensor([-4.0])
    ref = torch.tensor([-3.5])
    with pytest.raises(ValueError, match="the ipo loss needs the completion lengths"):
        dpo_loss(c, r, ref, ref, beta=0.5, loss="ipo", chosen_lengths=torch.tensor([1]))
    with pytest.raises(ValueError, match="needs the completion lengths"):
        dpo_loss(c, r, ref, ref, beta=0.5, loss="ipo", rejected_lengths=torch.tensor([1]))
    with pytest.raises(SanchaekError, match=r"^align.loss = 'hinge' is unknown: use sigmoid or ipo$"):
        dpo_loss(c, r, ref, ref, beta=0.5, loss="hinge")
    loss, cr, rr = dpo_loss(
        c, r, ref, ref, beta=0.5, loss="ipo", chosen_lengths=torch.tensor([0]), rejected_lengths=torch.tensor([2])
    )
    # margin: 0.5 / 1 (a zero length counts as one) - (-0.5) / 2 = 0.75; target 1 / (2 * 0.5) = 1
    assert loss.item() == pytest.approx((0.75 - 1.0) ** 2)
    assert not cr.requires_grad and cr.tolist() == [0.25] and rr.tolist() == [-0.25]
    loss.backward()
    assert c.grad is not None


def test_reward_statistics_count_a_tie_as_a_miss():
    stats = reward_stats(torch.tensor([1.0, 2.0, 3.0, 0.5]), torch.tensor([0.0, 2.0, 5.0, 0.0]))
    assert stats == {"reward_accuracy": 0.5, "reward_margin": pytest.approx((1 + 0 - 2 + 0.5) / 4)}
    empty = reward_stats(torch.zeros(0), torch.zeros(0))
    assert set(empty) == {"reward_accuracy", "reward_margin"} and all(math.isnan(v) for v in empty.values())


@pytest.mark.parametrize(("max_len", "batch_size"), [(4, 1), (4, 3), (100, 2)])
def test_bits_per_char_scores_every_token_but_the_first_once(lm_tok, max_len, batch_size):
    lm, tok = lm_tok
    texts = [KOREAN_LINES[0], "", KOREAN_LINES[3], KOREAN_LINES[5]]
    nats, chars = 0.0, 0
    for text in texts:
        ids = tok(text)["input_ids"]
        if len(ids) < 2:
            continue
        chars += len(text)
        for start in range(0, len(ids) - 1, max_len):
            nats -= _reference_logps(lm, ids[start : start + max_len + 1], 1)
    got = bits_per_char(lm, texts, tok, max_len=max_len, batch_size=batch_size, device="cpu")
    assert got == pytest.approx(nats / math.log(2) / chars, rel=1e-4)
    assert math.isnan(bits_per_char(lm, ["", ""], tok, max_len=4, batch_size=2, device="cpu"))


def test_every_skip_is_counted_and_the_pairs_after_it_are_kept(lm_tok):
    _, tok = lm_tok
    good = {"prompt": KOREAN_LINES[0], "chosen": KOREAN_LINES[1], "rejected": KOREAN_LINES[2]}
    n_prompt = len(tok(good["prompt"])["input_ids"])
    long_prompt = {**good, "prompt": " ".join(KOREAN_LINES * 3)}
    equal_once_cut = {**good, "rejected": good["chosen"] + " 그리고 더 긴 끝"}
    records = [
        {**good, "chosen": None}, {**good, "rejected": 1}, good,
        {**good, "rejected": good["chosen"]}, {**good, "rejected": good["chosen"] + " "}, good,
        long_prompt, long_prompt, good,
        equal_once_cut, equal_once_cut, good,
    ]  # fmt: skip
    room = len(tok(good["chosen"], add_special_tokens=False)["input_ids"])
    pairs, skipped = tokenize_pairs(records, tok, max_seq_len=n_prompt + room)
    assert len(pairs) == 4
    assert dict(skipped) == {"not_text": 2, "empty": 0, "chosen_equals_rejected": 4, "prompt_too_long": 2}


def test_the_prompt_carries_the_special_prefix_and_the_completions_do_not(tiny_lm_dir):
    from tokenizers.processors import TemplateProcessing

    from sanchaek.model.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_lm_dir))
    bos = tok.bos_token_id
    # as Llama's tokenizers do: BOS before every text encoded with special tokens
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    assert tok("가")["input_ids"][0] == bos
    record = {"prompt": KOREAN_LINES[0], "chosen": KOREAN_LINES[1], "rejected": KOREAN_LINES[2]}
    (pair,), _ = tokenize_pairs([record], tok, max_seq_len=512)
    assert pair.prompt[0] == bos and pair.prompt.count(bos) == 1
    assert pair.chosen == tok(KOREAN_LINES[1], add_special_tokens=False)["input_ids"] and bos not in pair.chosen
    assert pair.rejected == tok(KOREAN_LINES[2], add_special_tokens=False)["input_ids"]


def test_three_pairs_split_into_their_halves():
    pairs = [TokenPair([1], [2] * (i + 1), [3] * (i + 4)) for i in range(3)]
    chosen, rejected = collate_pairs(pairs, pad_id=0).completion_lengths()
    assert chosen.tolist() == [1, 2, 3] and rejected.tolist() == [4, 5, 6]


def test_only_the_scored_positions_go_through_the_head(lm_tok):
    lm, tok = lm_tok
    pairs = _pairs(tok)[:2]
    batch = collate_pairs(pairs, tok.pad_token_id)
    rows = []
    hook = lm.get_output_embeddings().register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            sequence_logps(lm, *batch.tensors())
    finally:
        hook.remove()
    # every completion token is predicted from the position before it: no prompt or padding row
    assert rows == [sum(len(p.chosen) + len(p.rejected) for p in pairs)]


def test_the_scorer_module_keeps_the_models_unsplittable_blocks(lm_tok):
    lm, _ = lm_tok
    assert PairLogps(lm)._no_split_modules == lm._no_split_modules == {"LlamaDecoderLayer"}
    assert PairLogps(torch.nn.Linear(2, 2))._no_split_modules is None


def test_one_pair_has_statistics_and_messages_are_exact(tmp_path):
    assert reward_stats(torch.tensor([2.0]), torch.tensor([0.5])) == {"reward_accuracy": 1.0, "reward_margin": 1.5}
    c = torch.tensor([-3.0])
    with pytest.raises(ValueError, match=r"^the ipo loss needs the completion lengths$"):
        dpo_loss(c, c, c, c, beta=0.5, loss="ipo")
    with pytest.raises(SanchaekError, match=r"none\.jsonl not found: run `sanchaek ratings export` \(or `dvc repro ratings`\)$"):
        read_preferences(tmp_path / "none.jsonl")
