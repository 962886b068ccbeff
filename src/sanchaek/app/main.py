"""The app's frame: project root, page choice (sidebar, mirrored in ?page=), and the chosen page.

The project root is $SANCHAEK_ROOT or the working directory (``make app`` runs from the repo).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from . import auth
from .project import Project, open_project
from .views import data_page, overview, rate, samples_page, search_page, training, work

# slug (the ?page= value) -> (label, renderer)
PAGES: dict[str, tuple[str, Callable[[Project], None]]] = {
    "overview": ("개요 · Overview", overview.render),
    "data": ("데이터 · Data", data_page.render),
    "search": ("검색 · Search", search_page.render),
    "training": ("학습 · Training", training.render),
    "samples": ("샘플 · Samples", samples_page.render),
    "rate": ("평가 · Rate", rate.render),
    "work": ("작품 · Work", work.render),
}


def project_root() -> Path:
    return Path(os.environ.get("SANCHAEK_ROOT") or os.getcwd()).resolve()


def choose_page() -> str:
    slugs = list(PAGES)
    if "page" not in st.session_state:
        wanted = st.query_params.get("page", slugs[0])
        st.session_state["page"] = wanted if wanted in PAGES else slugs[0]
    slug = st.sidebar.radio("페이지 · page", slugs, format_func=lambda s: PAGES[s][0], key="page")
    st.query_params["page"] = slug
    return slug


def require_login(project: Project) -> None:
    """With ``app.auth``: a login form until the user is known (the page is not drawn before)."""
    if not project.params.app.auth:
        return
    state = st.session_state
    if state.get(auth.SESSION_KEY):
        st.sidebar.caption(f"로그인 logged in: **{state[auth.SESSION_KEY]}**")
        if st.sidebar.button("로그아웃 · log out", key="logout"):
            del state[auth.SESSION_KEY]
            st.rerun()
        return
    users = auth.users_from(st.secrets)
    st.title("산책 · 로그인 log in")
    if not users:
        st.error(
            f"app.auth is on but .streamlit/secrets.toml has no [{auth.SECTION}] table: "
            "add a user with `python -m sanchaek.app.auth NAME`, or set app.auth: false"
        )
        st.stop()
    with st.form("login"):
        name = st.text_input("이름 · name", key="login_name")
        password = st.text_input("비밀번호 · password", type="password", key="login_password")
        submitted = st.form_submit_button("로그인 · log in")
    if submitted:
        user = auth.login(users, name, password)
        if user:
            state[auth.SESSION_KEY] = user
            st.rerun()
        st.error("이름이나 비밀번호가 틀렸습니다 · wrong name or password")
    st.stop()


def main() -> None:
    st.set_page_config(page_title="산책 sanchaek", page_icon="🚶", layout="wide")
    root = project_root()
    project = open_project(root)
    require_login(project)
    slug = choose_page()
    st.sidebar.caption(f"프로젝트 project: `{root}`")
    PAGES[slug][1](project)
