"""How much GPU memory a training run will need per process, from the model's config alone.

Before any weight is loaded, ``train`` builds the model on PyTorch's ``meta`` device (shapes, no
memory, under a second even for 13B) and adds up, per process:

- **weights**: full: bf16 model + fp32 masters (``bf16-master``) or fp32 weights (+ their bf16
  autocast copies); lora: the frozen base in bf16 (fp32 on CPU); qlora: the blocks' linear layers in
  4-bit NF4 with double-quantized scales (0.516 bytes a weight), the rest in bf16;
- **gradients and AdamW**: for what trains (every weight, or the adapter): gradient, two fp32
  moments, fp32 master where the model is bf16; FSDP divides weights, gradients and states by the
  number of processes;
- **activations** kept for the backward, per token and layer (bf16): the compiled loop saves the
  block's inputs, its normed inputs, q/k/v after RoPE, the attention output and the MLP's gate, up
  and product: ``2 * (6*hidden + 2*kv_dim + 3*ffn)`` bytes; with gradient checkpointing only each
  block's input, plus one block recomputed; LoRA dropout keeps a copy of each adapted layer's input,
  and fp32 adapters under autocast an fp32 one; eager (uncompiled) blocks keep ``16 * hidden`` bytes
  more (``10 * hidden`` with frozen norms), as read off autograd's saved tensors (tests/test_lora.py);
- **logits**: (tokens x vocab) buffers of the loss: one bf16 buffer with the fused loss kernel, four
  bf16-wide ones for the compiled loss and seven for the eager one;
- a fixed allowance for the CUDA workspace and the allocator's slack.

``bench/lora_gpu.py`` checks these estimates against measured peaks. ``check_fits`` turns an estimate
that exceeds the card into one line naming the knobs that would fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..errors import SanchaekError

GIB = 1024**3
WORKSPACE_BYTES = 1.0 * GIB  # cuBLAS/cuDNN workspaces, the allocator's rounding and fragmentation
NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4 bits, an 8-bit scale per 64, fp32 per 256 scales


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs to know about a model, read off its meta-device instance."""

    params: int  # every parameter, tied embeddings once
    block_linear_params: int  # weights of the linear layers inside the blocks (what NF4 quantizes)
    layers: int
    hidden: int
    kv_dim: int
    ffn: int
    vocab: int
    linear_shapes: dict[str, list[tuple[int, int]]]  # leaf name -> (in, out) of each block linear layer
    largest_linear: int  # weights of the largest block linear layer (dequantized one at a time by QLoRA)


@dataclass(frozen=True)
class RunShape:
    """The knobs of a run that move its memory."""

    method: str  # full | lora | qlora
    precision: str  # no | bf16 | bf16-master
    seq_len: int
    micro_batch_size: int
    gradient_checkpointing: bool
    fused_loss: bool
    compiled: bool
    processes: int = 1
    sharded: bool = False  # FSDP: weights, gradients and optimizer states split over processes
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ()  # empty: every block linear layer
    lora_dropout: float = 0.0


@dataclass(frozen=True)
class MemoryPlan:
    weights: float
    trainable_state: float  # gradients, AdamW moments, master weights of what trains
    activations: float
    logits: float
    workspace: float
    trainable_params: int

    @property
    def total(self) -> float:
        return self.weights + self.trainable_state + self.activations + self.logits + self.workspace

    def describe(self) -> str:
        parts = ", ".join(
            f"{name} {getattr(self, name) / GIB:.1f}"
            for name in ("weights", "trainable_state", "activations", "logits", "workspace")
        )
        return f"{self.total / GIB:.1f} GiB per GPU ({parts}; {self.trainable_params:,} trainable parameters)"


def meta_model(config: Any) -> Any:
    """The model of ``config`` with every tensor on the meta device: shapes only, no memory."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def model_shape(config: Any) -> ModelShape:

    from .adapters import block_linears

    model = meta_model(config)
    params = sum(p.numel() for p in model.parameters())
    shapes: dict[str, list[tuple[int, int]]] = {}
    for name, module in block_linears(model):  # the text decoder's: a vision tower gets no adapter
        shapes.setdefault(name.rsplit(".", 1)[-1], []).append((module.in_features, module.out_features))
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    return ModelShape(
        params=params,
        block_linear_params=sum(i * o for dims in shapes.values() for i, o in dims),
        layers=text.num_hidden_layers,
        hidden=text.hidden_size,
        kv_dim=kv_heads * head_dim,
        ffn=getattr(text, "intermediate_size", None) or 4 * text.hidden_size,
        vocab=text.vocab_size,
        linear_shapes=shapes,
        largest_linear=max((i * o for dims in shapes.values() for i, o in dims), default=0),
    )


def lora_params(shape: ModelShape, rank: int, targets: tuple[str, ...]) -> tuple[int, int]:
    """(adapter parameters, summed input width of the adapted layers per block) for rank ``rank``."""
    chosen = [dims for name, dims in shape.linear_shapes.items() if not targets or name in targets]
    n = sum(rank * (i + o) for dims in chosen for i, o in dims)
    inputs_per_block = sum(i for dims in chosen for i, _ in dims) // max(shape.layers, 1)
    return n, inputs_per_block


def plan(shape: ModelShape, run: RunShape) -> MemoryPlan:
    """The peak memory per process of one training step (see the module's docstring)."""
    tokens = run.seq_len * run.micro_batch_size
    bf16 = run.precision != "no"
    shard = run.processes if run.sharded else 1
    if run.method == "full":
        trainable = shape.params
        weights = shape.params * (2 if run.precision == "bf16-master" else 4)
    else:
        trainable, adapted_inputs = lora_params(shape, run.lora_rank, run.lora_targets)
        if run.method == "qlora":
            other = shape.params - shape.block_linear_params
            weights = shape.block_linear_params * NF4_BYTES_PER_WEIGHT + other * 2 + shape.largest_linear * 2
        else:
            weights = shape.params * (2 if bf16 else 4)
    # gradient + two fp32 moments, + fp32 master (bf16-master) or + bf16 autocast copy (bf16)
    per_trainable = {"no": 4 + 8, "bf16": 4 + 8 + 2, "bf16-master": 2 + 8 + 4}[run.precision]
    if run.method != "full":
        weights += trainable * (2 if run.precision == "bf16-master" else 4)
    state = trainable * per_trainable

    width = 2 if bf16 else 4
    per_layer = width * (6 * shape.hidden + 2 * shape.kv_dim + 3 * shape.ffn)
    if run.method != "full" and run.lora_dropout > 0:
        per_layer += (width + 1) * lora_params(shape, run.lora_rank, run.lora_targets)[1]
    if not run.compiled:  # eager norms keep fp32 copies; trainable norm weights their normed input too
        per_layer += (8 if run.method == "full" else 5) * width * shape.hidden
    if run.method != "full" and run.precision == "bf16":  # fp32 adapters under autocast: an fp32 copy
        per_layer += 4 * lora_params(shape, run.lora_rank, run.lora_targets)[1]  # of each adapted input
    if run.gradient_checkpointing:
        activations = tokens * (shape.layers * width * shape.hidden + per_layer)
    else:
        activations = tokens * shape.layers * per_layer
    buffers = 1 if (run.fused_loss and bf16) else (4 if run.compiled else 7)
    logits = tokens * shape.vocab * 2 * buffers
    return MemoryPlan(
        weights=weights / shard,
        trainable_state=state / shard,
        activations=float(activations),
        logits=float(logits),
        workspace=WORKSPACE_BYTES,
        trainable_params=trainable,
    )


def _smallest_change(shape: ModelShape, run: RunShape, available: float) -> list[str] | None:
    """The params changes that make ``run`` fit, trying the largest micro-batch first, then the same
    with gradient checkpointing; None when even micro-batch 1 with checkpointing does not fit."""
    checkpointing = [run.gradient_checkpointing] + ([True] if not run.gradient_checkpointing else [])
    for ckpt in checkpointing:
        mb = run.micro_batch_size
        while mb >= 1:
            if plan(shape, replace(run, micro_batch_size=mb, gradient_checkpointing=ckpt)).total <= available:
                changes = []
                if mb != run.micro_batch_size:
                    changes.append(
                        f"train.micro_batch_size: {mb} (x{run.micro_batch_size // mb} train.grad_accum_steps)"
                    )
                if ckpt != run.gradient_checkpointing:
                    changes.append("model.gradient_checkpointing: true")
                return changes
            mb //= 2
    return None


def alternatives(shape: ModelShape, run: RunShape, available: float) -> list[str]:
    """Ways to make the run fit in ``available`` bytes, each as the params to set: the same method
    with a smaller micro-batch or checkpointing, lora, qlora, or FSDP over more GPUs."""
    routes: list[tuple[str, RunShape]] = [("", run)]
    if run.method == "full":
        routes.append(("train.method: lora", replace(run, method="lora")))
    if run.method != "qlora":
        routes.append(("train.method: qlora", replace(run, method="qlora")))
    if not run.sharded:
        routes += [(f"FSDP over {n} GPUs", replace(run, processes=n, sharded=True)) for n in (2, 4, 8)]
    found = []
    for route, candidate in routes:
        changes = _smallest_change(shape, candidate, available)
        if changes is None or (route.startswith("FSDP") and any(f.startswith("FSDP") for f in found)):
            continue
        found.append(" with ".join(filter(None, [route, " and ".join(changes)])))
    return found


def check_fits(shape: ModelShape, run: RunShape, available: float, *, where: str) -> MemoryPlan:
    """The plan, or one line naming what would fit when it exceeds ``available`` bytes."""
    estimate = plan(shape, run)
    if estimate.total <= available:
        return estimate
    fixes = alternatives(shape, run, available)
    fix = "; or ".join(fixes) if fixes else "a GPU with more memory, or a smaller model"
    raise SanchaekError(
        f"memory plan: train.method {run.method} at train.micro_batch_size={run.micro_batch_size}, "
        f"train.seq_len={run.seq_len} needs ~{estimate.total / GIB:.1f} GiB per GPU, more than the "
        f"{available / GIB:.1f} GiB of {where}: set {fix}"
    )


# ----------------------------------------------------------------------------- from params


def memory_plan_for(
    params: Any, *, precision: str, processes: int, sharded: bool, cuda: bool
) -> tuple[Any, Any]:
    """(model shape, run shape) of the memory plan, from the model's config alone (no weights)."""
    from .build import model_config
    from .lm_eval import PLAIN_HEAD_MODEL_TYPES

    t = params.train
    config = model_config(params.model)
    targets = () if t.lora.target_modules == "all" else tuple(t.lora.target_modules)
    fused = t.fused_cross_entropy and cuda and not sharded and config.model_type in PLAIN_HEAD_MODEL_TYPES
    run = RunShape(
        method=t.method, precision=precision, seq_len=t.seq_len, micro_batch_size=t.micro_batch_size,
        gradient_checkpointing=params.model.gradient_checkpointing, fused_loss=fused, compiled=t.compile,
        processes=processes, sharded=sharded, lora_rank=t.lora.rank, lora_targets=targets,
        lora_dropout=t.lora.dropout,
    )  # fmt: skip
    return model_shape(config), run


def available_memory(t: Any, device: Any) -> tuple[float | None, str]:
    """Bytes the plan must fit per process, and where that number comes from."""
    import torch

    if t.memory_gib is not None:
        return t.memory_gib * 1024**3, "train.memory_gib"
    if getattr(device, "type", str(device)) == "cuda":
        props = torch.cuda.get_device_properties(device)
        return float(props.total_memory), f"this {props.name}"
    return None, "no GPU"


def plan_report(params: Any, processes: int, sharded: bool) -> str:
    """``sanchaek train --plan``: the estimate on a bf16 GPU and whether it fits, loading no weights."""
    import torch

    t = params.train
    precision = t.mixed_precision
    if precision == "auto":  # as resolve_mixed_precision decides on a bf16 GPU
        precision = "bf16-master" if t.re_weight == 0 and t.grad_accum_steps == 1 and not sharded else "bf16"
    shape, run = memory_plan_for(params, precision=precision, processes=processes, sharded=sharded, cuda=True)
    estimate = plan(shape, run)
    lines = [f"memory plan ({t.method}, {precision}, {processes} process(es)): {estimate.describe()}"]
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    available, where = available_memory(t, device)
    if available is not None:
        verdict = "fits" if estimate.total <= available else "does not fit"
        lines.append(f"{verdict} in the {available / GIB:.1f} GiB of {where}")
        if estimate.total > available:
            lines.append("would fit: " + ("; ".join(alternatives(shape, run, available)) or "nothing here"))
    return "\n".join(lines)
