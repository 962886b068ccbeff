"""The query stage: themes -> hits, a balanced training set split by document, the report, errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from click.testing import CliRunner

from sanchaek.cli import cli
from sanchaek.config import params_from_dict
from sanchaek.config.search import IndexParams, QueryParams
from sanchaek.errors import SanchaekError
from sanchaek.io import write_jsonl
from sanchaek.paths import Layout
from sanchaek.query import run_query, split_documents
from sanchaek.search import open_backend

# Our own placeholder prose; 12 documents, some about death, some about boldness, some neither.
TEXTS = {
    "d01": ["오늘 엄마가 죽었다. 아니 어쩌면 어제였는지도 모르겠다.", "장례식장에는 비가 내렸다."],
    "d02": ["죽음은 멀리 있는 것이 아니었다.", "늘 곁에서 함께 걸었다."],
    "d03": ["그는 담대한 얼굴로 문을 열었다.", "아무도 없었다."],
    "d04": ["담대하게 말하려 했지만 목소리가 떨렸다.", "창밖에 눈이 내렸다."],
    "d05": ["할아버지가 사망한 뒤 집은 조용해졌다.", "마당의 감나무만 그대로였다."],
    "d06": ["그녀는 담대했다. 두려움 따위는 없었다.", "바람이 불었다."],
    "d07": ["새가 죽어 있었다. 나는 오래 들여다보았다.", "강물이 흘렀다."],
    "d08": ["죽은 듯이 잠들었다.", "꿈에서 바다를 보았다."],
    "d09": ["다리 위에서 멈춰 섰다.", "물결이 느리게 흘러갔다."],
    "d10": ["골목 끝의 찻집에서 옛 친구를 생각했다.", "그날도 비가 내렸다."],
    "d11": ["임종을 지키지 못한 것이 마음에 걸렸다.", "그래도 걸었다."],
    "d12": ["담대함이란 무엇일까 생각했다.", "답은 없었다."],
    "d13": ["창밖의 빗소리를 들었다.", "그 말을 들은 뒤 오래 앉아 있었다."],
    "d14": ["밤새 편지를 썼다.", "편지를 써서 서랍에 넣었다."],
}


def passages() -> list[dict]:
    rows = []
    for doc_id, texts in TEXTS.items():
        for i, text in enumerate(texts):
            rows.append(
                {
                    "passage_id": f"{doc_id}-{i}",
                    "doc_id": doc_id,
                    "source": "test",
                    "genre": "essay",
                    "title": f"제목 {doc_id}",
                    "author": "작가",
                    "text": text,
                    "n_sentences": 1,
                }
            )
    return rows


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = tmp_path_factory.mktemp("query")
    layout = Layout(root)
    write_jsonl(layout.passages, passages())
    backend = open_backend(IndexParams(backend="embedded"), layout)
    backend.index(passages())
    yield layout, backend
    backend.close()


def query_params(**kw) -> QueryParams:
    return params_from_dict({"query": kw}).query


def test_themes_select_by_analysed_forms(indexed):
    layout, backend = indexed
    params = query_params(
        themes=[{"text": "죽음", "synonyms": ["사망", "임종"]}, "담대하다"], val_fraction=0.0
    )
    rows, train, val, report = run_query(backend, params, layout.passages)
    death = {r["passage_id"] for r in rows if r["theme"] == "죽음"}
    bold = {r["passage_id"] for r in rows if r["theme"] == "담대하다"}
    assert {"d01-0", "d02-0", "d05-0", "d07-0", "d08-0", "d11-0"} <= death
    assert bold == {"d03-0", "d04-0", "d06-0", "d12-0"}
    assert val == [] and {r["passage_id"] for r in train} == death | bold
    record = next(r for r in train if r["passage_id"] == "d03-0")
    assert (
        record["text"] == TEXTS["d03"][0] and record["themes"] == ["담대하다"] and record["author"] == "작가"
    )
    assert report["themes"]["담대하다"]["analysed"] == ["담대"]
    assert report["coverage"]["passages_indexed"] == len(passages())
    assert report["themes"]["죽음"]["examples"][0]["highlight"].count("<em>") >= 1


def test_dictionary_form_themes_find_their_inflections(indexed):
    layout, backend = indexed
    params = query_params(themes=["듣다", "쓰다", "담대하다", "죽음"], val_fraction=0.0)
    rows, _, _, report = run_query(backend, params, layout.passages)
    found = {t: {r["passage_id"] for r in rows if r["theme"] == t} for t in report["themes"]}
    assert found["듣다"] == {"d13-0", "d13-1"}  # 들었다, 들은
    assert found["쓰다"] == {"d14-0", "d14-1"}  # 썼다, 써서
    assert found["담대하다"] == {"d03-0", "d04-0", "d06-0", "d12-0"}  # 담대한, 담대했다: as before
    assert report["themes"]["듣다"]["expanded"] == {"들었다": ["듣"]}
    assert report["themes"]["쓰다"]["expanded"] == {"썼다": ["쓰"]}
    assert report["themes"]["담대하다"]["expanded"] == {} and report["themes"]["죽음"]["expanded"] == {}
    assert report["themes"]["듣다"]["analysed"] == ["들"]  # the theme's own reading, unchanged

    unexpanded = query_params(themes=["죽음", "담대하다"], val_fraction=0.0, expand_predicates=False)
    assert (
        run_query(backend, unexpanded, layout.passages)[0]
        == run_query(backend, query_params(themes=["죽음", "담대하다"], val_fraction=0.0), layout.passages)[0]
    )  # nouns and predicates Nori reads alike: byte-for-byte the same hits


def test_expansion_can_be_switched_off(indexed):
    layout, backend = indexed
    off = query_params(themes=["쓰다", {"text": "듣다", "expand_predicates": True}], expand_predicates=False)
    _, _, _, report = run_query(backend, off, layout.passages)
    assert report["themes"]["쓰다"]["hits"] == 0 and report["themes"]["쓰다"]["expanded"] == {}
    assert report["themes"]["듣다"]["hits"] == 2  # the theme's own switch wins
    with pytest.raises(SanchaekError, match=r"query\.expand_predicates") as err:
        params_from_dict({"query": {"expand_predicates": "maybe"}})
    assert "\n" not in str(err.value)


def test_theme_hits_bring_a_configured_themes_synonyms_and_switches_to_other_stages(indexed):
    """Generate, compose and the app search a theme by its text; a theme listed in query.themes must
    find there what the query stage found for it."""
    from sanchaek.search.theme_query import theme_hits

    _, backend = indexed
    params = query_params(
        themes=[{"text": "죽음", "synonyms": ["사망", "임종"]}, {"text": "듣다", "expand_predicates": False}],
        expand_predicates=True,
    )
    ids = lambda hits: {h.passage_id for h in hits}  # noqa: E731
    death, _ = theme_hits(backend, "죽음", 20, params)
    assert {"d05-0", "d11-0"} <= ids(death)  # 사망, 임종: the synonyms came along
    assert not {"d05-0", "d11-0"} & ids(theme_hits(backend, "죽음", 20, query_params(themes=["죽음"]))[0])
    heard, added = theme_hits(backend, "듣다", 20, params)
    assert ids(heard) == set() and added == {}  # this theme's own switch: no expansion
    written, added = theme_hits(backend, "쓰다", 20, params)  # not listed: the global switch
    assert ids(written) == {"d14-0", "d14-1"} and added == {"썼다": ["쓰"]}


def test_split_keeps_documents_on_one_side_and_is_deterministic(indexed):
    layout, backend = indexed
    params = query_params(themes=["죽음", "담대하다"], val_fraction=0.3, seed=7)
    _, train, val, report = run_query(backend, params, layout.passages)
    assert val and train
    assert not {r["doc_id"] for r in train} & {r["doc_id"] for r in val}
    _, train2, val2, _ = run_query(backend, params, layout.passages)
    assert (train, val) == (train2, val2)
    assert report["split"]["val_documents"] == len({r["doc_id"] for r in val})


def test_split_never_puts_a_document_on_both_sides_when_documents_have_several_hits(tmp_path):
    # Every document contributes several selected passages: a split by passage (not by document)
    # would put most of them on both sides, so this test fails if the split ever works per passage.
    layout = Layout(tmp_path)
    rows = [
        {"passage_id": f"m{d:02d}-{i}", "doc_id": f"m{d:02d}", "text": text, "title": "t"}
        for d in range(12)
        for i, text in enumerate(["그날 새가 죽었다.", "죽음은 조용히 왔다.", "사람들이 죽은 새를 묻었다."])
    ]
    write_jsonl(layout.passages, rows)
    backend = open_backend(IndexParams(backend="embedded"), layout)
    try:
        backend.index(rows)
        params = query_params(themes=["죽음"], val_fraction=0.25, seed=3)
        _, train, val, _ = run_query(backend, params, layout.passages)
    finally:
        backend.close()
    per_doc = {}
    for r in train + val:
        per_doc[r["doc_id"]] = per_doc.get(r["doc_id"], 0) + 1
    assert len(train + val) == 36 and min(per_doc.values()) == 3  # the precondition that gives the test teeth
    assert val and train
    assert not {r["doc_id"] for r in train} & {r["doc_id"] for r in val}
    by_passage = split_documents((r["passage_id"] for r in train + val), 0.25, seed=3)
    straddling = {r["doc_id"] for r in train + val if r["passage_id"] in by_passage} & {
        r["doc_id"] for r in train + val if r["passage_id"] not in by_passage
    }
    assert straddling  # what a per-passage split would have done with this fixture


def test_split_documents_fraction_and_seed():
    docs = [f"doc{i}" for i in range(20)]
    val = split_documents(docs, 0.25, seed=1)
    assert len(val) == 5 and val == split_documents(reversed(docs), 0.25, seed=1)
    assert val != split_documents(docs, 0.25, seed=2)
    assert split_documents(["only"], 0.5, seed=1) == set()
    assert len(split_documents(["a", "b"], 0.01, seed=1)) == 1  # at least one held-out document


def test_cap_per_theme_balances(indexed):
    layout, backend = indexed
    params = query_params(themes=["죽음", "담대하다"], max_per_theme=2, val_fraction=0.0)
    rows, train, _, report = run_query(backend, params, layout.passages)
    assert len(train) == 4
    for theme in ("죽음", "담대하다"):
        chosen = [r for r in rows if r["theme"] == theme and r["selected"]]
        assert [r["rank"] for r in chosen] == [1, 2]
        assert report["themes"][theme]["selected"] == 2


def test_per_theme_top_k_min_score_and_all(indexed):
    layout, backend = indexed
    params = query_params(
        themes=[
            {"text": "죽음", "top_k": 1},
            {"text": "찻집 친구", "match": "all"},
            {"text": "담대하다", "min_score": 1e6},
            "엄마",
        ],
        val_fraction=0.0,
    )
    rows, _, _, report = run_query(backend, params, layout.passages)
    assert [r["passage_id"] for r in rows if r["theme"] == "찻집 친구"] == ["d10-0"]
    assert report["themes"]["죽음"]["hits"] == 1
    assert report["themes"]["담대하다"]["hits"] == 0
    assert any("담대하다" in w for w in report["warnings"])


def test_empty_theme_warns_with_nearest_terms(indexed):
    layout, backend = indexed
    params = query_params(themes=[{"text": "담대함의 정의", "match": "any"}, "담배"], val_fraction=0.0)
    _, _, _, report = run_query(backend, params, layout.passages)
    warning = next(w for w in report["warnings"] if "'담배'" in w)
    assert "nearest index terms: 담배 →" in warning
    assert "담대" in report["themes"]["담배"]["nearest_terms"]["담배"]


def test_nothing_selected_is_an_error(indexed):
    layout, backend = indexed
    with pytest.raises(SanchaekError, match="no passage matched any theme"):
        run_query(backend, query_params(themes=["우주선"]), layout.passages)


def test_stale_index_is_named(indexed, tmp_path):
    _, backend = indexed
    partial = tmp_path / "passages.jsonl"
    write_jsonl(partial, passages()[:4])
    with pytest.raises(SanchaekError, match="sanchaek index"):
        run_query(backend, query_params(themes=["담대하다"]), partial)


def run_cli(root, *args):
    old = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=True)
    finally:
        os.chdir(old)


def test_stages_end_to_end_and_missing_index(tmp_path):
    layout = Layout(tmp_path)
    params = {
        "index": {"backend": "embedded"},
        "query": {"themes": ["죽음", "담대하다"], "val_fraction": 0.2},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    write_jsonl(layout.passages, passages())

    result = run_cli(tmp_path, "query")
    assert isinstance(result.exception, SanchaekError) and "sanchaek index" in str(result.exception)

    assert run_cli(tmp_path, "index").exit_code == 0
    report = json.loads(layout.report("index.json").read_text(encoding="utf-8"))
    assert report["docs"] == len(passages()) and report["backend"] == "embedded" and report["rejected"] == 0

    assert run_cli(tmp_path, "query").exit_code == 0
    first = [
        p.read_bytes()
        for p in (layout.hits, layout.train_split, layout.val_split, layout.report("query.json"))
    ]
    assert run_cli(tmp_path, "query").exit_code == 0  # same inputs, byte-identical outputs
    second = [
        p.read_bytes()
        for p in (layout.hits, layout.train_split, layout.val_split, layout.report("query.json"))
    ]
    assert first == second
    train = [json.loads(line) for line in layout.train_split.read_text(encoding="utf-8").splitlines()]
    assert all({"passage_id", "doc_id", "text", "themes"} <= set(r) for r in train)

    out = run_cli(tmp_path, "analyze", "담대했다", "--backend", "embedded")
    assert out.exit_code == 0 and "담대\tNNG\t0-2\t담대" in out.output
    out = run_cli(tmp_path, "analyze", "듣다", "--backend", "embedded")
    assert out.exit_code == 0 and "들\tVV\t0-1\t듣" in out.output and "stem 듣 adds: 들었다 → 듣" in out.output


def test_scope_all_trains_on_every_passage_and_keeps_theme_labels(indexed):
    layout, backend = indexed
    params = query_params(themes=["담대하다"], scope="all", val_fraction=0.0)
    rows, train, val, _ = run_query(backend, params, layout.passages)
    assert [r["passage_id"] for r in train] == [p["passage_id"] for p in passages()]
    labelled = {r["passage_id"]: r["themes"] for r in train}
    assert labelled["d03-0"] == ["담대하다"] and labelled["d01-0"] == []
    assert {r["passage_id"] for r in rows} == {"d03-0", "d04-0", "d06-0", "d12-0"}
    # with scope all, a theme that finds nothing is a warning, not an empty training set
    _, train_none, _, report = run_query(backend, query_params(themes=["우주선"], scope="all"), layout.passages)
    assert len(train_none) > 0 and report["warnings"]
