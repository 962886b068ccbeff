"""The 'promote' control shared by the Rate and Training pages: dvc exp apply an experiment."""

from __future__ import annotations

import streamlit as st

from ...errors import SanchaekError
from ...ratings import promote
from .. import project as proj
from . import common


def render(project: proj.Project, key: str, best: str | None = None) -> None:
    st.subheader("모델 승격 · Promote")
    rows, why = common.exp_rows(project)
    names = [r.name for r in rows if r.kind == "experiment"]
    if not names:
        st.caption(f"승격할 실험이 없습니다 · no experiments to promote{': ' + why if why else ''}")
        return
    index = names.index(best) if best in names else 0
    chosen = st.selectbox("실험 · experiment", names, index=index, key=f"promote_exp_{key}")
    st.caption(
        "`dvc exp apply`: 그 실험의 파라미터와 모델을 작업 공간으로 가져와 generate/compose가 쓰게 합니다."
    )
    if st.button("이 실험으로 승격 · promote", key=f"promote_btn_{key}"):
        try:
            st.success(promote(project.root, chosen, project.params.ratings))
            st.cache_data.clear()
        except SanchaekError as exc:
            st.error(str(exc))
