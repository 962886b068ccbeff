"""LoRA, QLoRA and full fine-tuning of real model shapes on one GPU, each row in ONE run against the
Hugging Face stack a user would otherwise run (what LLaMA-Factory runs):

- ``full``: ``Trainer`` (fp32 weights, ``bf16=True``) against sanchaek's loop (``train.method: full``);
- ``lora``: ``Trainer`` + ``peft`` (bf16 base, r on every linear layer, ``bf16=True``) against
  ``train.method: lora``;
- ``qlora``: ``Trainer`` + ``peft`` + ``bitsandbytes`` (NF4 base, ``prepare_model_for_kbit_training``)
  against ``train.method: qlora``.

The models have random weights built from the real configs written below (no download): a
Llama-3.2-1B shape, a Llama-3.1-8B shape and a polyglot-ko-12.8b (GPT-NeoX) shape. Every contender
of a row runs in its own process with the same seed, sequence length, micro-batch, LoRA rank and
data (the corpus tokenized with a 30k BPE tokenizer, under the smallest vocabulary, so ids fit every shape). Unquantized bases are
built on the GPU from the config (same seed: same weights); the QLoRA row saves one random bf16
checkpoint that both contenders load and quantize. Throughput is timed between step ``warmup`` and
``warmup + steps`` with the device synchronized at both ends.

MFU counts matmul FLOPs per token over the 989 TFLOP/s bf16 dense peak: full fine-tuning
``6 * M + 12 * layers * hidden * seq``; LoRA ``4 * M + 6 * A + 12 * layers * hidden * seq``, where M
is the weights of the model's linear layers (head included, embedding lookups not) and A the
adapter's parameters: a frozen weight needs no weight gradient, so its backward is one matmul, not two.

Each of our runs also records the memory plan's estimate beside its measured peak
(``torch.cuda.max_memory_allocated``). ``--curve`` trains the 1B shape with LoRA both ways on the same
batches in the same order (same lr schedule, AdamW betas, clipping) and records both validation
loss curves. ``--generate`` times the decoding engine on the 8B shape (batch 1, 128 new tokens)
against ``model.generate`` and its static cache, and ``--gen-variants`` other settings of the engine
(``GENERATION_VARIANTS``). ``--liger`` adds liger-kernel's contenders to full and LoRA rows of the
Llama shapes (``LIGER_CONTENDERS``: its RMSNorm, SwiGLU and RoPE in our loop, and ``Trainer`` with
``use_liger_kernel``).

``--profile N`` (CUDA) profiles N more steps after the timed window in every contender and writes
the top kernels and the GPU's idle gaps beside ``--out`` (``profile_<shape>_<method>_<contender>.txt``).

    python bench/lora_gpu.py --rows 1b:full:8,8b:lora:2 --out reports/bench/lora_gpu.json
"""

from __future__ import annotations

import argparse
import functools
import importlib
import itertools
import json
import operator
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_gpu import (  # noqa: E402  (bench/train_gpu.py: the timing and data helpers)
    DATASHEET_BF16_DENSE_TFLOPS,
    BlockDataset,
    StepTimer,
    measured_bf16_peak_tflops,
)

# Real configs (Hugging Face config.json fields), with random weights.
CONFIGS: dict[str, dict] = {
    "1b": {  # meta-llama/Llama-3.2-1B
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
        "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 64, "max_position_embeddings": 131072, "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
    },
    "8b": {  # meta-llama/Llama-3.1-8B
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256,
        "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072, "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
    },
    "12.8b": {  # EleutherAI/polyglot-ko-12.8b
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "vocab_size": 30080,
        "hidden_size": 5120, "intermediate_size": 20480, "num_hidden_layers": 40, "num_attention_heads": 40,
        "max_position_embeddings": 2048, "rotary_pct": 0.5, "rotary_emb_base": 10000, "hidden_act": "gelu",
        "use_parallel_residual": True, "layer_norm_eps": 1e-5, "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
    },
    "toy": {  # the CPU check of this script
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 30080,
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 512, "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2,
    },
}  # fmt: skip
LORA = {"rank": 16, "alpha": 32.0, "dropout": 0.0}
# Ours first: a run cut at its time limit keeps our number (the one that is new).
CONTENDERS = {
    "full": ("ours", "trainer"),
    "lora": ("ours", "trainer_peft"),
    "qlora": ("ours", "trainer_peft_bnb"),
}
# --liger (Llama shapes, full and lora): liger-kernel's Triton RMSNorm, SwiGLU and RoPE in our loop,
# eager and under our compile, and Trainer with ``use_liger_kernel`` (those three and its fused linear
# cross-entropy), against our loop as it ships (Inductor's fusions, our fused loss).
LIGER_CONTENDERS = {
    "full": ("ours_liger_eager", "trainer_liger", "ours_liger"),
    "lora": ("ours_liger_eager", "trainer_peft_liger", "ours_liger"),
}


# ----------------------------------------------------------------------------- models and data


def random_weights_loader(dtype_default) -> None:
    """``AutoModelForCausalLM.from_pretrained`` of a folder without weights builds the model from its
    config with random weights (seed 0) directly on the GPU, for us and the baselines alike; a folder
    with weights (the QLoRA row's checkpoint) loads as usual."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    real = AutoModelForCausalLM.from_pretrained

    def from_pretrained(name, *args, dtype=None, **kwargs):
        folder = Path(name)
        if any(folder.glob("*.safetensors")) or kwargs.get("quantization_config") is not None:
            return real(name, *args, dtype=dtype, **kwargs)
        config = AutoConfig.from_pretrained(name)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = dtype_default if dtype in (None, "auto") else dtype
        # The same base weights every time; the caller's random state (its seed) goes on untouched to
        # what it builds next, such as the adapter's initialisation.
        with torch.random.fork_rng(devices=[0] if device == "cuda" else []), torch.device(device):
            torch.manual_seed(0)
            return AutoModelForCausalLM.from_config(config, dtype=dtype)

    AutoModelForCausalLM.from_pretrained = from_pretrained


def prepare(workdir: Path, corpus: Path, tokenizer_dir: Path, shape: str) -> Path:
    """train/val JSONL of the corpus and a model folder (config + tokenizer, no weights)."""
    import shutil

    from sanchaek.io import read_jsonl, write_jsonl

    processed = workdir / "data" / "processed"
    if not (processed / "train.jsonl").exists():
        texts = [r["text"] for r in read_jsonl(corpus) if r.get("text", "").strip()]
        processed.mkdir(parents=True, exist_ok=True)
        held_out = max(1, min(20, len(texts) // 20))
        write_jsonl(processed / "train.jsonl", ({"text": t} for t in texts[held_out:]))
        write_jsonl(processed / "val.jsonl", ({"text": t} for t in texts[:held_out]))
    from transformers import AutoTokenizer

    if len(AutoTokenizer.from_pretrained(str(tokenizer_dir))) > CONFIGS[shape]["vocab_size"]:
        raise SystemExit(f"the tokenizer in {tokenizer_dir} has more ids than the {shape} vocabulary: "
                         f"make one of at most {CONFIGS[shape]['vocab_size']} (--tokenizer to an empty folder)")  # fmt: skip
    model_dir = workdir / f"model-{shape}"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(CONFIGS[shape]), encoding="utf-8")
    for f in tokenizer_dir.iterdir():
        shutil.copy(f, model_dir / f.name)
    return model_dir


# Under the smallest vocabulary of the shapes (polyglot-ko's 30,080): every id fits every model.
TOKENIZER_VOCAB = 30000


def ensure_tokenizer(folder: Path, corpus: Path, vocab_size: int = TOKENIZER_VOCAB) -> None:
    """A byte-level BPE tokenizer of the corpus (<s> 0, </s> 1, <pad> 2, as the configs say)."""
    if (folder / "tokenizer.json").exists():
        return
    from sanchaek.io import read_jsonl
    from sanchaek.model.scratch import train_bpe_tokenizer

    texts = [r["text"] for r in read_jsonl(corpus) if r.get("text", "").strip()]
    train_bpe_tokenizer(texts, vocab_size).save_pretrained(folder)


def pretokenize(workdir: Path, model_dir: Path, seq: int) -> None:
    """Tokenize the corpus into the shared block cache before any contender starts: no contender's
    cold start (``first_step_s``) pays for it, whichever runs first."""
    from sanchaek.model.data import load_blocks
    from sanchaek.model.loading import load_tokenizer

    tokenizer = load_tokenizer(str(model_dir))
    for split in ("train", "val"):
        load_blocks(workdir / f"data/processed/{split}.jsonl", tokenizer, seq, workdir / "data/cache")


def save_random_checkpoint(model_dir: Path) -> None:
    """The QLoRA row's base: one random bf16 checkpoint both contenders quantize while loading."""
    import torch

    random_weights_loader(torch.bfloat16)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16)
    model.save_pretrained(model_dir, safe_serialization=True, max_shard_size="5GB")


def matmul_shape(model_dir: Path, rank: int) -> dict:
    """Linear-layer weights (head included), adapter parameters, layers and hidden size."""
    import torch
    from transformers import AutoConfig

    from sanchaek.model.memory_plan import lora_params, meta_model, model_shape

    config = AutoConfig.from_pretrained(model_dir)
    model = meta_model(config)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    shape = model_shape(config)
    return {"linear_params": linear, "params": shape.params, "adapter_params": lora_params(shape, rank, ())[0],
            "layers": shape.layers, "hidden": shape.hidden}  # fmt: skip


def flops_per_token(method: str, s: dict, seq: int) -> float:
    attention = 12.0 * s["layers"] * s["hidden"] * seq
    if method == "full":
        return 6.0 * s["linear_params"] + attention
    return 4.0 * s["linear_params"] + 6.0 * s["adapter_params"] + attention


# ----------------------------------------------------------------------------- contenders


def trainer_args(workdir: Path, batch: int, steps: int, **extra):
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(workdir / "trainer-out"), per_device_train_batch_size=batch, max_steps=steps,
        bf16=torch.cuda.is_available(), report_to=[], save_strategy="no", disable_tqdm=True, **extra,
    )  # fmt: skip


def peft_baseline_model(model_dir: Path, method: str):
    """The model a Trainer + peft user trains: bf16 base (NF4 for qlora) with LoRA on every linear layer."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    if method == "qlora":
        from sanchaek.model.adapters import nf4_config

        model = AutoModelForCausalLM.from_pretrained(
            str(model_dir), dtype=torch.bfloat16, quantization_config=nf4_config(), device_map={"": 0}
        )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16)
    config = LoraConfig(r=LORA["rank"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                        target_modules="all-linear", task_type="CAUSAL_LM")  # fmt: skip
    return get_peft_model(model, config)


def use_liger_kernels() -> None:
    """liger-kernel's fused RMSNorm, SwiGLU and RoPE in every Llama model built after this call (it
    replaces the classes and the RoPE function in transformers' Llama module); the loss stays ours."""
    from liger_kernel.transformers import apply_liger_kernel_to_llama

    apply_liger_kernel_to_llama(rope=True, rms_norm=True, swiglu=True, cross_entropy=False,
                                fused_linear_cross_entropy=False)  # fmt: skip


def run_trainer(
    workdir: Path, model_dir: Path, method: str, seq: int, batch: int, timer: StepTimer, steps: int, *,
    liger: bool = False,
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback

    from sanchaek.model.data import load_blocks
    from sanchaek.model.loading import load_tokenizer

    blocks = load_blocks(workdir / "data/processed/train.jsonl", load_tokenizer(str(model_dir)), seq,
                         workdir / "data/cache")  # fmt: skip
    if method == "full":
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    else:
        model = peft_baseline_model(model_dir, method)

    class Timing(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            timer.at_step(state.global_step)

    Trainer(model=model, args=trainer_args(workdir, batch, steps, use_liger_kernel=liger),
            train_dataset=BlockDataset(blocks, seq, steps * batch), callbacks=[Timing()]).train()  # fmt: skip


def our_params(model_dir: Path, method: str, seq: int, batch: int, steps: int, **train):
    import torch

    from sanchaek.config import params_from_dict

    return params_from_dict(
        {
            "model": {"name_or_path": str(model_dir), "tokenizer_extra_text": None},
            "train": {
                "method": method, "lora": LORA, "seq_len": seq, "micro_batch_size": batch, "max_steps": steps,
                "lr": 2e-4, "warmup_steps": 2, "compile": torch.cuda.is_available(), "eval_every": 0,
                "eval_max_blocks": 1, "checkpoint_every": 0, "log_every": steps, "resume": "never",
                "mixed_precision": "auto", **train,
            },
        },
        "bench",
    )  # fmt: skip


def run_ours(
    workdir: Path, model_dir: Path, method: str, seq: int, batch: int, timer: StepTimer, steps: int, *,
    compile: bool, compile_scope: str,
) -> dict:
    import torch

    from sanchaek.model.memory_plan import GIB, memory_plan_for, plan
    from sanchaek.paths import Layout
    from sanchaek.train import resolve_mixed_precision, train

    params = our_params(model_dir, method, seq, batch, steps, compile=compile, compile_scope=compile_scope)
    precision = resolve_mixed_precision(params.train)
    shape, run = memory_plan_for(params, precision=precision, processes=1, sharded=False,
                                 cuda=torch.cuda.is_available())  # fmt: skip
    estimate = plan(shape, run)
    train(
        params,
        Layout(workdir),
        save_final_model=False,
        checkpoints=False,
        live_dir=False,
        on_step=timer.at_step,
    )
    return {"plan_gib": estimate.total / GIB, "plan": estimate.describe(), "precision": precision}


def run_one(args: argparse.Namespace) -> dict:
    import torch

    workdir, model_dir = Path(args.workdir), Path(args.workdir) / f"model-{args.shape}"
    random_weights_loader(torch.bfloat16 if args.method != "full" else torch.float32)
    timer = StepTimer(args.warmup, args.steps)
    started = time.perf_counter()
    first_step: list[float] = []

    def note_first_step(done: int) -> None:  # the cold start: loading, compiling and the first step
        if done == 1:
            first_step.append(time.perf_counter() - started)
            print(f"first step done at +{first_step[0]:.0f} s", file=sys.stderr, flush=True)

    hooks = [note_first_step, timer.at_step]
    # --profile (CUDA): that many more steps after the timed window, where the step's time goes
    profiled = args.profile if torch.cuda.is_available() else 0
    if profiled:
        from train_gpu import KernelProfile

        out = Path(args.out).parent / f"profile_{args.shape}_{args.method}_{args.run}.txt"
        hooks.append(KernelProfile(args.warmup + args.steps, profiled, out).at_step)
    steps = args.warmup + args.steps + profiled

    def on_step(done: int) -> None:
        for hook in hooks:
            hook(done)

    timer.at_step = on_step
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    extra: dict = {}
    if args.run.startswith("trainer"):
        run_trainer(workdir, model_dir, args.method, args.seq, args.batch, timer, steps,
                    liger=args.run.endswith("_liger"))  # fmt: skip
    else:
        if args.run.startswith("ours_liger"):
            use_liger_kernels()
        extra = run_ours(
            workdir, model_dir, args.method, args.seq, args.batch, timer, steps,
            compile=args.run in ("ours", "ours_liger"), compile_scope=args.compile_scope,
        )  # fmt: skip
    cuda = torch.cuda.is_available()
    result = {
        "contender": args.run,
        "seconds": timer.seconds,
        "first_step_s": first_step[0] if first_step else None,
        "tokens_per_s": args.steps * args.batch * args.seq / timer.seconds,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30 if cuda else None,
        **extra,
    }
    if cuda and "plan_gib" in result:
        result["plan_over_measured"] = result["plan_gib"] / result["peak_memory_gib"]
    return result


# ----------------------------------------------------------------------------- the loss curves


def run_curve(args: argparse.Namespace) -> dict:
    """LoRA on the same batches in the same order, both ways; validation loss every steps/6."""
    import numpy as np
    import torch

    workdir, model_dir = Path(args.workdir), Path(args.workdir) / f"model-{args.shape}"
    random_weights_loader(torch.bfloat16)
    from sanchaek.model.data import GlobalBatches, load_blocks
    from sanchaek.model.loading import load_tokenizer
    from sanchaek.model.optim import cosine_with_warmup
    from sanchaek.paths import Layout

    every = max(1, args.steps // 6)
    common = {"lr": 2e-4, "warmup_steps": args.steps // 10, "min_lr_ratio": 0.0, "weight_decay": 0.0,
              "beta2": 0.999, "eps": 1e-8, "grad_clip": 1.0, "seed": args.seed}  # fmt: skip
    if args.run in ("curve:ours", "curve:ours_autocast"):
        from sanchaek.train import train

        # ours_autocast: bf16 autocast over an fp32 adapter, the precision Trainer + peft trains in
        precision = "bf16" if args.run == "curve:ours_autocast" else "auto"
        # Uncompiled, as params.yaml ships train.compile (and Trainer runs): the curve compares the
        # loops' arithmetic, and a compile would take longer than the 48 steps.
        params = our_params(model_dir, "lora", args.seq, args.batch, args.steps, eval_every=every, eval_max_blocks=16,
                            eval_batch_size=4, mixed_precision=precision, compile=False, **common)  # fmt: skip
        result = train(params, Layout(workdir), save_final_model=False, checkpoints=False, live_dir=False)
        return {"val_loss": [(h["step"], h["val_loss"]) for h in result.history]}

    from transformers import Trainer, TrainerCallback

    tokenizer = load_tokenizer(str(model_dir))
    blocks = load_blocks(workdir / "data/processed/train.jsonl", tokenizer, args.seq, workdir / "data/cache")
    val = load_blocks(workdir / "data/processed/val.jsonl", tokenizer, args.seq, workdir / "data/cache")
    order = np.concatenate(
        [GlobalBatches(len(blocks), args.batch, common["seed"]).indices(s) for s in range(args.steps)]
    )

    class Ordered(torch.utils.data.Dataset):  # our plan's batches, in our order
        def __init__(self, source, index):
            self.source, self.index = source, index

        def __len__(self):
            return len(self.index)

        def __getitem__(self, i):
            ids = torch.as_tensor(self.source[int(self.index[i])].astype("int64"))
            return {"input_ids": ids, "labels": ids}  # seq + 1 tokens: the seq targets ours scores

    class InOrder(Trainer):
        def _get_train_sampler(self, *a, **k):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    curve: list = []

    class Record(TrainerCallback):
        def on_evaluate(self, args_, state, control, metrics=None, **kwargs):
            curve.append((state.global_step, metrics["eval_loss"]))

    torch.manual_seed(args.seed)  # the adapter's initialisation follows the seed, as ours does
    model = peft_baseline_model(model_dir, "lora")
    # The optimizer and schedule are given to Trainer (its lr, betas and decay arguments are then unused).
    targs = trainer_args(workdir, args.batch, args.steps, max_grad_norm=common["grad_clip"], eval_strategy="steps",
                         eval_steps=every, per_device_eval_batch_size=4, seed=args.seed)  # fmt: skip
    # Our schedule, not Trainer's "cosine": its warmup starts at lr 0 (step/warmup), ours at lr/warmup
    # ((step+1)/warmup), a step's worth of learning rate that would show in the curves.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=common["lr"],
                                  betas=(0.9, common["beta2"]), eps=common["eps"], weight_decay=common["weight_decay"],
                                  fused=torch.cuda.is_available())  # fmt: skip
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        cosine_with_warmup, warmup_steps=common["warmup_steps"], total_steps=args.steps, min_lr_ratio=0.0))  # fmt: skip
    InOrder(model=model, args=targs, train_dataset=Ordered(blocks, order), eval_dataset=Ordered(val, np.arange(min(16, len(val)))),
            callbacks=[Record()], optimizers=(optimizer, schedule)).train()  # fmt: skip
    return {"val_loss": curve}


def curve_gaps(seeds: dict) -> dict:
    """The largest validation-loss gap between ours (bf16-master, and bf16 autocast) and Trainer + peft
    on the same seed, beside the run-to-run noise: the largest gap between two seeds of one tool."""

    def losses(run: dict) -> dict:
        return dict(map(tuple, run.get("val_loss") or []))

    def max_gap(a: dict, b: dict) -> float | None:
        common = a.keys() & b.keys()
        return max(abs(a[s] - b[s]) for s in common) if common else None

    out: dict = {"max_abs_gap_ours_vs_trainer": {}, "max_abs_gap_ours_autocast_vs_trainer": {}}
    for seed, runs in seeds.items():
        trainer = losses(runs.get("trainer_peft", {}))
        out["max_abs_gap_ours_vs_trainer"][seed] = max_gap(losses(runs.get("ours", {})), trainer)
        out["max_abs_gap_ours_autocast_vs_trainer"][seed] = max_gap(losses(runs.get("ours_autocast", {})), trainer)
    if len(seeds) > 1:
        pairs = list(itertools.combinations(seeds.values(), 2))  # every two seeds, not only the first with each
        out["max_abs_gap_between_seeds"] = {
            tool: max((g for a, b in pairs if (g := max_gap(losses(a.get(tool, {})), losses(b.get(tool, {})))) is not None),
                      default=None)  # a gap of 0.0 counts
            for tool in ("ours", "ours_autocast", "trainer_peft")
        }  # fmt: skip
    return out


# ----------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class Variant:
    """How a generation variant differs from the engine as params.yaml ships it."""

    engine: dict = field(default_factory=dict)  # EngineParams fields
    inductor: dict = field(default_factory=dict)  # more Inductor settings (dotted keys for its sub-configs)
    attention: str | None = None  # the model's attention implementation; None: its own
    fuse: tuple[str, ...] = ()  # projection groups fused into one weight each (bench/fused_projections.py)
    constants: dict = field(default_factory=dict)  # "module:NAME" -> value, set before loading

    def __add__(self, other: Variant) -> Variant:
        return Variant({**self.engine, **other.engine}, {**self.inductor, **other.inductor},
                       other.attention or self.attention, self.fuse + other.fuse,
                       {**self.constants, **other.constants})  # fmt: skip


# ``base`` is the shipped engine (reduce-overhead, coordinate-descent tuning of each generated
# kernel's launch shape, gpt-fast's setting, combo kernels, MLP activations written once, the
# prompt's forward replayed as a CUDA graph, the one-token attention as one Triton kernel a layer);
# ``untuned`` turns that tuning off; ``no_combo`` the combo kernels (independent kernels, such as a
# block's q, k and v products, in one launch); ``compiled_prefill`` compiles the prompt's forward
# too (``prefill: compiled``) and ``eager_prefill`` runs it eagerly, where the engine as it ships
# replays it as a recorded CUDA graph (``prefill: cuda_graph``); ``act_inlined`` lets Inductor
# recompute the MLP activation in every program of the down projection; ``decode_eager`` decodes one-token steps with the model's
# eager attention (``decode_attention: eager``); ``fused_attention`` runs them with one Triton kernel
# per layer (``decode_attention: fused``, now the default, so ``base`` too), ``fused_attention_chunk64`` with the cache split into
# slices of 64 positions, one program each; ``tune_wide`` widens the tuning of each generated
# kernel's launch shape (every direction, radius 2: its compile ran past 5 minutes on an H100); ``autotune`` also benchmarks Triton templates
# against cuBLAS for every matmul;
# ``decompose`` adds Inductor's pass that turns memory-bound matmuls into reductions;
# ``eager_attention`` runs the whole model (prompts too) with Hugging Face's matmul-softmax
# attention instead of SDPA (cuDNN on an H100), for Inductor to fuse (SDPA with a mask also copies k
# and v to every query head);
# ``pdl`` starts Inductor's kernels with programmatic dependent launch (Hopper: a kernel's prologue
# overlaps the previous kernel's tail); ``fused_qkv`` makes q/k/v one weight
# (bench/fused_projections.py; fusing gate/up as well slowed the down projection,
# reports/gpu/2026-12-06-h100/). Names join with "+" (``fused_qkv+decode_eager``). Measured on an
# H100 (reports/gpu/2026-12-06-h100/gen_variants*.json): before combo kernels shipped, combo +4.5%,
# fused_qkv +2.1%, pdl -2.0%, fused_qkv with pdl -0.5%; with combo kernels, the MLP activation
# written once +5.3%.
GENERATION_VARIANTS = {
    "base": Variant(),
    "untuned": Variant(engine={"compile_tuning": False}),
    "no_combo": Variant(engine={"compile_combo_kernels": False}),
    "autotune": Variant(engine={"compile_mode": "max-autotune"}),
    "decompose": Variant(inductor={"post_grad_fusion_options": {"decompose_mm_pass": {}}}),
    "eager_attention": Variant(attention="eager"),
    "pdl": Variant(inductor={"triton.enable_pdl": True}),
    "fused_qkv": Variant(fuse=("qkv_proj",)),
    "compiled_prefill": Variant(engine={"prefill": "compiled"}),
    "eager_prefill": Variant(engine={"prefill": "eager"}),
    "act_inlined": Variant(engine={"compile_realize_activation": False}),
    "decode_eager": Variant(engine={"decode_attention": "eager"}),
    "fused_attention": Variant(engine={"decode_attention": "fused"}),
    "fused_attention_chunk64": Variant(engine={"decode_attention": "fused"},
                                       constants={"sanchaek.model.decode_attention:CHUNK": 64}),  # fmt: skip
    "tune_wide": Variant(inductor={"coordinate_descent_check_all_directions": True,
                                   "coordinate_descent_search_radius": 2}),  # fmt: skip
}


def generation_variant(name: str) -> Variant:
    """A variant by name; ``a+b`` applies both (dicts merged, tuples joined)."""
    return functools.reduce(operator.add, (GENERATION_VARIANTS[part] for part in name.split("+")), Variant())


def unknown_variants(names: str) -> list[str]:
    return sorted({part for name in names.split(",") for part in name.split("+")} - GENERATION_VARIANTS.keys())


def run_generation(args: argparse.Namespace) -> dict:
    """Our engine against model.generate and its static cache: batch 1, bf16, the same sampling.
    ``args.method`` names the variant (``generation_variant``); only "base" also times Hugging Face's
    (unless ``--no-gen-baselines``). ``first_token_ms`` is the prompt's
    forward and one sampled token, the part of every call that does not grow with its length."""
    import torch
    import torch._inductor.config as inductor

    random_weights_loader(torch.bfloat16)
    from generate_gpu import hf_generate, left_padded, ours, timed, write_profile

    from sanchaek.config.generate import EngineParams
    from sanchaek.model.decoding import load_model

    variant = generation_variant(args.method)
    for key, value in variant.inductor.items():  # dotted keys too: the config module is flat ("triton.enable_pdl")
        setattr(inductor, key, value)
    for key, value in variant.constants.items():
        module, name = key.split(":")
        setattr(importlib.import_module(module), name, value)
    model_dir = Path(args.workdir) / f"model-{args.shape}"
    device = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: the toy shape's check of this script
    # EngineParams' own defaults are params.yaml's: the engine as shipped, then the variant's changes
    engine = EngineParams(kind="static", compile=True, dtype="bfloat16", device=device, batch_size=1, **variant.engine)
    lm = load_model(str(model_dir), engine)
    if variant.attention is not None:  # before the first call: torch.compile traces then
        lm.model.set_attn_implementation(variant.attention)
    if variant.fuse:
        from fused_projections import DedupeIdenticalNodes, fuse_parallel_projections

        fuse_parallel_projections(lm.model, variant.fuse)
        # each slice of a fused group writes the whole product in the traced graph: keep one
        inductor.post_grad_custom_pre_pass = DedupeIdenticalNodes()
    weight_bytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    ids, mask = left_padded(lm.tokenizer, ["저녁을 먹고 강둑을 따라 걸었다. 바람이 차가웠다."], lm.device)
    n = args.new_tokens
    # one cache width for every call, so that the one-token calls reuse the compiled step's shapes
    width = ids.shape[1] + n
    contenders = {"sanchaek": lambda k: ours(lm, engine, ids, mask, k, 0, min_cache_len=width)}
    baselines = args.method == "base" and args.gen_baselines
    if baselines:
        contenders["generate"] = lambda k: hf_generate(lm.model, ids, mask, k, 0, static=False)
        contenders["generate_static_cache"] = lambda k: hf_generate(lm.model, ids, mask, k, 0, static=True)
    row: dict = {"batch": 1, "new_tokens": n, "prompt_tokens": int(ids.shape[1]), "compile_mode": engine.compile_mode,
                 "compile_tuning": engine.compile_tuning,
                 "compile_combo_kernels": engine.compile_combo_kernels, "prefill": engine.prefill,
                 "compile_realize_activation": engine.compile_realize_activation,
                 "decode_attention": engine.decode_attention, "inductor": variant.inductor,
                 "attention": lm.model.config._attn_implementation, "fused": list(variant.fuse),
                 "weight_gb": weight_bytes / 1e9}  # fmt: skip
    for name, run in contenders.items():
        try:
            started = time.perf_counter()
            run(n)
            warm = time.perf_counter() - started
            seconds = timed(lambda run=run: run(n), 3)
            row[name] = {"tokens_per_s": n / seconds, "ms_per_token": 1e3 * seconds / n, "warmup_s": warm,
                         "weight_read_tb_per_s": weight_bytes * n / seconds / 1e12}  # fmt: skip
            if name == "sanchaek":
                row[name]["first_token_ms"] = 1e3 * timed(lambda run=run: run(1), 3)
        except Exception as exc:  # a failing contender is reported, the others still run
            row[name] = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"}
        print(f"generate {args.shape} {args.method} {name}: {row[name]}", flush=True)
    if args.profile and "tokens_per_s" in row["sanchaek"]:
        out = Path(args.out).parent / f"profile_generate_{args.shape}_{args.method}.txt"
        write_profile(contenders["sanchaek"], out, n)
    for base in ("generate", "generate_static_cache"):
        a, b = row.get("sanchaek", {}).get("tokens_per_s"), row.get(base, {}).get("tokens_per_s")
        if a and b:
            row[f"speedup_vs_{base}"] = a / b
    return row


# ----------------------------------------------------------------------------- driver


def _stamped(name: str, started: float, line: str) -> str:
    """A child's output line with the seconds since it started (where a cold start's minutes go)."""
    return f"  [{name} +{time.perf_counter() - started:5.0f}s] {line.rstrip()[:300]}"


def _echo_lines(stream, name: str, started: float, keep: list) -> None:
    """A child's stderr, line by line as it comes, with the seconds since it started (where the
    minutes of a cold start go: loading, compiling, the first step); the last lines are kept."""
    for line in stream:
        line = line.rstrip()
        keep.append(line)
        del keep[:-20]
        print(_stamped(name, started, line), file=sys.stderr, flush=True)


def child(
    args: argparse.Namespace, run: str, shape: str, method: str, seq: int, batch: int, steps: int
) -> dict:
    # faulthandler: a child that crashes in native code (a segfault) still says where
    cmd = [sys.executable, "-X", "faulthandler", __file__, "--run", run, "--workdir", str(args.workdir), "--shape", shape,
           "--method", method, "--seq", str(seq), "--batch", str(batch), "--warmup", str(args.warmup),
           "--steps", str(steps), "--new-tokens", str(args.new_tokens), "--compile-scope", args.compile_scope,
           "--profile", str(args.profile), "--out", str(args.out), "--seed", str(args.seed)]  # fmt: skip
    if not args.gen_baselines:
        cmd.append("--no-gen-baselines")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tail: list[str] = []
    name = f"{shape}:{method}:{run}"
    stderr = threading.Thread(target=_echo_lines, args=(proc.stderr, name, started, tail))
    stderr.start()
    lines = []
    for line in proc.stdout:  # the RESULT line, and the loop's own progress lines echoed as they come
        if line.startswith("RESULT "):
            lines.append(line)
        else:
            print(_stamped(name, started, line), flush=True)
    proc.wait()
    stderr.join()
    if proc.returncode != 0 or not lines:
        tail = [f"exit status {proc.returncode}"] + [ln for ln in tail if ln.strip()][-3:]
        print(f"{shape} {method} {run}: FAILED {' | '.join(tail)}", flush=True)
        return {"error": " | ".join(tail)[-600:], "wall_s": time.perf_counter() - started}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    parser.add_argument("--tokenizer", default=None, help="a tokenizer folder; made from the corpus if empty")
    parser.add_argument("--rows", default="1b:full:8,8b:lora:2,12.8b:qlora:1", help="SHAPE:METHOD:BATCH,...")
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument(
        "--curve", default=None, help="SHAPE:BATCH:STEPS: LoRA loss curves, ours and Trainer + peft"
    )
    parser.add_argument("--generate", default=None, help="SHAPE: time generation on that shape")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--liger", action="store_true",
                        help="also liger-kernel's contenders in full and lora rows of Llama shapes (LIGER_CONTENDERS)")
    parser.add_argument("--gen-variants", default="base",
                        help=f"comma list of {sorted(GENERATION_VARIANTS)}, or of such names joined with +")
    parser.add_argument("--no-gen-baselines", dest="gen_baselines", action="store_false",
                        help="time our engine only (not model.generate) in the base variant")
    parser.add_argument("--profile", type=int, default=0,
                        help="profile this many steps after the timed window (CUDA), or with --generate (any N > 0) "
                             "one timed call of our engine: profile_*.txt beside --out")
    parser.add_argument("--compile-scope", choices=["model", "blocks"], default="model",
                        help="our runs' train.compile_scope (blocks: one compiled block for every layer)")
    parser.add_argument("--out", default="reports/bench/lora_gpu.json")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--curve-seeds", default="1",
                        help="comma list: the curves once per seed (LoRA init and batch order), for the run-to-run noise")
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if unknown := unknown_variants(args.gen_variants):
        parser.error(f"--gen-variants: unknown {unknown}; choose from {sorted(GENERATION_VARIANTS)}")

    if args.run:  # child process: one contender, one JSON line on stdout
        if args.run.startswith("curve:"):
            out = run_curve(args)
        elif args.run == "generate":
            out = run_generation(args)
        else:
            out = run_one(args)
        print("RESULT " + json.dumps(out), flush=True)
        return

    import torch

    from sanchaek.io import write_json

    cuda = torch.cuda.is_available()
    card = torch.cuda.get_device_name(0) if cuda else "cpu"
    peak = measured_bf16_peak_tflops() if cuda else None
    args.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sanchaek-lora-bench-"))
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({"card": card, "torch": torch.__version__, "measured_bf16_peak_tflops": peak,
                   "datasheet_bf16_dense_tflops": DATASHEET_BF16_DENSE_TFLOPS, "seq_len": args.seq,
                   "lora": LORA, "warmup_steps": args.warmup, "timed_steps": args.steps})  # fmt: skip
    rows = report.setdefault("rows", {})
    print(f"card {card}", flush=True)
    ensure_tokenizer(Path(args.tokenizer), Path(args.corpus))
    for spec in filter(None, args.rows.split(",")):
        shape, method, batch = spec.split(":")
        model_dir = prepare(args.workdir, Path(args.corpus), Path(args.tokenizer), shape)
        if method == "qlora" and not any(model_dir.glob("*.safetensors")):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                            f"import lora_gpu; lora_gpu.save_random_checkpoint(__import__('pathlib').Path({str(model_dir)!r}))"],
                           check=True)  # fmt: skip
            print(f"saved the random {shape} checkpoint in {time.perf_counter() - started:.0f} s", flush=True)
        pretokenize(args.workdir, model_dir, args.seq)
        counts = matmul_shape(model_dir, LORA["rank"])
        fpt = flops_per_token(method, counts, args.seq)
        row = {"shape": shape, "method": method, "batch": int(batch), "seq_len": args.seq, **counts,
               "flops_per_token": fpt}  # fmt: skip
        row["ours_compile_scope"] = args.compile_scope
        rows[f"{shape}:{method}" + (":blocks" if args.compile_scope == "blocks" else "")] = row
        llama = CONFIGS[shape]["model_type"] == "llama"  # liger's patch here is for Llama blocks
        liger = LIGER_CONTENDERS.get(method, ()) if args.liger and llama else ()
        for run in CONTENDERS[method] + liger:
            res = child(args, run, shape, method, args.seq, int(batch), args.steps)
            if run == "ours" and "error" in res and method == "qlora":  # compile may not take bitsandbytes
                row["ours_compile_error"] = res["error"]
                res = child(args, "ours_eager", shape, method, args.seq, int(batch), args.steps)
            if "tokens_per_s" in res:
                res["mfu"] = res["tokens_per_s"] * fpt / (DATASHEET_BF16_DENSE_TFLOPS * 1e12)
                print(f"{shape} {method} b{batch} {run}: {res['tokens_per_s']:,.0f} tok/s MFU {res['mfu']:.1%} "
                      f"peak {res['peak_memory_gib'] or 0:.1f} GiB plan {res.get('plan_gib', 0):.1f}", flush=True)  # fmt: skip
            row[run] = res
            base = row.get(CONTENDERS[method][1], {}).get("tokens_per_s")
            if base and row.get("ours", {}).get("tokens_per_s"):
                row["speedup"] = row["ours"]["tokens_per_s"] / base
            if run in liger and row.get(run, {}).get("tokens_per_s") and row.get("ours", {}).get("tokens_per_s"):
                row[f"ours_vs_{run}"] = row["ours"]["tokens_per_s"] / row[run]["tokens_per_s"]
            write_json(out, report)  # after every contender: a cut run keeps what it measured
    if args.curve:
        shape, batch, steps = args.curve.split(":")
        prepare(args.workdir, Path(args.corpus), Path(args.tokenizer), shape)
        curve = {"shape": shape, "batch": int(batch), "steps": int(steps), "seq_len": args.seq, "seeds": {}}
        report["loss_curve"] = curve
        for seed in map(int, args.curve_seeds.split(",")):
            args.seed = seed
            runs = curve["seeds"][str(seed)] = {}
            for run in ("curve:ours", "curve:ours_autocast", "curve:trainer_peft"):
                runs[run.split(":")[1]] = child(args, run, shape, "lora", args.seq, int(batch), int(steps))
                print(f"curve seed {seed} {run}: {runs[run.split(':')[1]]}", flush=True)
            curve.update(curve_gaps(curve["seeds"]))
            write_json(out, report)
    if args.generate:
        prepare(args.workdir, Path(args.corpus), Path(args.tokenizer), args.generate)
        for variant in args.gen_variants.split(","):
            key = "generation" if variant == "base" else f"generation_{variant}"
            report[key] = {"shape": args.generate, **child(args, "generate", args.generate, variant, args.seq, 1, 0)}
            write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
