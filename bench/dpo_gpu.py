"""DPO throughput and peak memory, side by side in ONE run on the same card, model, pairs and settings:

1. TRL's ``DPOTrainer`` (the baseline a user would otherwise run): ``bf16=True``, the same beta, loss,
   lr, pairs per step and, for LoRA, the same adapter (peft ``LoraConfig``); its defaults otherwise
   (a reference forward every step; for a full fine-tune a second copy of the model as reference);
2. sanchaek's ``align`` (``sanchaek.align.align``) with the same settings, and with ``align.compile``.

Shapes: ``scratch:125m`` fine-tuned whole (``--full-sizes``) and ``scratch:1b`` with a LoRA adapter
(``--lora-sizes``; the 1B LoRA shape of train.method: lora). The pairs come from the corpus: prompt =
a passage's opening, chosen = its real continuation, rejected = the same words shuffled. Each variant
runs in its own subprocess (clean memory peak). Steady-state tokens/s is timed between step
``warmup`` and ``warmup + steps``; tokens are the non-padding tokens of both sequences of each pair
(the same count for every variant). ``run_tokens_per_s`` also charges ours for its one reference pass
over the pairs, which TRL spreads over its steps instead.

    python bench/dpo_gpu.py --corpus .carry/works.jsonl --out $OUT/dpo_gpu.json
    python bench/dpo_gpu.py --full-sizes tiny --lora-sizes tiny --pairs 16 --warmup 1 --steps 2 --out /tmp/dpo.json  # CPU toy
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ["trl", "sanchaek", "sanchaek_compiled"]


def make_pairs(corpus: Path, n: int, prompt_words: int, completion_words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    pairs = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            words = json.loads(line)["text"].split()
            for start in range(0, len(words) - prompt_words - completion_words, prompt_words + completion_words):
                prompt = words[start : start + prompt_words]
                chosen = words[start + prompt_words : start + prompt_words + completion_words]
                rejected = chosen[:]
                rng.shuffle(rejected)
                if rejected != chosen:
                    pairs.append({"prompt": " ".join(prompt), "chosen": " " + " ".join(chosen),
                                  "rejected": " " + " ".join(rejected)})  # fmt: skip
                if len(pairs) == n:
                    return pairs
    return pairs


def prepare(workdir: Path, corpus: Path, size: str, vocab_size: int, args: argparse.Namespace) -> Path:
    """A project folder: models/lm (scratch model of ``size``), data/processed/preferences.jsonl."""
    from sanchaek.model.scratch import save_scratch
    from sanchaek.paths import Layout

    root = workdir / size
    layout = Layout(root)
    if not layout.model_dir.exists():
        texts = [json.loads(line)["text"] for _, line in zip(range(200), corpus.open(encoding="utf-8"), strict=False)]
        save_scratch(texts, size, vocab_size=vocab_size, out_dir=layout.model_dir, seed=0)
        layout.processed_dir.mkdir(parents=True, exist_ok=True)
        pairs = make_pairs(corpus, args.pairs, args.prompt_words, args.completion_words)
        layout.preferences.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), "utf-8")
    return root


def align_settings(args: argparse.Namespace, method: str) -> dict:
    return {"method": method, "beta": 0.1, "loss": "sigmoid", "lr": 5e-4 if method == "lora" else 5e-6,
            "pairs_per_step": args.pairs_per_step, "max_steps": args.warmup + args.steps, "warmup_steps": 0,
            "min_pairs": 1, "eval_fraction": 0.0, "max_seq_len": args.max_seq_len, "checkpoint_every": 0,
            "log_every": args.warmup + args.steps, "lora": {"rank": 16, "alpha": 32.0}}  # fmt: skip


class StepTimer:
    """Seconds between the end of step ``warmup`` and of step ``warmup + steps``, device synchronised."""

    def __init__(self, warmup: int, steps: int):
        self.warmup, self.steps, self.t0, self.t1 = warmup, steps, None, None

    def at_step(self, done: int) -> None:
        import torch

        if done in (self.warmup, self.warmup + self.steps):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if done == self.warmup:
                self.t0 = time.perf_counter()
            else:
                self.t1 = time.perf_counter()


def tokens_per_pair(root: Path, max_seq_len: int) -> float:
    from sanchaek.model.dpo import read_preferences, tokenize_pairs
    from sanchaek.model.loading import load_tokenizer
    from sanchaek.paths import Layout

    layout = Layout(root)
    pairs, _ = tokenize_pairs(read_preferences(layout.preferences)[0], load_tokenizer(str(layout.model_dir)), max_seq_len)
    return sum(2 * len(p.prompt) + len(p.chosen) + len(p.rejected) for p in pairs) / len(pairs)


def run_trl(root: Path, settings: dict, timer: StepTimer) -> None:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from sanchaek.model.loading import load_tokenizer
    from sanchaek.paths import Layout

    layout = Layout(root)
    rows = [json.loads(line) for line in layout.preferences.read_text("utf-8").splitlines()]
    model = AutoModelForCausalLM.from_pretrained(layout.model_dir, dtype=torch.float32)
    peft_config = None
    if settings["method"] == "lora":
        from sanchaek.model.adapters import block_linear_names

        lora = settings["lora"]
        peft_config = LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], target_modules=block_linear_names(model),
                                 task_type="CAUSAL_LM")  # fmt: skip

    class Timing(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            timer.at_step(state.global_step)

    cuda = torch.cuda.is_available()
    config = DPOConfig(
        output_dir=str(root / "trl"), beta=settings["beta"], loss_type=[settings["loss"]], learning_rate=settings["lr"],
        per_device_train_batch_size=settings["pairs_per_step"], max_steps=settings["max_steps"],
        max_length=settings["max_seq_len"], bf16=cuda, use_cpu=not cuda, report_to=[], save_strategy="no",
        logging_steps=settings["max_steps"], warmup_steps=0, lr_scheduler_type="cosine", seed=settings.get("seed", 1234),
    )  # fmt: skip
    trainer = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=load_tokenizer(str(layout.model_dir)), peft_config=peft_config,
                         callbacks=[Timing()])  # fmt: skip
    trainer.train()


def run_ours(root: Path, settings: dict, timer: StepTimer, compiled: bool) -> float:
    from sanchaek.align import align
    from sanchaek.config import params_from_dict
    from sanchaek.paths import Layout

    report = align(params_from_dict({"align": {**settings, "compile": compiled}}), Layout(root), live_dir=False,
                   on_step=timer.at_step)  # fmt: skip
    return report["reference_seconds"]


def run_child(args: argparse.Namespace) -> dict:
    import torch

    root = Path(args.child_root)
    settings = json.loads(args.child_settings)
    timer = StepTimer(args.warmup, args.steps)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    reference_seconds = 0.0
    if args.child == "trl":
        run_trl(root, settings, timer)
    else:
        reference_seconds = run_ours(root, settings, timer, compiled=args.child == "sanchaek_compiled")
    seconds = timer.t1 - timer.t0
    tokens = tokens_per_pair(root, settings["max_seq_len"]) * settings["pairs_per_step"] * args.steps
    return {"variant": args.child, "seconds": round(seconds, 4), "tokens_per_s": round(tokens / seconds, 1),
            "run_tokens_per_s": round(tokens / (seconds + reference_seconds * args.steps / settings["max_steps"]), 1),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None}  # fmt: skip


def add_speedups(row: dict) -> None:
    """Each of our variants' tokens/s over TRL's, measured in the same run."""
    base = row["variants"].get("trl", {}).get("tokens_per_s")
    for name, result in row["variants"].items():
        if base and name != "trl" and "tokens_per_s" in result:
            result["speedup_vs_trl"] = round(result["tokens_per_s"] / base, 3)
            result["run_speedup_vs_trl"] = round(result["run_tokens_per_s"] / base, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    parser.add_argument("--full-sizes", default="125m", help="scratch sizes DPO fine-tunes whole ('' for none)")
    parser.add_argument("--lora-sizes", default="1b", help="scratch sizes DPO tunes with a LoRA adapter ('' for none)")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--pairs-per-step", type=int, default=8)
    parser.add_argument("--prompt-words", type=int, default=40)
    parser.add_argument("--completion-words", type=int, default=120)
    parser.add_argument("--max-seq-len", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--out", default="reports/bench/dpo_gpu.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-root", help=argparse.SUPPRESS)
    parser.add_argument("--child-settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_child(args)), flush=True)
        return

    import torch

    card = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dpo-bench-"))
    shapes = [(s, "full") for s in args.full_sizes.split(",") if s] + [(s, "lora") for s in args.lora_sizes.split(",") if s]
    rows: list[dict] = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:  # after every variant: a run cut at its time limit keeps what it measured
        report = {"card": card, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                  "torch": torch.__version__, "rows": rows}  # fmt: skip
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")

    for size, method in shapes:
        root = prepare(workdir, Path(args.corpus), size, args.vocab_size, args)
        settings = {**align_settings(args, method), "max_seq_len": args.max_seq_len}
        row = {"size": f"scratch:{size}", "method": method, "settings": settings, "variants": {}}
        rows.append(row)
        for variant in args.variants.split(","):
            cmd = [sys.executable, __file__, "--child", variant, "--child-root", str(root),
                   "--child-settings", json.dumps(settings), "--warmup", str(args.warmup), "--steps", str(args.steps)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
            result = next((json.loads(x[7:]) for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            row["variants"][variant] = result or {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
            print(size, method, variant, row["variants"][variant], flush=True)
            add_speedups(row)
            write()
    print(f"-> {out}")


if __name__ == "__main__":
    main()
