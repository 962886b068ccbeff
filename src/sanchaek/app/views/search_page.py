"""Search: a theme word -> its Nori tokens and the top passages, through the pipeline's own backend.

The theme is searched as the query stage searches it (``search_theme_text``): with
``query.expand_predicates`` a dictionary-form predicate (듣다) also finds its inflections (들었다), and
the page lists the forms that were added, so the user sees why a passage without the word was found.

The backend (embedded Lucene starts a JVM) is opened once per Streamlit server process with
st.cache_resource, never at import time, so only the server process that serves this page hosts it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from ...errors import SanchaekError
from .. import project as proj
from . import common

DEFAULT_K = 10


@st.cache_resource(show_spinner="검색 엔진을 여는 중 · opening the index …")
def _backend(root: str, index_params_json: str, _index_params: Any) -> Any:
    # The JSON is the cache key; the params object itself is passed unhashed.
    from ...paths import Layout
    from ...search import open_backend

    return open_backend(_index_params, Layout(Path(root)))


def release_jvm_thread() -> None:
    """Detach this script thread from the JVM (if one runs here).

    Streamlit runs the script in worker threads. With JPype, a thread that started or used the JVM
    and ends attached makes the JVM's shutdown at process exit wait forever (the server would
    hang on Ctrl-C); a detached thread is re-attached automatically on its next Java call.
    """
    jpype = sys.modules.get("jpype")
    if jpype is not None and jpype.isJVMStarted():
        jpype.java.lang.Thread.detach()


def theme_words(project: proj.Project) -> list[str]:
    words = []
    for theme in getattr(project.params.query, "themes", []) or []:
        word = theme if isinstance(theme, str) else getattr(theme, "text", None)
        if isinstance(word, str) and word:
            words.append(word)
    return words


def added_forms_caption(added: dict[str, list[str]]) -> str:
    from ...search.inflect import describe_added

    return f"활용형도 검색 · also searched, as inflected forms (query.expand_predicates): {describe_added(added)}"


def render(project: proj.Project) -> None:
    st.title("검색 · Search")
    st.caption(
        "주제어를 입력하면 Nori 분석 결과와 가장 가까운 문단을 보여 줍니다 · Nori-analysed theme search"
    )
    index_report = common.report(project, "index")
    if index_report is None and not project.layout.index_dir.exists():
        common.how_to_run("색인(data/index)이", "index")
        return
    themes = theme_words(project)
    if themes:
        st.caption("주제어 themes: " + " · ".join(themes))
    query = st.text_input("주제어 · theme word", value=themes[0] if themes else "", key="search_query")
    k = st.slider("문단 수 · passages", min_value=1, max_value=50, value=DEFAULT_K, key="search_k")
    if not query.strip():
        return
    from ...query import theme_hits

    index_params = project.params.index
    try:
        backend = _backend(str(project.root), index_params.model_dump_json(), index_params)
        tokens = backend.analyze(query)
        hits, added = theme_hits(backend, query, k, project.params.query)
    except SanchaekError as exc:
        st.error(str(exc))
        return
    finally:
        release_jvm_thread()
    st.subheader("Nori 토큰 · tokens")
    if tokens:
        st.dataframe(
            pd.DataFrame(
                [{"term": t.term, "품사 pos": t.pos, "start": t.start, "end": t.end} for t in tokens]
            ),
            hide_index=True,
        )
    else:
        st.caption("분석된 토큰이 없습니다 (모두 불용 품사) · no tokens survive the analysis")
    if added:
        st.caption(added_forms_caption(added))
    st.subheader(f"상위 문단 · top passages ({len(hits)})")
    if not hits:
        st.caption("일치하는 문단이 없습니다 · no passage matches")
    for rank, hit in enumerate(hits, start=1):
        title = getattr(hit, "title", "") or hit.doc_id
        source = getattr(hit, "source", "")
        st.markdown(
            f"**{rank}.** `{hit.passage_id}` · {title}{' · ' + source if source else ''} · score {hit.score:.3f}"
        )
        st.markdown(
            f"<blockquote>{common.highlight_html(hit.highlight or hit.text)}</blockquote>",
            unsafe_allow_html=True,
        )
