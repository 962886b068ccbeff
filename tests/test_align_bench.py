"""bench/dpo_gpu.py at toy size on the CPU: the pairs it builds, TRL's DPOTrainer and our align timed
over the same steps, and the ratio it reports (the GPU run uses the same code at 125m and 1B)."""

from __future__ import annotations

import importlib.util
import json
from argparse import Namespace
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two DPO runs with model loading: ~1 min on 2 busy cores

BENCH = Path(__file__).resolve().parents[1] / "bench" / "dpo_gpu.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("dpo_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_times_trl_and_ours_on_the_same_pairs(tmp_path, shared_dir):
    pytest.importorskip("trl", reason="trl not installed: pip install -e '.[dev]' (trl==1.16.0)")
    bench = load_bench()
    corpus = shared_dir / "data" / "corpus" / "works.jsonl"
    args = Namespace(pairs=8, pairs_per_step=4, prompt_words=6, completion_words=10, max_seq_len=64, warmup=1, steps=2)
    pairs = bench.make_pairs(corpus, 8, 6, 10)
    assert len(pairs) == 8 and all(p["chosen"] != p["rejected"] for p in pairs)
    assert all(sorted(p["chosen"].split()) == sorted(p["rejected"].split()) for p in pairs)  # shuffled words

    root = bench.prepare(tmp_path, corpus, "tiny", 300, args)
    row = {"variants": {}}
    for method in ("lora", "full"):
        settings = {**bench.align_settings(args, method), "max_seq_len": args.max_seq_len}
        for variant in ("trl", "sanchaek"):
            child = Namespace(child=variant, child_root=str(root), child_settings=json.dumps(settings), warmup=1, steps=2)
            result = bench.run_child(child)
            assert result["variant"] == variant and result["tokens_per_s"] > 0 and result["seconds"] > 0
            assert result["run_tokens_per_s"] <= result["tokens_per_s"]
            row["variants"][variant] = result
    bench.add_speedups(row)
    ours = row["variants"]["sanchaek"]
    assert ours["speedup_vs_trl"] == pytest.approx(ours["tokens_per_s"] / row["variants"]["trl"]["tokens_per_s"], rel=1e-2)
