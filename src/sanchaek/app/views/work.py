"""Work: the composed walking novel, beat by beat, each with its prompt and provenance passages."""

from __future__ import annotations

import streamlit as st

from .. import project as proj
from . import common

SNIPPET_CHARS = 160


def render(project: proj.Project) -> None:
    st.title("작품 · Work")
    work = common.report(project, "work")
    md_path = project.root / "reports" / "work.md"
    if work is None and not md_path.exists():
        common.how_to_run("작품(reports/work.md, work.json)이", "compose")
        return
    meta = {
        k: v for k, v in (work or {}).items() if isinstance(work, dict) and not isinstance(v, (list, dict))
    }
    if meta:
        st.caption(" · ".join(f"{k}: {v}" for k, v in meta.items()))
    if md_path.exists():
        with st.expander("전체 원고 · full text (work.md)", expanded=work is None):
            st.markdown(md_path.read_text(encoding="utf-8", errors="replace"))
    beats = proj.beats(work)
    if not beats:
        return
    wanted = {pid for b in beats for pid in proj.beat_passage_ids(b)}
    passages = proj.passages_by_id(project.layout.passages, wanted)
    for number, beat in enumerate(beats, start=1):
        kind = proj.pick(beat, "type", "kind", default="")
        theme = proj.pick(beat, "theme", default="")
        place = proj.pick(beat, "place", default="")
        st.subheader(f"{number}. {kind}" + "".join(f" · {x}" for x in (theme, place) if x))
        st.markdown(common.text_block(proj.beat_text(beat)), unsafe_allow_html=True)
        with st.expander("프롬프트와 출처 · prompt & provenance"):
            prompt = proj.pick(beat, "prompt", default="")
            if prompt:
                st.markdown("**프롬프트 prompt**")
                st.code(
                    prompt if isinstance(prompt, str) else common.as_cell(prompt),
                    language=None,
                    wrap_lines=True,
                )
            ids = proj.beat_passage_ids(beat)
            if ids:
                st.markdown("**참고 문단 provenance**")
                for pid in ids:
                    p = passages.get(pid)
                    if p is None:
                        st.markdown(f"- `{pid}`")
                    else:
                        snippet = (p.get("text") or "")[:SNIPPET_CHARS]
                        st.markdown(
                            f"- `{pid}` · {p.get('title', '')} ({p.get('author', '')}, {p.get('source', '')}): {snippet}…"
                        )
            why = proj.pick(beat, "why", "reason", "chosen_because", default=None)
            if why:
                st.markdown(f"**선택 이유 why chosen**: {common.as_cell(why)}")
            candidates = proj.pick(beat, "candidates", default=None)
            if isinstance(candidates, list) and candidates:
                st.caption(f"후보 {len(candidates)}개 · {len(candidates)} candidates")
