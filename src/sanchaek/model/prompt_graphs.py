"""CUDA graphs of the prompt's eager forward (``generate.engine.prefill: cuda_graph``).

Why: Hugging Face's eager forward of a short prompt is launch-bound. On H100s (Llama-3.1-8B shape,
2026-12-06) a 20-token prompt took 28-65 ms, depending on the host's CPU, where reading the weights
once takes about 5. Compiling that forward (``prefill: compiled``) brought it to 13.6-17.5 ms, but
added 20-120 s to the warm-up. Recording the eager forward as a CUDA graph costs one more forward's
launches, and a replay launches all its kernels at once: 11.6 ms against 27.2 eager in one run, and
166.9 tokens/s against 161.0 for 128-token calls (bench/lora_gpu.py, reports/gpu/2026-12-06-h100/).

Contract: ``PromptGraphs(model)`` is called like the model's forward in ``decoding.decode``
(``input_ids``, ``attention_mask``, ``position_ids``, a pooled static ``past_key_values``,
``logits_to_keep=1``). It returns an object whose ``logits`` are the last position's, ``(B, 1, V)``,
a tensor of their own, and it writes the prompt's keys and values into the cache as the forward does.
The first call for a cache and input shapes runs the forward eagerly (this call's result, and the
recording's warm-up), then records it. Recording runs nothing, so the cache is left
as the eager forward wrote it. Later calls copy their inputs into the recorded buffers and replay.
A graph writes into the memory of the cache it was recorded with, so each one keeps its cache alive.
``decode`` uses graphs only for caches it keeps in a pool between calls, and left-pads prompts to a
multiple of ``engine.prompt_bucket`` tokens (within the cache width the call gets anyway) so that
prompts of nearby lengths share one graph. A
recording that fails (a model whose forward syncs with the host) leaves the eager forward in place
for the rest of the process, with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from ..errors import first_line

log = logging.getLogger(__name__)

_INPUTS = ("input_ids", "attention_mask", "position_ids")


@dataclass
class _Recorded:
    graph: Any  # torch.cuda.CUDAGraph
    inputs: dict[str, Any]  # the buffers the graph reads: a call copies its inputs into them
    logits: Any  # the buffer the graph writes
    cache: Any  # the cache the graph writes into, kept alive with it


class PromptGraphs:
    """The prompt forward of ``model``, recorded once per (cache, input shapes) and replayed."""

    def __init__(self, model: Any):
        self.model = model
        self.recorded: dict[tuple, _Recorded] = {}
        # One memory pool for every graph: the memory a graph needs grows with its prompt, and
        # prompts run one at a time, so each may reuse what the others' intermediates used. Inputs are
        # buffers of their own and a replay's logits are copied out before the next replay.
        self.pool: Any = None
        self.failed = False

    def __call__(self, *, past_key_values: Any, **inputs: Any) -> Any:
        key = (id(past_key_values), *(tuple(inputs[name].shape) for name in _INPUTS))
        entry = self.recorded.get(key)
        if entry is not None:
            for name in _INPUTS:
                entry.inputs[name].copy_(inputs[name])
            entry.graph.replay()
            # The next replay writes the same buffer: the caller gets a copy.
            return SimpleNamespace(logits=entry.logits.clone())
        if self.failed:
            return self.model(past_key_values=past_key_values, **inputs)
        return SimpleNamespace(logits=self._record(key, past_key_values, inputs))

    def _record(self, key: tuple, cache: Any, inputs: dict[str, Any]) -> Any:
        import torch

        buffers = {name: inputs[name].clone() for name in _INPUTS}
        options = {k: v for k, v in inputs.items() if k not in _INPUTS}

        def forward() -> Any:
            return self.model(past_key_values=cache, **buffers, **options).logits

        # This call's prompt, and the warm-up that recording needs. It runs on the current stream and
        # recording on torch's own capture stream, with the device idle around it: at the 8B shape on
        # an H100, warming up and recording on one side stream of ours made the decode step's
        # CUDA-graph replays (Inductor's, recorded later) fault (2026-12-06).
        logits = forward().clone()
        torch.cuda.synchronize(logits.device)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=self.pool):
                recorded_logits = forward()
        except Exception as exc:  # the forward did something a graph cannot hold
            self.failed = True
            _release_default_generator(logits.device)
            first = first_line(exc)
            log.warning("the prompt's forward runs eagerly: recording it as a CUDA graph failed (%s)", first)
            return logits
        torch.cuda.synchronize(logits.device)
        self.pool = graph.pool()
        self.recorded[key] = _Recorded(graph, buffers, recorded_logits, cache)
        return logits


def recordable(cache: Any) -> bool:
    """Whether a graph can be recorded into ``cache``: every layer a plain ``StaticLayer``, whose
    whole state (keys, values, length) lives in tensors that a recorded graph updates. A
    sliding-window layer also counts its length in a Python int, which recording would advance a
    second time and a replay not at all."""
    from transformers.cache_utils import StaticLayer

    return all(type(layer) is StaticLayer for layer in getattr(cache, "layers", ()))


def _release_default_generator(device: Any) -> None:
    """torch registers the device's default random generator with a graph when recording begins and
    releases it only when recording ends cleanly: after a failed recording every random draw on the
    device fails ("Offset increment outside graph capture encountered unexpectedly"), training's
    included. A fresh copy of its state (the same seed and offset) is not registered anywhere."""
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    generator = torch.cuda.default_generators[index]
    try:
        generator.graphsafe_set_state(generator.clone_state())
    except (AttributeError, RuntimeError) as exc:  # a torch without graph-safe generator states
        log.warning(
            "after the failed recording, random draws on %s may fail (%s): set generate.engine.prefill: eager",
            device,
            first_line(exc),
        )


def left_pad(
    input_ids: Any, attention_mask: Any, multiple: int, pad_token_id: int, *, max_len: int | None = None
) -> tuple[Any, Any]:
    """The batch left-padded (masked) to a multiple of ``multiple`` tokens, unless that would make it
    longer than ``max_len``: the padding is hidden from every later position by the mask, and
    positions start at each row's first real token."""
    import torch.nn.functional as F

    pad = -input_ids.shape[1] % multiple
    if pad == 0 or (max_len is not None and input_ids.shape[1] + pad > max_len):
        return input_ids, attention_mask
    return F.pad(input_ids, (pad, 0), value=pad_token_id), F.pad(attention_mask, (pad, 0), value=0)
