"""bench/lora_gpu.py's generation variants: each names real engine settings (a misspelt field would
only fail on the GPU, after minutes of warm-up), and ``a+b`` applies both."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from sanchaek.config.generate import EngineParams

BENCH = Path(__file__).resolve().parents[1] / "bench"
spec = importlib.util.spec_from_file_location("lora_gpu", BENCH / "lora_gpu.py")
lora_gpu = importlib.util.module_from_spec(spec)
sys.modules["lora_gpu"] = lora_gpu  # its dataclass resolves annotations through its module
spec.loader.exec_module(lora_gpu)
# lora_gpu puts bench/ first on sys.path for its own imports; taken off again, so that no other test
# finds bench's generate.py, search.py or train.py under those top-level names
sys.path[:] = [p for p in sys.path if Path(p).resolve() != BENCH]


@pytest.mark.parametrize("name", sorted(lora_gpu.GENERATION_VARIANTS))
def test_every_variant_is_a_valid_engine(name):
    import torch._inductor.config as inductor

    variant = lora_gpu.generation_variant(name)
    engine = EngineParams(kind="static", compile=True, **variant.engine)
    for field, value in variant.engine.items():
        assert getattr(engine, field) == value
    settings = inductor.get_config_copy()
    assert all(key in settings for key in variant.inductor)  # flat names, dotted for sub-configs
    assert variant.attention in (None, "eager")
    assert set(variant.fuse) <= {"qkv_proj", "gate_up_proj"}


def test_joined_variants_apply_both_and_the_base_is_the_shipped_engine():
    joined = lora_gpu.generation_variant("compiled_prefill+fused_qkv+decode_eager")
    assert joined.engine == {"prefill": "compiled", "decode_attention": "eager"}
    assert joined.fuse == ("qkv_proj",)
    assert lora_gpu.generation_variant("base") == lora_gpu.Variant()
    assert lora_gpu.unknown_variants("base,fused_qkv+nope,alsonot") == ["alsonot", "nope"]
    assert lora_gpu.unknown_variants("base,pdl+decode_eager") == []
