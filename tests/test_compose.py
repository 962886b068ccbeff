"""The compose stage: the plan is followed beat by beat, the same seed gives the same work, copied
passages are caught, and human ratings steer the choice of candidates."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_generate_support import HEARD, HEARD_ID, PASSAGES, build_index, make_project

from sanchaek.cli import cli
from sanchaek.compose import (
    Candidate,
    RatingPredictor,
    assert_no_copied_passages,
    cut_copies,
    first_sentence,
    pick,
    rated_texts,
    render_markdown,
    run_compose,
    trim_to_sentence,
)
from sanchaek.config import params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.paths import Layout
from sanchaek.proxies import OverlapIndex
from sanchaek.ratings import sample_id

PLAN = [
    {
        "type": "event",
        "theme": "죽음",
        "length": 14,
        "prompt": "아침에 전화가 왔다. 어머니가 돌아가셨다고 했다.",
    },
    {"type": "walk", "theme": "산책", "place": "골목", "length": 14, "prompt": "{place}으로 나섰다."},
    {
        "type": "recollection",
        "theme": "죽음",
        "place": "골목",
        "length": 14,
        "prompt": "이 {place}에서 어머니는 웃었다.",
    },
    {
        "type": "repetition",
        "theme": "죽음",
        "length": 14,
        "prompt": "{echo} 나는 다시 생각했다.",
        "echo_from": 0,
    },
]


def compose_params(**extra):
    return {
        "candidates": 3,
        "context_tokens": 48,
        "retrieval_k": 2,
        "lorebook_chars": 40,
        "plan": PLAN,
        **extra,
    }


@pytest.fixture()
def project(tiny_lm_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    make_project(tmp_path, tiny_lm_dir, compose=compose_params())
    return tmp_path


def _run(root):
    result = CliRunner().invoke(cli, ["compose"])
    assert result.exit_code == 0, result.output
    return json.loads((root / "reports/work.json").read_text(encoding="utf-8"))


def test_plan_followed_beat_by_beat_and_same_seed_same_work(project):
    work = _run(project)
    md = (project / "reports/work.md").read_text(encoding="utf-8")
    again = _run(project)
    assert again == work and (project / "reports/work.md").read_text(encoding="utf-8") == md

    beats = work["beats"]
    assert [b["type"] for b in beats] == ["event", "walk", "recollection", "repetition"]
    assert [b["cue"] for b in beats[:3]] == [
        PLAN[0]["prompt"],
        "골목으로 나섰다.",
        "이 골목에서 어머니는 웃었다.",
    ]
    # the repetition beat brings back the first sentence of beat 0, with repetition allowed
    assert (
        beats[3]["echo"] == "아침에 전화가 왔다."
        and beats[3]["cue"] == "아침에 전화가 왔다. 나는 다시 생각했다."
    )
    assert (
        beats[3]["sampling"]["repetition_penalty"] == 1.0
        and beats[3]["sampling"]["no_repeat_ngram_size"] == 0
    )
    assert (
        beats[0]["sampling"]["repetition_penalty"] == 1.2
        and beats[0]["sampling"]["no_repeat_ngram_size"] == 3
    )
    assert beats[3]["weights"]["echo"] == 1.0 and beats[3]["weights"]["repeated_ngram_rate"] == 0.0
    assert beats[0]["weights"]["reuse"] < 0
    assert len({b["seed"] for b in beats}) == 4
    for b in beats:
        assert b["sampling"]["max_new_tokens"] == 14
        assert b["retrieved"] and all(r["passage_id"].startswith("p") for r in b["retrieved"])
        assert len(b["candidates"]) == 3 and b["reason"]
        best = max(c["score"] for c in b["candidates"] if not c["disqualified"])
        assert b["candidates"][b["chosen"]]["score"] == best
        assert b["text"].startswith(b["cue"]) and b["text"].endswith(b["continuation"])
        # the window the model saw ends with this beat's cue (the lorebook is recorded by id only)
        assert b["prompt"].endswith(b["cue"]) and not any(p[:40] in b["prompt"] for p in PASSAGES)
    # beat 2 saw a window on the text of the beats before it (48 tokens: the end of beat 0, all of beat 1)
    window = beats[2]["prompt"][: -len(beats[2]["cue"])].strip()
    assert beats[1]["text"] in window and (beats[0]["text"] + "\n\n" + beats[1]["text"]).endswith(window)
    # work.md: title, a heading per beat, texts in plan order
    assert md.startswith("# 산책\n")
    positions = [md.index(h) for h in ("## 1. 사건", "## 2. 걷기 — 골목", "## 3. 회상 — 골목", "## 4. 반복")]
    assert positions == sorted(positions)
    assert [md.index(b["text"]) for b in beats] == sorted(md.index(b["text"]) for b in beats)
    assert work["seed"] == 1234 and work["experiment"] == "workspace" and work["ratings_used"] == 0


def test_other_seed_other_work(project, tiny_lm_dir):
    first = _run(project)
    make_project(project, tiny_lm_dir, compose=compose_params(seed=99))
    second = _run(project)
    assert [b["continuation"] for b in first["beats"]] != [b["continuation"] for b in second["beats"]]


def test_candidate_copying_training_text_is_disqualified(project, tiny_lm_dir):
    # A tiny random model writes short candidates: take the first seed whose first beat has one of
    # at least the copy limit (8 characters), preferring the winner among the longest.
    for seed in range(1234, 1244):
        make_project(project, tiny_lm_dir, compose=compose_params(max_copy_chars=8, seed=seed))
        beat = _run(project)["beats"][0]
        index, target = max(
            enumerate(beat["candidates"]), key=lambda ic: (len(ic[1]["text"]), ic[0] == beat["chosen"])
        )
        if len(target["text"]) >= 8:
            break
    assert len(target["text"]) >= 8 and not target["disqualified"]
    # plant it in the training split: the same candidates come back, and it may not win
    make_project(
        project,
        tiny_lm_dir,
        train_texts=[*PASSAGES[:6], "앞에 " + target["text"] + " 뒤에"],
        compose=compose_params(max_copy_chars=8, seed=seed),
    )
    again = _run(project)["beats"][0]
    assert [c["text"] for c in again["candidates"]] == [c["text"] for c in beat["candidates"]]
    planted = again["candidates"][index]
    assert planted["disqualified"].startswith(f"shares {len(target['text'])} characters")
    assert again["continuation"] != target["text"]
    if index == beat["chosen"]:
        assert (
            "disqualified for copying" in again["reason"] or "cut before its copied span" in again["reason"]
        )


@pytest.mark.parametrize("expand", [True, False])
def test_a_dictionary_form_beat_theme_finds_its_inflections_as_in_the_query_stage(
    tiny_lm_dir, tmp_path, expand
):
    plan = [{"type": "event", "theme": "듣다", "length": 4, "prompt": "비가 왔다."}]
    params = make_project(
        tmp_path,
        tiny_lm_dir,
        compose=compose_params(plan=plan, candidates=1, lorebook_chars=0),
        query={"expand_predicates": expand},
    )
    build_index(tmp_path, [*PASSAGES, HEARD])
    work = run_compose(params, Layout(tmp_path))
    retrieved = [r["passage_id"] for r in work["beats"][0]["retrieved"]]
    assert retrieved == ([HEARD_ID] if expand else [])  # 들었다 is read 듣, the theme alone 들


def test_copy_guard_pieces():
    source = "그날 강둑에서 우리는 아무 말도 하지 않고 오래 서 있었다."
    index = OverlapIndex([source], k=6)
    text = "나는 걸었다. 바람이 불었다. 그날 강둑에서 우리는 아무 말도 하지 않고 오래 서 있었다. 끝."
    assert cut_copies(text, [index], 10) == "나는 걸었다. 바람이 불었다."
    assert cut_copies("전혀 다른 이야기.", [index], 10) == "전혀 다른 이야기."
    cands = [
        Candidate(
            "a", 1, {}, score=5.0, disqualified="shares 40 characters with a source passage (limit 30)"
        ),
        Candidate("b", 1, {}, score=1.0),
        Candidate("c", 1, {}, score=1.0),
    ]
    assert pick(cands) == 1  # the best qualified; a tie goes to the earlier one

    class Beat:  # the two attributes the check reads
        index = 0
        continuation = "새 문장. " + source

    with pytest.raises(AssertionError, match=f"repeats {len(source)} characters of a retrieved passage"):
        assert_no_copied_passages([Beat()], [index], 30)


def test_sentence_helpers():
    assert first_sentence("아침에 전화가 왔다. 어머니가 돌아가셨다.", 40) == "아침에 전화가 왔다."
    assert first_sentence("끝나지 않는 문장", 4) == "끝나지"
    assert trim_to_sentence("그는 웃었다. 그리고 문을") == "그는 웃었다."
    assert trim_to_sentence("마침표 없는 말") == "마침표 없는 말"
    assert trim_to_sentence('"가자!" 그가 말했다. 나는') == '"가자!" 그가 말했다.'


def test_rated_texts_and_predictor_exact():
    samples = [
        {"experiment": "workspace", "prompt": "p", "text": "골목은 조용했다"},
        {"experiment": "exp-1", "prompt": "p", "text": "시장은 시끄러웠다"},
        {"experiment": "exp-1", "prompt": "p", "text": "평가 없는 글"},
    ]
    ratings = {
        "score_max": 5,
        "samples": {
            sample_id("workspace", "p", "골목은 조용했다"): {
                "scores": {"fluency": 5, "literariness": 4, "theme_fit": None},
                "wins": 2,
                "losses": 0,
                "ties": 0,
            },
            sample_id("exp-1", "p", "시장은 시끄러웠다"): {"scores": {}, "wins": 1, "losses": 2, "ties": 1},
            "0000000000000000": {"scores": {"fluency": 1}},  # a sample whose text we do not have
        },
    }
    rated = rated_texts(ratings, samples)
    assert sorted(rated, key=lambda r: r[0]) == [("골목은 조용했다", 0.875), ("시장은 시끄러웠다", 0.375)]
    predictor = RatingPredictor(rated, neighbours=5)
    assert predictor.predict("골목은 조용했다") == pytest.approx(0.875)  # no bigram shared with the other
    assert predictor.predict("하늘") is None  # resembles nothing rated


def test_human_ratings_steer_the_choice(project, tiny_lm_dir):
    beat = _run(project)["beats"][1]
    loser = next(i for i in range(3) if i != beat["chosen"])
    liked, disliked = beat["candidates"][loser]["text"], beat["candidates"][beat["chosen"]]["text"]
    assert liked and disliked and liked != disliked
    (project / "reports/samples.jsonl").write_text(
        "".join(
            json.dumps({"experiment": "workspace", "prompt": "q", "text": t}, ensure_ascii=False) + "\n"
            for t in (liked, disliked)
        ),
        encoding="utf-8",
    )
    (project / "reports/ratings.json").write_text(
        json.dumps(
            {
                "score_max": 5,
                "samples": {
                    sample_id("workspace", "q", liked): {"scores": {"fluency": 5}},
                    sample_id("workspace", "q", disliked): {"scores": {"fluency": 1}},
                },
            }
        ),
        encoding="utf-8",
    )
    make_project(project, tiny_lm_dir, compose=compose_params(scoring={"rating": 50.0}))
    work = _run(project)
    assert work["ratings_used"] == 2
    steered = work["beats"][1]
    assert steered["candidates"][steered["chosen"]]["text"] == liked
    assert (
        steered["candidates"][steered["chosen"]]["features"]["rating"]
        > steered["candidates"][beat["chosen"]]["features"]["rating"]
    )


def test_markdown_without_headings_uses_breaks():
    work = {
        "title": "산책",
        "model": "m",
        "experiment": "workspace",
        "seed": 1,
        "beats": [
            {"index": 0, "type": "event", "place": "", "text": "첫 문장."},
            {"index": 1, "type": "walk", "place": "다리", "text": "둘째 문장."},
        ],
    }
    assert "첫 문장.\n\n* * *\n\n둘째 문장." in render_markdown(work, headings=False)
    assert "## 2. 걷기 — 다리" in render_markdown(work, headings=True)


def test_bad_plans_fail_with_one_line():
    with pytest.raises(
        SanchaekError, match=r"compose.plan.0.type = 'dream' is invalid: allowed: 'event', 'narration'"
    ) as err:
        params_from_dict({"compose": {"plan": [{"type": "dream", "theme": "꿈", "prompt": "꿈을 꾸었다."}]}})
    assert "\n" not in str(err.value)
    with pytest.raises(SanchaekError, match=r"unknown template field \{city\}; allowed: place, theme, echo"):
        params_from_dict(
            {"compose": {"plan": [{"type": "walk", "theme": "산책", "prompt": "{city}를 걸었다."}]}}
        )
    with pytest.raises(SanchaekError, match=r"uses \{echo\} but echo_from is not set"):
        params_from_dict({"compose": {"plan": [{"type": "repetition", "theme": "죽음", "prompt": "{echo}"}]}})
    with pytest.raises(SanchaekError, match=r"echo_from = 0 must name an earlier beat"):
        params_from_dict(
            {
                "compose": {
                    "plan": [{"type": "repetition", "theme": "죽음", "prompt": "{echo}", "echo_from": 0}]
                }
            }
        )


def test_missing_index_or_model_fail_with_one_line(tiny_lm_dir, tmp_path):
    params = params_from_dict({"index": {"backend": "embedded"}, "generate": {"model": str(tiny_lm_dir)}})
    with pytest.raises(SanchaekError, match=r"not found: run `sanchaek index`"):
        run_compose(params, Layout(tmp_path))
    params = make_project(tmp_path, tmp_path / "missing-model")
    with pytest.raises(SanchaekError, match=r"missing-model not found: run `sanchaek train"):
        run_compose(params, Layout(tmp_path))
