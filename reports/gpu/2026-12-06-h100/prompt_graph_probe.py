"""Diagnostic kept with its log (prompt_graph_probe_log.txt). Which part of recording the prompt's forward upsets Inductor's CUDA-graph trees: a small Llama,
the engine as it ships, decode() four times on one pooled cache, one variant per process."""
import os, sys, time
import torch, transformers
from sanchaek.config.generate import EngineParams, SamplingParams
from sanchaek.model import prompt_graphs
from sanchaek.model.compiled_steps import compile_steps
from sanchaek.model.decoding import decode

variant = sys.argv[1]
orig_record = prompt_graphs.PromptGraphs._record
if variant == "sync":
    def rec(self, *a):
        torch.cuda.synchronize(); out = orig_record(self, *a); torch.cuda.synchronize(); return out
    prompt_graphs.PromptGraphs._record = rec
if variant == "norecord":
    prompt_graphs.PromptGraphs.__call__ = lambda self, past_key_values, **kw: self.model(past_key_values=past_key_values, **kw)
if variant == "noreplay":
    orig_call = prompt_graphs.PromptGraphs.__call__
    def call(self, past_key_values, **kw):
        if self.recorded:
            return self.model(past_key_values=past_key_values, **kw)
        return orig_call(self, past_key_values=past_key_values, **kw)
    prompt_graphs.PromptGraphs.__call__ = call
if variant == "nocudnn":
    from torch.nn.attention import SDPBackend, sdpa_kernel
    def rec(self, *a):
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
            return orig_record(self, *a)
    prompt_graphs.PromptGraphs._record = rec
    orig_call2 = prompt_graphs.PromptGraphs.__call__
    def call2(self, **kw):
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
            return orig_call2(self, **kw)
    prompt_graphs.PromptGraphs.__call__ = call2
if variant == "mainstream":
    def rec(self, key, cache, inputs):
        buffers = {n: inputs[n].clone() for n in prompt_graphs._INPUTS}
        options = {k: v for k, v in inputs.items() if k not in prompt_graphs._INPUTS}
        fwd = lambda: self.model(past_key_values=cache, **buffers, **options).logits
        logits = fwd().clone()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            out = fwd()
        torch.cuda.synchronize()
        self.recorded[key] = prompt_graphs._Recorded(g, buffers, out, cache)
        return logits
    prompt_graphs.PromptGraphs._record = rec

big = os.environ.get("BIG") == "1"
config = (transformers.LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                   num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0,
                                   max_position_embeddings=8192, attn_implementation="sdpa") if big else
          transformers.LlamaConfig(vocab_size=32000, hidden_size=512, intermediate_size=1536, num_hidden_layers=4,
                                  num_attention_heads=8, num_key_value_heads=4, attn_implementation="sdpa"))
torch.manual_seed(0)
with torch.device("cuda"):
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
import logging; logging.basicConfig(level=logging.WARNING)
engine = EngineParams(kind="static", device="cuda", dtype="bfloat16", compile=True, batch_size=1)
steps = compile_steps(model, engine)
ids = torch.randint(3, config.vocab_size, (1, 12), device="cuda"); mask = torch.ones_like(ids)
s = SamplingParams(max_new_tokens=32, top_k=50)
pool = {}
outs = []
for call in range(4):
    t = time.perf_counter()
    out = decode(model, ids, mask, s, engine, seed=0, eos_token_id=None, pad_token_id=0, compiled=steps,
                 cache_pool=pool, min_cache_len=64)
    torch.cuda.synchronize()
    outs.append(out.tokens.tolist())
    print(variant, "call", call, f"{time.perf_counter() - t:.3f}s", flush=True)
print(variant, "OK same tokens" if all(o == outs[0] for o in outs) else "tokens differ", flush=True)
