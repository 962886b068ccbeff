"""The generate stage and ``sanchaek write``: sampling continuations of Korean prompts.

Decoding is our own loop over the model's forward (left-padded batches, KV cache), so that the
same sampling code serves two engines:

- ``plain``: a growing ``DynamicCache`` and a host sync per token (stop as soon as every row ended);
  the reference.
- ``static``: a ``StaticCache`` allocated once for prompt + new tokens, fixed shapes every step so the
  one-token decode step can be ``torch.compile``-d (CUDA graphs with ``reduce-overhead``), sampling
  on the device (the exponential-race form of multinomial sampling: no ``.item()``, no
  ``torch.multinomial`` sync), and an "all rows ended" check only every ``stop_check_every`` tokens.

Both draw their randomness from a per-batch ``torch.Generator`` with one (batch, candidates) noise
tensor per step, so for a seed they pick the same tokens; a test asserts it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .cli import params_option
from .config import Params, load_params
from .config.generate import EngineParams, GenerateParams, ProxyParams, SamplingParams
from .config.search import QueryParams
from .errors import SanchaekError
from .io import read_jsonl, write_jsonl
from .paths import Layout
from .query import configured_theme, theme_hits
from .report import write_stage_report

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- sampling (on device)
#
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


# ---------------------------------------------------------------------------- decoding engines


@dataclass
class Decoded:
    tokens: Any  # (B, T) new token ids; pad after a row's end
    lengths: list[int]  # new tokens per row, end-of-sequence token excluded


def _prefill_positions(attention_mask: Any) -> Any:
    # Left padding: the first real token of each row is position 0.
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def decode(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    sampling: SamplingParams,
    engine: EngineParams,
    *,
    seed: int,
    eos_token_id: int | None,
    pad_token_id: int,
    on_token: Callable[[Any], None] | None = None,
    compiled: CompiledSteps | None = None,
    cache_pool: dict | None = None,
    min_cache_len: int = 0,
) -> Decoded:
    """Sample ``sampling.max_new_tokens`` continuation tokens for a left-padded batch.

    ``on_token(tokens)`` gets each step's (B,) tensor (for streaming; it forces a sync per token).
    ``compiled`` holds the compiled forward and sampling step (see ``compile_steps``) for the static engine;
    ``cache_pool`` keeps its static caches between calls; ``min_cache_len`` lets calls of different
    lengths share one cache, hence one compiled step and one CUDA graph (compose's beats do).
    """
    import torch
    from transformers import DynamicCache

    device = input_ids.device
    batch, prompt_len = input_ids.shape
    steps = sampling.max_new_tokens
    total = prompt_len + steps
    generator = torch.Generator(device=device).manual_seed(seed)

    static = engine_kind(engine, device) == "static"
    # The static engine's cache is rounded up so that batches of other prompt lengths reuse the
    # compiled step's shapes, and its token buffers are as wide as the cache, not as this call's
    # prompt + new tokens: every call on one cache has the same shapes, so nothing recompiles.
    width = -(-max(total, min_cache_len) // engine.cache_bucket) * engine.cache_bucket if static else total
    seq = torch.full((batch, width), pad_token_id, dtype=torch.long, device=device)
    seq[:, :prompt_len] = input_ids
    valid = torch.zeros((batch, width), dtype=torch.bool, device=device)
    valid[:, :prompt_len] = attention_mask.bool()
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    cur = torch.tensor(prompt_len, device=device)  # the write position, kept on the device
    positions = _prefill_positions(attention_mask)

    if static:
        cache: Any = _static_cache(model, batch, width, cache_pool)
        # One mask for the whole run: future positions are hidden by causality, not by the mask.
        mask = torch.ones((batch, width), dtype=attention_mask.dtype, device=device)
        mask[:, :prompt_len] = attention_mask
    else:
        cache = DynamicCache(config=model.config)
        mask = attention_mask
    forward, next_token = model, make_next_token(sampling)
    cudagraphs = False
    if static and compiled is not None:
        forward, next_token = compiled.forward, compiled.next_token(sampling)
        cudagraphs = compiled.uses_cudagraphs and device.type == "cuda"

    with torch.inference_mode():
        out = model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        logits = out.logits[:, -1]
        next_position = positions[:, -1:] + 1
        noise_shape = (batch, candidate_count(sampling, logits.shape[-1]))
        for t in range(steps):
            # The noise is drawn outside any compiled region: one kernel, the generator stays eager.
            noise = (
                torch.empty(noise_shape, device=device).exponential_(generator=generator)
                if sampling.do_sample
                else None
            )
            token = next_token(logits, seq, valid, cur, noise)
            token = torch.where(unfinished, token, torch.full_like(token, pad_token_id))
            seq.index_copy_(1, cur.view(1), token[:, None])
            valid.index_copy_(1, cur.view(1), unfinished[:, None])
            cur += 1
            if eos_token_id is not None:
                unfinished = unfinished & (token != eos_token_id)
            if on_token is not None:
                on_token(token)
            if t == steps - 1:
                break
            if not static or (t + 1) % engine.stop_check_every == 0:
                if not bool(unfinished.any()):  # the one host sync
                    break
            if not static:
                mask = torch.cat([mask, mask.new_ones((batch, 1))], dim=1)
            if cudagraphs:
                # A CUDA-graph replay reuses its output memory: mark the new step, and copy the
                # logits out before anything can replay the graph again.
                torch.compiler.cudagraph_mark_step_begin()
            out = forward(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=next_position,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1].clone() if cudagraphs else out.logits[:, -1]
            next_position = next_position + 1

    new = seq[:, prompt_len:total]
    keep = valid[:, prompt_len:total]
    if eos_token_id is not None:
        keep = keep & (new != eos_token_id)
    return Decoded(tokens=new, lengths=keep.sum(-1).tolist())


def engine_kind(engine: EngineParams, device: Any) -> str:
    if engine.kind != "auto":
        return engine.kind
    return "static" if getattr(device, "type", str(device)) == "cuda" else "plain"


def _static_cache(model: Any, batch: int, cache_len: int, pool: dict | None) -> Any:
    """A static KV cache for (batch, cache_len), reused (zeroed) from ``pool`` when it holds one:
    CUDA graphs are recorded against the cache's memory, so a new cache would mean a new recording."""
    import torch
    from transformers import StaticCache

    key = (batch, cache_len)
    if pool is not None and key in pool:
        with torch.inference_mode():  # its tensors were made while decoding, in inference mode
            pool[key].reset()
        return pool[key]
    cache = StaticCache(config=model.config, max_cache_len=cache_len)
    if pool is not None:
        pool[key] = cache
    return cache


@dataclass
class CompiledSteps:
    """The static engine's hot path, compiled once per process: the one-token forward (CUDA graphs
    with ``reduce-overhead``) and the sampling step, one compiled sampler per sampling setting.

    A decode step is launch-bound at small batches (2 ms a token for 125M on an H100, the same at
    batch 1 and 32), and the eager sampler is ~25 small kernels. It is compiled when it draws among
    the top-k; over the whole vocabulary Inductor (torch 2.11, H100) failed to generate code for
    top-p's cumsum ("Error in codegen for ... SplitScan"), so that path stays eager, and a sampler
    whose compilation fails falls back to eager with a warning instead of ending the run."""

    forward: Callable
    uses_cudagraphs: bool = False
    backend: str = "inductor"
    samplers: dict[str, Callable] = field(default_factory=dict)

    def next_token(self, s: SamplingParams) -> Callable:
        key = s.model_dump_json(exclude={"max_new_tokens"})
        if key not in self.samplers:
            step = make_next_token(s)
            self.samplers[key] = compiled_or_eager(step, self.backend) if draws_among_top_k(s) else step
        return self.samplers[key]


def compiled_or_eager(fn: Callable, backend: str) -> Callable:
    """``torch.compile(fn)``, or ``fn`` itself from the first call whose compilation fails."""
    import torch

    current = torch.compile(fn, backend=backend, dynamic=False)

    def call(*args: Any) -> Any:
        nonlocal current
        try:
            return current(*args)
        except Exception as exc:
            if current is fn:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning("the sampling step runs eagerly: torch.compile failed (%s)", first)
            current = fn
            return fn(*args)

    return call


def compile_steps(model: Any, engine: EngineParams, *, backend: str = "inductor") -> CompiledSteps | None:
    if not (engine.compile and engine_kind(engine, model.device) == "static"):
        return None
    import torch

    from .model.speed import compile_mode_uses_cudagraphs

    if backend != "inductor":  # e.g. "eager" in tests: trace with dynamo, run without codegen
        return CompiledSteps(forward=torch.compile(model, backend=backend, dynamic=False), backend=backend)
    return CompiledSteps(
        forward=torch.compile(model, mode=engine.compile_mode, dynamic=False),
        uses_cudagraphs=compile_mode_uses_cudagraphs(engine.compile_mode),
    )


# ---------------------------------------------------------------------------- model and prompts


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    compiled: CompiledSteps | None
    max_positions: int | None
    prefix: list[int]  # special tokens before every prompt (see special_prefix)
    static_caches: dict = field(default_factory=dict)  # the static engine's KV caches, reused across batches

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device


def resolve_device_dtype(engine: EngineParams) -> tuple[Any, Any]:
    import torch

    cuda = torch.cuda.is_available()
    if engine.device == "cuda" and not cuda:
        raise SanchaekError(
            "generate.engine.device = cuda but no CUDA device is visible: set it to auto or cpu"
        )
    device = torch.device("cuda" if engine.device == "cuda" or (engine.device == "auto" and cuda) else "cpu")
    if engine.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = getattr(torch, engine.dtype)
    return device, dtype


def load_model(name_or_path: str, engine: EngineParams) -> LoadedModel:
    from .model.loading import load_causal_lm

    device, dtype = resolve_device_dtype(engine)
    model, tokenizer = load_causal_lm(name_or_path, dtype=dtype, device=device)
    tokenizer.padding_side = "left"
    max_positions = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    return LoadedModel(
        model,
        tokenizer,
        name_or_path,
        compile_steps(model, engine),
        max_positions,
        special_prefix(tokenizer),
    )


def special_prefix(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer puts before a text (BOS for Llama-style ones, none for GPT-2).

    Prompts are assembled from pieces in token space, so the prefix is added once, by hand. Special
    tokens a tokenizer appends (an EOS) are left out: the model is to continue the text, not end it.
    """
    probe = "가"
    with_special = tokenizer(probe, add_special_tokens=True)["input_ids"]
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    for i in range(len(with_special) - len(bare) + 1):
        if with_special[i : i + len(bare)] == bare:
            return with_special[:i]
    return []


def tokens(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def encode(lm: LoadedModel, text: str) -> list[int]:
    """A whole prompt: the special prefix, then the text."""
    return lm.prefix + tokens(lm.tokenizer, text)


def prompt_budget(lm: LoadedModel, max_prompt_tokens: int, max_new_tokens: int) -> int:
    """Tokens a prompt (special prefix included) may take: max_prompt_tokens, and room for the new
    tokens within the model's positions."""
    budget = max_prompt_tokens
    if lm.max_positions is not None:
        budget = min(budget, lm.max_positions - max_new_tokens)
        if budget < 1:
            raise SanchaekError(
                f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
                f"{lm.max_positions} positions: lower max_new_tokens"
            )
    return budget


def check_prompt(
    prompt_ids: Sequence[int], n_prefix: int, budget: int, max_prompt_tokens: int, what: str = "prompt"
) -> None:
    """One clear line for an empty or over-long prompt."""
    if len(prompt_ids) <= n_prefix:
        raise SanchaekError(f"{what} is empty: give some text for the model to continue")
    if len(prompt_ids) > budget:
        limit = (
            f"max_prompt_tokens={max_prompt_tokens}"
            if budget == max_prompt_tokens
            else f"the {budget} tokens the model's positions leave beside max_new_tokens"
        )
        raise SanchaekError(
            f"{what} is {len(prompt_ids)} tokens, more than {limit}: shorten it or raise the limit"
        )


def fit_prompt(lm: LoadedModel, *, lorebook: str, body: list[int], budget: int) -> list[int]:
    """prefix + lorebook + body, the lorebook cut (from its end) to what the budget leaves."""
    room = budget - len(lm.prefix) - len(body)
    lore = tokens(lm.tokenizer, lorebook)[: max(room, 0)]
    return lm.prefix + lore + body


_NOT_TEXT = {c: None for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xFFFD]}


def clean_decoded(text: str) -> str:
    """Drop what is not text: control characters and U+FFFD (a byte-level BPE model can emit byte
    sequences that are not UTF-8, mostly before it is trained)."""
    return text.translate(_NOT_TEXT)


@contextlib.contextmanager
def cpu_threads(n: int, device: Any) -> Iterator[None]:
    """Decode with ``n`` torch threads on the CPU, restoring the process's setting afterwards.

    Small models decode faster on one thread, and on a busy machine several threads that wait for
    each other at every small op slow decoding down many times (measured: bench/generate.py).
    """
    import torch

    if n <= 0 or getattr(device, "type", str(device)) != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample_batch(
    lm: LoadedModel,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingParams,
    engine: EngineParams,
    *,
    seed: int,
    on_token: Callable[[Any], None] | None = None,
    min_cache_len: int = 0,
) -> list[tuple[str, int]]:
    """Continuations (text, number of new tokens) of token-id prompts, decoded in left-padded batches.

    Batch ``b`` draws from a generator seeded ``seed + b``: an engine that runs a few extra steps
    in one batch cannot shift the randomness of the next.
    """
    import torch

    tok = lm.tokenizer
    results: list[tuple[str, int]] = []
    with cpu_threads(engine.cpu_threads, lm.device):
        for b, start in enumerate(range(0, len(prompts), engine.batch_size)):
            chunk = prompts[start : start + engine.batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, p in enumerate(chunk):
                ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
                mask[row, width - len(p) :] = 1
            out = decode(
                lm.model,
                ids.to(lm.device),
                mask.to(lm.device),
                sampling,
                engine,
                seed=seed + b,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
                on_token=on_token,
                compiled=lm.compiled,
                cache_pool=lm.static_caches,
                min_cache_len=min_cache_len,
            )
            tokens = out.tokens.cpu().tolist()
            for row, n in enumerate(out.lengths):
                results.append((clean_decoded(tok.decode(tokens[row][:n], skip_special_tokens=True)), n))
    return results


# ---------------------------------------------------------------------------- search, training text


def open_search(params: Params, layout: Layout) -> Any:
    """The search backend over ``data/index`` (retrieval and theme relevance need it), opened now so
    that a missing or stale index fails before the model is loaded."""
    from .search import open_backend, resolve_backend

    name, _ = resolve_backend(params.index)
    if name == "embedded" and not layout.index_dir.exists():
        raise SanchaekError(
            f"index {layout.index_dir} not found: run `sanchaek index` (dvc repro index) first"
        )
    backend = open_backend(params.index, layout)
    try:
        backend.count()
    except BaseException:
        backend.close()
        raise
    return backend


def load_training_text(layout: Layout, k: int) -> Any:
    from .proxies import OverlapIndex

    path = layout.train_split
    texts = (
        r.get("text", "")
        for r in read_jsonl(path, missing_fix="run `sanchaek query` (dvc repro query) first")
    )
    return OverlapIndex(texts, k)


def retrieval_context(hits: Sequence[Any], max_chars: int, separator: str) -> str:
    """Retrieved passages, each cut to ``max_chars``, as a lorebook before the prompt."""
    return "".join(h.text[:max_chars].strip() + separator for h in hits)


class ThemeLexicons:
    """One ThemeLexicon per theme, built on first use from the passages the index finds for it,
    searched as the query stage searches it (``query``: its themes, synonyms and expansion)."""

    def __init__(self, backend: Any, proxies: ProxyParams, *, query: QueryParams):
        self.backend = backend
        self.proxies = proxies
        self.query = query
        self._cache: dict[str, Any] = {}

    def __call__(self, theme: str) -> Any:
        from .proxies import ThemeLexicon

        if theme not in self._cache:
            configured = configured_theme(theme, self.query)
            hits, added = (
                theme_hits(self.backend, configured, self.proxies.lexicon_passages, self.query)
                if self.proxies.lexicon_passages
                else ([], {})
            )
            synonyms = [[t.term for t in self.backend.analyze(s)] for s in configured.synonyms]
            readings = synonyms + list(added.values())
            self._cache[theme] = ThemeLexicon(
                theme, self.backend.analyze, hits, self.proxies.lexicon_size, readings=readings
            )
        return self._cache[theme]


def experiment_name() -> str:
    return os.environ.get("DVC_EXP_NAME") or "workspace"


# ---------------------------------------------------------------------------- the stage


@dataclass
class PromptPlan:
    theme: str
    opening: str
    context_ids: list[str]  # passage ids of the lorebook
    ids: list[int]


def plan_prompts(
    gp: GenerateParams, lm: LoadedModel, backend: Any, *, query: QueryParams
) -> list[PromptPlan]:
    """Each opening, after the passages retrieved for its theme (cut to fit the prompt budget); the
    theme is searched as the query stage searches it (synonyms, inflections of 듣다)."""
    budget = prompt_budget(lm, gp.max_prompt_tokens, gp.sampling.max_new_tokens)
    plans = []
    for i, spec in enumerate(gp.prompts):
        opening = tokens(lm.tokenizer, spec.opening)
        check_prompt(
            lm.prefix + opening,
            len(lm.prefix),
            budget,
            gp.max_prompt_tokens,
            what=f"generate.prompts[{i}].opening",
        )
        hits = theme_hits(backend, spec.theme, gp.retrieval.k, query)[0] if gp.retrieval.enabled else []
        lorebook = retrieval_context(hits, gp.retrieval.max_chars, gp.retrieval.separator)
        ids = fit_prompt(lm, lorebook=lorebook, body=opening, budget=budget)
        plans.append(PromptPlan(spec.theme, spec.opening, [h.passage_id for h in hits], ids))
    return plans


def generate_samples(
    gp: GenerateParams, lm: LoadedModel, backend: Any, copy_index: Any, *, experiment: str, query: QueryParams
) -> tuple[list[dict], dict]:
    """Samples with their proxies and the aggregate metrics. Pure given the model and the index.

    ``query``: themes are searched as the query stage searches them."""
    from .proxies import all_proxies, summarise

    plans = plan_prompts(gp, lm, backend, query=query)
    jobs = [(p, j) for p in plans for j in range(gp.samples_per_prompt)]
    started = time.perf_counter()
    outputs = sample_batch(lm, [p.ids for p, _ in jobs], gp.sampling, gp.engine, seed=gp.seed)
    seconds = time.perf_counter() - started
    lexicons = ThemeLexicons(backend, gp.proxies, query=query)
    sampling = gp.sampling.model_dump()
    records = []
    for n, ((plan, j), (text, n_tokens)) in enumerate(zip(jobs, outputs, strict=True)):
        proxies = all_proxies(
            text,
            n_tokens=n_tokens,
            repeat_ngram=gp.proxies.repeat_ngram,
            copy_index=copy_index,
            memorised_chars=gp.proxies.memorised_chars,
            lexicon=lexicons(plan.theme),
            analyze=backend.analyze,
        )
        records.append(
            {
                "id": f"{experiment}:{n}",
                "theme": plan.theme,
                # The prompt is the opening line; the lorebook passages (others' text, which must not
                # reach git through this tracked file) are recorded by id.
                "prompt": plan.opening,
                "prompt_tokens": len(plan.ids),
                "context_passage_ids": plan.context_ids,
                "sample_index": j,
                "seed": gp.seed,
                "sampling": sampling,
                "model": lm.name,
                "experiment": experiment,
                "text": text,
                "proxies": proxies,
            }
        )
    summary = summarise(records)
    n_new = sum(n for _, n in outputs)
    summary.update(
        {
            "new_tokens": n_new,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(n_new / max(seconds, 1e-9), 1),
        }
    )
    return records, summary


def run_generate(params: Params, layout: Layout) -> tuple[list[dict], dict]:
    from .model.loading import check_model_dir

    gp = params.generate
    check_model_dir(gp.model)  # cheap checks first: a missing model or index fails in a second
    backend = open_search(params, layout)
    try:
        copy_index = load_training_text(layout, gp.proxies.copy_ngram_chars)
        lm = load_model(gp.model, gp.engine)
        return generate_samples(
            gp,
            lm,
            backend,
            copy_index,
            experiment=experiment_name(),
            query=params.query,
        )
    finally:
        backend.close()


# The proxies' means that steer decisions: reports/metrics/generate.json (the rest stays in generate.json).
GENERATE_HEADLINE = ("n_samples", "mean_distinct_2", "mean_repeated_ngram_rate", "mean_copy_rate",
                     "mean_theme_relevance", "memorised_share")  # fmt: skip


@click.command("generate")
@params_option
def command(params_path: str) -> None:
    """Sample texts for the theme prompts into reports/samples.jsonl, with quality proxies."""
    params = load_params(params_path)
    layout = Layout()
    records, summary = run_generate(params, layout)
    write_jsonl(layout.report("samples.jsonl"), records)
    write_stage_report(
        layout, "generate", summary, headline=GENERATE_HEADLINE, timing_keys=("seconds", "tokens_per_s")
    )
    click.echo(
        f"{summary['n_samples']} samples, {summary['new_tokens']} tokens at {summary['tokens_per_s']} tok/s, "
        f"{summary['memorised']} memorised -> {layout.report('samples.jsonl')}"
    )


# ---------------------------------------------------------------------------- sanchaek write


class TokenPrinter:
    """Print a single row's continuation as it is sampled: decode everything so far and print what
    is new, holding back a trailing partial character of byte-level BPE."""

    def __init__(self, tokenizer: Any, out: Callable[[str], None]):
        self.tokenizer = tokenizer
        self.out = out
        self.ids: list[int] = []
        self.shown = 0
        self.ended = False

    def __call__(self, token: Any) -> None:
        if self.ended:
            return
        tid = int(token[0])
        if tid == self.tokenizer.eos_token_id:
            self.ended = True
            return
        self.ids.append(tid)
        raw = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if raw.endswith("\ufffd"):  # maybe the first bytes of a character: wait for the rest
            return
        text = clean_decoded(raw)
        self.out(text[self.shown :])
        self.shown = len(text)


def write_text_stream(
    lm: LoadedModel,
    prompt: str,
    sampling: SamplingParams,
    engine: EngineParams,
    *,
    seed: int,
    max_prompt_tokens: int,
    out: Callable[[str], None],
) -> str:
    """Stream a continuation of ``prompt`` through ``out``; returns the whole continuation."""
    if not prompt.strip():
        raise SanchaekError("prompt is empty: give some text for the model to continue")
    ids = encode(lm, prompt)
    check_prompt(
        ids, len(lm.prefix), prompt_budget(lm, max_prompt_tokens, sampling.max_new_tokens), max_prompt_tokens
    )
    printer = TokenPrinter(lm.tokenizer, out)
    [(text, _)] = sample_batch(
        lm, [ids], sampling, engine.model_copy(update={"batch_size": 1}), seed=seed, on_token=printer
    )
    return text


def _override(model: Any, **values: Any) -> Any:
    set_values = {k: v for k, v in values.items() if v is not None}
    return type(model).model_validate({**model.model_dump(), **set_values})


@click.command("write")
@click.argument("prompt")
@params_option
@click.option("--model", "model_name", help="model folder or hub id [generate.model]")
@click.option("--temperature", type=float, help="[generate.sampling.temperature]")
@click.option("--top-p", type=float, help="[generate.sampling.top_p]")
@click.option("--top-k", type=int, help="[generate.sampling.top_k]")
@click.option("--repetition-penalty", type=float, help="[generate.sampling.repetition_penalty]")
@click.option("--no-repeat-ngram-size", type=int, help="[generate.sampling.no_repeat_ngram_size]")
@click.option("--max-new-tokens", type=int, help="[generate.sampling.max_new_tokens]")
@click.option("--greedy", is_flag=True, default=None, help="argmax decoding instead of sampling")
@click.option("--seed", type=int, help="[generate.seed]")
@click.option("--engine", type=click.Choice(["auto", "plain", "static"]), help="[generate.engine.kind]")
def write_command(
    prompt: str,
    params_path: str,
    model_name: str | None,
    seed: int | None,
    engine: str | None,
    greedy: bool | None,
    **sampling_flags: Any,
) -> None:
    """Stream a continuation of PROMPT to the terminal, token by token."""
    from pydantic import ValidationError

    from .config import format_validation_error

    if not prompt.strip():  # before the model loads: a second, not a minute
        raise SanchaekError("prompt is empty: give some text for the model to continue")
    gp = load_params(params_path).generate if Path(params_path).exists() else GenerateParams()
    try:
        sampling = _override(gp.sampling, do_sample=False if greedy else None, **sampling_flags)
        engine_params = _override(gp.engine, kind=engine)
    except ValidationError as exc:
        raise SanchaekError(format_validation_error(exc, "write flags", SamplingParams)) from None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the terminal shows the text, not a loading bar
    lm = load_model(model_name or gp.model, engine_params)

    def out(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    out(prompt)
    write_text_stream(
        lm,
        prompt,
        sampling,
        engine_params,
        seed=gp.seed if seed is None else seed,
        max_prompt_tokens=gp.max_prompt_tokens,
        out=out,
    )
    out("\n")
