"""Ratings: SQLite store (WAL, migrations, concurrent raters), aggregation, export stage, promote."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sanchaek.config import RatingsParams, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.ratings import aggregate, bradley_terry, export, preference_pairs, promote, wilson_interval
from sanchaek.votes.agreement import rater_agreement
from sanchaek.votes.queue import pair_key, rater_queue
from sanchaek.votes.samples import Sample, candidate_pairs, sample_id, why_not_offered
from sanchaek.votes.store import MIGRATIONS, SCHEMA_VERSION, NewVote, RatingsStore

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def make_sample(experiment: str, text: str, prompt: str = "오늘 엄마가", theme: str = "죽음") -> Sample:
    return Sample(sample_id(experiment, prompt, text), experiment, prompt, theme, text)


def make_store(tmp_path: Path, **overrides) -> RatingsStore:
    params = RatingsParams(**overrides)
    return RatingsStore(
        tmp_path / "data/ratings.sqlite",
        tmp_path / "ratings/votes.jsonl",
        tmp_path / "ratings/flags.jsonl",
        params,
    )


A1 = make_sample("fast", "오늘 엄마가 죽었다. 나는 걸었다.")
B1 = make_sample("slow", "오늘 엄마가 죽었다고 들었다. 강이 흘렀다.")
A2 = make_sample("fast", "오늘 엄마가 전화를 했다.")


# ---- store ----------------------------------------------------------------------------------------


def test_new_database_is_wal_and_at_latest_schema(tmp_path):
    store = make_store(tmp_path)
    assert store.votes() == []
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    conn.close()


def test_migration_from_version_1_keeps_votes(tmp_path):
    db = tmp_path / "data/ratings.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    MIGRATIONS[0](conn)  # a database written by the first release: votes, no scores table
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO votes (created_at, rater, prompt, theme, sample_a, exp_a, text_a, sample_b, exp_b, text_b, winner)"
        " VALUES ('2026-01-01T00:00:00Z', '지은', ?, '죽음', ?, 'fast', ?, ?, 'slow', ?, 'a')",
        (A1.prompt, A1.sample_id, A1.text, B1.sample_id, B1.text),
    )
    conn.commit()
    conn.close()
    store = make_store(tmp_path)
    votes = store.votes()
    assert len(votes) == 1 and votes[0]["rater"] == "지은" and votes[0]["a"]["scores"] == {}
    store.record(NewVote("지은", A1, B1, "b", {"a": {"fluency": 2}}))  # the v2 table works
    assert store.votes()[1]["a"]["scores"] == {"fluency": 2}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_newer_schema_is_refused_with_one_line(tmp_path):
    db = tmp_path / "data/ratings.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SanchaekError, match="newer than this sanchaek"):
        make_store(tmp_path).votes()


def test_record_validates_input(tmp_path):
    store = make_store(tmp_path, allow_ties=False)
    cases = [
        (NewVote("  ", A1, B1, "a"), "rater name is empty"),
        (NewVote("x" * 65, A1, B1, "a"), "longer than"),
        (NewVote("민지", A1, B1, "tie"), "winner 'tie' is not allowed"),
        (NewVote("민지", A1, A1, "a"), "cannot be compared with itself"),
        (NewVote("민지", A1, make_sample("slow", "x", prompt="다른"), "a"), "different prompts"),
        (NewVote("민지", A1, B1, "a", {"a": {"fluency": 6}}), "out of range"),
        (NewVote("민지", A1, B1, "a", {"a": {"beauty": 3}}), "criterion 'beauty' is unknown"),
        (NewVote("민지", A1, B1, "a", {"c": {"fluency": 3}}), "side 'c'"),
    ]
    for vote, message in cases:
        with pytest.raises(SanchaekError, match=message):
            store.record(vote)
    assert store.votes() == []


def test_snapshot_follows_every_write_and_undo_is_per_rater(tmp_path):
    store = make_store(tmp_path)
    first = store.record(NewVote("민지", A1, B1, "a", {"a": {"fluency": 5}, "b": {"theme_fit": 2}}))
    store.record(NewVote("지은", B1, A1, "b"))
    store.record(NewVote("민지", A2, B1, "tie"))
    lines = (tmp_path / "ratings/votes.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [first, first + 1, first + 2]
    assert json.loads(lines[0])["b"]["scores"] == {"theme_fit": 2}
    undone = store.undo_last("민지")
    assert undone["winner"] == "tie" and undone["a"]["sample_id"] == A2.sample_id
    assert store.last_vote("민지")["id"] == first
    assert [v["rater"] for v in store.votes()] == ["민지", "지은"]
    assert len((tmp_path / "ratings/votes.jsonl").read_text().splitlines()) == 2
    assert store.undo_last("아무개") is None


def test_new_database_imports_the_committed_snapshot(tmp_path):
    store = make_store(tmp_path)
    store.record(NewVote("민지", A1, B1, "a", {"a": {"literariness": 4}}))
    snapshot = (tmp_path / "ratings/votes.jsonl").read_text()
    for f in (tmp_path / "data").iterdir():
        f.unlink()  # a fresh clone: the database is gone, the snapshot is committed
    again = make_store(tmp_path)
    assert again.votes() == make_store(tmp_path).votes()
    assert again.votes()[0]["a"]["scores"] == {"literariness": 4}
    again.record(NewVote("지은", A1, B1, "b"))  # new votes continue after the imported ones
    lines = (tmp_path / "ratings/votes.jsonl").read_text().splitlines()
    assert lines[0] == snapshot.splitlines()[0] and len(lines) == 2


def _rater_process(root: str, rater: str, n: int, start: multiprocessing.synchronize.Event) -> None:
    store = make_store(Path(root), busy_timeout_s=30)
    start.wait()
    for i in range(n):
        a = make_sample("fast", f"{rater} {i} 가")
        b = make_sample("slow", f"{rater} {i} 나")
        store.record(NewVote(rater, a, b, "a" if i % 2 else "b", {"a": {"fluency": 1 + i % 5}}))


def test_no_vote_is_lost_under_concurrent_raters(tmp_path):
    # spawn, not fork: a test process may host a JVM (search tests), which does not survive fork.
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    n, raters = 30, ["민지", "지은", "서준"]
    procs = [ctx.Process(target=_rater_process, args=(str(tmp_path), r, n, start)) for r in raters]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    votes = make_store(tmp_path).votes()
    assert len(votes) == n * len(raters)
    assert {v["rater"] for v in votes} == set(raters)
    snapshot = [json.loads(x) for x in (tmp_path / "ratings/votes.jsonl").read_text().splitlines()]
    assert snapshot == votes  # the last writer's snapshot holds every vote


# ---- statistics ------------------------------------------------------------------------------------


def test_wilson_interval_hand_values():
    low, high = wilson_interval(8, 10, 0.95)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0, 0.95) == (0.0, 1.0)
    low, high = wilson_interval(0, 5, 0.95)
    assert low == 0.0 and 0 < high < 0.5


def test_bradley_terry_two_players_closed_form():
    # MLE: p_A / p_B = wins_A / wins_B
    assert bradley_terry({("A", "B"): 3, ("B", "A"): 1}, 0, 10_000, 1e-12) == pytest.approx(
        {"A": 0.75, "B": 0.25}
    )
    # prior 0.5 = half a win each way: (3.25, 1.25)
    assert bradley_terry({("A", "B"): 3, ("B", "A"): 1}, 0.5, 10_000, 1e-12)["A"] == pytest.approx(3.25 / 4.5)


def test_bradley_terry_satisfies_the_likelihood_equations():
    wins = {("A", "B"): 2, ("B", "A"): 1, ("B", "C"): 2, ("C", "B"): 1, ("C", "A"): 1, ("A", "C"): 1}
    p = bradley_terry(wins, 0, 100_000, 1e-14)
    assert sum(p.values()) == pytest.approx(1)
    for i in "ABC":
        won = sum(w for (x, _), w in wins.items() if x == i)
        expected = sum(
            (wins.get((i, j), 0) + wins.get((j, i), 0)) * p[i] / (p[i] + p[j]) for j in "ABC" if j != i
        )
        assert won == pytest.approx(expected, rel=1e-8)
    assert p["A"] > p["C"] and p["B"] > p["C"]


def test_bradley_terry_prior_keeps_an_unbeaten_player_finite():
    p = bradley_terry({("A", "B"): 5}, 0.5, 10_000, 1e-12)
    assert 0 < p["B"] < p["A"] < 1 and all(math.isfinite(v) for v in p.values())
    assert bradley_terry({}, 0.5, 10, 1e-6) == {}


def _vote(i, a: Sample, b: Sample, winner: str, rater="민지", scores=None) -> dict:
    return {
        "id": i,
        "created_at": "t",
        "rater": rater,
        "prompt": a.prompt,
        "theme": a.theme,
        "a": {
            "sample_id": a.sample_id,
            "experiment": a.experiment,
            "text": a.text,
            "scores": (scores or {}).get("a", {}),
        },
        "b": {
            "sample_id": b.sample_id,
            "experiment": b.experiment,
            "text": b.text,
            "scores": (scores or {}).get("b", {}),
        },
        "winner": winner,
    }


def test_aggregate_hand_case():
    params = RatingsParams(bt_prior=0, min_comparisons=4)
    votes = [
        _vote(1, A1, B1, "a", scores={"a": {"fluency": 5, "theme_fit": 4}, "b": {"fluency": 3}}),
        _vote(2, B1, A1, "b", rater="지은", scores={"b": {"fluency": 4}}),
        _vote(3, A2, B1, "a"),
        _vote(4, A1, B1, "tie"),
        _vote(5, A1, A2, "a"),  # within one experiment: a preference pair, not a comparison of experiments
    ]
    out = aggregate(votes, params)
    fast, slow = out["experiments"]["fast"], out["experiments"]["slow"]
    assert (fast["wins"], fast["losses"], fast["ties"], fast["comparisons"]) == (3, 0, 1, 4)
    assert fast["win_rate"] == pytest.approx(3.5 / 4) and slow["win_rate"] == pytest.approx(0.5 / 4)
    low, high = wilson_interval(3.5, 4, 0.95)
    assert fast["win_rate_low"] == pytest.approx(low, abs=1e-4) and fast["win_rate_high"] == pytest.approx(
        high, abs=1e-4
    )
    assert fast["bt_strength"] == pytest.approx(3.5 / 4, abs=1e-5)  # two players: ratio of (half-tie) wins
    assert fast["scores"] == {"fluency": 4.5, "literariness": None, "theme_fit": 4.0}
    assert fast["score_counts"]["fluency"] == 2
    assert out["ranking"] == ["fast", "slow"] and out["best_experiment"] == "fast"
    assert (out["n_votes"], out["n_raters"], out["n_prompts"]) == (5, 2, 1)
    assert out["samples"][A1.sample_id]["wins"] == 3  # votes 1, 2 and 5
    assert aggregate(votes, RatingsParams(min_comparisons=5))["best_experiment"] is None


def test_preference_pairs_skip_ties():
    votes = [_vote(1, A1, B1, "b"), _vote(2, A1, B1, "tie"), _vote(3, A2, A1, "a")]
    pairs = preference_pairs(votes)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [(B1.text, A1.text), (A2.text, A1.text)]
    assert pairs[0]["prompt"] == A1.prompt and pairs[0]["chosen_experiment"] == "slow"


def test_pairs_prefer_other_experiments():
    c = make_sample("fast", "혼자 다른 프롬프트", prompt="다른 프롬프트")
    d = make_sample("fast", "또 다른 글", prompt="다른 프롬프트")
    pairs = candidate_pairs([A1, A2, B1, c, d], within_experiment=True)
    as_sets = {frozenset((x.sample_id, y.sample_id)) for x, y in pairs}
    # prompt 1 has two experiments: only cross pairs; prompt 2 has one: its two samples
    assert as_sets == {
        frozenset((A1.sample_id, B1.sample_id)),
        frozenset((A2.sample_id, B1.sample_id)),
        frozenset((c.sample_id, d.sample_id)),
    }
    assert len(candidate_pairs([A1, A2, B1, c, d], within_experiment=False)) == 2


def test_rater_queue_never_repeats_a_judged_pair_and_ends_done(tmp_path):
    store = make_store(tmp_path)
    c = make_sample("fast", "혼자 다른 프롬프트", prompt="다른 프롬프트")
    d = make_sample("slow", "또 다른 글", prompt="다른 프롬프트")
    pairs = candidate_pairs([A1, A2, B1, c, d], within_experiment=True)
    queue = rater_queue(pairs, store.votes(), "민지")
    assert (queue.judged, queue.total, queue.done) == (0, 3, False)
    seen = []
    while not queue.done:
        a, b = queue.pending[0]
        seen.append(pair_key(a.sample_id, b.sample_id))
        store.record(NewVote("민지", a, b, "a"))
        queue = rater_queue(pairs, store.votes(), " 민지 ")  # whitespace does not make another rater
    assert len(set(seen)) == len(seen) == 3 and queue.judged == queue.total == 3
    other = rater_queue(pairs, store.votes(), "준호")  # another rater has the whole queue
    assert (other.judged, len(other.pending)) == (0, 3)


def test_skipped_pairs_go_last_and_flagged_samples_leave_every_queue(tmp_path):
    store = make_store(tmp_path)
    c = make_sample("fast", "혼자 다른 프롬프트", prompt="다른 프롬프트")
    d = make_sample("slow", "또 다른 글", prompt="다른 프롬프트")
    pairs = candidate_pairs([A1, A2, B1, c, d], within_experiment=True)
    first = rater_queue(pairs, [], "민지").pending[0]
    store.skip("민지", *first)
    queue = rater_queue(pairs, [], "민지", skipped=store.skipped("민지"))
    assert queue.pending[-1] == first and queue.skipped == 1 and queue.fresh == 2
    assert store.skipped("준호") == set()
    assert store.flag("준호", B1, "깨진 글자") and not store.flag("민지", B1)  # one flag per sample
    flagged = {f["sample_id"] for f in store.flags()}
    queue = rater_queue(pairs, [], "민지", flagged=flagged)
    assert queue.total == 1 and all(B1 not in p for p in queue.pending)
    lines = [json.loads(x) for x in (tmp_path / "ratings/flags.jsonl").read_text().splitlines()]
    assert [(f["sample_id"], f["rater"], f["reason"]) for f in lines] == [(B1.sample_id, "준호", "깨진 글자")]
    assert store.unflag(B1.sample_id) and (tmp_path / "ratings/flags.jsonl").read_text() == ""


def test_a_flagged_sample_leaves_bradley_terry_and_the_preference_pairs(tmp_path):
    store = make_store(tmp_path, min_comparisons=1)
    for _ in range(3):
        store.record(NewVote("민지", A1, B1, "a"))  # fast beats slow with A1 ...
    store.record(NewVote("민지", A2, B1, "b"))  # ... and loses with A2
    store.flag("민지", A1, "문장이 끊김")
    report = export(tmp_path, store.params)
    assert report["n_votes"] == 1 and report["n_votes_flagged"] == 3
    assert report["best_experiment"] == "slow" and report["experiments"]["slow"]["wins"] == 1
    assert [f["sample_id"] for f in report["flagged"]] == [A1.sample_id]
    assert A1.sample_id not in report["samples"]
    assert report["preference_pairs"] == 1


def test_degenerate_samples_are_not_offered():
    params = RatingsParams(min_sample_chars=10, min_distinct_chars=4)
    assert why_not_offered(make_sample("x", "가"), params).startswith("too short")
    assert why_not_offered(make_sample("x", "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ"), params).startswith("degenerate")
    assert why_not_offered(A1, params) == ""


def test_krippendorff_alpha_against_hand_values():
    # Two raters, four pairs. Outcomes in canonical order (0 first better, 1 tie, 2 second better):
    # rater x: 0 0 2 1, rater y: 0 0 2 2. Ordinal alpha by hand (Krippendorff 2011, "Computing
    # Krippendorff's alpha-reliability", ordinal metric): coincidences o00=4, o22=2, o12=o21=1; n0=4, n1=1, n2=3;
    # ordinal distances d01=(4/2+1/2)^2=6.25, d02=(4/2+1+3/2)^2=20.25, d12=(1/2+3/2)^2=4;
    # D_o = 2*1*4/8 = 1 ; D_e = 2*(4*1*6.25 + 4*3*20.25 + 1*3*4)/(8*7) = 10.0 ; alpha = 1 - 1/10 = 0.9.
    samples = [(make_sample("p", f"글 {i} 첫째", prompt=f"p{i}"), make_sample("q", f"글 {i} 둘째", prompt=f"p{i}"))
               for i in range(4)]  # fmt: skip

    def vote(rater, pair, outcome):
        a, b = sorted(pair, key=lambda s: s.sample_id)
        winner = {0: "a", 1: "tie", 2: "b"}[outcome]
        return {
            "rater": rater,
            "a": {"sample_id": a.sample_id},
            "b": {"sample_id": b.sample_id},
            "winner": winner,
        }

    votes = [vote("x", p, o) for p, o in zip(samples, (0, 0, 2, 1), strict=True)]
    votes += [vote("y", p, o) for p, o in zip(samples, (0, 0, 2, 2), strict=True)]
    result = rater_agreement(votes)
    assert (result.units, result.raters) == (4, 2)
    assert result.alpha == pytest.approx(0.9, abs=1e-4)
    assert rater_agreement(votes[:4]).why == "no pair was judged by two raters yet"
    same = [vote("x", samples[0], 0), vote("y", samples[0], 0)]
    assert rater_agreement(same).alpha is None


# ---- export stage and CLI ---------------------------------------------------------------------------


def test_export_with_no_database_and_no_snapshot(tmp_path):
    report = export(tmp_path, RatingsParams())
    assert report["n_votes"] == 0 and report["best_experiment"] is None and report["experiments"] == {}
    assert json.loads((tmp_path / "reports/ratings.json").read_text())["preference_pairs"] == 0
    assert (tmp_path / "data/processed/preferences.jsonl").read_text() == ""


def test_export_refuses_when_snapshot_is_lost_but_votes_exist(tmp_path):
    store = make_store(tmp_path)
    store.record(NewVote("민지", A1, B1, "a"))
    (tmp_path / "ratings/votes.jsonl").unlink()
    with pytest.raises(SanchaekError, match="sanchaek ratings snapshot"):
        export(tmp_path, RatingsParams())


def test_cli_export_and_snapshot(tmp_path, monkeypatch):
    from sanchaek.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("ratings:\n  min_comparisons: 1\n")
    store = make_store(tmp_path)
    store.record(NewVote("민지", A1, B1, "a"))
    (tmp_path / "ratings/votes.jsonl").unlink()
    runner = CliRunner()
    result = runner.invoke(cli, ["ratings", "snapshot"])
    assert result.exit_code == 0, result.output
    assert "1 votes" in result.output
    result = runner.invoke(cli, ["ratings", "export"])
    assert result.exit_code == 0, result.output
    assert "best experiment: fast" in result.output
    pairs = [json.loads(x) for x in (tmp_path / "data/processed/preferences.jsonl").read_text().splitlines()]
    assert pairs[0]["chosen"] == A1.text and pairs[0]["rejected"] == B1.text


def _sh(args, cwd, **kw):
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=120, **kw)


def test_dvc_stage_runs_on_a_fresh_clone_and_only_reruns_when_votes_change(tmp_path):
    """The repo's own `ratings` stage block, in a scratch DVC repo: no DB yet, then a vote."""
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["ratings"]
    params = yaml.safe_load((REPO / "params.yaml").read_text())["ratings"]
    params_from_dict({"ratings": params})  # the repo's section is valid
    for dep in stage["deps"]:
        if dep.startswith("src/"):  # the stage's code deps, copied so the scratch repo can hash them
            (tmp_path / dep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / dep, tmp_path / dep)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ratings": params}, allow_unicode=True))
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"ratings": stage}}, allow_unicode=True))
    for key in ("snapshot_path", "flags_path"):  # as committed: empty
        (tmp_path / params[key]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / params[key]).write_text("")
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        assert _sh(cmd, tmp_path).returncode == 0
    first = _sh(["dvc", "repro"], tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    assert json.loads((tmp_path / "reports/ratings.json").read_text())["n_votes"] == 0
    second = _sh(["dvc", "repro"], tmp_path)
    assert (
        second.returncode == 0 and "didn't change" in second.stdout and "Running stage" not in second.stdout
    )
    store = RatingsStore.from_params(tmp_path, RatingsParams(**params))
    store.record(NewVote("민지", A1, B1, "b"))
    status = json.loads(_sh(["dvc", "status", "--json"], tmp_path).stdout)
    assert "ratings" in status
    third = _sh(["dvc", "repro"], tmp_path)
    assert third.returncode == 0 and "Running stage 'ratings'" in third.stdout
    assert json.loads((tmp_path / "reports/ratings.json").read_text())["experiments"]["slow"]["wins"] == 1


def test_promote_errors_are_one_clear_line(tmp_path):
    with pytest.raises(SanchaekError, match="ratings report .* not found"):
        promote(tmp_path, None, RatingsParams())
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/ratings.json").write_text(json.dumps({"best_experiment": None}))
    with pytest.raises(SanchaekError, match="names no best experiment"):
        promote(tmp_path, None, RatingsParams())
    with pytest.raises(SanchaekError, match=r"experiment 'nope' not found \(known: none\)"):
        promote(tmp_path, "nope", RatingsParams())


def test_promote_applies_the_best_experiment_and_keeps_the_snapshot(tmp_path_factory, tmp_path):
    from test_app_project import copy_project, template_project

    root = copy_project(template_project(tmp_path_factory), tmp_path / "proj")
    params = RatingsParams(min_comparisons=1)
    store = RatingsStore.from_params(root, params)
    fast = make_sample("fast", "빠른 글")
    slow = make_sample("slow", "느린 글")
    store.record(NewVote("민지", fast, slow, "a"))
    store.flag("민지", make_sample("fast", "깨진 글"), "반복")
    export(root, params)
    message = promote(root, None, params)
    assert "promoted 'fast'" in message
    assert "lr: 0.01" in (root / "fixture.yaml").read_text()
    assert len((root / "ratings/votes.jsonl").read_text().splitlines()) == 1  # not reverted to the exp's copy
    assert len((root / "ratings/flags.jsonl").read_text().splitlines()) == 1
    with pytest.raises(SanchaekError, match=r"'main@abc1234' is a commit's baseline.*git checkout abc1234"):
        promote(root, "main@abc1234", params)
    with pytest.raises(SanchaekError, match=r"known: fast, slow"):
        promote(root, "fastest", params)


def test_collect_samples_pools_experiments_with_ids_joinable_from_the_records(tmp_path_factory, tmp_path):
    from test_app_project import copy_project, template_project

    from sanchaek.votes.samples import collect_samples

    root = copy_project(template_project(tmp_path_factory), tmp_path / "proj")
    samples = collect_samples(root, RatingsParams())
    by_exp = {}
    for s in samples:
        by_exp.setdefault(s.experiment, []).append(s)
        # what compose does: recompute the id from the samples.jsonl record alone
        assert s.sample_id == sample_id(
            s.record.get("experiment") or "workspace", s.record["prompt"], s.record["text"]
        )
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout
    # the baseline ran outside an experiment (its records say 'workspace'): named after its commit
    assert sorted(by_exp) == ["fast", f"main@{head[:7]}", "slow"]
    assert all(len(v) == 4 for v in by_exp.values())  # 2 prompts x 2 samples, workspace copy deduplicated
    assert len({(s.prompt, s.text) for s in samples}) == len(samples)
    assert collect_samples(root, RatingsParams(include_experiment_samples=False)) == by_exp["slow"]
