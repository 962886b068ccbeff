"""What the static decoding engine compiles, and how (``decoding`` runs it).

``compile_steps`` returns the engine's hot path compiled once per process:

- the one-token forward, fixed shapes, CUDA graphs with ``reduce-overhead``, Inductor's kernels
  tuned (``inductor_options``);
- the prompt's forward, as ``engine.prefill`` says: eager; recorded as CUDA graphs of the eager
  forward (``prompt_graphs``); or compiled with dynamic shapes, so that one graph serves every
  prompt length. Eager, Hugging Face's forward of a short prompt is launch-bound (an 8B prompt took
  28-65 ms on H100s, 2026-12-06, compiled 13.6-17.5, where reading the weights once takes ~5), and
  the compile adds 20-120 s to the warm-up;
- the sampling step, one compiled sampler per sampling setting.

It also shapes the model for the decode graph, in place, as the engine's settings say:
``realize_mlp_activations`` (``engine.compile_realize_activation``) and the one-token steps'
attention (``engine.decode_attention``: one Triton kernel a layer on a GPU, ``decode_attention``; or
the model's eager form). Neither changes what the model computes.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config.generate import EngineParams, SamplingParams
from ..errors import SanchaekError, first_line
from .prompt_graphs import PromptGraphs
from .sampling import draws_among_top_k, make_next_token

log = logging.getLogger(__name__)

# The layers that read a block's MLP activation, by qualified-name suffix: Llama, Qwen2, Mistral and
# Gemma; GPT-NeoX; GPT-2.
MLP_OUTPUT_LAYERS = ("mlp.down_proj", "mlp.dense_4h_to_h", "mlp.c_proj")
# The attention implementations of ``use_decode_attention``.
DECODE_EAGER = "sanchaek_decode_eager"
DECODE_FUSED = "sanchaek_decode_fused"


@dataclass
class CompiledSteps:
    """The static engine's compiled forward (one token), prompt forward (None: eager; a
    ``PromptGraphs``: recorded) and samplers.

    A decode step is launch-bound at small batches (2 ms a token for 125M on an H100, the same at
    batch 1 and 32), and the eager sampler is ~25 small kernels. It is compiled when it draws among
    the top-k; over the whole vocabulary Inductor (torch 2.11, H100) failed to generate code for
    top-p's cumsum ("Error in codegen for ... SplitScan"), so that path stays eager, and a sampler
    or prompt forward whose compilation fails falls back to eager with a warning instead of ending
    the run."""

    forward: Callable
    prefill: Callable | None = None
    uses_cudagraphs: bool = False
    backend: str = "inductor"
    samplers: dict[str, Callable] = field(default_factory=dict)

    def next_token(self, s: SamplingParams) -> Callable:
        key = s.model_dump_json(exclude={"max_new_tokens"})
        if key not in self.samplers:
            step = make_next_token(s)
            self.samplers[key] = (
                compiled_or_eager(step, self.backend, what="the sampling step") if draws_among_top_k(s) else step
            )
        return self.samplers[key]


def compiled_or_eager(fn: Callable, backend: str, *, what: str, dynamic: bool = False) -> Callable:
    """``torch.compile(fn)``, or ``fn`` itself from the first call whose compilation fails."""
    import torch

    current = torch.compile(fn, backend=backend, dynamic=dynamic)

    def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal current
        try:
            return current(*args, **kwargs)
        except Exception as exc:
            if current is fn:
                raise
            first = first_line(exc)
            log.warning("%s runs eagerly: torch.compile failed (%s)", what, first)
            current = fn
            return fn(*args, **kwargs)

    return call


def compile_steps(model: Any, engine: EngineParams, *, backend: str = "inductor") -> CompiledSteps | None:
    """The compiled steps of the static engine (None when ``engine`` does not compile). ``backend``
    other than inductor (``"eager"`` or a counting function in tests) traces with Dynamo and runs
    without codegen."""
    from .decoding import engine_kind

    if not (engine.compile and engine_kind(engine, model.device) == "static"):
        return None
    import torch

    from .speed import compile_mode_uses_cudagraphs

    if engine.compile_realize_activation:
        realize_mlp_activations(model)
    # The fused kernel is CUDA's: elsewhere its op computes what SDPA does, so the model stays as it is.
    if engine.decode_attention == "eager" or (engine.decode_attention == "fused" and model.device.type == "cuda"):
        use_decode_attention(model, engine.decode_attention)
    prefill: Callable | None = None
    if engine.prefill == "compiled":
        prefill = compiled_or_eager(model, backend, what="the prompt's forward", dynamic=True)
    elif engine.prefill == "cuda_graph" and model.device.type == "cuda":
        prefill = PromptGraphs(model)
    if backend != "inductor":
        return CompiledSteps(forward=torch.compile(model, backend=backend, dynamic=False), prefill=prefill, backend=backend)
    return CompiledSteps(
        forward=torch.compile(model, dynamic=False, options=inductor_options(engine)),
        prefill=prefill,
        uses_cudagraphs=compile_mode_uses_cudagraphs(engine.compile_mode),
    )


def inductor_options(engine: EngineParams) -> dict[str, Any]:
    """The Inductor settings of ``engine.compile_mode``, with coordinate-descent tuning of each
    generated kernel's launch shape when ``engine.compile_tuning`` and combo kernels (independent
    kernels, such as a block's q, k and v products at batch 1, in one launch: 158.8 tokens/s against
    151.9 on an H100, 8B shape) when ``engine.compile_combo_kernels``. Why options and not ``mode=``:
    torch.compile takes one or the other, and a decode step is one-row matmuls that Inductor writes
    as its own reductions, whose tuned launch shapes read the weights faster (on an H100, 8B shape:
    160 tokens/s against 141, bench/lora_gpu.py --gen-variants base,untuned)."""
    from torch._inductor import list_mode_options

    options = dict(list_mode_options(engine.compile_mode))
    if engine.compile_tuning:
        options["coordinate_descent_tuning"] = True
    if engine.compile_combo_kernels:
        options["combo_kernels"] = True
    return options


# ---------------------------------------------------------------------------- the model, for the decode graph


def realized(x: Any) -> Any:
    """``x``, written out as a buffer in an Inductor graph instead of inlined into its consumer; in
    eager mode ``x`` itself (Inductor's ``force_stride_order`` prim copies only what is not a buffer
    with these strides yet)."""
    import torch
    import torch._inductor.inductor_prims  # noqa: F401  (registers the prim)

    return torch.ops.prims.inductor_force_stride_order(x, x.stride())


def _realize_first_input(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (realized(args[0]), *args[1:])


def realize_mlp_activations(model: Any) -> int:
    """Make every MLP's activation a buffer of its own in the decode graph; returns the layers hooked.

    Why: at batch 1 (with ``compile_tuning``) Inductor writes each one-row matmul as a reduction over
    the weight and inlines the pointwise code that makes its input. For the down projection that is
    ``silu(gate) * up``, so every program of the reduction, one per block of output rows, computed
    the whole activation again: in the Llama-3.1-8B profile on an H100 that kernel read its 117 MB
    at 2.1-2.7 TB/s (43.7-55.6 µs), and with the activation written once (at the end of gate and up's
    kernel) at 2.9 TB/s (39.8 µs): 162.2 tokens/s against 154.1 (bench/lora_gpu.py, 2026-12-06).
    A forward pre-hook on the layer that reads the activation, once per layer."""
    hooked = 0
    for name, module in model.named_modules():
        if name.endswith(MLP_OUTPUT_LAYERS) and not getattr(module, "_sanchaek_realized_input", False):
            module.register_forward_pre_hook(_realize_first_input)
            module._sanchaek_realized_input = True
            hooked += 1
    return hooked


def _decode_eager_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any) -> Any:
    """The model's own eager (matmul-softmax) attention for one-token steps, SDPA for prompts."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] == 1:  # a static shape in the compiled step: the branch compiles away
        eager = sys.modules[type(module).__module__].eager_attention_forward
        return eager(module, query, key, value, attention_mask, **kwargs)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _decode_fused_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
    scaling: float | None = None, **kwargs: Any,
) -> Any:  # fmt: skip
    """One Triton kernel for a one-token step's attention (``decode_attention.decode_attention``),
    SDPA for prompts and for what the kernel does not implement."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from . import decode_attention as fused

    if not fused.applies(query, key, attention_mask, dropout, kwargs):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = fused.decode_attention(query, key, value, attention_mask, scale)
    return out.transpose(1, 2).contiguous(), None


# decode_attention -> (the attention implementation's name, its function, its mask function's name)
DECODE_ATTENTIONS = {
    "eager": (DECODE_EAGER, _decode_eager_attention, "eager"),
    "fused": (DECODE_FUSED, _decode_fused_attention, "sdpa"),
}


def use_decode_attention(model: Any, kind: str) -> bool:
    """Run one-token steps with ``kind``'s attention and prompts with SDPA, as before; returns
    whether the model was switched. ``eager``: the model's eager (matmul-softmax) function, which
    Inductor fuses with what is around it, with Hugging Face's additive mask (SDPA takes it as
    well). ``fused``: one Triton kernel (``decode_attention``) with SDPA's mask. Only a model that
    uses SDPA is switched, and ``eager`` only where its module has an eager attention function."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    name, function, mask = DECODE_ATTENTIONS[kind]
    config = getattr(model, "config", None)
    modeling = sys.modules.get(type(model).__module__)
    if getattr(config, "_attn_implementation", None) not in ("sdpa", name):
        return False
    if kind == "eager" and (modeling is None or not hasattr(modeling, "eager_attention_forward")):
        return False
    if kind == "fused":
        if importlib.util.find_spec("triton") is None:
            raise SanchaekError(
                "generate.engine.decode_attention: fused needs triton (a CUDA build of torch brings it): set it to model"
            )
        from . import decode_attention  # noqa: F401  (registers the op before anything traces the model)
    AttentionInterface.register(name, function)
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[mask])
    model.set_attn_implementation(name)
    return model.config._attn_implementation == name
