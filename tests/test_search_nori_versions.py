"""The embedded index's analysis (Nori on Lucene 8.8) against Nori on Lucene 10 (what Elasticsearch 9
runs), on the project's own sentences (tests/fixtures/nori_golden_sentences.txt).

The Lucene 10 side is recorded (tests/fixtures/nori_lucene10_golden.json, made by bench/nori_versions.py
from pyserini's Anserini fatjar, Lucene 10.5.0) with the stoptags translated to Lucene 10's detailed tags;
tokens compare in the coarse vocabulary (EF -> E). The test pins where the two analyses agree and where
they do not, so a change on either side shows up here. On 3,000 corpus sentences the two agree on
88.7% of sentences and 98.7% of tokens (reports/bench/nori_versions.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sanchaek.config.search import IndexParams
from sanchaek.search.analysis import coarse_tag
from sanchaek.search.base import Token
from sanchaek.search.embedded import EmbeddedBackend
from sanchaek.search.inflect import dictionary_stem

GOLDEN = json.loads(
    (Path(__file__).parent / "fixtures" / "nori_lucene10_golden.json").read_text(encoding="utf-8")
)
# The sentences whose analysis differs between Lucene 8.8 and 10.5, with the tokens each side gives.
KNOWN_DIFFERENCES = {
    # 손님: Lucene 8 reads 님 as a noun suffix (XSN, a stoptag), Lucene 10 as a noun
    "경성역 앞에서 인력거꾼이 손님을 기다렸다.": {"lucene8": [], "lucene10": ["님/NNG"]},
}
# Without stoptags (every tag shows): also 사망한's 하, an adjective suffix on Lucene 8 and a verb
# suffix on Lucene 10 (both are stoptags, so the indexed terms agree).
KNOWN_UNFILTERED_DIFFERENCES = {
    "할아버지가 사망한 뒤 집은 조용해졌다.": {"lucene8": ["하/XSA"], "lucene10": ["하/XSV"]},
    "경성역 앞에서 인력거꾼이 손님을 기다렸다.": {"lucene8": ["님/XSN"], "lucene10": ["님/NNG"]},
}


def differences(eight: list[tuple], ten: list[tuple]) -> dict:
    return {
        "lucene8": [f"{t[0]}/{t[1]}" for t in eight if t not in ten],
        "lucene10": [f"{t[0]}/{t[1]}" for t in ten if t not in eight],
    }


def coarse(tokens) -> list[tuple]:
    return [(term, coarse_tag(pos), start, end) for term, pos, start, end in tokens]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    b = EmbeddedBackend(IndexParams(backend="embedded"), tmp_path_factory.mktemp("nori-versions"))
    yield b
    b.close()


def test_golden_is_lucene_10_with_detailed_tags():
    assert GOLDEN["lucene"].startswith("10.")
    assert len(GOLDEN["sentences"]) >= 50


def test_lucene_8_and_10_agree_except_where_known(embedded):
    differ = {}
    for sentence in GOLDEN["sentences"]:
        eight = coarse([(t.term, t.pos, t.start, t.end) for t in embedded.analyze(sentence["text"])])
        ten = coarse(sentence["tokens"])
        if eight != ten:
            differ[sentence["text"]] = differences(eight, ten)
    assert differ == KNOWN_DIFFERENCES


@pytest.fixture(scope="module")
def embedded_unfiltered(tmp_path_factory):
    params = IndexParams.model_validate(
        {"backend": "embedded", "analysis": {"nori_part_of_speech": {"stoptags": []}}}
    )
    b = EmbeddedBackend(params, tmp_path_factory.mktemp("nori-versions-unfiltered"))
    yield b
    b.close()


def test_without_stoptags_lucene_10_tags_translate_to_lucene_8s(embedded_unfiltered):
    """Every tag: Lucene 10's EF/EC/JKS/... read as E/J give Lucene 8's stream, except where known."""
    detailed = {t[1] for s in GOLDEN["sentences"] for t in s["unfiltered"]} - {
        coarse_tag(t[1]) for s in GOLDEN["sentences"] for t in s["unfiltered"]
    }
    assert {"EF", "EC", "EP", "ETM", "JKS", "JKO", "JX"} <= detailed  # the split tags do occur
    differ = {}
    for sentence in GOLDEN["sentences"]:
        eight = [(t.term, t.pos, t.start, t.end) for t in embedded_unfiltered.analyze(sentence["text"])]
        assert {pos for _, pos, _, _ in eight}.isdisjoint(detailed)  # Lucene 8 speaks E and J only
        if coarse(eight) != coarse(sentence["unfiltered"]):
            differ[sentence["text"]] = differences(coarse(eight), coarse(sentence["unfiltered"]))
    assert differ == KNOWN_UNFILTERED_DIFFERENCES


@pytest.mark.parametrize(
    "word, stem", [("듣다", "듣"), ("쓰다", "쓰"), ("담대하다", "담대하"), ("걸었다", None)]
)
def test_dictionary_forms_are_recognised_in_lucene_10_tags(embedded_unfiltered, word, stem):
    ten = next(s["unfiltered"] for s in GOLDEN["sentences"] if s["text"] == word)
    tokens10 = [Token(term, pos, start, end) for term, pos, start, end in ten]
    assert dictionary_stem(word, tokens10) == stem
    assert dictionary_stem(word, embedded_unfiltered.analyze(word)) == stem
