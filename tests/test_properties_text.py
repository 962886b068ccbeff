"""Properties of the preprocess text functions (issue #26, item 3): normalising twice changes nothing;
sentence spans give the unit back (only whitespace lies between them); PII scrubbing leaves no match
of its own patterns and changes no text in which it finds none."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sanchaek.text.normalize import NormalizeOptions, Normalizer, normalize_chars
from sanchaek.text.pii import OPTIONAL_KINDS, ORDER, PiiScrubber
from sanchaek.text.sentences import SentenceSplitter

FAST = settings(max_examples=150, deadline=None)

# the characters each rule reads: hangul and latin, the punctuation that is unified (ellipses,
# dashes, quotes, corners, full width), spaces of every kind, invisible and control characters,
# line breaks, and the pieces of HTML, entities and page markers
_ALPHABET = (
    "가나다산책길은 abcXY 0123456789"
    ".…‥。·―—–-“”„‘’‚″′『』「」\"'!?！Ａ"
    " \t\u00a0\u3000\u200b\u200d\ufeff\u00ad\x07\n\r\u2028\x85"
    "<>/&;#pbrdivscript=\"!-"
)
html_pieces = st.sampled_from(
    ["<p>", "</p>", "<br/>", "<div class=x>", "<script>x</script>", "<!-- c -->", "&amp;", "&lt;",
     "&gt;", "&nbsp;", "&amp;nbsp;", "&amp;lt;p&amp;gt;", "&#8203;", "<12>", "<국문>", "\n\n\n", "...", "--"]
)
messy_text = st.lists(st.one_of(st.text(_ALPHABET, max_size=6), html_pieces), max_size=12).map("".join)


@FAST
@given(messy_text, st.booleans(), st.booleans(), st.booleans())
@example("&amp;lt;p&amp;gt;", True, False, False)  # an entity that unescapes to a tag
@example("&amp;amp;amp;lt;b&amp;amp;amp;gt;.&#46;&#46;&ldquo;", True, True, True)
@example("<p<12>>", True, True, True)  # a marker inside a tag
def test_normalising_twice_changes_nothing(text, html, page_markers, corner_quotes):
    norm = Normalizer(NormalizeOptions(html=html, page_markers=page_markers, corner_quotes=corner_quotes))
    once, _ = norm.document(text)
    assert norm.document(once) == (once, 0)
    assert normalize_chars(normalize_chars(text)) == normalize_chars(text)


def _gives_back(unit: str, spans: list[tuple[int, int]]) -> None:
    """Spans in order, none empty, none overlapping, nothing but whitespace between or around them:
    the sentences and the gaps between them put together are the unit again."""
    rebuilt, last = [], 0
    for start, end in spans:
        assert last <= start < end <= len(unit)
        assert unit[last:start].isspace() or last == start
        assert not unit[start].isspace() and not unit[end - 1].isspace()
        rebuilt += [unit[last:start], unit[start:end]]
        last = end
    assert unit[last:].isspace() or last == len(unit)
    assert "".join(rebuilt) + unit[last:] == unit
    assert (spans == []) == (unit.strip() == "")


_SENTENCE_ALPHABET = "가나다라산책했다요죠 abcDr 0123 .!?…\"'“”『』「」‘’()^^ㅋㅎㅠ:;~ \t\u3000"
units = st.text(_SENTENCE_ALPHABET, max_size=60).filter(lambda u: "\n" not in u)


@pytest.fixture(scope="module")
def splitters():
    return [
        SentenceSplitter(kind, quote_aware=quotes, workers=1, max_quote_chars=20, kiwi_min_chars=30)
        for kind in ("regex", "hybrid")
        for quotes in (True, False)
    ]


@settings(max_examples=60, deadline=None)  # four splitters per example: Kiwi reads many pieces
@given(st.lists(units, min_size=1, max_size=4))
@example(["그가 말했다. “가자. 빨리.” 나는 갔다."])
@example(["Dr. Kim은 1. 2. 3. 왔다ㅋㅋ 정말 ^^ 좋다"])
def test_sentence_spans_give_the_unit_back(splitters, batch):
    for splitter in splitters:
        for unit, spans, sentences in zip(
            batch, splitter.split_spans(batch), splitter.split(batch), strict=True
        ):
            _gives_back(unit, spans)
            assert sentences == [unit[s:e] for s, e in spans]


# text made of the parts each PII kind is built from, so matches (and near misses) are common
_PII_PIECES = [
    "010-2847-3961", "02)123-4567", "851130-2746510", "4111 1111 1111 1111", "110-123-456789", "계좌",
    "kim@example.com", "kim(at)naver[dot]com", " 골뱅이 ", "https://blog.naver.com/kim/1", "www.a.kr",
    "naver.com/x", "@handle", "카톡 아이디 ", "ID ", "서울특별시 ", "종로구 ", "세종대로 175", "101동 202호",
    "192.168.0.1", "fe80::1", "dead:beef::cafe", "M12345678", "11-23-456789-01", "김철수 선생님", "이영희씨", "<EMAIL>", "<PHONE>", "<URL>",
    ".", "-", " ", "/", ":", "@", "(", ")", "1", "23", "456", "7890", "a", "kr", "com", "가", "로", "이고",
]
pii_text = st.lists(st.sampled_from(_PII_PIECES), max_size=10).map("".join)
kinds = st.sampled_from([ORDER, ORDER[:7], OPTIONAL_KINDS, ("email",), ("phone", "card"), ("url", "handle")])


@FAST
@given(pii_text, kinds)
@example("김철수 선생님김철수 선생님김철수 선생님", ORDER)  # each name hidden by the one before it
@example("주소는 dead:beef::cafe 이다", ORDER)  # an IPv6 address without a digit
def test_scrubbing_leaves_no_match_and_touches_nothing_without_one(text, wanted):
    scrubber = PiiScrubber(wanted)
    out, found = scrubber.scrub(text)
    assert scrubber.spans(out) == []
    assert scrubber.scrub(out) == (out, {})
    if not scrubber.spans(text):
        assert (out, found) == (text, {})
    else:
        assert out != text and sum(found.values()) >= len(scrubber.spans(text))
