"""Generation throughput: sanchaek's generate stage vs plain ``model.generate`` one prompt at a time.

What users of KoGPT2-style scripts do is call ``model.generate`` once per prompt. The generate stage
decodes all prompts x samples in left-padded batches with its own loop. Same model (a scratch:10m
Llama with a BPE tokenizer trained on the corpus; untrained weights, which is fine for speed), same
sampling settings (the generate defaults), same prompts, timed after a warm-up, in ONE run.

    .venv/bin/python bench/generate.py [--corpus ../shared/data/corpus/works.jsonl] [--out reports/bench/generate.json]

Tokens/s counts the continuation tokens actually produced (up to and excluding an end-of-sequence).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.io import read_jsonl, write_json
from sanchaek.model.compiled_steps import compile_steps
from sanchaek.model.decoding import encode, load_model, sample_batch
from sanchaek.model.scratch import save_scratch

# Our own opening lines (placeholder prose).
OPENINGS = [
    "오늘 엄마가 죽었다. 아니 어쩌면 어제,",
    "장례식장을 나와 나는 오래 걸었다.",
    "그는 담대한 얼굴로 문을 열었다.",
    "저녁을 먹고 강둑을 따라 걸었다.",
    "골목 끝의 찻집에서 옛 친구를 생각했다.",
    "다리 위에서 멈춰 섰다. 물결이",
    "시장은 여느 때처럼 시끄러웠다. 어머니는",
    "비가 그친 뒤의 골목은 조용했고",
    "나는 그날의 일을 누구에게도 말하지 않았다.",
    "아버지의 구두는 현관에 그대로 놓여 있었다.",
    "기차가 떠난 뒤에도 나는 플랫폼에 서 있었다.",
    "편지는 끝내 부치지 못했다.",
    "눈이 오는 밤이면 그 집 앞을 지나간다.",
    "담대하게 말하려 했지만 목소리가 떨렸다.",
    "그 여름 우리는 다리 밑에서 처음 만났다.",
    "죽음은 멀리 있는 것이 아니었다.",
]


def build_model(corpus: Path, out_dir: Path, n_texts: int, vocab_size: int) -> Path:
    texts = [r["text"] for _, r in zip(range(n_texts), read_jsonl(corpus), strict=False)]
    return save_scratch(texts, "10m", vocab_size=vocab_size, out_dir=out_dir, seed=0)


def count_new_tokens(rows: list[list[int]], eos: int, pad: int) -> int:
    total = 0
    for row in rows:
        for t in row:
            if t in (eos, pad):
                break
            total += 1
    return total


def hf_one_at_a_time(
    lm: Any, prompts: list[list[int]], s: SamplingParams, samples: int, seed: int
) -> tuple[int, float]:
    torch.manual_seed(seed)
    tok = lm.tokenizer
    kwargs = hf_kwargs(s, tok)
    produced = 0
    start = time.perf_counter()
    for p in prompts:
        ids = torch.tensor([p])
        for _ in range(samples):
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
            produced += count_new_tokens(out[:, ids.shape[1] :].tolist(), tok.eos_token_id, tok.pad_token_id)
    return produced, time.perf_counter() - start


def hf_batched(
    lm: Any, prompts: list[list[int]], s: SamplingParams, samples: int, batch_size: int, seed: int
) -> tuple[int, float]:
    """``model.generate`` on left-padded batches (for reference: what batching alone buys)."""
    torch.manual_seed(seed)
    tok = lm.tokenizer
    kwargs = hf_kwargs(s, tok)
    jobs = [p for p in prompts for _ in range(samples)]
    produced = 0
    start = time.perf_counter()
    for i in range(0, len(jobs), batch_size):
        enc = tok.pad({"input_ids": jobs[i : i + batch_size]}, return_tensors="pt", padding=True)
        out = lm.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **kwargs)
        produced += count_new_tokens(
            out[:, enc["input_ids"].shape[1] :].tolist(), tok.eos_token_id, tok.pad_token_id
        )
    return produced, time.perf_counter() - start


def hf_kwargs(s: SamplingParams, tok: Any) -> dict:
    return {
        "do_sample": s.do_sample,
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "repetition_penalty": s.repetition_penalty,
        "no_repeat_ngram_size": s.no_repeat_ngram_size,
        "max_new_tokens": s.max_new_tokens,
        "pad_token_id": tok.pad_token_id,
    }


def ours(
    lm: Any, prompts: list[list[int]], s: SamplingParams, samples: int, engine: EngineParams, seed: int
) -> tuple[int, float]:
    jobs = [p for p in prompts for _ in range(samples)]
    start = time.perf_counter()
    out = sample_batch(lm, jobs, s, engine, seed=seed)
    return sum(n for _, n in out), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/data/corpus/works.jsonl")
    ap.add_argument("--out", default="reports/bench/generate.json")
    ap.add_argument("--samples", type=int, default=2, help="samples per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--rounds", type=int, default=2, help="timed rounds per contender (the best is reported)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads for every contender (0: torch's default)"
    )
    ap.add_argument(
        "--no-compile", action="store_true", help="skip the compiled static engine (its warm-up takes ~30 s)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    sampling = SamplingParams(max_new_tokens=args.max_new_tokens)  # the generate stage's defaults otherwise
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_model(Path(args.corpus), Path(tmp) / "lm", n_texts=200, vocab_size=8000)
        lm = load_model(str(model_dir), EngineParams(device="cpu"))
        prompts = [encode(lm, t) for t in OPENINGS]
        n_params = sum(p.numel() for p in lm.model.parameters())

        warm = SamplingParams(max_new_tokens=4)
        hf_one_at_a_time(lm, prompts[:2], warm, 1, 0)
        hf_batched(lm, prompts[:4], warm, 1, 4, 0)
        for kind in ("plain", "static"):
            ours(lm, prompts[:4], warm, 1, EngineParams(kind=kind, device="cpu", batch_size=4), 0)
        compiled_engine = EngineParams(
            kind="static",
            compile=True,
            compile_mode="default",
            device="cpu",
            batch_size=args.batch_size,
            cpu_threads=0,
        )
        compiled_lm, compile_seconds = None, None
        if not args.no_compile:
            # The warm-up compiles the forward and the sampling step for these shapes; reported, not timed below.
            started = time.perf_counter()
            compiled_lm = dataclasses.replace(lm, compiled=compile_steps(lm.model, compiled_engine))
            ours(compiled_lm, prompts, sampling, args.samples, compiled_engine, 0)
            compile_seconds = round(time.perf_counter() - started, 1)

        def engine(kind: str) -> EngineParams:
            return EngineParams(kind=kind, device="cpu", batch_size=args.batch_size, cpu_threads=0)

        runs: dict[str, Callable[[], tuple[int, float]]] = {
            "hf_generate_one_prompt_at_a_time": lambda: hf_one_at_a_time(
                lm, prompts, sampling, args.samples, args.seed
            ),
            "hf_generate_batched": lambda: hf_batched(
                lm, prompts, sampling, args.samples, args.batch_size, args.seed
            ),
            "sanchaek_plain": lambda: ours(lm, prompts, sampling, args.samples, engine("plain"), args.seed),
            "sanchaek_static": lambda: ours(lm, prompts, sampling, args.samples, engine("static"), args.seed),
        }
        if compiled_lm is not None:
            runs["sanchaek_static_compiled"] = lambda: ours(
                compiled_lm, prompts, sampling, args.samples, compiled_engine, args.seed
            )
        # Rounds interleave the contenders, so a burst of load elsewhere hits them alike; best round kept.
        times: dict[str, list[float]] = {name: [] for name in runs}
        produced: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, run in runs.items():
                produced[name], seconds = run()
                times[name].append(round(seconds, 3))
        results: dict[str, dict] = {}
        for name in runs:
            best = min(times[name])
            results[name] = {
                "new_tokens": produced[name],
                "seconds": best,
                "seconds_all_rounds": times[name],
                "tokens_per_s": round(produced[name] / best, 1),
            }
            print(
                f"{name:36s} {produced[name]:6d} tokens {best:8.2f} s {produced[name] / best:9.1f} tok/s",
                flush=True,
            )

    baseline = results["hf_generate_one_prompt_at_a_time"]["tokens_per_s"]
    default_engine = "sanchaek_plain"  # engine.kind: auto is plain on CPU
    report = {
        "what": "generate stage decoding vs plain model.generate one prompt at a time (same model, settings, prompts; one run)",
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": {
            "preset": "scratch:10m (untrained)",
            "parameters": n_params,
            "vocab_size": len(lm.tokenizer),
        },
        "prompts": len(prompts),
        "samples_per_prompt": args.samples,
        "batch_size": args.batch_size,
        "sampling": sampling.model_dump(),
        "rounds": args.rounds,
        "compile_warmup_seconds": compile_seconds,
        "results": results,
        "speedup_vs_generate": round(results[default_engine]["tokens_per_s"] / baseline, 2),
        "speedup_vs_generate_by_engine": {
            k: round(v["tokens_per_s"] / baseline, 2) for k, v in results.items()
        },
        "ours": default_engine,
        "baseline": "hf_generate_one_prompt_at_a_time",
    }
    write_json(args.out, report)
    print(f"speedup vs one-at-a-time generate: {report['speedup_vs_generate']}x -> {args.out}")


if __name__ == "__main__":
    main()
