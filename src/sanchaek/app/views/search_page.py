"""Search: a theme word -> its Nori tokens and the top passages, through the pipeline's own backend.

The theme is searched as the query stage searches it (``search_theme_text``): with
``query.expand_predicates`` a dictionary-form predicate (듣다) also finds its inflections (들었다), and
the page lists the forms that were added, so the user sees why a passage without the word was found.
No query shows a traceback: an empty one gets a hint, an over-long one is cut to
``app.max_query_chars`` with a note, and one the engine refuses (Lucene's TooManyClauses, a parse
error) gets one line naming the cause and the fix.

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
from .. import catalog
from .. import project as proj
from . import common

DEFAULT_K = 10
FILTER_FETCH = 10  # with a source/genre filter, this many times k hits are fetched, then filtered


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


def trim_query(query: str, limit: int) -> tuple[str, str]:
    """(the query to search, a note when it was cut): at most ``limit`` characters, cut at a space."""
    query = " ".join(query.split())
    if len(query) <= limit:
        return query, ""
    cut = query[:limit]
    if " " in cut and query[limit] != " ":
        cut = cut[: cut.rfind(" ")]
    note = (
        f"검색어가 {len(query):,}자로 길어 앞 {len(cut):,}자만 검색했습니다 · the query has {len(query):,} "
        f"characters: searched its first {len(cut):,} (app.max_query_chars = {limit})"
    )
    return cut, note


def search_failure(exc: BaseException) -> str:
    """One line for a query the engine refused (a Java exception arrives as a JPype proxy)."""
    kind = type(exc).__name__
    first = (str(exc).strip().splitlines() or [""])[0]
    if "TooManyClauses" in kind or "TooManyClauses" in first or "too many clauses" in first.lower():
        return (
            "검색어의 낱말이 너무 많습니다 · the query has too many terms for Lucene (TooManyClauses): "
            "shorten it to a few words"
        )
    if "Parse" in kind or "parse" in first.lower():
        return f"검색어를 해석할 수 없습니다 · the engine cannot parse the query ({kind}): remove special characters"
    detail = first if len(first) <= 160 else first[:160] + "…"
    return (
        f"검색하지 못했습니다 · the search failed ({kind}: {detail}): simplify the query or rebuild the index"
    )


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
    corpus = common.passages(project)
    query = st.text_input("주제어 · theme word", value=themes[0] if themes else "", key="search_query")
    cols = st.columns([2, 2, 1])
    sources = cols[0].multiselect("출처 · source", corpus.sources, key="search_sources")
    genres = cols[1].multiselect("장르 · genre", corpus.genres, key="search_genres")
    k = cols[2].number_input("문단 수 · passages", min_value=1, max_value=50, value=DEFAULT_K, key="search_k")
    query, note = trim_query(query, project.params.app.max_query_chars)
    if not query:
        st.info("검색어를 입력하세요 (예: 산책, 죽음) · type a theme word to search")
        return
    if note:
        st.warning(note)
    fetch = int(k) * (FILTER_FETCH if sources or genres else 1)
    found = _search(project, query, fetch)
    if found is None:
        return
    tokens, hits, added = found
    _tokens(tokens, added)
    hits = [h for h in hits if _keep(h, corpus, sources, genres)][: int(k)]
    _hits(project, corpus, hits, filtered=bool(sources or genres), fetched=fetch)


def _search(project: proj.Project, query: str, k: int):
    """(tokens, hits, added forms), or None after showing why the engine refused the query."""
    index_params = project.params.index
    stamp = common.stamp(project.root / proj.REPORTS["index"])  # a rebuilt index is searched afresh
    try:
        return _cached_search(
            str(project.root), index_params.model_dump_json(), project.params.query.model_dump_json(),
            query, k, stamp, index_params, project.params.query,
        )  # fmt: skip
    except SanchaekError as exc:
        st.error(str(exc))
    except Exception as exc:  # the engine's own errors (Java exceptions through JPype, HTTP errors)
        st.error(search_failure(exc))
    finally:
        release_jvm_thread()
    return None


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_search(root: str, index_json: str, query_json: str, query: str, k: int, stamp, _index, _query):
    # Keyed on the params' JSON and the index report's stamp; the same theme on a page switch is
    # not searched again. Errors are raised, never cached.
    from ...search.theme_query import theme_hits

    backend = _backend(root, index_json, _index)
    tokens = backend.analyze(query)
    hits, added = theme_hits(backend, query, k, _query)
    return tokens, hits, added


def _keep(hit, corpus: catalog.PassageCatalog, sources: list[str], genres: list[str]) -> bool:
    passage = corpus.by_id.get(hit.passage_id, {})
    source = getattr(hit, "source", "") or passage.get("source", "")
    genre = getattr(hit, "genre", "") or passage.get("genre", "")
    return (not sources or source in sources) and (not genres or genre in genres)


def _tokens(tokens, added) -> None:
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


def _hits(project: proj.Project, corpus, hits: list, filtered: bool, fetched: int) -> None:
    st.subheader(f"상위 문단 · top passages ({len(hits)})")
    if filtered:
        st.caption(
            f"출처·장르 필터는 상위 {fetched}개 결과에 적용됩니다 · filters apply to the top {fetched} hits"
        )
    if not hits:
        st.caption("일치하는 문단이 없습니다 · no passage matches")
        return
    documents = common.documents(project) if project.layout.documents.exists() else {}
    for rank, hit in enumerate(hits, start=1):
        passage = corpus.by_id.get(hit.passage_id) or {}
        card = catalog.passage_card(
            {"title": getattr(hit, "title", ""), "source": getattr(hit, "source", ""), **passage},
            documents.get(str(passage.get("doc_id") or hit.doc_id)),
        )
        byline = " · ".join(
            v for v in (card["작가 author"], card["연도 year"], card["출처 source"]) if v != "—"
        )
        st.markdown(
            f"**{rank}.** {card['제목 title']}{' — ' + byline if byline else ''} · `{hit.passage_id}` · score {hit.score:.3f}"
        )
        reason = getattr(hit, "reason", None)
        if reason:
            st.caption(f"일치 이유 · why it matched: {common.as_cell(reason)}")
        st.markdown(
            f"<blockquote>{common.highlight_html(hit.highlight or hit.text)}</blockquote>",
            unsafe_allow_html=True,
        )
        with st.expander(f"전문 보기 · full passage `{hit.passage_id}`"):
            st.markdown(common.text_block(passage.get("text") or hit.text), unsafe_allow_html=True)
            st.table(pd.DataFrame({"": list(card.values())}, index=list(card.keys())))
