"""Tests that kill the mutants of src/sanchaek/proxies.py that tests/test_proxies.py let live
(`make mutation`, reports/quality/mutation.json): exact hashes, separator flags, tie-breaking,
hash collisions, and the proxies' full key sets."""

from __future__ import annotations

import random

import numpy as np

from sanchaek.proxies import OverlapIndex, ThemeLexicon, _kgram_hashes, all_proxies, copy_proxies, summarise
from sanchaek.search.base import Token

MASK = 2**64


def reference_hashes(text: str, k: int) -> list[int]:
    """The polynomial hash of every k-window, base 1_000_003, modulo 2**64, in plain integers."""
    out = []
    for start in range(len(text) - k + 1):
        h = 0
        for ch in text[start : start + k]:
            h = (h * 1_000_003 + ord(ch)) % MASK
        out.append(h)
    return out


def test_kgram_hashes_are_exact_wrapping_uint64_polynomials():
    rng = random.Random(3)
    text = "".join(rng.choice("가나다라마바사아자") for _ in range(40))
    for k in (1, 2, 8, 12):  # k >= 4 wraps around 2**64
        hashes, has_sep = _kgram_hashes(text, k)
        assert hashes.dtype == np.uint64 and has_sep.dtype == bool
        assert hashes.tolist() == reference_hashes(text, k)
        assert not has_sep.any()


def test_kgram_hashes_of_a_text_shorter_than_k_are_empty_uint64():
    for text in ("", "가", "가나"):
        hashes, has_sep = _kgram_hashes(text, 3)
        assert hashes.shape == (0,) and has_sep.shape == (0,)
        assert hashes.dtype == np.uint64 and has_sep.dtype == bool


def test_windows_holding_a_separator_are_flagged_and_no_others():
    _, has_sep = _kgram_hashes("\x00ab\x00cd", 2)  # windows: \0a ab b\0 \0c cd
    assert has_sep.tolist() == [True, False, True, True, False]


def test_reference_shorter_than_k_finds_nothing():
    index = OverlapIndex(["가나"], k=3)
    assert index.kgram_share("가나다라") == 0.0
    assert index.longest_overlap("가나다라") == index.longest_overlap("")
    assert index.longest_overlap("가나다라").start == -1


def test_separator_inside_a_reference_text_becomes_one_space():
    index = OverlapIndex(["가나\x00다라"], k=3)
    assert len(index) == len("가나 다라") and index.reference == "가나 다라"
    assert index.longest_overlap("가나 다라").chars == 5


def test_no_overlap_has_start_minus_one():
    index = OverlapIndex(["가나다라마바"], k=3)
    assert index.longest_overlap("자차카타파하").start == -1
    assert index.longest_overlap("자차카타파하").chars == 0


def test_of_equally_long_overlaps_the_earliest_is_reported():
    index = OverlapIndex(["가나다라", "마바사아"], k=4)
    overlap = index.longest_overlap("가나다라 마바사아")
    assert (overlap.chars, overlap.start) == (4, 0)


def test_a_hash_collision_never_counts_as_an_overlap():
    """The Thue–Morse word of length 1024 and its complement have the same polynomial hash modulo
    2**64 for every odd base: the windows "match" by hash, the exact check must say no."""
    word = "".join("ab"[bin(i).count("1") % 2] for i in range(1024))
    complement = word.translate(str.maketrans("ab", "ba"))
    index = OverlapIndex([word], k=1024)
    assert index.kgram_share(complement) == 1.0  # the hash alone is fooled
    assert index.longest_overlap(complement).chars == 0
    assert index.longest_overlap(complement).start == -1


def test_copy_proxies_keys_and_boundaries():
    index = OverlapIndex(["비가 그친 뒤의 골목은 조용했다"], k=4)
    exact = copy_proxies("그친 뒤의 골목", index, memorised_chars=8)
    assert exact == {
        "copy_longest_chars": 8,
        "copy_rate": 1.0,
        "copy_kgram_share": 1.0,
        "memorised": True,  # exactly memorised_chars is memorised
    }
    assert copy_proxies("", index, memorised_chars=8) == {
        "copy_longest_chars": 0,
        "copy_rate": 0.0,
        "copy_kgram_share": 0.0,
        "memorised": False,
    }


def whitespace_analyzer(text: str) -> list[Token]:
    return [Token(term=w, pos="NNG", start=0, end=len(w)) for w in text.split()]


def test_all_proxies_merges_every_group():
    index = OverlapIndex(["강둑에 앉아 물결을 보았다"], k=3)
    lexicon = ThemeLexicon("물결", whitespace_analyzer, [], 5, readings=[])
    got = all_proxies(
        "강둑에 앉아 물결 물결",
        n_tokens=7,
        repeat_ngram=1,
        copy_index=index,
        memorised_chars=5,
        lexicon=lexicon,
        analyze=whitespace_analyzer,
    )
    assert got == {
        "n_tokens": 7,
        "n_chars": 12,
        "n_words": 4,
        "distinct_1": 0.75,
        "distinct_2": 1.0,
        "repeated_ngram_rate": 0.25,
        "copy_longest_chars": 9,
        "copy_rate": 0.75,
        "copy_kgram_share": 0.8,  # 8 of the 10 windows: not "물결 " nor "결 물"
        "memorised": True,
        "theme_terms_found": 1.0,
        "theme_relevance": 0.5,
    }


def test_summarise_one_record_and_six_decimals():
    one = summarise([{"proxies": {"n_tokens": 3, "copy_longest_chars": 2, "memorised": True}}])
    assert one == {
        "n_samples": 1,
        "mean_n_tokens": 3,
        "mean_copy_longest_chars": 2,
        "max_copy_longest_chars": 2,
        "memorised": 1,
        "memorised_share": 1.0,
    }
    three = summarise(
        [
            {"proxies": {"x": v, "copy_longest_chars": 0, "memorised": m}}
            for v, m in ((1, True), (0, False), (0, False))
        ]
    )
    assert three["mean_x"] == 0.333333 and three["memorised_share"] == 0.333333
