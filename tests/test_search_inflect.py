"""Dictionary-form predicates widened to their inflections: the jamo conjugator (pure), the predicate
test, and the expansion with the real Lucene Nori analyzer (one JVM per pytest process).

Search through both backends is in test_search_contract.py; the query stage's report in test_query.py.
"""

from __future__ import annotations

import pytest

from sanchaek.config.search import IndexParams
from sanchaek.paths import Layout
from sanchaek.search import ThemeQuery, Token, open_backend
from sanchaek.search.inflect import (
    conjugations,
    dictionary_stem,
    eo_form,
    expand_predicate,
    expand_query,
    split_syllables,
)


@pytest.mark.parametrize(
    "stem, eo",
    [
        ("먹", "먹어"),
        ("잡", "잡아"),
        ("가", "가"),
        ("서", "서"),
        ("보", "봐"),
        ("주", "줘"),
        ("되", "돼"),
        ("마시", "마셔"),
        ("쓰", "써"),
        ("슬프", "슬퍼"),
        ("아프", "아파"),
        ("담대하", "담대해"),
        ("쉬", "쉬어"),
    ],
)
def test_regular_eo_form(stem, eo):
    assert eo_form(split_syllables(stem)) == eo


@pytest.mark.parametrize(
    "stem, expected",
    [
        ("듣", {"듣고", "듣는", "들었다", "들어서", "들은", "들으면"}),  # ㄷ irregular
        ("쓰", {"쓰고", "썼다", "써서", "쓴", "쓰면"}),  # 으 drops
        ("아름답", {"아름다웠다", "아름다워", "아름다운"}),  # ㅂ
        ("돕", {"도와", "도왔다", "도운"}),  # ㅂ, 오 after a one-syllable ㅗ stem
        ("짓", {"지었다", "지어서", "지은", "지으면"}),  # ㅅ, no contraction
        ("부르", {"불렀다", "불러서", "부른"}),  # 르
        ("하얗", {"하얬다", "하얀"}),  # ㅎ
        ("살", {"사는", "산", "살면", "살았다"}),  # ㄹ drops before ㄴ
        ("가", {"갔다", "가서", "간"}),
    ],
)
def test_conjugations_cover_regular_and_irregular_forms(stem, expected):
    forms = conjugations(stem)
    assert expected <= set(forms)
    assert len(forms) == len(set(forms)) and forms == conjugations(stem)  # no repeats, fixed order


def tok(term: str, pos: str, start: int, end: int) -> Token:
    return Token(term, pos, start, end)


def test_dictionary_stem_needs_the_final_da_read_as_an_ending():
    assert dictionary_stem("듣다", [tok("들", "VV", 0, 1)]) == "듣"
    assert dictionary_stem("담대하다", [tok("담대", "NNG", 0, 2)]) == "담대하"  # root + 하다
    assert dictionary_stem("듣다", [tok("들", "VV", 0, 1), tok("다", "E", 1, 2)]) == "듣"  # E kept
    assert dictionary_stem("바다", [tok("바다", "NNG", 0, 2)]) is None  # a noun holds the 다
    assert dictionary_stem("내다", [tok("내", "NP", 0, 1)]) is None  # 내/NP + 다/J
    assert (
        dictionary_stem("걸었다", [tok("걷", "VV", 0, 1)]) is None
    )  # 었 stands between: not a dictionary form
    assert dictionary_stem("죽음", [tok("죽", "NNG", 0, 1), tok("음", "NNG", 1, 2)]) is None
    assert dictionary_stem("걷다 보다", [tok("걷", "VV", 0, 1)]) is None  # a phrase, not one word
    assert dictionary_stem("다", []) is None


@pytest.fixture(scope="module")
def analyze(tmp_path_factory):
    backend = open_backend(IndexParams(backend="embedded"), Layout(tmp_path_factory.mktemp("inflect")))
    yield backend.analyze
    backend.close()


def test_dictionary_forms_nori_reads_otherwise_gain_their_stem(analyze):
    # Nori reads 듣다 as 들 and 쓰다 as 쓸, but 들었다 as 듣 and 썼다 as 쓰
    assert [t.term for t in analyze("듣다")] == ["들"]
    assert expand_predicate("듣다", analyze).forms == {"들었다": ["듣"]}
    assert [t.term for t in analyze("쓰다")] == ["쓸"]
    assert expand_predicate("쓰다", analyze).forms == {"썼다": ["쓰"]}
    assert expand_predicate(" 쓰다 ", analyze).forms == {"썼다": ["쓰"]}  # as params may hold it


def test_predicates_nori_already_reads_alike_are_unchanged(analyze):
    for text in ("담대하다", "걷다", "아름답다", "슬프다", "사랑하다"):
        expansion = expand_predicate(text, analyze)
        assert expansion is not None and expansion.forms == {}, text


def test_nouns_are_not_predicates(analyze):
    for text in ("죽음", "바다", "엄마", "겨울 밤"):
        assert expand_predicate(text, analyze) is None, text


def test_wrong_irregular_guesses_are_dropped(analyze):
    # 믿다 is regular: its ㄷ-irregular guess 밀었다 is read 밀 (밀다, to push) and must not be added
    assert [t.term for t in analyze("밀었다")] == ["밀"]
    assert expand_predicate("믿다", analyze).forms == {}
    # 그리워하던 is read 그립 + 않: a misreading, not this predicate's stem
    assert expand_predicate("그리워하다", analyze).forms == {}


def test_expansion_is_never_an_ending_or_particle(tmp_path):
    # with endings and particles kept by the analysis, a form would search them too: none is added
    params = IndexParams.model_validate(
        {"backend": "embedded", "analysis": {"nori_part_of_speech": {"stoptags": []}}}
    )
    backend = open_backend(params, Layout(tmp_path))
    try:
        expansion = expand_predicate("듣다", backend.analyze)
        assert expansion is not None and expansion.stem == "듣" and expansion.forms == {}
    finally:
        backend.close()


def test_expand_query_appends_forms_as_synonyms(analyze):
    query, expansions = expand_query(ThemeQuery("듣다", synonyms=("쓰다", "소리"), weight=2.0), analyze)
    assert query == ThemeQuery("듣다", synonyms=("쓰다", "소리", "들었다", "썼다"), weight=2.0)
    assert [e.text for e in expansions] == ["듣다", "쓰다"]
    plain = ThemeQuery("죽음", synonyms=("사망",))
    assert expand_query(plain, analyze) == (plain, [])
