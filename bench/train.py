"""CPU training throughput: sanchaek's loop vs Hugging Face ``Trainer`` on the same model and data.

Both train the same scratch model (same tokenizer, same init seed) on the same packed blocks of the
offline corpus, with the same global batch, lr schedule and number of steps; ``Trainer`` otherwise
keeps its defaults (the baseline a user would reach for). Timed: the optimizer steps only (no
tokenizer training, no model build). Each side runs ``--repeats`` times, alternating, and the best
run counts (the machine may be shared). Writes ``reports/bench/train_cpu.json``.

    .venv/bin/python bench/train.py [--preset tiny] [--steps 60] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from sanchaek.config import params_from_dict  # noqa: E402
from sanchaek.io import write_json  # noqa: E402
from sanchaek.paths import Layout  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "corpus" / "works.jsonl"


def make_data(root: Path, n_docs: int) -> Layout:
    """train/val JSONL from the offline corpus (600-character passages, like preprocess makes)."""
    layout = Layout(root)
    layout.processed_dir.mkdir(parents=True, exist_ok=True)
    docs = [json.loads(line)["text"] for line in CORPUS.open(encoding="utf-8")][:n_docs]
    passages = [d[i : i + 600] for d in docs for i in range(0, len(d), 600)]
    val, train = passages[:50], passages[50:]
    for path, rows in ((layout.train_split, train), (layout.val_split, val)):
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in rows), "utf-8")
    return layout


def bench_params(args: argparse.Namespace) -> object:
    return params_from_dict({
        "model": {"name_or_path": f"scratch:{args.preset}", "vocab_size": args.vocab, "tokenizer_extra_text": None},
        "train": {"seed": 1, "seq_len": args.seq_len, "micro_batch_size": args.batch, "max_steps": args.steps,
                  "lr": 3e-3, "warmup_steps": 5, "eval_every": 0, "eval_max_blocks": 8, "checkpoint_every": 0,
                  "log_every": args.steps, "mixed_precision": "no", "resume": "never"},
    })  # fmt: skip


def run_ours(params, layout: Layout) -> dict:
    from sanchaek.train import train

    result = train(params, layout, save_final_model=False, checkpoints=False, live_dir=None)
    return {
        "seconds": result.loop_seconds,
        "tokens": result.tokens,
        "final_train_loss": result.final["train_loss"],
    }


def run_trainer(params, layout: Layout, out_dir: Path) -> dict:
    """``transformers.Trainer`` with the same model, blocks, batch, steps and lr schedule."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from sanchaek.model.build import build_model_and_tokenizer
    from sanchaek.model.data import load_blocks

    t = params.train
    model, tokenizer = build_model_and_tokenizer(
        params.model,
        train_path=layout.train_split,
        cache_dir=layout.cache_dir,
        seq_len=t.seq_len,
        seed=t.seed,
    )
    blocks = load_blocks(layout.train_split, tokenizer, t.seq_len, layout.cache_dir)

    class Blocks(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(blocks)

        def __getitem__(self, i: int) -> dict:
            ids = torch.from_numpy(blocks[i][:-1].astype("int64"))
            return {"input_ids": ids, "labels": ids}

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    clock = Clock()
    args = TrainingArguments(
        output_dir=str(out_dir), per_device_train_batch_size=t.micro_batch_size, max_steps=t.max_steps,
        learning_rate=t.lr, warmup_steps=t.warmup_steps, lr_scheduler_type="cosine", weight_decay=t.weight_decay,
        adam_beta2=t.beta2, max_grad_norm=t.grad_clip, save_strategy="no", report_to=[], use_cpu=True,
        seed=t.seed, logging_steps=t.max_steps, disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=Blocks(), callbacks=[clock])
    out = trainer.train()
    tokens = t.max_steps * t.micro_batch_size * t.seq_len
    return {"seconds": clock.seconds, "tokens": tokens, "final_train_loss": out.training_loss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "reports" / "bench" / "train_cpu.json"))
    args = ap.parse_args()

    params = bench_params(args)
    with tempfile.TemporaryDirectory() as tmp:
        layout = make_data(Path(tmp), args.docs)
        runs: dict[str, list[dict]] = {"trainer": [], "sanchaek": []}
        for _ in range(args.repeats):
            runs["trainer"].append(run_trainer(params, layout, Path(tmp) / "trainer"))
            runs["sanchaek"].append(run_ours(params, layout))
    best = {name: min(r, key=lambda x: x["seconds"]) for name, r in runs.items()}
    tps = {name: b["tokens"] / b["seconds"] for name, b in best.items()}
    report = {
        "what": "CPU training throughput, same scratch model / tokenizer / packed blocks / batch / steps",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },  # fmt: skip
        "setup": {
            "preset": args.preset,
            "vocab": args.vocab,
            "seq_len": args.seq_len,
            "batch": args.batch,
            "steps": args.steps,
            "repeats": args.repeats,
            "timed": "optimizer steps only, best of repeats",
        },  # fmt: skip
        "baseline_trainer": {"tokens_per_s": tps["trainer"], **best["trainer"]},
        "sanchaek": {"tokens_per_s": tps["sanchaek"], **best["sanchaek"]},
        "speedup_vs_trainer": tps["sanchaek"] / tps["trainer"],
        "all_runs": runs,
    }
    write_json(args.out, report)
    print(
        json.dumps({k: report[k] for k in ("baseline_trainer", "sanchaek", "speedup_vs_trainer")}, indent=2)
    )


if __name__ == "__main__":
    main()
