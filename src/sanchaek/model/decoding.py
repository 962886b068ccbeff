"""The decoding engine that generate, compose, ``sanchaek write`` and the benches share.

Decoding is our own loop over the model's forward (left-padded batches, KV cache), so that the
same sampling code (``sampling``) serves two engines:

- ``plain``: a growing ``DynamicCache`` and a host sync per token (stop as soon as every row ended);
  the reference.
- ``static``: a ``StaticCache`` allocated once for prompt + new tokens, fixed shapes every step so the
  one-token decode step can be ``torch.compile``-d (CUDA graphs with ``reduce-overhead``; what is
  compiled and how: ``compiled_steps``; the prompt's forward recorded as CUDA graphs:
  ``prompt_graphs``), sampling
  on the device (the exponential-race form of multinomial sampling: no ``.item()``, no
  ``torch.multinomial`` sync), and an "all rows ended" check only every ``stop_check_every`` tokens.

Both draw their randomness from a per-batch ``torch.Generator`` with one (batch, candidates) noise
tensor per step, so for a seed they pick the same tokens; a test asserts it. ``load_model`` goes
through the one loader (``loading``): a LoRA adapter folder runs as its merged weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.generate import EngineParams, SamplingParams
from ..errors import SanchaekError
from .compiled_steps import CompiledSteps, compile_steps
from .prompt_graphs import PromptGraphs, left_pad, recordable
from .sampling import candidate_count, make_next_token

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
    static = engine_kind(engine, device) == "static"
    # Recorded prompt forwards write into the cache they were recorded with: only pooled caches.
    graphed = (
        static
        and compiled is not None
        and isinstance(compiled.prefill, PromptGraphs)
        and cache_pool is not None
    )
    steps = sampling.max_new_tokens
    # The static engine's cache is rounded up so that batches of other prompt lengths reuse the
    # compiled step's shapes, and its token buffers are as wide as the cache, not as this call's
    # prompt + new tokens: every call on one cache has the same shapes, so nothing recompiles.
    total = input_ids.shape[1] + steps
    width = -(-max(total, min_cache_len) // engine.cache_bucket) * engine.cache_bucket if static else total
    if graphed:
        # Only as far as the cache already reaches: a wider cache would be another compiled step.
        input_ids, attention_mask = left_pad(
            input_ids, attention_mask, engine.prompt_bucket, pad_token_id, max_len=width - steps
        )
    batch, prompt_len = input_ids.shape
    total = prompt_len + steps
    generator = torch.Generator(device=device).manual_seed(seed)
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
    prefill, forward, next_token = model, model, make_next_token(sampling)
    cudagraphs = False
    if static and compiled is not None:
        forward, next_token = compiled.forward, compiled.next_token(sampling)
        if isinstance(compiled.prefill, PromptGraphs):
            if graphed and _allocated(cache) and recordable(cache):
                prefill = compiled.prefill
        elif _allocated(cache):
            prefill = compiled.prefill or model
        cudagraphs = compiled.uses_cudagraphs and device.type == "cuda"

    with torch.inference_mode():
        out = prefill(
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
            # Without an end-of-sequence token no row can end: no check, no host sync at all.
            if eos_token_id is not None and (not static or (t + 1) % engine.stop_check_every == 0):
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
    _allocate(cache, model, batch)
    if pool is not None:
        pool[key] = cache
    return cache


def _allocate(cache: Any, model: Any, batch: int) -> None:
    """Allocate the cache's tensors now rather than in the first forward's first update: a compiled
    prompt forward would otherwise trace that allocation, leave the tensors without the static-address
    mark that CUDA graphs need, and be specialised to an empty cache (a recompile on the next call).
    An architecture whose layers' shapes differ from the config's keeps the lazy allocation, and
    ``decode`` runs its prompt forward eagerly while any layer is unallocated."""
    import torch

    config = model.config.get_text_config()
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    param = next(model.parameters())
    with contextlib.suppress(ValueError, AttributeError, RuntimeError), torch.inference_mode():
        cache.early_initialization(batch, heads, head_dim, param.dtype, param.device)


def _allocated(cache: Any) -> bool:
    return all(getattr(layer, "is_initialized", True) for layer in getattr(cache, "layers", ()))


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
    from .loading import load_causal_lm

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
