"""Helpers shared by the generate, compose and proxies tests (no tests here): a small project folder
with a real embedded Nori index and a training split, made from our own placeholder sentences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sanchaek.config import IndexParams, Params, params_from_dict
from sanchaek.io import write_jsonl
from sanchaek.paths import Layout

# Our own placeholder prose: a few passages about death, boldness and walking.
PASSAGES = [
    "오늘 엄마가 죽었다. 아니 어쩌면 어제였는지도 모르겠다.",
    "죽음은 멀리 있는 것이 아니었다. 늘 곁에서 함께 걸었다.",
    "그는 담대한 얼굴로 문을 열었다. 아무도 없었다.",
    "담대하게 말하려 했지만 목소리가 떨렸다.",
    "나는 강가를 따라 천천히 걸었다. 바람이 차가웠다.",
    "골목 끝의 찻집에서 옛 친구를 생각했다. 그날도 비가 내렸다.",
    "다리 위에서 멈춰 섰다. 물결이 느리게 흘러갔다.",
    "시장 골목에는 생선 냄새와 사람들의 목소리가 뒤섞여 있었다.",
    "장례식장을 나오자 하늘이 이상하게 맑았다. 나는 오래 걸었다.",
    "어머니의 손은 따뜻했다. 나는 그 온기를 오래 기억했다.",
    "저녁마다 산책을 나갔다. 골목과 강둑을 지나 다리까지 걸었다.",
]

# A passage that only the expansion of the theme 듣다 finds: Nori reads 듣다 as 들, but 들었다 as 듣.
HEARD = "창밖의 빗소리를 들었다. 아무도 오지 않았다."
HEARD_ID = f"p{len(PASSAGES):02d}"  # its id after PASSAGES (see passage_records)


def passage_records(passages: list[str] = PASSAGES) -> list[dict]:
    return [{"passage_id": f"p{i:02d}", "doc_id": f"d{i // 2}", "text": t} for i, t in enumerate(passages)]


def build_index(root: Path, passages: list[str] = PASSAGES) -> None:
    from sanchaek.search import open_backend

    backend = open_backend(IndexParams(backend="embedded"), Layout(root))
    try:
        backend.index(passage_records(passages))
    finally:
        backend.close()


def open_index(root: Path) -> Any:
    from sanchaek.search import open_backend

    return open_backend(IndexParams(backend="embedded"), Layout(root))


def make_project(
    root: Path, model_dir: Path, *, train_texts: list[str] | None = None, **sections: dict
) -> Params:
    """A project folder: data/index, data/processed/train.jsonl and params.yaml; returns the params."""
    build_index(root)
    write_jsonl(Layout(root).train_split, [{"text": t} for t in (train_texts or PASSAGES[:6])])
    data: dict[str, Any] = {"index": {"backend": "embedded"}}
    for name, values in sections.items():
        data[name] = values
    data.setdefault("generate", {})
    data["generate"] = {"model": str(model_dir), **data["generate"]}
    (root / "params.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return params_from_dict(data)
