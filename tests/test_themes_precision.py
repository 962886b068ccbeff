"""Theme precision on real Lucene/Nori: near-miss senses dropped by the theme's exclude phrases,
synonyms weighted below the theme's own words, and where each clause matched in a passage."""

from __future__ import annotations

import pytest

from sanchaek.config import params_from_dict
from sanchaek.config.search import IndexParams, ThemeParams
from sanchaek.errors import SanchaekError
from sanchaek.io import write_jsonl
from sanchaek.paths import Layout
from sanchaek.query import run_query, search_theme
from sanchaek.search import ThemeQuery, open_backend
from sanchaek.search.elastic_query import clause_query
from sanchaek.search.inflect import planned_query, weigh_synonyms
from sanchaek.search.nearmiss import excluded_spans, near_miss
from sanchaek.search.plan import STEM, SYNONYM, THEME, Clause, clause_spans

# Our own sentences.
TEXTS = {
    "died": "늙은 개가 어젯밤 죽었다.",  # the theme's own sense
    "tired": "일이 많아서 힘들어 죽겠다.",  # 죽겠다: an intensifier, not a death
    "taste": "요즘은 정말 죽을 맛이다.",  # 죽을 맛: an idiom
    "both": "배가 고파 죽겠다더니 그 개는 정말 죽었다.",  # an intensifier and a real death
    "name": "남죽은 서점에서 책을 읽었다.",  # a name that holds 죽
    "noun": "그는 끝내 죽음을 받아들였다.",  # the noun itself
    "synonym": "할아버지가 사망한 뒤 집은 조용했다.",  # only a synonym
    "synonym2": "사망 소식이 들렸다. 사망 원인은 알 수 없었다. 사망이라니.",  # a synonym, often
}
EXCLUDE = ["죽겠", "죽을 맛", "남죽"]


def rows() -> list[dict]:
    return [{"passage_id": k, "doc_id": k, "text": v, "title": "t"} for k, v in TEXTS.items()]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    layout = Layout(tmp_path_factory.mktemp("precision"))
    write_jsonl(layout.passages, rows())
    backend = open_backend(IndexParams(backend="embedded"), layout)
    backend.index(rows())
    yield layout, backend
    backend.close()


def query_params(**query) -> object:
    return params_from_dict({"query": {"val_fraction": 0, **query}}).query


def test_near_miss_senses_are_dropped_and_real_uses_kept(indexed):
    _, backend = indexed
    params = query_params()
    plain = search_theme(backend, ThemeParams(text="죽음"), params)
    # Nori drops endings: 죽겠다, 죽을 맛 and the name 남죽 all hold the stem 죽, so they match
    assert {"tired", "taste", "name"} <= {h.passage_id for h in plain.hits}
    result = search_theme(backend, ThemeParams(text="죽음", exclude=EXCLUDE), params)
    ids = {h.passage_id for h in result.hits}
    assert ids == {"died", "both", "noun"}  # "both" also tells a real death outside 죽겠
    assert result.near_misses == {"죽겠": 1, "죽을 맛": 1, "남죽": 1}
    assert {r["reason"] for r in result.reasons["both"]} == {STEM}


def test_query_report_counts_the_near_misses_each_phrase_dropped(indexed):
    layout, backend = indexed
    params = query_params(themes=[{"text": "죽음", "exclude": EXCLUDE, "synonyms": ["사망"]}])
    hits, _, _, report = run_query(backend, params, layout.passages)
    theme = report["themes"]["죽음"]
    assert theme["exclude"] == EXCLUDE
    assert theme["near_misses_dropped"] == {"죽겠": 1, "죽을 맛": 1, "남죽": 1}
    assert {r["passage_id"] for r in hits} == {"died", "both", "noun", "synonym", "synonym2"}
    reasons = {r["passage_id"]: {x["reason"] for x in r["reasons"]} for r in hits}
    assert reasons["noun"] == {THEME, STEM} and reasons["synonym"] == {SYNONYM}


def test_exclude_phrases_match_old_spacing_and_need_every_match_covered():
    text = "죽을  맛이다. 그리고 죽을맛."
    assert [span for span, _ in excluded_spans(text, ["죽을 맛"])] == [(0, 5), (13, 16)]
    assert near_miss(text, [(0, 1), (13, 14)], ["죽을 맛"]) == ["죽을 맛"]
    assert near_miss("죽을 맛이고 죽었다", [(0, 1), (7, 8)], ["죽을 맛"]) == []  # 죽었다 is outside
    assert near_miss("아무것도", [], ["죽을 맛"]) == [] and near_miss("죽었다", [(0, 1)], []) == []


def test_exclude_phrases_are_validated():
    with pytest.raises(SanchaekError, match=r"query\.themes\.0\.exclude"):
        params_from_dict({"query": {"themes": [{"text": "죽음", "exclude": [" "]}]}})
    with pytest.raises(SanchaekError, match=r"query\.synonym_weight"):
        params_from_dict({"query": {"synonym_weight": 0}})


def test_synonym_weight_ranks_the_themes_own_words_first(indexed):
    _, backend = indexed
    theme = ThemeParams(text="죽음", synonyms=["사망"])
    even = [h.passage_id for h in search_theme(backend, theme, query_params()).hits]
    assert even.index("synonym2") < even.index("died")  # a rare synonym, often: BM25 puts it first
    low = search_theme(backend, theme, query_params(synonym_weight=0.1))
    ranked = [h.passage_id for h in low.hits]
    assert set(ranked) == set(even)  # the same hits, another order
    assert max(ranked.index("synonym"), ranked.index("synonym2")) == len(ranked) - 1
    assert min(ranked.index("synonym"), ranked.index("synonym2")) > ranked.index("died")
    # a theme's own synonym_weight wins over query.synonym_weight
    own = search_theme(
        backend, theme.model_copy(update={"synonym_weight": 1.0}), query_params(synonym_weight=0.1)
    )
    assert [h.passage_id for h in own.hits] == even


def test_synonym_clauses_carry_their_weight_to_both_backends(indexed):
    _, backend = indexed
    planned = planned_query(
        backend, ThemeQuery("죽음", synonyms=("사망", "세상을 떠나다"), match="unit"), expand=True
    )
    weighed = weigh_synonyms(planned, 0.5)
    boosts = {(c.text, c.reason): c.boost for c in weighed.clauses}
    assert boosts[("죽음", THEME)] == 1.0 and boosts[("죽", STEM)] == 1.0
    assert boosts[("사망", SYNONYM)] == 0.5 and boosts[("세상을 떠나다", SYNONYM)] == 0.5
    # the inflected forms of a synonym are the synonym's, weighted alike
    assert all(c.boost == 0.5 for c in weighed.clauses if c.source.startswith("세상을 떠"))
    phrase = next(c for c in weighed.clauses if c.text == "세상을 떠나다")
    assert clause_query(phrase)["match_phrase"]["text"]["boost"] == 0.5
    assert (
        "boost"
        not in clause_query(next(c for c in weighed.clauses if c.text == "죽음"))["match_phrase"]["text"]
    )
    assert "^" not in str(backend.build_query(planned))  # unweighted: no BoostQuery
    assert "^0.5" in str(backend.build_query(weighed))  # Lucene's BoostQuery prints as (query)^0.5


def test_clause_spans_locate_terms_and_phrases(indexed):
    _, backend = indexed
    text = "할머니는 지난 봄에 세상을 영영 떠나셨다. 그리고 죽었다."
    doc = backend.analyze(text)
    phrase = Clause("세상을 떠나다", "phrase", SYNONYM, "세상을 떠나다", slop=2)
    ((start, end),) = clause_spans(doc, backend.analyze(phrase.text), phrase)
    assert text[start:end].startswith("세상") and text[start:end].endswith("떠나")
    stem = Clause("죽", "match", STEM, "죽음")
    assert [text[s:e] for s, e in clause_spans(doc, backend.analyze("죽"), stem)] == ["죽"]
    tight = Clause("세상을 떠나다", "phrase", SYNONYM, "세상을 떠나다", slop=0)
    assert clause_spans(doc, backend.analyze(tight.text), tight) == []
