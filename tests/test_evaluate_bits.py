"""Bits per character and per byte: the characters counted are exactly those of the scored tokens."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import KOREAN_LINES

from sanchaek.model.bits import bits_per_unit, scored_text_size
from sanchaek.model.data import TokenBlocks
from sanchaek.model.loading import load_causal_lm


@pytest.fixture(scope="module")
def tokenizer(tiny_lm_dir):
    return load_causal_lm(str(tiny_lm_dir))[1]


def stream_of(texts, tok) -> np.ndarray:
    ids = []
    for text in texts:
        ids += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return np.array(ids)


def test_one_block_counts_every_character_but_the_first_token(tokenizer):
    # An ASCII first character: a byte-level token that splits a Hangul character (3 bytes) decodes
    # to U+FFFD, the documented one-character error at the edges of the scored range.
    texts = ["A " + KOREAN_LINES[0], *KOREAN_LINES[1:5]]
    stream = stream_of(texts, tokenizer)
    size = scored_text_size(TokenBlocks(stream, len(stream) - 1), tokenizer)
    first = tokenizer.decode([int(stream[0])])
    assert size["tokens"] == len(stream) - 1
    # every document's characters, one per EOS, minus the first token (an input, never a target)
    assert size["chars"] == sum(len(t) for t in texts) + len(texts) - len(first)
    assert size["bytes"] == sum(len(t.encode()) for t in texts) + len(texts) - len(first.encode())


def test_blocks_and_a_cap_count_only_the_targets_they_hold(tokenizer):
    texts = KOREAN_LINES * 2
    stream = stream_of(texts, tokenizer)
    blocks = TokenBlocks(stream, 16)
    capped = scored_text_size(blocks, tokenizer, max_blocks=2)
    assert capped["tokens"] == 32
    text = tokenizer.decode(stream[1:33].tolist(), skip_special_tokens=True)
    n_eos = int((stream[1:33] == tokenizer.eos_token_id).sum())
    assert capped["chars"] == len(text) + n_eos
    whole = scored_text_size(blocks, tokenizer)
    assert whole["tokens"] == len(blocks) * 16 and whole["chars"] > capped["chars"]


def test_bits_per_unit():
    bits = bits_per_unit(math.log(2), 100, {"chars": 50, "bytes": 125})  # 1 bit a token
    assert bits == {"bits_per_char": 2.0, "bits_per_byte": 0.8}
