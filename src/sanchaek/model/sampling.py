"""The sampling step of the decoding engine, on the device.

Penalties, then temperature, top-k and top-p in Hugging Face ``generate``'s order; a draw by the
exponential race (no ``torch.multinomial`` sync), so the whole step is one pure function of tensors
that the static engine compiles (``make_next_token``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config.generate import SamplingParams

# Every function here works on the whole (B, prompt + new tokens) buffer of the run with ``valid``
# marking written, non-padding positions, and takes the write position ``cur`` as a 0-d tensor: the
# shapes never change during a run, nothing reads a value back to the host, and the step can be
# compiled once. Positions at or after ``cur`` are not valid yet, so they never count.


def apply_repetition_penalty(logits: Any, seq: Any, valid: Any, penalty: float) -> Any:
    """Divide positive (multiply negative) logits of tokens present in the text, as CTRL and HF do.

    Padding is not text: only ``valid`` positions count.
    """
    import torch

    present = torch.zeros_like(logits).scatter_add_(1, seq, valid.to(logits.dtype)) > 0
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(present, penalised, logits)


def ban_repeated_ngrams(logits: Any, seq: Any, valid: Any, cur: Any, n: int) -> Any:
    """Forbid any token that would complete an n-gram already in the text (HF's no_repeat_ngram_size):
    the n-1 tokens before ``cur`` are compared with the first n-1 tokens of every written window."""
    import torch

    if seq.shape[1] < n:
        return logits
    windows = seq.unfold(1, n, 1)  # (B, L-n+1, n)
    window_valid = valid.unfold(1, n, 1).all(-1)
    idx = (cur - (n - 1) + torch.arange(n - 1, device=seq.device)).clamp(min=0)
    prefix = seq.index_select(1, idx)  # the n-1 tokens the next token would extend
    prefix_valid = valid.index_select(1, idx).all(-1, keepdim=True) & (cur >= n - 1)
    match = (windows[..., :-1] == prefix[:, None, :]).all(-1) & window_valid & prefix_valid
    banned = torch.zeros_like(logits).scatter_add_(1, windows[..., -1], match.to(logits.dtype)) > 0
    return logits.masked_fill(banned, float("-inf"))


def top_k_filter(logits: Any, k: int) -> Any:
    import torch

    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Any, p: float) -> Any:
    """Keep the smallest set of tokens whose probability reaches ``p`` (HF's TopPLogitsWarper)."""
    sorted_logits, sorted_idx = logits.sort(dim=-1, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - p)
    remove_sorted[..., -1:] = False
    remove = remove_sorted.scatter(1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def process_logits(logits: Any, seq: Any, valid: Any, cur: Any, s: SamplingParams) -> Any:
    """Penalties, then temperature, top-k and top-p — the order of Hugging Face's ``generate`` — as
    filtered vocabulary logits (the reference that ``sample_candidates`` must agree with)."""
    logits = adjust_logits(logits, seq, valid, cur, s)
    if not s.do_sample:
        return logits
    if s.top_k > 0:
        logits = top_k_filter(logits, s.top_k)
    if s.top_p < 1.0:
        logits = top_p_filter(logits, s.top_p)
    return logits


def adjust_logits(logits: Any, seq: Any, valid: Any, cur: Any, s: SamplingParams) -> Any:
    """The penalties, then the temperature (when sampling): everything before top-k and top-p."""
    import torch

    raw = logits = logits.float()
    if s.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(logits, seq, valid, s.repetition_penalty)
    if s.no_repeat_ngram_size > 0:
        logits = ban_repeated_ngrams(logits, seq, valid, cur, s.no_repeat_ngram_size)
    # A row with every token banned would sample NaN; fall back to its raw logits (no host sync).
    logits = torch.where(torch.isinf(logits).all(-1, keepdim=True), raw, logits)
    return logits / s.temperature if s.do_sample else logits


def draws_among_top_k(s: SamplingParams) -> bool:
    """Whether a step samples among the top-k candidates (``sample_candidates``) rather than over the
    filtered vocabulary: the noise width, the sampler and whether it compiles all follow from this."""
    return s.do_sample and s.top_k > 0


def candidate_count(s: SamplingParams, vocab_size: int) -> int:
    """How many tokens a sampling step draws among: the top-k when set (ranked once, so top-p needs
    no sort of the whole vocabulary), else the vocabulary. The noise tensor has this width."""
    return min(s.top_k, vocab_size) if draws_among_top_k(s) else vocab_size


def top_candidates(logits: Any, k: int, p: float) -> tuple[Any, Any]:
    """The k best tokens (ids and logits, best first) with top-p applied among them as ``-inf``:
    the distribution of ``process_logits`` without touching the rest of the vocabulary (``topk``
    returns the k sorted, so top-p is a cumsum over k values, not a sort of the vocabulary)."""
    values, indices = logits.topk(k)
    if p < 1.0:
        probs = values.softmax(-1)
        above = probs.cumsum(-1) - probs  # the probability ranked above each candidate
        # Hugging Face drops a token when the mass ranked below and at it is <= 1 - p, i.e. above >= p.
        values = values.masked_fill(above >= p, float("-inf"))
    return values, indices


def sample_candidates(logits: Any, s: SamplingParams, noise: Any) -> Any:
    """One draw per row among ``top_candidates`` (noise of shape (B, k))."""
    values, indices = top_candidates(logits, noise.shape[-1], s.top_p)
    return indices.gather(-1, choose_tokens(values, noise)[:, None]).squeeze(-1)


def choose_tokens(logits: Any, noise: Any | None) -> Any:
    """One token per row. Sampling is argmax(p / E) with E ~ Exp(1) noise — the exponential race, a
    draw from p — so it runs on the device without ``torch.multinomial``'s checks; no noise: greedy."""
    if noise is None:
        return logits.argmax(-1)
    return (logits.softmax(-1) / noise).argmax(-1)


def make_next_token(s: SamplingParams) -> Callable[..., Any]:
    """``next_token(logits, seq, valid, cur, noise) -> tokens``: the whole sampling step as one pure
    function of tensors (the settings are closed over), ready for ``torch.compile``."""

    def next_token(logits: Any, seq: Any, valid: Any, cur: Any, noise: Any | None) -> Any:
        if draws_among_top_k(s):
            return sample_candidates(adjust_logits(logits, seq, valid, cur, s), s, noise)
        return choose_tokens(process_logits(logits, seq, valid, cur, s), noise)

    return next_token
