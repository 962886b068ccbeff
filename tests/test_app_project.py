"""A small finished sanchaek project in a temp dir (for the app and browser tests) + the app's readers.

``build_finished_project(root)`` writes every output the app reads per the DESIGN contracts, as a
real git + DVC repo with two real DVC experiments (``fast`` and ``slow``) whose committed outputs
(dvclive TSVs, samples) differ, so overlays and cross-experiment rating pairs are real.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sanchaek import repo
from sanchaek.app import project as proj
from sanchaek.app import runs as runs_mod
from sanchaek.app.catalog import load_passages

VENV_BIN = Path(sys.executable).parent
PROMPTS = [
    ("죽음", "오늘 엄마가 죽었다. 아니 어쩌면"),
    ("담대하다", "그는 담대한 얼굴로 골목에 들어섰다."),
]

# The fake "train" stage: writes what train/evaluate/generate would, shaped by one param (lr).
GEN_SCRIPT = r"""
import json, os, yaml
lr = yaml.safe_load(open("fixture.yaml"))["lr"]
tag = {0.001: "기본", 0.01: "빠른", 0.0001: "느린"}.get(lr, str(lr))
os.makedirs("reports/train/plots/metrics/train", exist_ok=True)
os.makedirs("reports/train/plots/metrics/eval", exist_ok=True)
loss = [round(4.0 - step * lr * 100, 4) for step in range(5)]
with open("reports/train/plots/metrics/train/loss.tsv", "w") as f:
    f.write("step\tloss\n" + "".join(f"{s}\t{v}\n" for s, v in enumerate(loss)))
with open("reports/train/plots/metrics/eval/loss.tsv", "w") as f:
    f.write("step\tloss\n" + "".join(f"{s}\t{v + 0.2}\n" for s, v in enumerate(loss)))
json.dump({"train": {"loss": loss[-1]}, "eval": {"loss": loss[-1] + 0.2}, "step": 4},
          open("reports/train/metrics.json", "w"))
json.dump({"loss": loss[-1] + 0.2, "perplexity": round(2.718 ** (loss[-1] + 0.2), 3),
           "token_accuracy": 0.31, "re_micro_f1": 0.42, "re_auprc": 0.37, "re_split": "validation"},
          open("reports/eval.json", "w"), ensure_ascii=False)
prompts = PROMPTS
with open("reports/samples.jsonl", "w") as f:
    for theme, prompt in prompts:
        for k in range(2):
            text = f"{prompt} {tag} 산책 {k}번째: 나는 강둑을 따라 걸으며 그날을 다시 생각했다."
            exp = os.environ.get("DVC_EXP_NAME") or "workspace"  # as the generate stage records it
            f.write(json.dumps({"prompt": prompt, "theme": theme, "text": text, "model": "models/lm", "experiment": exp,
                                "params": {"temperature": 0.9, "top_p": 0.95, "seed": k},
                                "proxies": {"distinct_2": 0.8 + k / 100, "repetition": 0.05, "copy_rate": 0.0,
                                            "theme_relevance": 0.5}}, ensure_ascii=False) + "\n")
""".replace("PROMPTS", repr(PROMPTS))

DVC_YAML = """stages:
  fake_train:
    cmd: python gen.py
    deps: [gen.py]
    params:
      - fixture.yaml:
          - lr
    outs:
      - reports/samples.jsonl:
          cache: false
    metrics:
      - reports/train/metrics.json:
          cache: false
      - reports/eval.json:
          cache: false
    plots:
      - reports/train/plots/metrics:
          x: step
          cache: false
"""

PASSAGES = [
    {
        "passage_id": "p1",
        "doc_id": "d1",
        "source": "corpus",
        "genre": "소설",
        "title": "강가에서",
        "author": "가상 작가",
        "text": "오늘 엄마가 죽었다. 아니 어쩌면 어제였는지도 모르겠다. 나는 강가를 걸었다.",
        "n_sentences": 3,
    },
    {
        "passage_id": "p2",
        "doc_id": "d1",
        "source": "corpus",
        "genre": "소설",
        "title": "강가에서",
        "author": "가상 작가",
        "text": "죽음은 멀리 있지 않았다. 늘 곁에서 함께 걸었다.",
        "n_sentences": 2,
    },
    {
        "passage_id": "p3",
        "doc_id": "d2",
        "source": "corpus",
        "genre": "수필",
        "title": "골목",
        "author": "다른 작가",
        "text": "그는 담대한 얼굴로 문을 열었다. 아무도 없었다. 바람만 불었다. 골목 끝에서 옛 친구를 생각했다.",
        "n_sentences": 4,
    },
    {
        "passage_id": "p4",
        "doc_id": "d3",
        "source": "klue",
        "genre": "일반",
        "title": "일상",
        "author": "",
        "text": "담대하게 말하려 했지만 목소리가 떨렸다.",
        "n_sentences": 1,
    },
    {  # found for the theme 듣다 only by its expansion (Nori reads 듣다 as 들, 들었다 as 듣)
        "passage_id": "p5",
        "doc_id": "d3",
        "source": "klue",
        "genre": "일반",
        "title": "일상",
        "author": "",
        "text": "밤새 창밖의 빗소리를 들었다.",
        "n_sentences": 1,
    },
]

# documents.jsonl as preprocess writes it (metadata the passages do not carry: year, licence, URL)
DOCUMENTS = [
    {"id": "d1", "source": "corpus", "title": "강가에서", "author": "가상 작가", "genre": "소설",
     "published": "1936-05-01", "license": "public-domain", "url": "https://example.org/d1", "text": "…"},
    {"id": "d2", "source": "corpus", "title": "골목", "author": "다른 작가", "genre": "수필",
     "published": "1948", "license": "CC-BY-SA-4.0", "url": None, "text": "…"},
    {"id": "d3", "source": "klue", "title": "일상", "author": "", "genre": "일반",
     "published": None, "license": "CC-BY-SA-4.0", "url": None, "text": "…"},
]  # fmt: skip

STATIC_REPORTS = {
    "reports/crawl.json": {"sources": {"corpus": {"documents": 3, "skipped": 0}}, "seconds": 0.2},
    # the shape the preprocess stage writes: per counting level, each with drops and per-source counts
    "reports/preprocess.json": {
        "documents": {
            "in": 7,
            "out": 4,
            "dropped": {"near_duplicate": 1, "not_modern": 2},
            "per_source": {"corpus": {"in": 5, "out": 3}, "klue": {"in": 2, "out": 1}},
        },
        "sentences": {
            "in": 14,
            "out": 10,
            "dropped": {"too_short": 3, "toxic": 1},
            "per_source": {"corpus": {"in": 10, "out": 9}, "klue": {"in": 4, "out": 1}},
        },
        "passages": {
            "in": 4,
            "out": 4,
            "dropped": {},
            "per_source": {"corpus": {"in": 3, "out": 3}, "klue": {"in": 1, "out": 1}},
        },
        "characters_out": 141,
        "splitter": {"kind": "hybrid"},
    },
    "reports/sources.json": {
        "sources": {
            "corpus": {
                "quality": {"mean_sentence_chars": 21.5, "lexical_diversity": 0.71, "drop_share": 0.4},
                "fit": {"modern_share": 0.9, "hanja_ratio": 0.01},
                "quantity": {"documents": 3, "characters": 120},
            },
            "klue": {
                "quality": {"mean_sentence_chars": 18.0, "lexical_diversity": 0.65, "drop_share": 0.33},
                "fit": {"modern_share": 1.0, "hanja_ratio": 0.0},
                "quantity": {"documents": 1, "characters": 21},
            },
        }
    },
    "reports/index.json": {"backend": "embedded", "analyzer": "nori", "docs": 4, "seconds": 0.5},
    "reports/query.json": {
        "themes": {"죽음": {"hits": 2, "examples": ["p1"]}, "담대하다": {"hits": 2}},
        "coverage": 0.75,
    },
    "reports/generate.json": {"samples": 4, "distinct_2": 0.805, "repetition": 0.05},
    "reports/work.json": {
        "model": "models/lm",
        "seed": 1234,
        "beats": [
            {
                "type": "event",
                "theme": "죽음",
                "prompt": "오늘 엄마가",
                "text": "오늘 엄마가 죽었다는 전보를 받았다.",
                "place": "강둑",
                "passage_ids": ["p1", "p2"],
                "weights": {"distinct_2": 1.0, "theme_relevance": 1.0},
                "candidates": [  # the shape compose writes
                    {
                        "text": "엄마가 웃었다.",
                        "score": 1.2,
                        "disqualified": "",
                        "contributions": {"distinct_2": 1.0, "theme_relevance": 0.2},
                    },
                    {
                        "text": "죽었다는 전보를 받았다.",
                        "score": 1.9,
                        "disqualified": "",
                        "contributions": {"distinct_2": 0.9, "theme_relevance": 1.0},
                    },
                    {"text": "", "score": 0.0, "disqualified": "empty", "contributions": {}},
                ],
                "chosen": 1,
                "reason": "score 1.900 vs runner-up 1.200 (theme_relevance +0.800)",
            },
            {
                "type": "walk",
                "theme": "담대하다",
                "prompt": "나는 걸었다",
                "text": "나는 다리를 건너 골목으로 걸었다.",
                "retrieved": [{"passage_id": "p3", "score": 2.1}],
            },
        ],
    },
}
WORK_MD = "# 산책\n\n오늘 엄마가 죽었다는 전보를 받았다.\n\n나는 다리를 건너 골목으로 걸었다.\n"

PARAMS_YAML = """# only the app's section: other sections take their defaults
ratings:
  db_path: data/ratings.sqlite
  snapshot_path: ratings/votes.jsonl
  min_comparisons: 1
  dvc_cache_ttl_s: 600
"""


# Build the search index the way the index stage does, in a child process so that the JVM never
# starts in the test process (the concurrency tests spawn processes; a JVM does not survive a fork).
INDEX_SCRIPT = """
import json, sys
from pathlib import Path
from sanchaek.config import params_from_dict
from sanchaek.paths import Layout
from sanchaek.search import open_backend
root = Path(sys.argv[1])
passages = [json.loads(x) for x in (root / "data/interim/passages.jsonl").read_text().splitlines()]
backend = open_backend(params_from_dict({}).index, Layout(root), env={})
try:
    print(backend.index(passages))
finally:
    backend.close()
"""


def _run(args: list[str], cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, env=env, timeout=120)


def write_static_outputs(root: Path) -> None:
    for rel, obj in STATIC_REPORTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    (root / "reports/work.md").write_text(WORK_MD, encoding="utf-8")
    passages = root / "data/interim/passages.jsonl"
    passages.parent.mkdir(parents=True, exist_ok=True)
    passages.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PASSAGES), encoding="utf-8")
    documents = root / "data/interim/documents.jsonl"
    documents.write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCUMENTS), encoding="utf-8"
    )


def build_finished_project(root: Path) -> Path:
    """git + dvc repo: baseline run committed, experiments 'fast' (lr 0.01) and 'slow' (lr 0.0001)."""
    root.mkdir(parents=True, exist_ok=True)
    _run(["git", "init", "-q", "-b", "main"], root)
    _run(["git", "config", "user.email", "test@example.com"], root)
    _run(["git", "config", "user.name", "tester"], root)
    _run(["dvc", "init", "-q"], root)
    (root / "gen.py").write_text(GEN_SCRIPT, encoding="utf-8")
    (root / "fixture.yaml").write_text("lr: 0.001\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "ratings").mkdir()
    (root / "ratings/votes.jsonl").write_text("")
    (root / ".gitignore").write_text("/data/\n")
    write_static_outputs(root)
    _run([sys.executable, "-c", INDEX_SCRIPT, str(root)], root)
    _run(["dvc", "repro", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-q", "-m", "baseline"], root)
    _run(["dvc", "exp", "run", "-q", "-S", "fixture.yaml:lr=0.01", "-n", "fast"], root)
    _run(["dvc", "exp", "run", "-q", "-S", "fixture.yaml:lr=0.0001", "-n", "slow"], root)
    return root


def template_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finished project, built once per test session (shared by modules that import this)."""
    root = tmp_path_factory.getbasetemp() / "finished_template"
    done = root / ".built"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        build_finished_project(root)
        done.write_text("ok")
    return root


def copy_project(template: Path, dest: Path) -> Path:
    """A private copy (votes and promotions must not leak between tests)."""
    shutil.copytree(template, dest, symlinks=True)
    (dest / ".built").unlink()
    return dest


@pytest.fixture(scope="session")
def finished_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_project(tmp_path_factory)


# ---- tests of the app's readers on that project ----------------------------------------------------


def test_exp_show_lists_workspace_baseline_and_both_experiments(finished_template: Path):
    rows, why = repo.exp_show(finished_template, 60)
    assert why == ""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=finished_template, capture_output=True, text=True)
    baseline = f"main@{head.stdout[:7]}"
    kinds = {r.name: r.kind for r in rows}
    assert kinds == {
        "workspace": "workspace",
        baseline: "baseline",
        "fast": "experiment",
        "slow": "experiment",
    }
    fast = next(r for r in rows if r.name == "fast")
    assert fast.params["fixture.yaml:lr"] == 0.01 and fast.baseline == baseline and fast.state == "done"
    assert fast.metrics["eval:token_accuracy"] == 0.31
    runs = runs_mod.runs_of(rows)  # the workspace holds 'slow': not a row of its own
    frame, params = runs_mod.runs_frame(runs, ["eval:loss"], None)
    assert params == ["fixture.yaml:lr"] and list(frame["run"]) == [baseline, "slow", "fast"]
    delta = runs_mod.deltas(frame, runs_mod.baseline_of(runs), ["eval:loss"]).set_index("run")["eval:loss"]
    assert delta[baseline] == 0 and delta["fast"] < 0 < delta["slow"]


def test_exp_show_keeps_the_state_of_queued_experiments():
    payload = [
        {"rev": "workspace", "data": {}},
        {"rev": "a" * 40, "name": "main", "data": {}, "experiments": [
            {"name": "waiting", "executor": {"state": "queued"}, "revs": [{"rev": "b" * 40, "name": "waiting"}]},
            {"name": "broke", "executor": {"state": "failed"}, "revs": [{"rev": "c" * 40, "name": "broke"}]},
            {"name": "ran", "executor": None, "revs": [{"rev": "d" * 40, "name": "ran"}]},
        ]},
    ]  # fmt: skip
    rows = repo.parse_exp_show(payload)
    assert [(r.name, r.state) for r in rows[1:]] == [
        ("main@aaaaaaa", "done"), ("waiting", "queued"), ("broke", "failed"), ("ran", "done")
    ]  # fmt: skip


def test_workspace_run_names_the_commit_its_metrics_come_from(finished_template: Path, tmp_path: Path):
    files = ["reports/eval.json", "reports/train/metrics.json"]
    assert repo.workspace_run(finished_template, files, 30) == "slow"  # the last `dvc exp run`
    assert repo.workspace_run(tmp_path, files, 30) == "workspace"  # no repository


def test_commit_curves_differ_between_experiments(finished_template: Path):
    refs = dict(repo.exp_refs(finished_template, 30))
    fast = proj.commit_curves(finished_template, refs["fast"], 30)
    slow = proj.commit_curves(finished_template, refs["slow"], 30)
    assert set(fast) == {"train/loss", "eval/loss"}
    assert fast["train/loss"][-1]["loss"] == 0.0  # 4 - 4 * 0.01 * 100
    assert slow["train/loss"][-1]["loss"] == 3.96


def test_dvc_status_is_per_stage(finished_template: Path):
    rows, why = repo.dvc_status(finished_template, 60)
    assert why == "" and [(r.stage, r.up_to_date) for r in rows] == [("fake_train", True)]


def test_readers_tolerate_missing_and_odd_shapes(tmp_path: Path):
    assert proj.read_json_file(tmp_path / "nope.json") is None
    (tmp_path / "bad.json").write_text("{broken")
    assert proj.read_json_file(tmp_path / "bad.json") is None
    (tmp_path / "p.jsonl").write_text('{"text": "가나"}\nnot json\n[1]\n{"text": "다라마"}\n')
    assert load_passages(tmp_path / "p.jsonl").lengths == [2, 3]
    # per-source reports as a mapping, under "sources", or as a list
    assert proj.per_source_rows({"a": {"quality": {"x": 1}}}) == [{"source": "a", "quality.x": 1}]
    assert proj.per_source_rows({"sources": [{"source": "b", "n": 2}]}) == [{"source": "b", "n": 2}]
    assert proj.per_source_rows(None) == []
    # drops: summed over sources when no top-level mapping exists
    report = {"sources": {"a": {"dropped": {"pii": 2}}, "b": {"dropped": {"pii": 1, "noise": 4}}}}
    assert proj.drop_rows(report) == [
        {"level": "all", "reason": "pii", "dropped": 3},
        {"level": "all", "reason": "noise", "dropped": 4},
    ]
    assert proj.drop_rows({"dropped": {"pii": 5, "total": 5}}) == [
        {"level": "all", "reason": "pii", "dropped": 5}
    ]
    # per counting level (documents / sentences), each with its own per-source section
    levels = {
        "documents": {"in": 5, "out": 4, "dropped": {"dup": 1}, "per_source": {"a": {"in": 5, "out": 4}}},
        "sentences": {"in": 9, "out": 7, "dropped": {"pii": 2}, "per_source": {"a": {"in": 9, "out": 7}}},
        "splitter": {"kind": "hybrid"},
    }
    assert proj.drop_rows(levels) == [
        {"level": "documents", "reason": "dup", "dropped": 1},
        {"level": "sentences", "reason": "pii", "dropped": 2},
    ]
    assert proj.per_source_counts(levels) == [
        {"source": "a", "documents.in": 5, "documents.out": 4, "sentences.in": 9, "sentences.out": 7}
    ]
    assert proj.beat_passage_ids({"retrieved": [{"passage_id": "x"}, "y", 3]}) == ["x", "y", "3"]
    assert proj.parse_tsv("step\tloss\n0\t1.5\n1\tnan\nx\t2\n")[0] == {"step": 0.0, "loss": 1.5}


def test_repo_helpers_outside_a_repository(tmp_path: Path):
    rows, why = repo.exp_show(tmp_path, 10)
    assert rows == [] and "not a DVC repository" in why
    assert repo.exp_refs(tmp_path, 10) == [] and repo.head(tmp_path, 10) is None
    missing = repo.run_tool(["definitely-not-a-tool-xyz"], tmp_path, 5)
    assert not missing.ok and "not installed" in missing.error
    slow = repo.run_tool([sys.executable, "-c", "import time; time.sleep(5)"], tmp_path, 0.5)
    assert not slow.ok and "longer than" in slow.error
