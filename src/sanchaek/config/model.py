"""``model``, ``train`` and ``sweep`` params: every knob of the train and sweep stages.

Defaults live here and only here. The CPU defaults train ``scratch:tiny`` in about two minutes
on two cores; a GPU run overrides size, batch and budget (see configs/accelerate/ and the README).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Section


class ModelParams(Section):
    # A local folder or hub id of any causal LM, or scratch:<tiny|10m|125m|350m|1b>.
    name_or_path: str = "scratch:tiny"
    # Scratch models only: byte-level BPE vocabulary trained on the training text (GPU presets: ~32000).
    vocab_size: int = Field(4000, ge=256, le=262144)
    # Scratch models only: extra modern text (JSONL with "text") mixed into tokenizer training; null = none.
    tokenizer_extra_text: str | None = "data/external/klue-sentences.jsonl"
    # Re-compute activations in the backward pass: less memory, ~30% slower (large models).
    gradient_checkpointing: bool = False


class LoraParams(Section):
    """The adapter of ``train.method: lora | qlora`` (Hugging Face peft's LoraConfig)."""

    rank: int = Field(16, ge=1, le=4096)
    # The update is scaled by alpha / rank.
    alpha: float = Field(32.0, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    # all: every linear layer of the transformer blocks (q/k/v/o and the MLP's, resolved per
    # architecture); or module names, e.g. [q_proj, v_proj], checked against the model.
    target_modules: Literal["all"] | list[str] = "all"
    # Modules trained and saved whole beside the adapter; auto: the input embeddings and the head
    # when the tokenizer has more tokens than the model's embedding rows (they are resized), else none.
    modules_to_save: Literal["auto"] | list[str] = "auto"

    @model_validator(mode="after")
    def _names_given(self) -> LoraParams:
        for key in ("target_modules", "modules_to_save"):
            value = getattr(self, key)
            if isinstance(value, list) and (not value or not all(n.strip() for n in value)):
                raise ValueError(f"train.lora.{key} must be a non-empty list of module names or its keyword")
        return self


class TrainParams(Section):
    seed: int = 1234
    # full: every weight trains. lora: a low-rank adapter (train.lora) on a frozen bf16 base
    # (fp32 on CPU). qlora: the same adapter on a 4-bit NF4 base (bitsandbytes; CUDA only).
    method: Literal["full", "lora", "qlora"] = "full"
    lora: LoraParams = LoraParams()
    # lora/qlora: also write the adapter merged into its base as a full model, models/lm/merged/.
    merge_adapter: bool = False
    # GPU memory per process the memory plan must fit (GiB); null: the card's own (no check on CPU).
    memory_gib: float | None = Field(None, gt=0)
    # Tokens per training block; a block is seq_len + 1 tokens so every position has a target.
    seq_len: int = Field(256, ge=8, le=131072)
    # Blocks per device per forward pass; global batch = micro_batch_size * grad_accum_steps * processes.
    micro_batch_size: int = Field(8, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    # Processes training together: 1, N, or auto (every visible GPU; 1 on CPU). Above 1 the train stage
    # launches itself: Accelerate over the GPUs (DDP or FSDP2, configs/accelerate/), torchrun with gloo
    # for CPU processes. `dvc exp run -S train.num_processes=8` needs no other change.
    num_processes: Annotated[int, Field(ge=1)] | Literal["auto"] = 1
    distributed: Literal["ddp", "fsdp"] = "ddp"  # how N GPUs share the model: replicas (ddp) or shards (fsdp)
    # Budget: max_steps, or max_tokens (converted to steps); max_minutes additionally stops early.
    max_steps: int | None = Field(300, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    # AdamW (fused on CUDA) with linear warmup then cosine decay to lr * min_lr_ratio.
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(30, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float | None = Field(1.0, gt=0)
    # no | bf16 | bf16-master | auto (on a bf16 GPU bf16-master where it applies, else bf16; CPU: no).
    # bf16: autocast over fp32 weights. bf16-master: the model itself in bf16 (weights, activations,
    # gradients), AdamW on fp32 master copies; less memory traffic, so faster on GPUs. Gradients
    # accumulate over micro-steps in bf16 there: prefer a larger micro_batch_size to many micro-steps.
    mixed_precision: Literal["no", "bf16", "bf16-master", "auto"] = "auto"
    # torch.compile the model (GPU: faster after a warm-up of ~1 minute; CPU needs a C++ compiler).
    compile: bool = False
    # With compile: reduce-overhead also replays each compiled forward and backward as one CUDA graph
    # (no per-kernel launch cost: pays on small models, where the CPU barely keeps the GPU fed).
    # max-autotune-no-cudagraphs times Triton matmul templates against cuBLAS per shape (minutes of
    # warm-up) and can fuse elementwise work into them; max-autotune does both.
    compile_mode: Literal["default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune"] = (
        "default"
    )
    # What compile covers: model (the whole model and loss as one graph; measured fastest at 125M-1B)
    # or blocks (each transformer block on its own, compiled once and reused by every layer, plus the
    # embedding, norm, head and loss; a warm-up that does not grow with depth: for 8B+ models).
    compile_scope: Literal["model", "blocks"] = "model"
    # On a CUDA GPU with Triton, for Llama, Mistral and Qwen2/3 models: the head's cross-entropy and
    # its gradient in one Triton kernel (the same loss; the logits are read twice, not four times).
    # Elsewhere, or false: the logits and F.cross_entropy (compiled with train.compile).
    fused_cross_entropy: bool = True
    # Attention of the unpadded training blocks: sdpa (PyTorch's flash/cuDNN kernels), or flash_attn_4
    # (FlashAttention 4; needs an SM90+ GPU and `pip install flash-attn-4`, not a project dependency).
    attention: Literal["sdpa", "flash_attn_4"] = "sdpa"
    # Allow TF32 matmuls on Ampere+ GPUs for the fp32 parts.
    tf32: bool = True
    # DataLoader worker processes that prefetch pinned batches (0 = in the training process).
    num_workers: int = Field(0, ge=0)
    # Logging, evaluation and checkpoints, in optimizer steps (0 = never, except the final step).
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(50, ge=0)
    eval_max_blocks: int | None = Field(64, ge=1)
    eval_batch_size: int = Field(16, ge=1)
    checkpoint_every: int = Field(100, ge=0)
    keep_checkpoints: int = Field(2, ge=1)
    # auto: resume from the newest matching checkpoint; never: start fresh; or a checkpoint folder.
    resume: str = "auto"
    # > 0 adds re_weight * KLUE-RE classification loss on the shared backbone (evaluate params drive it).
    re_weight: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _needs_a_budget(self) -> TrainParams:
        if self.max_steps is None and self.max_tokens is None:
            raise ValueError(
                "set train.max_steps or train.max_tokens (max_minutes alone cannot size the schedule)"
            )
        return self

    @model_validator(mode="after")
    def _qlora_computes_in_bf16(self) -> TrainParams:
        if self.method == "qlora" and self.mixed_precision == "no":
            raise ValueError(
                "train.method: qlora computes in bf16: set train.mixed_precision: auto (or bf16), or train.method: lora"
            )
        return self

    @model_validator(mode="after")
    def _master_weights_without_re(self) -> TrainParams:
        if self.mixed_precision == "bf16-master" and self.re_weight > 0:
            raise ValueError(
                "train.mixed_precision: bf16-master does not support train.re_weight > 0 (the RE head trains "
                "in fp32): set train.mixed_precision: bf16 or train.re_weight: 0"
            )
        return self


class SweepParams(Section):
    # Dotted params key -> values; the grid is their cartesian product, e.g. {train.lr: [1e-3, 3e-3]}.
    grid: dict[str, list] = Field(
        default_factory=lambda: {"train.lr": [1e-3, 3e-3], "train.warmup_steps": [10, 30]}
    )
    # Steps per run (overrides train.max_steps) and the early window whose val-loss area ranks runs.
    steps: int = Field(60, ge=1)
    early_steps: int = Field(30, ge=1)
    eval_every: int = Field(10, ge=1)
    # Rank by early_auc (area under the val-loss curve over early_steps), or by final val_loss.
    rank_by: Literal["early_auc", "final_val_loss"] = "early_auc"

    @model_validator(mode="after")
    def _early_within_steps(self) -> SweepParams:
        if self.early_steps > self.steps:
            raise ValueError(f"sweep.early_steps ({self.early_steps}) must be <= sweep.steps ({self.steps})")
        return self
