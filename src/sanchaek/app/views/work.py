"""Work: the composed walking novel, beat by beat: the prompt set apart from the generated text, the
candidates with their scores and why the winner won, the provenance passages, and a notice when
votes or params changed since the work was composed."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .. import project as proj
from . import common

SNIPPET_CHARS = 160
CANDIDATE_CHARS = 80


def render(project: proj.Project) -> None:
    st.title("작품 · Work")
    work = common.report(project, "work")
    md_path = project.root / "reports" / "work.md"
    if work is None and not md_path.exists():
        common.how_to_run("작품(reports/work.md, work.json)이", "compose")
        return
    _staleness(project)
    meta = {
        k: v for k, v in (work or {}).items() if isinstance(work, dict) and not isinstance(v, (list, dict))
    }
    if meta:
        st.caption(
            f"실행 run: `{common.workspace_run(project)}` · "
            + " · ".join(f"{k}: {v}" for k, v in meta.items())
        )
    if md_path.exists():
        with st.expander("전체 원고 · full text (work.md)", expanded=work is None):
            st.markdown(md_path.read_text(encoding="utf-8", errors="replace"))
    beats = proj.beats(work)
    if not beats:
        return
    wanted = {pid for b in beats for pid in proj.beat_passage_ids(b)}
    passages = common.passages(project).by_id
    for number, beat in enumerate(beats, start=1):
        _beat(number, beat, {pid: passages[pid] for pid in wanted if pid in passages})


def _staleness(project: proj.Project) -> None:
    """Warn when `dvc repro compose` would compose something else: new votes or changed params."""
    work_path = project.root / proj.REPORTS["work"]
    snapshot = project.root / project.params.ratings.snapshot_path
    try:
        newer_votes = snapshot.stat().st_mtime > work_path.stat().st_mtime and snapshot.stat().st_size > 0
    except OSError:
        newer_votes = False
    if newer_votes:
        st.warning(
            "이 작품을 지은 뒤 새 투표가 있습니다 · votes changed since this work was composed: "
            "`dvc repro ratings compose` lets them steer the choice of candidates"
        )
    rows, _ = common.dvc_status(project)
    for row in rows:
        if row.stage == "compose" and row.up_to_date is False:
            st.warning(
                f"작품이 최신이 아닙니다 · compose is out of date ({row.changes}): run `dvc repro compose`"
            )


def _beat(number: int, beat: dict, passages: dict[str, dict]) -> None:
    kind = proj.pick(beat, "type", "kind", default="")
    theme = proj.pick(beat, "theme", default="")
    place = proj.pick(beat, "place", default="")
    st.subheader(f"{number}. {kind}" + "".join(f" · {x}" for x in (theme, place) if x))
    prompt = proj.pick(beat, "prompt", default="")
    prompt = prompt if isinstance(prompt, str) else common.as_cell(prompt)
    text = proj.beat_text(beat)
    generated = proj.pick(beat, "continuation", default=None)
    if not isinstance(generated, str):
        generated = text[len(prompt) :] if prompt and text.startswith(prompt) else text
    if prompt:
        st.markdown(common.prompt_block(prompt), unsafe_allow_html=True)
    st.markdown(
        common.text_block(generated.lstrip()), unsafe_allow_html=True
    )  # its own block: no joining space
    why = proj.pick(beat, "reason", "why", "chosen_because", default=None)
    if why:
        st.caption(f"선택 이유 · why this candidate: {common.as_cell(why)}")
    _candidates(beat)
    _provenance(beat, passages)


def _candidates(beat: dict) -> None:
    candidates = proj.pick(beat, "candidates", default=None)
    if not isinstance(candidates, list) or not candidates:
        return
    chosen = beat.get("chosen")
    with st.expander(f"후보 {len(candidates)}개 · {len(candidates)} candidates"):
        rows = []
        for i, cand in enumerate(c for c in candidates if isinstance(c, dict)):
            row = {
                "#": i,
                "선택 chosen": "✓" if i == chosen else "",
                "점수 score": cand.get("score"),
                "제외 disqualified": cand.get("disqualified") or "",
                "글 text": " ".join(str(cand.get("text") or "").split())[:CANDIDATE_CHARS] or "(빈 글 empty)",
            }
            for feature, value in (cand.get("contributions") or {}).items():
                row[f"+ {feature}"] = value
            rows.append(row)
        table = pd.DataFrame(rows).sort_values("점수 score", ascending=False, na_position="last")
        st.dataframe(table, hide_index=True, width="stretch")
        weights = beat.get("weights")
        if isinstance(weights, dict):
            st.caption(
                "점수 = Σ 가중치 × 특징 · score = Σ weight × feature: "
                + ", ".join(f"{k} {v:+g}" for k, v in weights.items() if isinstance(v, (int, float)))
            )


def _provenance(beat: dict, passages: dict[str, dict]) -> None:
    ids = proj.beat_passage_ids(beat)
    if not ids:
        return
    with st.expander("참고 문단 · provenance"):
        for pid in ids:
            p = passages.get(pid)
            if p is None:
                st.markdown(f"- `{pid}`")
            else:
                snippet = (p.get("text") or "")[:SNIPPET_CHARS]
                st.markdown(
                    f"- `{pid}` · {p.get('title', '')} ({p.get('author', '')}, {p.get('source', '')}): {snippet}…"
                )
