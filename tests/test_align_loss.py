"""The DPO machinery of model/dpo.py against numbers worked by hand and against TRL's DPOTrainer
(trl, a test-only dependency of the dev extra) on the same tiny model and batch."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import KOREAN_LINES

from sanchaek.model.dpo import (
    TokenPair,
    collate_pairs,
    dpo_loss,
    sequence_logps,
    tokenize_pairs,
)


def test_dpo_and_ipo_losses_match_hand_computed_values():
    chosen, rejected = torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -19.0])
    ref_chosen, ref_rejected = torch.tensor([-11.0, -20.0]), torch.tensor([-11.0, -20.0])
    # log-ratio margins: (1 - (-1)) = 2 and (0 - 1) = -1
    loss, cr, rr = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.1, loss="sigmoid")
    expected = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(0.1))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert cr.tolist() == pytest.approx([0.1, 0.0]) and rr.tolist() == pytest.approx([-0.1, 0.1])
    lengths_c, lengths_r = torch.tensor([4, 2]), torch.tensor([5, 1])
    loss, _, _ = dpo_loss(
        chosen, rejected, ref_chosen, ref_rejected, beta=0.1, loss="ipo",
        chosen_lengths=lengths_c, rejected_lengths=lengths_r,
    )  # fmt: skip
    # per-token margins: 1/4 + 1/5 = 0.45 and 0/2 - 1/1 = -1; target 1 / (2 * 0.1) = 5
    assert loss.item() == pytest.approx(((0.45 - 5) ** 2 + (-1 - 5) ** 2) / 2, rel=1e-6)


def test_sequence_logps_sum_the_completion_tokens_only(tiny_lm_dir):
    """Against a plain log-softmax over the model's full logits, token by token."""
    from sanchaek.model.loading import load_causal_lm

    lm, tok = load_causal_lm(str(tiny_lm_dir))
    pairs = [TokenPair([5, 6, 7], [8, 9], [10]), TokenPair([11], [12, 13, 14], [15, 16])]
    batch = collate_pairs(pairs, tok.pad_token_id)
    got = sequence_logps(lm, *batch.tensors())
    for row, (ids, mask) in enumerate(zip(batch.input_ids, batch.completion_mask, strict=True)):
        n = int(batch.attention_mask[row].sum())
        logprobs = lm(input_ids=ids[None, :n]).logits[0].log_softmax(-1)
        expected = sum(logprobs[t - 1, ids[t]].item() for t in range(1, n) if mask[t])
        assert got[row].item() == pytest.approx(expected, abs=1e-4)


def test_pairs_are_skipped_and_counted_for_each_bad_input(tiny_lm_dir):
    from sanchaek.model.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_lm_dir))
    good = {"prompt": KOREAN_LINES[0], "chosen": KOREAN_LINES[1], "rejected": KOREAN_LINES[2]}
    records = [
        good,
        {**good, "rejected": good["chosen"] + "  "},  # same text
        {**good, "chosen": " "},  # empty
        {**good, "prompt": ""},
        {**good, "chosen": None},
        {**good, "prompt": " ".join(KOREAN_LINES * 20)},  # longer than the context
    ]
    pairs, skipped = tokenize_pairs(records, tok, max_seq_len=64)
    assert len(pairs) == 1
    assert dict(skipped) == {"not_text": 1, "empty": 2, "chosen_equals_rejected": 1, "prompt_too_long": 1}
    assert len(pairs[0].prompt) + max(len(pairs[0].chosen), len(pairs[0].rejected)) <= 64


# ----------------------------------------------------------------------------- against TRL


def _trl_trainer(tiny_lm_dir, tmp_path, loss_type: str):
    trl = pytest.importorskip(
        "trl", reason="trl not installed: pip install -e '.[dev]' (trl==1.16.0) to compare with DPOTrainer"
    )
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM

    from sanchaek.model.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_lm_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_lm_dir, dtype=torch.float32)
    rows = [
        {
            "prompt": KOREAN_LINES[i],
            "chosen": " " + KOREAN_LINES[i + 1],
            "rejected": " " + KOREAN_LINES[(i + 3) % 8][::-1],
        }
        for i in range(4)
    ]
    args = trl.DPOConfig(
        output_dir=str(tmp_path / "trl"), beta=0.2, loss_type=[loss_type], per_device_train_batch_size=4,
        report_to=[], use_cpu=True, bf16=False, max_length=128, dataset_num_proc=None, seed=0,
    )  # fmt: skip
    peft_config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], task_type="CAUSAL_LM"
    )
    trainer = trl.DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=peft_config,
    )
    torch.manual_seed(1)
    with torch.no_grad():  # a trained adapter: the policy is no longer the reference
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    return trainer


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_loss_equals_trl_dpotrainer_on_the_same_model_and_batch(tiny_lm_dir, tmp_path, loss_type):
    trainer = _trl_trainer(tiny_lm_dir, tmp_path, loss_type)
    inputs = next(iter(trainer.get_train_dataloader()))
    trl_loss = trainer.compute_loss(trainer.model, inputs).item()

    # Our collation of TRL's own tokenization gives TRL's batch.
    data = trainer.train_dataset
    pairs = [TokenPair(r["prompt_ids"], r["chosen_ids"], r["rejected_ids"]) for r in data]
    ordered = {tuple(p.prompt + p.chosen): p for p in pairs}
    rows = inputs["input_ids"][: len(pairs)]
    batch_pairs = [
        ordered[tuple(r[m.bool()].tolist())]
        for r, m in zip(rows, inputs["attention_mask"][: len(pairs)], strict=True)
    ]
    batch = collate_pairs(batch_pairs, trainer.processing_class.pad_token_id)
    assert torch.equal(batch.input_ids, inputs["input_ids"])
    assert torch.equal(batch.completion_mask, inputs["completion_mask"])

    lm = trainer.model.get_base_model()
    with torch.no_grad():
        chosen, rejected = sequence_logps(lm, *batch.tensors()).chunk(2)
        with trainer.model.disable_adapter():  # the reference: same weights, adapter off
            ref_chosen, ref_rejected = sequence_logps(lm, *batch.tensors()).chunk(2)
    lengths = batch.completion_lengths()
    ours, chosen_rewards, rejected_rewards = dpo_loss(
        chosen, rejected, ref_chosen, ref_rejected, beta=0.2, loss=loss_type,
        chosen_lengths=lengths[0], rejected_lengths=lengths[1],
    )  # fmt: skip
    assert abs(trl_loss - math.log(2)) > 1e-3 or loss_type == "ipo"  # the adapter moved the policy
    assert ours.item() == pytest.approx(trl_loss, rel=1e-5, abs=1e-6)
    metrics = trainer._metrics["train"]
    margin = (chosen_rewards - rejected_rewards).mean().item()
    assert metrics["rewards/margins"][-1] == pytest.approx(margin, rel=1e-4, abs=1e-6)
    assert metrics["logps/chosen"][-1] == pytest.approx(chosen.mean().item(), rel=1e-5)
