"""GPU time of the decode loop's per-token work outside the model's forward, at the Llama-3 vocab.

Each candidate is recorded as a CUDA graph of 50 repetitions and replayed, so the numbers are
kernel time plus the gaps between kernels, not the host's launch cost.
    python3 topk_probe.py
"""

import sys
import time

import torch

sys.path.insert(0, "src")
from sanchaek.config.generate import SamplingParams  # noqa: E402
from sanchaek.model.sampling import make_next_token  # noqa: E402

V, K, REPS = 128256, 50, 50
dev = "cuda"
torch.manual_seed(0)
logits = (torch.randn(1, V, device=dev) * 3).to(torch.bfloat16)
seq = torch.randint(0, V, (1, 160), device=dev)
valid = torch.ones(1, 160, dtype=torch.bool, device=dev)
valid[:, 140:] = False
cur = torch.tensor(140, device=dev)
noise = torch.empty(1, K, device=dev).exponential_()
s = SamplingParams(do_sample=True, max_new_tokens=128, temperature=0.9, top_k=50, top_p=0.95,
                   repetition_penalty=1.1, no_repeat_ngram_size=0)
sampler = torch.compile(make_next_token(s))
gen = torch.Generator(device=dev).manual_seed(1)


def per_token_work():
    n = torch.empty(1, K, device=dev).exponential_(generator=gen)
    tok = sampler(logits, seq, valid, cur, n)
    return tok


def candidates():
    lf = logits.float()
    yield "topk_fp32", lambda: torch.topk(lf, K)
    yield "topk_bf16", lambda: torch.topk(logits, K)
    yield "topk_fp32_sorted_false", lambda: torch.topk(lf, K, sorted=False)
    yield "to_float", lambda: logits.float()
    yield "sampler_compiled", lambda: sampler(logits, seq, valid, cur, noise)
    yield "noise_and_sampler", per_token_work


def graph_time(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(REPS):
            fn()
    g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    best = float("inf")
    for _ in range(5):
        start.record()
        g.replay()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) * 1e3 / REPS)
    return best


def stream_time(fn):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1e6 / 200


print(torch.cuda.get_device_name(0), torch.__version__)
for name, fn in candidates():
    try:
        print(f"{name}: graph {graph_time(fn):.1f} us, launched {stream_time(fn):.1f} us", flush=True)
    except Exception as exc:  # noqa: BLE001
        print(f"{name}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
