"""Tests that pin src/sanchaek/text/dedup.py beyond test_text.py's two dedup tests (`make mutation`,
reports/quality/mutation.json): exact shingle sets, keys that fold case, sketches equal to datasketch's
own MinHash with the same seed and hash, the earliest of several near-duplicates, the threshold itself."""

from __future__ import annotations

import zlib

import pytest
from datasketch import MinHash

from sanchaek.text.dedup import ExactDeduper, NearDeduper, estimated_jaccard, exact_key, shingles


def test_shingles_are_every_window_of_the_text_without_punctuation():
    assert shingles("ab, cd!", 2) == {"ab", "bc", "cd"}
    assert shingles("abcdef", 3) == {"abc", "bcd", "cde", "def"}
    assert shingles("ab", 5) == {"ab"} and shingles("abc", 3) == {"abc"}  # short texts: one shingle
    assert shingles("", 5) == set() and shingles("?!", 2) == set()


def test_exact_keys_fold_case_and_drop_punctuation_only():
    dedup = ExactDeduper()
    assert dedup.check("a", "산책, 길!") is None
    assert dedup.check("b", "산책길") == "a"
    assert dedup.check("c", "다른 글") is None  # a different text is no duplicate of the first
    assert dedup.check("d", "ABC") is None and dedup.check("e", "abc") == "d"
    assert exact_key("Straße") != exact_key("STRASSE")  # lower-case folding, not upper-case
    assert exact_key("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"  # sha1 of b"abc"


def test_estimated_jaccard_by_hand():
    assert estimated_jaccard("abcdefg", "abcdefg") == 1.0
    assert estimated_jaccard("", "") == 1.0 and estimated_jaccard("", "abcdefg") == 0.0
    # shingles of 5: abcde bcdef cdefg vs bcdef cdefg cdefh... -> 2 shared of 4
    assert estimated_jaccard("abcdefg", "bcdefgh") == pytest.approx(2 / 4)
    assert estimated_jaccard("abcdefg", "bcdefgh", k=6) == pytest.approx(1 / 3)


def test_sketches_are_datasketchs_minhash_with_this_seed_and_crc32():
    near = NearDeduper(threshold=0.5, num_perm=64, shingle_chars=2, seed=7)
    assert (near.threshold, near.num_perm, near.k, near.seed) == (0.5, 64, 2, 7)
    reference = MinHash(num_perm=64, seed=7, hashfunc=zlib.crc32)
    reference.update_batch([g.encode("utf-8") for g in sorted(shingles("산책하는 사람", 2))])
    assert list(near.sketch("산책하는 사람").hashvalues) == list(reference.hashvalues)
    assert near.sketch("?!") is None and near.check("x", "?!") is None


def test_the_earliest_of_several_near_duplicates_is_named():
    near = NearDeduper(threshold=0.5, num_perm=256, shingle_chars=1, seed=1)
    assert near.check("z-first", "abcdefghij") is None
    assert near.check("a-second", "fghijklmno") is None  # 5 of 15 letters shared: kept
    # 8 of 13 letters shared with each: a near-duplicate of both, reported as the first one kept
    assert near.check("m-third", "cdefghijklm") == "z-first"


def test_a_sketch_similarity_of_exactly_the_threshold_is_a_duplicate():
    near = NearDeduper(threshold=0.5, num_perm=64, shingle_chars=1, seed=1)
    first, second = "csditnejgafrwxlpqzom", "cvdetnejfsfrmxlpqzok"  # found by a seeded search
    assert near.sketch(first).jaccard(near.sketch(second)) == 0.5  # 32 of 64 hash values equal
    assert near.check("a", first) is None
    assert near.check("b", second) == "a"


def test_signatures_from_workers_dedup_like_texts_checked_here():
    """The parallel preprocess sends hash values back from worker processes: ``check_signature`` on
    them must keep and drop exactly what ``check`` on the texts would, naming the same earlier key."""
    base = "강둑을 따라 천천히 걸으며 지나간 여름의 일들을 하나씩 떠올렸다. 바람이 불었다."
    texts = {"a": base, "b": base.replace("천천히", "느리게"), "c": "전혀 다른 글이 여기에 있다, 골목과 시장.", "d": "!?"}
    here, remote = NearDeduper(0.5, 64, 5, seed=3), NearDeduper(0.5, 64, 5, seed=3)
    sender = NearDeduper(0.5, 64, 5, seed=3)  # a worker: sketches only
    signatures = {key: sender.signature(text) for key, text in texts.items()}
    assert signatures["d"] is None  # no shingle: nothing to send
    assert list(signatures["a"]) == list(here.sketch(texts["a"]).hashvalues)
    expected = [here.check(key, text) for key, text in texts.items()]
    assert expected == [None, "a", None, None]
    assert [remote.check_signature(key, signatures[key]) for key in texts] == expected
    # what the index kept from a signature is compared like a sketch: the next near copy finds it
    assert remote.check_signature("e", sender.signature(base + " 끝.")) == "a"
