"""``align`` params: preference tuning (DPO) of the trained model on the human preference pairs.

Defaults live here and only here. The CPU defaults align ``scratch:tiny`` with a LoRA adapter in well
under a minute once raters have left ``min_pairs`` pairs; with fewer, the stage passes the trained
model through unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section
from .model import LoraParams


class AlignParams(Section):
    seed: int = 1234  # adapter init, batch order: same seed + params + pairs -> same run
    # lora: an adapter on the frozen trained model; the reference is the same weights with the adapter
    # disabled. full: every weight trains; the reference log-probs are taken before the first update.
    method: Literal["lora", "full"] = "lora"
    lora: LoraParams = LoraParams()
    # DPO's beta: how far the tuned model may move from the reference (larger: closer to it).
    beta: float = Field(0.1, gt=0, le=100)
    # sigmoid: DPO (Rafailov et al. 2023). ipo: IPO (Azar et al. 2023), the squared loss on the
    # length-normalised log-ratio margin (TRL's form).
    loss: Literal["sigmoid", "ipo"] = "sigmoid"
    # Fewer usable pairs than this: no tuning, the trained model passes through (reports/align.json says so).
    min_pairs: int = Field(16, ge=1)
    # Share of the pairs held out to measure reward accuracy on pairs the run did not train on (0: none).
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    # Tokens of prompt + completion per sequence; a longer completion is cut, a prompt that fills it is skipped.
    max_seq_len: int = Field(256, ge=8, le=131072)
    pairs_per_step: int = Field(
        8, ge=1
    )  # pairs per optimizer step (chosen and rejected: twice as many sequences)
    max_steps: int = Field(60, ge=1)
    lr: float = Field(5e-4, gt=0)  # AdamW peak lr (LoRA; a full fine-tune wants ~1e-5 .. 1e-4)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(5, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float | None = Field(1.0, gt=0)
    # no | bf16 | auto (bf16 autocast on a bf16 GPU, fp32 on CPU)
    mixed_precision: Literal["no", "bf16", "auto"] = "auto"
    compile: bool = False  # torch.compile the log-prob forward (GPU: pays after a warm-up)
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(50, ge=0)  # steps between models/align_checkpoints/step_<n> (0: none)
    keep_checkpoints: int = Field(2, ge=1)
    resume: str = "auto"  # auto (newest checkpoint made with these params and pairs) | never | <folder>
    on_bad_line: Literal["raise", "skip"] = "raise"  # a line of preferences.jsonl that is not a JSON object
    # generate also samples the aligned model, as a second blind contender beside the unaligned one.
    contender: bool = True
