"""GPU generation throughput and time to first token, in ONE run on the same card and model:

- ``model.generate`` with its defaults (dynamic KV cache) — what users of KoGPT2-style scripts call;
- ``model.generate(cache_implementation="static")`` — Hugging Face's own faster option;
- sanchaek's generate engine: static KV cache allocated once, compiled one-token step with CUDA
  graphs (``reduce-overhead``), sampling on the device with no host sync per token.

Batch 1 and batch 32, 256 new tokens, the same sampling settings (temperature, top-k, top-p,
repetition penalty), bf16 weights, timed after a warm-up (compile and graph capture excluded).
End-of-sequence is ignored by every contender so each produces exactly 256 tokens per sequence.

    python bench/generate_gpu.py --corpus .carry/works.jsonl --out reports/bench/generate_gpu.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import OPENINGS  # noqa: E402  (bench/generate.py: our own placeholder opening lines)

from sanchaek.config.generate import EngineParams, SamplingParams  # noqa: E402
from sanchaek.io import read_jsonl, write_json  # noqa: E402
from sanchaek.model.decoding import decode, load_model  # noqa: E402
from sanchaek.model.scratch import save_scratch  # noqa: E402

SAMPLING = dict(temperature=0.9, top_k=50, top_p=0.95, repetition_penalty=1.1)


def sync() -> None:
    if torch.cuda.is_available():  # the CPU check of the scripts that time with this
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` with the device synchronized around each call."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def left_padded(tokenizer, texts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    tokenizer.padding_side = "left"
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return enc.input_ids.to(device), enc.attention_mask.to(device)


def hf_generate(model, ids, mask, new_tokens: int, seed: int, static: bool) -> None:
    torch.manual_seed(seed)
    extra = {"cache_implementation": "static"} if static else {}
    model.generate(
        input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
        pad_token_id=model.config.pad_token_id, **SAMPLING, **extra,
    )  # fmt: skip


def ours(lm, engine: EngineParams, ids, mask, new_tokens: int, seed: int, min_cache_len: int = 0) -> None:
    sampling = SamplingParams(do_sample=True, max_new_tokens=new_tokens, no_repeat_ngram_size=0, **SAMPLING)
    decode(
        lm.model, ids, mask, sampling, engine, seed=seed, eos_token_id=None,
        pad_token_id=lm.tokenizer.pad_token_id, compiled=lm.compiled, cache_pool=lm.static_caches,
        min_cache_len=min_cache_len,
    )  # fmt: skip


def write_profile(run, out: Path, new_tokens: int) -> None:
    """Where a decode step's time goes: ``torch.profiler`` over one run, top ops by CPU and device time.
    ``new_tokens`` is the timed runs' own: another length sizes another static cache, whose compile
    (and kernel tuning) the profile would show instead of the steady state."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run(new_tokens)
        sync()
    averages = prof.key_averages()
    tables = [
        averages.table(sort_by=key, row_limit=30, max_name_column_width=80)
        for key in ("cpu_time_total", "cuda_time_total")
    ]
    out.write_text(f"{new_tokens} new tokens\n" + "\n".join(tables), encoding="utf-8")


def write_report(args: argparse.Namespace, n_params: int, results: list[dict]) -> None:
    report = {
        "card": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "model": args.model or f"scratch:{args.size} (untrained, vocab {args.vocab_size})",
        "n_params": n_params,
        "dtype": "bfloat16",
        "sampling": SAMPLING | {"do_sample": True},
        "repeats": args.repeats,
        "results": results,
    }
    for row in results:
        report[f"speedup_vs_generate_batch{row['batch']}"] = row.get("speedup_vs_generate")
    write_json(args.out, report)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    parser.add_argument("--size", default="125m")
    parser.add_argument(
        "--model", default=None, help="a saved model folder instead of an untrained scratch model"
    )
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="reports/bench/generate_gpu.json")
    parser.add_argument(
        "--profile-dir", default=None, help="also profile sanchaek's engine (64 tokens) per batch"
    )
    args = parser.parse_args()

    model_dir = args.model
    if model_dir is None:
        texts = [r["text"] for r in read_jsonl(args.corpus) if r.get("text", "").strip()]
        model_dir = str(
            save_scratch(texts, args.size, args.vocab_size, tempfile.mkdtemp(prefix="gen-bench-"), seed=0)
        )
    engine = EngineParams(
        kind="static", compile=True, compile_mode="reduce-overhead", dtype="bfloat16", device="cuda"
    )
    lm = load_model(model_dir, engine)  # the same bf16 weights serve the baselines
    model, device = lm.model, lm.device
    n_params = sum(p.numel() for p in model.parameters())
    results = []
    for batch in (int(b) for b in args.batches.split(",")):
        prompts = [OPENINGS[i % len(OPENINGS)] for i in range(batch)]
        ids, mask = left_padded(lm.tokenizer, prompts, device)
        row: dict = {"batch": batch, "new_tokens": args.new_tokens, "prompt_tokens": int(ids.shape[1])}
        contenders = {
            "generate": lambda n, ids=ids, mask=mask: hf_generate(model, ids, mask, n, 0, static=False),
            "generate_static_cache": lambda n, ids=ids, mask=mask: hf_generate(
                model, ids, mask, n, 0, static=True
            ),
            "sanchaek": lambda n, ids=ids, mask=mask: ours(lm, engine, ids, mask, n, 0),
        }
        for name, run in contenders.items():
            try:
                started = time.perf_counter()
                run(args.new_tokens)  # warm-up: compile, graph capture, allocator
                run(1)
                warmup_s = time.perf_counter() - started
                seconds = timed(lambda run=run: run(args.new_tokens), args.repeats)
                ttft = timed(lambda run=run: run(1), args.repeats)
                row[name] = {
                    "seconds": seconds,
                    "tokens_per_s": batch * args.new_tokens / seconds,
                    "ms_per_token_step": 1e3 * seconds / args.new_tokens,
                    "time_to_first_token_ms": 1e3 * ttft,
                    "warmup_s": warmup_s,
                }
                if args.profile_dir and name == "sanchaek":
                    write_profile(run, Path(args.profile_dir) / f"profile-generate-batch{batch}.txt", args.new_tokens)
                print(f"batch {batch} {name}: {row[name]['tokens_per_s']:,.0f} tok/s, "
                      f"TTFT {row[name]['time_to_first_token_ms']:.1f} ms (warm-up {warmup_s:.0f} s)", flush=True)  # fmt: skip
            except Exception as exc:  # a failing contender is reported, the others still run
                row[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
                print(f"batch {batch} {name}: FAILED {row[name]['error']}", flush=True)
        for base in ("generate", "generate_static_cache"):
            a, b = row.get("sanchaek", {}).get("tokens_per_s"), row.get(base, {}).get("tokens_per_s")
            if a and b:
                row[f"speedup_vs_{base}"] = a / b
        results.append(row)
        write_report(args, n_params, results)  # after every row: a timed-out run keeps what it measured
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
