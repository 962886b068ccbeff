"""Quality proxies on hand-made texts with exact expected values, and the overlap search against
brute force."""

from __future__ import annotations

import random

import pytest

from sanchaek.proxies import (
    OverlapIndex,
    ThemeLexicon,
    copy_proxies,
    distinct_n,
    repeated_ngram_rate,
    reuse_rate,
    summarise,
    text_proxies,
    words,
)

# our own placeholder prose
TRAIN = [
    "비가 그친 뒤의 골목은 오래된 우물처럼 조용했고 나는 그 소리를 세었다.",
    "강둑에 앉아 물결을 보고 있으면 시간이 거꾸로 흐르는 것 같았다.",
    "그 여름에 우리는 다리 밑에서 처음으로 서로의 이름을 불렀다.",
]


def test_distinct_and_repetition_exact():
    text = "나는 걸었다 나는 걸었다 그리고 멈췄다"
    ws = words(text)
    assert ws == ["나는", "걸었다", "나는", "걸었다", "그리고", "멈췄다"]
    assert distinct_n(ws, 1) == 4 / 6
    # bigrams: (나는,걸었다) (걸었다,나는) (나는,걸었다) (걸었다,그리고) (그리고,멈췄다): 4 unique of 5
    assert distinct_n(ws, 2) == 4 / 5
    assert repeated_ngram_rate(ws, 2) == pytest.approx(1 / 5)
    # trigrams: all 4 different
    assert repeated_ngram_rate(ws, 3) == 0.0
    proxies = text_proxies(text, repeat_ngram=2)
    assert proxies == {
        "n_chars": len(text),
        "n_words": 6,
        "distinct_1": 4 / 6,
        "distinct_2": 4 / 5,
        "repeated_ngram_rate": pytest.approx(1 / 5),
    }


def test_degenerate_loop_and_empty_text():
    loop = words("또 또 또 또 또")
    assert distinct_n(loop, 1) == 1 / 5
    assert repeated_ngram_rate(loop, 3) == pytest.approx(2 / 3)  # (또,또,또) x3, two are repeats
    assert distinct_n([], 2) == 0.0 and repeated_ngram_rate([], 3) == 0.0
    assert text_proxies("", repeat_ngram=3)["n_words"] == 0


def test_reuse_rate_counts_ngrams_seen_before():
    earlier = {("골목을", "걸었다"), ("비가", "왔다")}
    assert reuse_rate(words("나는 골목을 걸었다 오래"), earlier, 2) == pytest.approx(1 / 3)
    assert reuse_rate(words("처음"), earlier, 2) == 0.0


def test_planted_memorised_passage_is_caught():
    index = OverlapIndex(TRAIN, k=8)
    planted = TRAIN[0][2:38]  # 36 characters of a training passage inside new text
    assert len(planted) == 36
    sample = "새로 쓴 문장이 먼저 온다. " + planted + " 그리고 다시 새로운 말."
    overlap = index.longest_overlap(sample)
    assert overlap.chars == len(planted)
    assert sample[overlap.start : overlap.end] == planted
    flagged = copy_proxies(sample, index, memorised_chars=30)
    assert flagged["memorised"] is True
    assert flagged["copy_longest_chars"] == 36
    assert flagged["copy_rate"] == pytest.approx(36 / len(sample))
    # the same text without the planted span is clean
    clean = copy_proxies("새로 쓴 문장이 먼저 온다. 그리고 다시 새로운 말.", index, memorised_chars=30)
    assert clean["memorised"] is False and clean["copy_longest_chars"] == 0


def test_overlap_does_not_cross_reference_texts():
    index = OverlapIndex(["가나다라마바사아", "자차카타파하"], k=4)
    # the end of the first text glued to the start of the second never occurred as one string
    assert index.longest_overlap("마바사아자차카타").chars == 4
    assert index.longest_overlap("다라마바사").chars == 5


def test_kgram_share_exact():
    index = OverlapIndex(["가나다라마"], k=3)
    # windows of "가나다X": 가나다 (present), 나다X (absent)
    assert index.kgram_share("가나다X") == 0.5
    assert index.kgram_share("가나") == 0.0  # shorter than k: no window


def _brute_lcs(a: str, b: str) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def test_longest_overlap_matches_brute_force():
    rng = random.Random(7)
    alphabet = "가나다라"  # a small alphabet makes many partial and stitched matches
    for _ in range(60):
        ref = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 120)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        k = rng.randint(3, 6)
        lcs = _brute_lcs(text, ref)
        got = OverlapIndex([ref], k).longest_overlap(text)
        assert got.chars == (lcs if lcs >= k else 0), (ref, text, k)
        if got.chars:
            assert text[got.start : got.end] in ref


def test_summarise_means_and_flags():
    records = [
        {"proxies": {"n_tokens": 10, "distinct_2": 1.0, "copy_longest_chars": 0, "memorised": False}},
        {"proxies": {"n_tokens": 20, "distinct_2": 0.5, "copy_longest_chars": 60, "memorised": True}},
    ]
    summary = summarise(records)
    assert summary["n_samples"] == 2
    assert summary["mean_n_tokens"] == 15
    assert summary["mean_distinct_2"] == 0.75
    assert summary["max_copy_longest_chars"] == 60
    assert summary["memorised"] == 1 and summary["memorised_share"] == 0.5
    assert "mean_memorised" not in summary


def test_theme_lexicon_with_real_nori(search_backend):
    """죽음 is analysed to 죽 + 음 (so 죽었다 counts); the lexicon adds terms of the passages found."""
    hits = search_backend.search("죽음", 3)
    assert hits, "the tiny index must find passages for 죽음"
    lexicon = ThemeLexicon("죽음", search_backend.analyze, hits, size=20, readings=[])
    assert lexicon.theme_terms == {"죽", "음"}
    terms = [t.term for t in search_backend.analyze("엄마가 죽었다")]
    assert terms == ["엄마", "죽"]
    scored = lexicon.score(terms)
    assert scored["theme_terms_found"] == 0.5  # 죽 yes, 음 no
    # 엄마 appears in a passage found for 죽음, so both terms are in the lexicon
    assert scored["theme_relevance"] == 1.0
    assert (
        lexicon.score([t.term for t in search_backend.analyze("시장은 시끄러웠다")])["theme_relevance"] == 0.0
    )


def test_theme_terms_found_takes_the_best_reading(search_backend):
    """듣다 is read 들, its 들었다 is read 듣: an added form's terms count as the theme found."""
    analyze = search_backend.analyze
    heard = [t.term for t in analyze("빗소리를 들었다")]
    assert "듣" in heard and "들" not in heard
    plain = ThemeLexicon("듣다", analyze, [], size=5, readings=[])
    assert plain.score(heard)["theme_terms_found"] == 0.0
    expanded = ThemeLexicon("듣다", analyze, [], size=5, readings=[["듣"], ["사망"]])
    assert expanded.score(heard)["theme_terms_found"] == 1.0
    assert expanded.score([t.term for t in analyze("할아버지가 사망했다")])["theme_terms_found"] == 1.0
    assert expanded.score(["바다"]) == {"theme_terms_found": 0.0, "theme_relevance": 0.0}


@pytest.fixture(scope="module")
def search_backend(tmp_path_factory):
    from test_generate_support import build_index, open_index

    root = tmp_path_factory.mktemp("proxies_index")
    build_index(root)
    backend = open_index(root)
    yield backend
    backend.close()
