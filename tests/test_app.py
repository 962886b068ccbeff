"""Streamlit AppTest of every page: on a small finished project and in the empty state.

The finished project (tests/test_app_project.py) is a real git + DVC repo with two DVC
experiments; votes go to a real SQLite file; promote runs a real `dvc exp apply`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app_project import PASSAGES, copy_project, template_project

from sanchaek.app.main import PAGES
from sanchaek.app.views import training

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 60


@pytest.fixture
def project(tmp_path_factory, tmp_path, monkeypatch) -> Path:
    root = copy_project(template_project(tmp_path_factory), tmp_path / "proj")
    monkeypatch.setenv("SANCHAEK_ROOT", str(root))
    return root


def open_page(slug: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["page"] = slug
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything a reader sees as text on the page (markdown, captions, alerts, titles, metrics)."""
    parts = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "success",
        "error",
    ):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


@pytest.mark.parametrize("slug", list(PAGES))
def test_every_page_has_an_empty_state(slug, tmp_path, monkeypatch):
    monkeypatch.setenv("SANCHAEK_ROOT", str(tmp_path))
    at = open_page(slug)
    shown = texts(at)
    expected_title = "산책" if slug == "overview" else PAGES[slug][0].split(" · ")[0]
    assert at.title[0].value.startswith(expected_title)
    if slug == "overview":
        assert "make run" in shown and "not a DVC repository" in shown
    elif slug == "search":
        assert at.info  # no backend in this build, or no index yet: a hint, not a traceback
    else:
        assert "dvc repro" in shown


def test_broken_params_fall_back_to_defaults_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text("ratings: {confidence: 2}\n")
    monkeypatch.setenv("SANCHAEK_ROOT", str(tmp_path))
    at = open_page("overview")
    assert "ratings.confidence" in at.warning[0].value


def test_sidebar_switches_pages(project):
    at = open_page("overview")
    at.sidebar.radio(key="page").set_value("work").run()
    assert at.title[0].value.startswith("작품")
    assert at.query_params["page"] == ["work"] or at.query_params["page"] == "work"


def test_overview_shows_stage_status_and_headline_metrics(project):
    at = open_page("overview")
    status = at.dataframe[0].value
    assert list(status["단계 stage"]) == ["fake_train"]
    assert status["상태 status"].iloc[0] == "최신 up to date"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["KLUE-RE micro-F1"] == "0.42"
    assert metrics["색인 문단 indexed"] == "4"
    assert metrics["문단 passages"] == "4" and metrics["글자 characters"] == "141"
    assert "make run" not in texts(at)  # outputs exist: no how-to-run block


def test_overview_marks_a_changed_stage(project):
    (project / "gen.py").write_text((project / "gen.py").read_text() + "\n# edited\n")
    at = open_page("overview")
    row = at.dataframe[0].value.iloc[0]
    assert row["상태 status"] == "변경됨 changed" and "gen.py" in row["변경 내용 changes"]


def test_data_page_shows_criteria_drops_and_lengths(project):
    at = open_page("data")
    sources = at.dataframe[0].value
    assert list(sources["source"]) == ["corpus", "klue"]
    assert {"quality.lexical_diversity", "fit.modern_share", "quantity.documents"} <= set(sources.columns)
    drops = at.dataframe[1].value
    assert sorted(zip(drops["level"], drops["reason"], drops["dropped"], strict=True)) == [
        ("documents", "near_duplicate", 1),
        ("documents", "not_modern", 2),
        ("sentences", "too_short", 3),
        ("sentences", "toxic", 1),
    ]
    per_source = at.dataframe[2].value
    assert list(per_source["source"]) == ["corpus", "klue"] and list(per_source["sentences.out"]) == [9, 1]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["문단 passages"] == str(len(PASSAGES))
    assert at.get("vega_lite_chart")  # drop bars + length histogram


def _head(project: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()


def test_training_page_runs_table_comes_first_with_names_and_deltas(project):
    at = open_page("training")
    assert at.subheader[0].value.startswith("실행 비교 · Runs")
    table = at.dataframe[0].value
    baseline = f"main@{_head(project)}"
    assert list(table["run"]) == [baseline, "slow", "fast"]  # the workspace holds 'slow': not repeated
    assert "workspace" not in " ".join(table["run"])
    assert list(table.columns[:3]) == ["run", "state", "fixture.yaml:lr"]  # only the param that differs
    assert list(table.columns[3:5]) == ["eval:perplexity", "eval:re_micro_f1"]  # headline order
    assert "train/metrics:step" not in table.columns  # not a headline metric
    at.toggle(key="runs_all_metrics").set_value(True).run()
    assert "train/metrics:step" in at.dataframe[0].value.columns
    at.toggle(key="runs_delta").set_value(True).run()
    delta = at.dataframe[0].value.set_index("run")
    assert delta.at[baseline, "eval:perplexity"] == 0 and delta.at["fast", "eval:perplexity"] < 0
    # the workspace's metrics are named after the run they come from
    assert "Train metrics of `slow`" in texts(at)
    labels = [m.label for m in at.metric]
    assert "train.lr" not in labels and "최대 lr · peak lr (params train.lr)" in labels


def test_training_page_curves_default_to_baseline_and_experiments(project):
    at = open_page("training")
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 2  # the curves and the scatter
    spec = json.loads(charts[0].proto.spec)
    assert spec["title"] == "eval/loss" and spec["encoding"]["y"]["scale"]["zero"] is False  # auto y-range
    at.multiselect(key="curve_metrics").set_value(["eval/loss", "train/loss"]).run()
    spec = json.loads((at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))[0].proto.spec)
    assert spec["resolve"]["scale"]["y"] == "independent"  # a panel per metric, each its own y-range
    shown = texts(at)
    assert f"`main@{_head(project)}`" in shown and "`fast`" in shown and "`slow`" in shown
    at.toggle(key="curve_log").set_value(True).run()
    assert "a log scale needs values > 0; linear instead (fast reach 0 or less)" in texts(
        at
    )  # fast ends at 0
    assert training.curves_spec(True, ["eval/loss"])["encoding"]["y"]["scale"]["type"] == "log"
    assert at.selectbox(key="scatter_param").value == "fixture.yaml:lr"


def test_training_page_promotes_an_experiment(project):
    at = open_page("training")
    at.selectbox(key="promote_exp_training").set_value("fast").run()
    at.button(key="promote_btn_training").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "promoted 'fast'" in at.success[0].value
    assert "lr: 0.01" in (project / "fixture.yaml").read_text()


def test_samples_page_puts_experiments_side_by_side_with_proxies(project):
    at = open_page("samples")
    headers = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert {"#### fast", "#### slow"} <= set(headers)
    shown = texts(at)
    assert "빠른 산책" in shown and "느린 산책" in shown
    proxies = at.dataframe[-1].value
    assert "distinct_2" in set(proxies["proxy"])


def _vote_once(at: AppTest, winner: str, rater: str | None = "민지") -> AppTest:
    """Vote once; ``rater`` None: the rater is the logged-in user (no name box)."""
    if rater is not None and at.text_input(key="rater").value != rater:
        at.text_input(key="rater").input(rater).run()
    radios = [r for r in at.radio if r.key and r.key.startswith("score_")]
    assert len(radios) == 6  # three criteria for each side
    a_fluency = next(r for r in radios if r.key.endswith("_a_fluency"))
    a_fluency.set_value(4).run()
    at.button(key=f"vote_{winner}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def _db_votes(project: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(project / "data/ratings.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM votes").fetchall()
    finally:
        conn.close()


def test_rate_page_draws_no_pair_before_the_rater_is_known(project):
    at = open_page("rate")
    assert not [r for r in at.radio if r.key and r.key.startswith("score_")]
    assert "type your name to start" in texts(at)


def test_rate_page_is_blind_until_the_vote_then_stores_reveals_and_moves_on(project):
    at = open_page("rate")
    at.text_input(key="rater").input("민지").run()
    for name in ("fast", "slow", "main@"):
        assert name not in texts(at)  # names hidden before the vote
    assert at.get("progress")[0].proto.text.startswith("0 / 24")
    shown_before = texts(at)
    _vote_once(at, "a")
    rows = _db_votes(project)
    assert len(rows) == 1 and rows[0]["rater"] == "민지" and rows[0]["winner"] == "a"
    assert rows[0]["exp_a"] != rows[0]["exp_b"]
    assert f"A = {rows[0]['exp_a']}, B = {rows[0]['exp_b']}" in at.success[0].value  # revealed
    conn = sqlite3.connect(project / "data/ratings.sqlite")
    scores = conn.execute("SELECT side, criterion, score FROM scores").fetchall()
    conn.close()
    assert scores == [("a", "fluency", 4)]
    snapshot = [json.loads(line) for line in (project / "ratings/votes.jsonl").read_text().splitlines()]
    assert len(snapshot) == 1 and snapshot[0]["a"]["scores"] == {"fluency": 4}
    assert at.get("progress")[0].proto.text.startswith("1 / 24")  # the next pair is up
    assert texts(at) != shown_before
    summary = at.dataframe[-1].value
    assert set(summary["실험 experiment"]) == {rows[0]["exp_a"], rows[0]["exp_b"]}
    assert "None" not in summary.to_string()  # no scores for B: '—'


def test_rate_page_undo_shows_the_pair_again(project):
    at = _vote_once(open_page("rate"), "b")
    first = _db_votes(project)[0]
    assert first["text_a"] not in texts(at) or first["text_b"] not in texts(at)
    at.button(key="undo_vote").click().run()
    assert _db_votes(project) == []
    assert (project / "ratings/votes.jsonl").read_text() == ""
    shown = texts(at)
    assert "취소" in shown and first["text_a"] in shown and first["text_b"] in shown


def test_rater_finishes_the_queue_and_never_sees_a_pair_twice(project):
    at = open_page("rate")
    at.text_input(key="rater").input("민지").run()
    seen = set()
    for _ in range(24):
        left, right = (s for s in at.session_state["rate_pair"][1:])
        assert frozenset((left, right)) not in seen
        seen.add(frozenset((left, right)))
        at.button(key="vote_tie").click().run()
        assert not at.exception and not at.error
    assert "done: you judged all 24 pairs" in texts(at)
    assert at.get("progress")[0].proto.text.startswith("24 / 24")
    assert not [b for b in at.button if b.key == "vote_a"]  # nothing more to judge
    again = open_page("rate")  # a new session of the same rater: still done
    again.text_input(key="rater").input("민지").run()
    assert "done" in texts(again)


def test_flagged_sample_leaves_the_queue_and_the_ranking(project):
    at = open_page("rate")
    at.text_input(key="rater").input("민지").run()
    voted: set[str] = set()
    while not voted & set(at.session_state["rate_pair"][1:]):  # until a judged sample is on screen again
        voted |= set(at.session_state["rate_pair"][1:])
        at.button(key="vote_a").click().run()
    side = "a" if at.session_state["rate_pair"][1] in voted else "b"
    flagged = at.session_state["rate_pair"][1 if side == "a" else 2]
    with_it = sum(flagged in (v["sample_a"], v["sample_b"]) for v in _db_votes(project))
    at.text_input(key="flag_reason").input("글자가 깨짐").run()
    at.button(key=f"flag_{side}").click().run()
    assert "flagged" in at.warning[0].value
    flags = [json.loads(x) for x in (project / "ratings/flags.jsonl").read_text().splitlines()]
    assert [(f["sample_id"], f["reason"]) for f in flags] == [(flagged, "글자가 깨짐")]
    assert flagged not in at.session_state["rate_pair"][1:]
    shown = texts(at)
    assert "Flagged samples (1)" in shown
    assert f"{with_it} votes with a flagged sample left out" in shown and with_it >= 1


def test_ranking_with_every_vote_flagged_says_so_instead_of_failing(project):
    """One vote, then one of its samples flagged: no vote is left to rank (an empty table once raised
    KeyError on the rank column)."""
    from sanchaek.config import load_params
    from sanchaek.votes.samples import Sample
    from sanchaek.votes.store import RatingsStore

    at = open_page("rate")
    at = _vote_once(at, "a")
    voted = _db_votes(project)[0]
    store = RatingsStore.from_params(project, load_params(str(project / "params.yaml")).ratings)
    store.flag("민지", Sample(voted["sample_a"], "", "", "", "깨진 글"), "글자가 깨짐")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "no vote is left to rank once flagged samples are left out" in shown
    assert "1 votes with a flagged sample left out" in shown


def test_rate_page_undo_touches_only_my_votes(project):
    at = _vote_once(open_page("rate"), "a", rater="다른 사람")
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.query_params["page"] = "rate"
    other.run()
    other.text_input(key="rater").input("민지").run()
    assert other.button(key="undo_vote").disabled  # 민지 has no vote to undo
    assert len(_db_votes(project)) == 1
    del at


def test_rate_page_pairs_within_one_experiment(tmp_path, monkeypatch):
    (tmp_path / "reports").mkdir()
    lines = [
        {
            "prompt": "비가 내렸다",
            "theme": "비",
            "text": f"비가 내렸다. 그날 {i}번째 생각.",
            "experiment": "only",
        }
        for i in range(2)
    ]
    (tmp_path / "reports/samples.jsonl").write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
    )
    monkeypatch.setenv("SANCHAEK_ROOT", str(tmp_path))
    _vote_once(open_page("rate"), "tie")
    rows = _db_votes(tmp_path)
    assert len(rows) == 1 and rows[0]["exp_a"] == rows[0]["exp_b"] == "only" and rows[0]["winner"] == "tie"
    assert rows[0]["sample_a"] != rows[0]["sample_b"]


def test_work_page_shows_beats_candidates_and_provenance(project):
    at = open_page("work")
    subheaders = [s.value for s in at.subheader]
    assert subheaders == ["1. event · 죽음 · 강둑", "2. walk · 담대하다"]
    shown = texts(at)
    assert "`p1` · 강가에서" in shown and "`p3` · 골목" in shown
    # the prompt in its own grey box, the generated text apart from it
    prompt_box = next(m.value for m in at.markdown if "sanchaek-prompt" in m.value)
    assert ">오늘 엄마가</div>" in prompt_box
    assert any(m.value.endswith(">죽었다는 전보를 받았다.</div>") for m in at.markdown)
    assert "why this candidate: score 1.900 vs runner-up 1.200" in shown
    assert any("3 candidates" in e.label for e in at.expander)
    candidates = at.dataframe[0].value
    assert list(candidates["선택 chosen"]) == ["✓", "", ""]  # sorted by score, the winner first
    assert list(candidates["제외 disqualified"])[-1] == "empty"
    assert "+ theme_relevance" in candidates.columns
    assert "votes changed" not in shown


def test_work_page_says_when_votes_changed_since_composing(project):
    import os
    import time

    snapshot = project / "ratings/votes.jsonl"
    snapshot.write_text('{"placeholder": 1}\n')
    later = time.time() + 5
    os.utime(snapshot, (later, later))
    at = open_page("work")
    assert any("votes changed since this work was composed" in w.value for w in at.warning)


def search_page_for(theme: str):
    """The Search page after typing ``theme``, checked to have raised and shown no error."""
    at = open_page("search")
    at.text_input(key="search_query").input(theme).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_search_page_shows_nori_tokens_and_highlighted_passages(project):
    at = search_page_for("담대하다")
    tokens = at.dataframe[0].value
    assert list(tokens["term"]) == ["담대"]  # 담대하다 -> 담대 (+ the dropped ending)
    shown = texts(at)
    assert "<mark>담대</mark>" in shown
    assert "`p3`" in shown and "`p4`" in shown and "`p1`" not in shown
    at.text_input(key="search_query").input("죽음").run()
    assert "`p1`" in texts(at)  # 죽음 -> 죽 + 음 finds 죽었다
    assert "활용형" not in texts(at)  # a noun adds no inflected forms


def test_search_page_lists_the_inflected_forms_the_theme_added(project):
    shown = texts(search_page_for("듣다"))
    assert "`p5`" in shown and "들었다 → 듣" in shown  # 들었다 is read 듣, the theme alone 들


def test_search_page_follows_query_expand_predicates(project):
    params = project / "params.yaml"
    params.write_text(
        params.read_text(encoding="utf-8") + "query:\n  expand_predicates: false\n", encoding="utf-8"
    )
    shown = texts(search_page_for("듣다"))
    assert "`p5`" not in shown and "들었다" not in shown


def test_search_page_empty_query_is_a_hint_not_an_error(project):
    at = search_page_for("  ")
    assert "type a theme word" in at.info[0].value


def test_search_page_trims_an_over_long_query_with_a_note(project):
    long_query = " ".join(f"골목{i}" for i in range(900))  # about 4,500 characters
    at = search_page_for(long_query)
    assert "searched its first" in at.warning[0].value and "app.max_query_chars = 200" in at.warning[0].value


def test_search_page_turns_lucene_too_many_clauses_into_one_line(project):
    params = project / "params.yaml"
    # match: any ORs every analysed term (match: unit would plan phrases, which never reach the limit)
    extra = "app:\n  max_query_chars: 5000\nquery:\n  match: any\n"
    params.write_text(params.read_text(encoding="utf-8") + extra, encoding="utf-8")
    at = open_page("search")
    at.text_input(key="search_query").input(" ".join(f"산책{i}길" for i in range(700))).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "검색어의 낱말이 너무 많습니다 · the query has too many terms for Lucene (TooManyClauses): "
        "shorten it to a few words"
    ]


def test_search_page_full_passage_view_and_filters(project):
    at = search_page_for("담대하다")
    shown = texts(at)
    assert "골목 — 다른 작가 · 1948 · corpus" in shown
    cards = [dict(zip(t.value.index, t.value.iloc[:, 0], strict=True)) for t in at.table]
    card = next(c for c in cards if c["문서 document"] == "d2")
    assert (
        card["제목 title"] == "골목"
        and card["연도 year"] == "1948"
        and card["이용 허락 licence"] == "CC-BY-SA-4.0"
    )
    assert (
        "그는 담대한 얼굴로 문을 열었다. 아무도 없었다. 바람만 불었다. 골목 끝에서 옛 친구를 생각했다."
        in shown
    )
    at.multiselect(key="search_sources").set_value(["klue"]).run()
    shown = texts(at)
    assert "`p4`" in shown and "`p3`" not in shown and "filters apply to the top" in shown


def test_login_names_the_rater(project):
    from sanchaek.app.auth import check_password, hash_password

    assert not check_password("산책길", "not-a-hash") and not check_password("", "scrypt$1$2$3$x$y")

    params = project / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8") + "app:\n  auth: true\n", encoding="utf-8")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["sanchaek_users"] = {"민지": hash_password("산책길")}
    at.query_params["page"] = "rate"
    at.run()
    assert at.title[0].value.startswith("산책 · 로그인")
    assert not [b for b in at.button if b.key == "vote_a"]  # nothing behind the form
    at.text_input(key="login_name").input("민지")
    at.text_input(key="login_password").input("틀린 비밀번호")
    at.button[0].click().run()
    assert "wrong name or password" in at.error[0].value
    at.text_input(key="login_password").input("산책길")
    at.button[0].click().run()
    assert at.title[0].value.startswith("평가")
    assert not [t for t in at.text_input if t.key == "rater"]  # identity from the login, no text box
    _vote_once(at, "a", rater=None)
    assert _db_votes(project)[0]["rater"] == "민지"


def test_login_without_users_is_one_line_with_the_fix(project):
    params = project / "params.yaml"
    params.write_text(params.read_text(encoding="utf-8") + "app:\n  auth: true\n", encoding="utf-8")
    at = open_page("rate")
    assert "python -m sanchaek.app.auth NAME" in at.error[0].value


def test_a_slow_value_is_refreshed_in_the_background():
    import threading
    import time

    from sanchaek.app.views.common import Refreshing

    calls, release = [], threading.Event()

    def compute():
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)  # the refresh is slow
        return len(calls)

    value = Refreshing(compute)
    assert value.get(ttl=60) == 1  # the first read computes
    assert value.get(ttl=60) == 1 and len(calls) == 1  # fresh: no recompute
    started = time.monotonic()
    assert value.get(ttl=0) == 1  # stale: the old value at once, a refresh starts
    assert time.monotonic() - started < 1
    release.set()
    deadline = time.monotonic() + 5
    while value.get(ttl=60) != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert value.get(ttl=60) == 2


def test_results_show_rater_agreement_and_the_runs_table_the_human_win_rate(project):
    from sanchaek.config import load_params
    from sanchaek.ratings import export
    from sanchaek.votes.samples import candidate_pairs, collect_samples
    from sanchaek.votes.store import NewVote, RatingsStore

    params = load_params(project / "params.yaml").ratings
    store = RatingsStore.from_params(project, params)
    pairs = candidate_pairs(collect_samples(project, params), params.pair_within_experiment)[:4]
    for rater, winners in (("민지", "aabb"), ("준호", "abbb")):  # they agree on 3 of 4 pairs
        for (a, b), winner in zip(pairs, winners, strict=True):
            store.record(NewVote(rater, a, b, winner))
    export(project, params)
    at = open_page("rate")
    metric = next(m for m in at.metric if "rater agreement" in m.label)
    assert "Krippendorff" in metric.label and float(metric.value) < 1
    at = open_page("training")
    table = at.dataframe[0].value
    assert "human win rate" in table.columns and table["win-rate interval"].str.startswith("[").any()
