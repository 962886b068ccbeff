"""Search: one Nori analysis, two backends (embedded Lucene, Elasticsearch), one contract.

Other stages get a backend with ``open_backend(params.index, Layout())`` and call
``backend.search("죽음", k)`` or ``backend.search(ThemeQuery(...), k)``; close it when done.
A theme is searched with ``search_theme_text(backend, theme, k, expand=params.query.expand_predicates)``,
which adds the inflections of a dictionary-form predicate (듣다 -> 들었다) the way the query stage does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..config.search import IndexParams
from ..errors import SanchaekError
from ..paths import Layout
from .base import Hit, SearchBackend, ThemeQuery, Token
from .inflect import search_theme_text

__all__ = [
    "Hit",
    "SearchBackend",
    "ThemeQuery",
    "Token",
    "open_backend",
    "resolve_backend",
    "search_theme_text",
]


def resolve_backend(params: IndexParams, env: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """(backend name, Elasticsearch URL or None) from ``index.backend`` / ``index.elasticsearch_url`` / env."""
    env = os.environ if env is None else env
    url = params.elasticsearch_url or env.get("ELASTICSEARCH_URL") or None
    if params.backend == "embedded":
        return "embedded", None
    if params.backend == "elasticsearch":
        if not url:
            raise SanchaekError(
                "index.backend is elasticsearch but no server is given: set index.elasticsearch_url or ELASTICSEARCH_URL"
            )
        return "elasticsearch", url
    return ("elasticsearch", url) if url else ("embedded", None)


def open_backend(
    index_params: IndexParams,
    layout: Layout,
    env: Mapping[str, str] | None = None,
    backend: str | None = None,
) -> SearchBackend:
    """The configured backend over ``layout.index_dir``. Nothing starts (JVM, connection) until first use.

    ``backend`` overrides ``index.backend`` (``auto``, ``embedded`` or ``elasticsearch``).
    """
    env = os.environ if env is None else env
    if backend is not None:
        index_params = index_params.model_copy(update={"backend": backend})
    name, url = resolve_backend(index_params, env)
    if name == "elasticsearch":
        from .elastic import ElasticsearchBackend

        return ElasticsearchBackend(index_params, url or "", layout.index_dir, env)
    from .embedded import EmbeddedBackend

    return EmbeddedBackend(index_params, layout.index_dir)
