"""Tests that pin src/sanchaek/text/pii.py beyond test_text.py's hand-written sets (`make mutation`,
reports/quality/mutation.json): obfuscated and upper-case spellings, hosts with TLDs nobody writes
bare, URL ends, each number kind alone, adjacent matches of two kinds, the TLD list itself."""

from __future__ import annotations

from collections import Counter

import pytest

from sanchaek.text.pii import ORDER, PiiScrubber, _icann_tlds


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("kim[AT]naver.com", "<EMAIL>"),  # upper-case obfuscation, no @ at all
        ("kim[AT]naver[DOT]com", "<EMAIL>"),
        ("kim@example.museum", "<EMAIL>"),  # a TLD nobody writes bare: fine in an address
        ("https://example.museum", "<URL>"),  # ... and after a scheme
        ("www.example.museum", "<URL>"),  # ... and after www.
        ("example.museum/a", "<URL>"),  # ... and bare with a path of one character
        ("example.museum/", "example.museum/"),  # a lone slash is no path
        ("https://example.io/x. 다음", "<URL>. 다음"),  # sentence punctuation is not the URL's
        ("(https://example.io/x)", "(<URL>)"),
        ("https://example.io/a.b", "<URL>"),
        ("https://example.io/AX", "<URL>"),
        ("a::b::c 그리고 fe80::1", "a::b::c 그리고 <IP>"),  # an invalid candidate first, then a real one
        ("마음 씨가 곱다", "마음 씨가 곱다"),  # 마음씨 (a kind heart) with a space is still no name
        ("카톡 id kimchi", "카톡 id <HANDLE>"),  # a lower-case id and no digit: the gate reads any case
    ],
)
def test_spellings_and_ends(text, scrubbed):
    assert PiiScrubber(ORDER).scrub(text)[0] == scrubbed


NUMBERS = "851130-2746510 4111 1111 1111 1111 010-2847-3961 신한은행 110-123-456789"


@pytest.mark.parametrize(
    ("kind", "tag"), [("rrn", "<RRN>"), ("card", "<CARD>"), ("phone", "<PHONE>"), ("account", "<ACCOUNT>")]
)
def test_each_number_kind_alone(kind, tag):
    out, found = PiiScrubber([kind]).scrub(NUMBERS)
    assert found == Counter({kind: 1}) and out.count(tag) == 1 and out.count("<") == 1


def test_a_match_of_a_kind_not_asked_for_does_not_stop_the_rest():
    text = "4111 1111 1111 1111 그리고 010-2847-3961"  # a card first, then a phone
    assert PiiScrubber(["phone"]).spans(text) == [(24, 37, "phone")]


@pytest.mark.parametrize(
    "text",
    ["kim@naver.com김철수 선생님", "김철수 선생님(02)123-4567", "김철수 선생님https://blog.naver.com/kim"],
)
def test_matches_that_touch_are_both_kept(text):
    spans = PiiScrubber(ORDER).spans(text)
    assert len(spans) == 2 and spans[0][1] == spans[1][0]


def test_find_counts_and_unknown_kinds_are_named():
    assert PiiScrubber(ORDER).find("010-2847-3961, kim@naver.com") == Counter({"phone": 1, "email": 1})
    with pytest.raises(ValueError) as err:
        PiiScrubber(["email", "bogus", "face"])
    assert str(err.value) == "unknown PII kinds: ['bogus', 'face']"


def test_the_tld_list_is_the_icann_section_one_label_each():
    import locale

    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: the list holds 한국 and other scripts
    try:
        tlds = _icann_tlds()
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert {"com", "kr", "io", "museum", "한국"} <= tlds and len(tlds) > 1000
    assert all(t and "." not in t and not t.startswith("//") and len(t.split()) == 1 for t in tlds)
    assert "blogspot" not in tlds  # the private section's names are no TLDs
