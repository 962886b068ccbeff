"""Shared fixtures. Nothing here touches the network: models and tokenizers are built locally."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

# A few lines of placeholder Korean prose (our own words) for tiny tokenizers and models.
KOREAN_LINES = [
    "오늘 엄마가 죽었다. 아니 어쩌면 어제였는지도 모르겠다.",
    "나는 강가를 따라 천천히 걸었다. 바람이 차가웠다.",
    "그는 담대한 얼굴로 문을 열었다. 아무도 없었다.",
    "골목 끝의 찻집에서 옛 친구를 생각했다. 그날도 비가 내렸다.",
    "죽음은 멀리 있는 것이 아니었다. 늘 곁에서 함께 걸었다.",
    "담대하게 말하려 했지만 목소리가 떨렸다.",
    "다리 위에서 멈춰 섰다. 물결이 느리게 흘러갔다.",
    "어머니의 손은 따뜻했다. 나는 그 온기를 오래 기억했다.",
]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not present (the shared data folder beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A tiny Llama model + BPE tokenizer saved with save_pretrained, loaded by path like a hub id."""
    from sanchaek.model.scratch import save_scratch

    out = tmp_path_factory.mktemp("tiny_lm")
    return save_scratch(KOREAN_LINES * 4, "tiny", vocab_size=400, out_dir=out, seed=0)
