"""Bits per character and per UTF-8 byte: an LM number that does not depend on the tokenizer.

Perplexity is per token, so it moves with the vocabulary (a 4k and a 32k BPE see different tokens)
and cannot be set beside another model's. The same total loss divided by the text it covers can:
``bits/char = (mean token loss in nats × scored tokens) / ln 2 / characters of those tokens``.

The scored tokens of packed blocks are the targets ``stream[1 : n·seq_len + 1]`` (block ``i`` is
``stream[i·L : i·L + L + 1]``, see ``data.py``). Their text is decoded document by document; each EOS
counts as one character and one byte (the document break, as a newline would in a text file), since
its prediction is in the loss. A token that splits a multi-byte character at either end of the range
decodes to U+FFFD: at most a character or two off, against the hundreds of thousands scored.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def scored_text_size(blocks: Any, tokenizer: Any, max_blocks: int | None = None) -> dict[str, int]:
    """``{"tokens", "chars", "bytes"}`` of the targets of the first ``max_blocks`` blocks (all: None)."""
    n = len(blocks) if max_blocks is None else min(max_blocks, len(blocks))
    targets = np.asarray(blocks.stream[1 : n * blocks.seq_len + 1], dtype=np.int64)
    eos = tokenizer.eos_token_id
    breaks = np.flatnonzero(targets == eos)
    pieces = [piece[piece != eos].tolist() for piece in np.split(targets, breaks)]
    texts = tokenizer.batch_decode(pieces, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return {
        "tokens": int(len(targets)),
        "chars": sum(len(text) for text in texts) + len(breaks),
        "bytes": sum(len(text.encode("utf-8")) for text in texts) + len(breaks),
    }


def bits_per_unit(mean_loss: float, tokens: int, size: dict[str, int]) -> dict[str, float]:
    """``bits_per_char`` and ``bits_per_byte`` from a mean token loss (nats) over ``tokens`` targets."""
    total_bits = mean_loss * tokens / math.log(2)
    return {
        "bits_per_char": total_bits / size["chars"] if size["chars"] else float("nan"),
        "bits_per_byte": total_bits / size["bytes"] if size["bytes"] else float("nan"),
    }
