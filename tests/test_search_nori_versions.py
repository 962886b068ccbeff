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
from sanchaek.search.embedded import EmbeddedBackend

GOLDEN = json.loads(
    (Path(__file__).parent / "fixtures" / "nori_lucene10_golden.json").read_text(encoding="utf-8")
)
# The sentences whose analysis differs between Lucene 8.8 and 10.5, with the tokens each side gives.
KNOWN_DIFFERENCES = {
    # Lucene 10 reads 손님 as 손 + 님/NNG; on Lucene 8 only 손 is left after the stoptags
    "경성역 앞에서 인력거꾼이 손님을 기다렸다.": {"lucene8": [], "lucene10": ["님/NNG"]},
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
            differ[sentence["text"]] = {
                "lucene8": [f"{t[0]}/{t[1]}" for t in eight if t not in ten],
                "lucene10": [f"{t[0]}/{t[1]}" for t in ten if t not in eight],
            }
    assert differ == KNOWN_DIFFERENCES
