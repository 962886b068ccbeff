"""Nori stoptags across Lucene versions: E/J (Lucene 8 and 9: the embedded index, Elasticsearch 8) and
the detailed tags of Lucene 10 (Elasticsearch 9), both ways; params accept either; one fingerprint."""

from __future__ import annotations

import pytest

from sanchaek.config.search import DEFAULT_STOPTAGS, IndexParams
from sanchaek.errors import SanchaekError
from sanchaek.search.analysis import (
    analysis_fingerprint,
    canonical_stoptags,
    coarse_tag,
    elasticsearch_filters,
    is_ending,
    lucene_chain,
    stoptags_for,
    tagset_of,
)
from sanchaek.search.base import Token
from sanchaek.search.inflect import dictionary_stem

# Lucene 10's KoreanPartOfSpeechStopFilter.DEFAULT_STOP_TAGS, in its order
LUCENE10_DEFAULT = (
    "EP EF EC ETN ETM IC JKS JKC JKG JKO JKB JKV JKQ JX JC MAG MAJ MM SP SSC SSO SC SE XPN XSA XSN XSV UNA NA VSV"
).split()


def params(tags) -> IndexParams:
    return IndexParams.model_validate({"analysis": {"nori_part_of_speech": {"stoptags": tags}}})


def test_tagset_follows_the_lucene_major():
    assert [tagset_of(v) for v in ("8.8.1", "9.12.0", "10.1.0", "10.5.0", "11.0.0")] == [
        "coarse", "coarse", "detailed", "detailed", "detailed",
    ]  # fmt: skip


def test_coarse_and_detailed_translate_both_ways():
    assert stoptags_for(DEFAULT_STOPTAGS, "detailed") == LUCENE10_DEFAULT
    assert stoptags_for(LUCENE10_DEFAULT, "coarse") == DEFAULT_STOPTAGS
    assert stoptags_for(DEFAULT_STOPTAGS, "coarse") == DEFAULT_STOPTAGS
    assert stoptags_for(LUCENE10_DEFAULT, "detailed") == LUCENE10_DEFAULT
    assert stoptags_for(["E", "EF", "IC"], "detailed") == ["EP", "EF", "EC", "ETN", "ETM", "IC"]


def test_a_partial_group_runs_on_lucene_10_only():
    assert stoptags_for(["EF", "JX"], "detailed") == ["EF", "JX"]
    with pytest.raises(
        SanchaekError, match="lists EF but not EP EC ETN ETM.*list all of EP EF EC ETN ETM, or E"
    ):
        stoptags_for(["EF", "JX"], "coarse")
    with pytest.raises(SanchaekError, match="index.analysis.nori_part_of_speech.stoptags"):
        lucene_chain(params(["EF"]).analysis, None)  # the embedded index is Lucene 8


def test_params_accept_either_form_and_fingerprint_alike():
    coarse, detailed = params(DEFAULT_STOPTAGS), params(LUCENE10_DEFAULT)
    assert analysis_fingerprint(coarse.analysis) == analysis_fingerprint(detailed.analysis)
    assert analysis_fingerprint(IndexParams().analysis) == analysis_fingerprint(coarse.analysis)
    assert analysis_fingerprint(params(["EF"]).analysis) != analysis_fingerprint(params(["E"]).analysis)
    assert canonical_stoptags(["EP", "EF", "EC", "ETN", "ETM", "JX"]) == ["E", "JX"]
    assert elasticsearch_filters(detailed.analysis, "coarse")[0]["stoptags"] == DEFAULT_STOPTAGS
    with pytest.raises(ValueError, match="stoptags"):
        params(["EX"])


def test_endings_are_endings_in_both_vocabularies():
    assert all(is_ending(t) for t in ("E", "EP", "EF", "EC", "ETN", "ETM"))
    assert not any(is_ending(t) for t in ("J", "JKS", "VV", "NNG"))
    assert coarse_tag("JKS") == "J" and coarse_tag("NNG") == "NNG"


@pytest.mark.parametrize("ending", ["E", "EF", "EC"])
def test_dictionary_form_is_found_whatever_the_ending_tag(ending):
    # 듣다 without stoptags: 들/VV + 다/<ending>; Lucene 10 tags that 다 EF or EC
    tokens = [Token("들", "VV", 0, 1), Token("다", ending, 1, 2)]
    assert dictionary_stem("듣다", tokens) == "듣"
    assert dictionary_stem("듣다", [Token("들", "VV", 0, 1), Token("다", "JKS", 1, 2)]) is None
