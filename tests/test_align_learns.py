"""Offline proof that align learns: a tiny model trained on corpus sentences, a synthetic preference
set made from held-out corpus sentences (chosen = the real continuation of a sentence's opening,
rejected = a continuation of the same length sampled from the untrained model), then align on the CPU:
held-out pair accuracy (implicit reward of chosen above rejected) >= 90%, and bits/char on held-out
text not worse than before tuning by more than 2%."""

from __future__ import annotations

import json
import random

import pytest
import torch

from sanchaek.config import params_from_dict
from sanchaek.paths import Layout

pytestmark = pytest.mark.slow  # ~1-2 min on 2 cores: train, sample, align


def corpus_sentences(shared_dir) -> list[str]:
    works = shared_dir / "data" / "corpus" / "works.jsonl"
    if not works.exists():
        pytest.skip(f"{works} not present")
    sentences = []
    with works.open(encoding="utf-8") as fh:
        for _, line in zip(range(60), fh, strict=False):
            sentences += [
                s.strip() for s in json.loads(line)["text"].split("\n") if 20 <= len(s.strip()) <= 100
            ]
    random.Random(0).shuffle(sentences)
    return sentences


def write_jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def synthetic_pairs(sentences: list[str], tokenizer, untrained) -> list[dict]:
    pairs = []
    for sentence in sentences:
        words = sentence.split()
        cut = max(1, len(words) // 3)
        prompt, chosen = " ".join(words[:cut]), " " + " ".join(words[cut:])
        prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        n = len(tokenizer(chosen, add_special_tokens=False)["input_ids"])
        out = untrained.generate(
            prompt_ids,
            do_sample=True,
            max_new_tokens=n,
            min_new_tokens=n,
            pad_token_id=tokenizer.pad_token_id,
        )
        rejected = tokenizer.decode(out[0, prompt_ids.size(1) :], skip_special_tokens=True)
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return pairs


def test_align_separates_held_out_pairs_without_hurting_the_language_model(tmp_path, shared_dir):
    from sanchaek.align import align
    from sanchaek.model.loading import load_tokenizer
    from sanchaek.model.scratch import build_scratch_model, scratch_preset
    from sanchaek.train import train

    sentences = corpus_sentences(shared_dir)
    layout = Layout(tmp_path)
    layout.processed_dir.mkdir(parents=True)
    write_jsonl(layout.val_split, [{"text": s} for s in sentences[:64]])
    write_jsonl(layout.train_split, [{"text": s} for s in sentences[64:3000]])
    model = {"name_or_path": "scratch:tiny", "vocab_size": 1000, "tokenizer_extra_text": None}
    run = {"seq_len": 64, "micro_batch_size": 16, "max_steps": 80, "warmup_steps": 10, "eval_every": 0,
           "checkpoint_every": 0}  # fmt: skip
    train(params_from_dict({"model": model, "train": run}), layout, checkpoints=False, live_dir=False)

    tokenizer = load_tokenizer(str(layout.model_dir))
    torch.manual_seed(5)
    untrained = build_scratch_model(scratch_preset("scratch:tiny"), tokenizer, seed=5).eval()
    write_jsonl(layout.preferences, synthetic_pairs(sentences[3000:3080], tokenizer, untrained))

    align_params = {"max_steps": 16, "lr": 3e-4, "beta": 0.5, "warmup_steps": 2, "eval_fraction": 0.3,
                    "max_seq_len": 64, "checkpoint_every": 0, "log_every": 4}  # fmt: skip
    report = align(params_from_dict({"align": align_params}), layout, live_dir=False)

    print("held-out:", report["heldout"], "bits/char:", report["val_bits_per_char"])
    assert report["status"] == "aligned" and report["pairs"]["heldout"] == 24
    assert report["heldout"]["reward_accuracy"] >= 0.9, report["heldout"]
    bpc = report["val_bits_per_char"]
    assert bpc["after"] <= bpc["before"] * 1.02, bpc
