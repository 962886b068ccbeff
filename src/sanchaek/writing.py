"""What the writing stages share: generate, compose and ``sanchaek write`` build prompts within the
model's positions, put retrieved passages before them as a lorebook, and score samples against the
search index and the training text with the same helpers.

A prompt is token ids: the tokenizer's special prefix, the lorebook (cut from its end to what the
budget leaves) and the body. The index is opened before the model is loaded, so that a missing or
stale index fails in seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .config import Params
from .config.generate import ProxyParams
from .config.search import QueryParams
from .errors import SanchaekError
from .io import read_jsonl
from .model.decoding import LoadedModel, tokens
from .paths import Layout
from .search.theme_query import configured_theme, theme_hits

# ---------------------------------------------------------------------------- prompts


def prompt_budget(lm: LoadedModel, max_prompt_tokens: int, max_new_tokens: int) -> int:
    """Tokens a prompt (special prefix included) may take: max_prompt_tokens, and room for the new
    tokens within the model's positions."""
    budget = max_prompt_tokens
    if lm.max_positions is not None:
        budget = min(budget, lm.max_positions - max_new_tokens)
        if budget < 1:
            raise SanchaekError(
                f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
                f"{lm.max_positions} positions: lower max_new_tokens"
            )
    return budget


def check_prompt(
    prompt_ids: Sequence[int], n_prefix: int, budget: int, max_prompt_tokens: int, what: str = "prompt"
) -> None:
    """One clear line for an empty or over-long prompt."""
    if len(prompt_ids) <= n_prefix:
        raise SanchaekError(f"{what} is empty: give some text for the model to continue")
    if len(prompt_ids) > budget:
        limit = (
            f"max_prompt_tokens={max_prompt_tokens}"
            if budget == max_prompt_tokens
            else f"the {budget} tokens the model's positions leave beside max_new_tokens"
        )
        raise SanchaekError(
            f"{what} is {len(prompt_ids)} tokens, more than {limit}: shorten it or raise the limit"
        )


def fit_prompt(lm: LoadedModel, *, lorebook: str, body: list[int], budget: int) -> list[int]:
    """prefix + lorebook + body, the lorebook cut (from its end) to what the budget leaves."""
    room = budget - len(lm.prefix) - len(body)
    lore = tokens(lm.tokenizer, lorebook)[: max(room, 0)]
    return lm.prefix + lore + body


# ---------------------------------------------------------------------------- search, training text


def open_search(params: Params, layout: Layout) -> Any:
    """The search backend over ``data/index`` (retrieval and theme relevance need it), opened now so
    that a missing or stale index fails before the model is loaded."""
    from .search import open_backend, resolve_backend

    name, _ = resolve_backend(params.index)
    if name == "embedded" and not layout.index_dir.exists():
        raise SanchaekError(
            f"index {layout.index_dir} not found: run `sanchaek index` (dvc repro index) first"
        )
    backend = open_backend(params.index, layout)
    try:
        backend.count()
    except BaseException:
        backend.close()
        raise
    return backend


def load_training_text(layout: Layout, k: int) -> Any:
    from .proxies import OverlapIndex

    path = layout.train_split
    texts = (
        r.get("text", "")
        for r in read_jsonl(path, missing_fix="run `sanchaek query` (dvc repro query) first")
    )
    return OverlapIndex(texts, k)


def retrieval_context(hits: Sequence[Any], max_chars: int, separator: str) -> str:
    """Retrieved passages, each cut to ``max_chars``, as a lorebook before the prompt."""
    return "".join(h.text[:max_chars].strip() + separator for h in hits)


class ThemeLexicons:
    """One ThemeLexicon per theme, built on first use from the passages the index finds for it,
    searched as the query stage searches it (``query``: its themes, synonyms and expansion)."""

    def __init__(self, backend: Any, proxies: ProxyParams, *, query: QueryParams):
        self.backend = backend
        self.proxies = proxies
        self.query = query
        self._cache: dict[str, Any] = {}

    def __call__(self, theme: str) -> Any:
        from .proxies import ThemeLexicon

        if theme not in self._cache:
            configured = configured_theme(theme, self.query)
            hits, added = (
                theme_hits(self.backend, configured, self.proxies.lexicon_passages, self.query)
                if self.proxies.lexicon_passages
                else ([], {})
            )
            synonyms = [[t.term for t in self.backend.analyze(s)] for s in configured.synonyms]
            readings = synonyms + list(added.values())
            self._cache[theme] = ThemeLexicon(
                theme, self.backend.analyze, hits, self.proxies.lexicon_size, readings=readings
            )
        return self._cache[theme]


def experiment_name() -> str:
    return os.environ.get("DVC_EXP_NAME") or "workspace"
