"""Pure text functions of the preprocess stage, on hand-made Korean examples (our own sentences)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanchaek.text import goldsets, style
from sanchaek.text.dedup import ExactDeduper, NearDeduper, exact_key
from sanchaek.text.filters import QualityRules, SentenceFilter, list_line_share, repeated_line_share
from sanchaek.text.normalize import (
    NormalizeOptions,
    Normalizer,
    hanja_to_hangul,
    normalize_chars,
    strip_html,
)
from sanchaek.text.passages import Sentence, build_passages, passage_id
from sanchaek.text.pii import DEFAULT_KINDS, OPTIONAL_KINDS, ORDER, TAGS, PiiScrubber, luhn_ok
from sanchaek.text.sentences import SentenceSplitter, quote_spans
from sanchaek.text.toxicity import DISGUISED, keyboard_to_hangul, load_lexicon, skeleton

# ---------------------------------------------------------------------------------------------
# normalize


def test_normalize_chars_nfc_fullwidth_quotes_ellipsis():
    decomposed = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # 한글 as conjoining jamo (NFD)
    assert normalize_chars(decomposed) == "한글"
    assert normalize_chars("“안녕” ‘그래’") == "\"안녕\" '그래'"
    assert normalize_chars("그래서... 그랬다…… 음‥") == "그래서… 그랬다… 음…"
    assert normalize_chars("『가자』 「길」") == "\"가자\" '길'"
    assert normalize_chars("『가자』", corner_quotes=False) == "『가자』"
    assert normalize_chars("보이지\u200b 않는\ufeff 글자") == "보이지 않는 글자"


def test_fullwidth_ascii_folds_but_hangul_stays():
    assert normalize_chars("ＡＢＣ！１２") == "ABC!12"
    assert normalize_chars("한글漢字") == "한글漢字"


def test_strip_html_entities_tags_scripts():
    html = '<div class="x"><p>봄이 왔다&nbsp;&amp; 꽃이 폈다.</p><script>var a=1;</script><!-- 광고 --><br>끝</div>'
    out = strip_html(html)
    assert "<" not in out and "var a" not in out and "광고" not in out
    assert "봄이 왔다" in out and "& 꽃이 폈다." in out and "끝" in out
    assert strip_html("&amp;lt;") == "<"  # double-escaped


def test_normalizer_document_boilerplate_and_page_markers():
    norm = Normalizer(NormalizeOptions(boilerplate=(r"무단\s*전재", r"^구독(?:\s*\d+)?$")))
    text = "첫 문단이다.<12> 이어진다.\n\n\n\n무단 전재 및 재배포 금지\n구독 12\n   둘째   문단.  "
    out, removed = norm.document(text)
    assert removed == 2
    assert out == "첫 문단이다. 이어진다.\n\n둘째 문단."


def test_hanja_to_hangul_matches_whole_text_translation():
    import hanja

    text = "大監 『新年 새해에는』 5里 길을 걸었다. 女子와 男女."
    out, converted = hanja_to_hangul(text)
    assert out == hanja.translate(text, "substitution")
    assert converted == 9
    assert "대감" in out and "5리" in out


# ---------------------------------------------------------------------------------------------
# style (fit)


def test_period_spellings_found_in_old_orthography_not_in_modern():
    old = "그 때에 나는 집에 잇섯다. 돈이 업섯다. 하엿다. 가튼 사람이 만히 잇다. 물ㅅ결이 조흔 날."
    modern = "그때 나는 집에 있었다. 돈이 없었다. 가만히 앉아 안타까운 마음으로 길을 이었다."
    assert style.period_share(old) > 0.4
    assert style.period_share(modern) == 0.0
    counts = style.period_spelling_breakdown(old)
    assert counts["잇다(있다)"] == 1 and counts["ㅅ-cluster"] == 1


def test_hanja_ratio_and_dialogue():
    assert style.hanja_ratio("漢字 한글") == 0.5
    assert style.hanja_ratio("abc") == 0.0
    assert style.is_dialogue('"어디 가니?"') and style.is_dialogue("『가자』")
    assert not style.is_dialogue("그는 말했다.")


# ---------------------------------------------------------------------------------------------
# sentences


@pytest.fixture(scope="module")
def splitter():
    return SentenceSplitter("hybrid", workers=1)


def test_split_numbers_and_ellipses(splitter):
    [sents] = splitter.split(["원주율은 3.14이다. 그는 말이 없었다… 그래도 걸었다. 1.5킬로미터를 더 갔다."])
    assert sents == ["원주율은 3.14이다.", "그는 말이 없었다…", "그래도 걸었다.", "1.5킬로미터를 더 갔다."]


def test_split_keeps_dialogue_whole_and_splits_before_quote(splitter):
    [sents] = splitter.split(['나는 고개를 들었다. "정말이야? 거짓말이지. 말해 봐." 하고 그가 물었다.'])
    # no boundary inside the quotation; after it, the gold convention (KoCoNovel) starts a new one
    assert sents == ["나는 고개를 들었다.", '"정말이야? 거짓말이지. 말해 봐."', "하고 그가 물었다."]
    [sents] = splitter.split(['그는 "정말이야? 거짓말이지"라고 물었다.'])
    assert sents == ['그는 "정말이야? 거짓말이지"라고 물었다.']
    [sents] = splitter.split(['"가자." "어디로?" 둘은 웃었다.'])
    assert sents == ['"가자."', '"어디로?"', "둘은 웃었다."]


def test_kiwi_finds_boundary_without_punctuation():
    kiwi = SentenceSplitter("kiwi", workers=1)
    text = "오늘 엄마가 죽었다 아니 어쩌면 어제였는지도 모르겠다 나는 강가를 따라 천천히 걸었다"
    assert len(kiwi.split([text])[0]) >= 2
    assert SentenceSplitter("regex").split([text]) == [[text]]


def test_quote_spans_ignore_unbalanced_and_apostrophes():
    assert quote_spans('그는 "가자" 했다', 500) == [(3, 7)]
    assert quote_spans('닫히지 않은 "따옴표', 500) == []
    assert quote_spans("It's 그의 don't", 500) == []
    assert quote_spans("『밖 「안」 밖』", 500) == [(0, 9)]


def test_split_spans_cover_text(splitter):
    unit = "첫 문장이다.  둘째 문장이다!   셋째?"
    [spans] = list(splitter.split_spans([unit]))
    assert [unit[s:e] for s, e in spans] == ["첫 문장이다.", "둘째 문장이다!", "셋째?"]


# ---------------------------------------------------------------------------------------------
# PII


@pytest.mark.parametrize(
    "text,kind",
    [
        ("메일은 walker.kim@example.co.kr 로 주세요.", "email"),
        ("자세한 건 https://blog.example.com/post?id=3 에서.", "url"),
        ("www.sanchaek.kr 에 올렸다.", "url"),
        ("연락처 010-1234-5678 입니다.", "phone"),
        ("집 전화 02)345-6789 로.", "phone"),
        ("번호 +82 10-9876-5432 를 남겼다.", "phone"),
        ("대표번호 1588-1234 로 문의.", "phone"),
        ("주민번호 900101-1234567 을 적었다.", "rrn"),
        ("카드 4111 1111 1111 1111 로 결제.", "card"),
        ("계좌 110-234-567890 으로 보냈다.", "account"),
        ("트위터 @sanchaek_walk 에게 물었다.", "handle"),
    ],
)
def test_pii_positive(text, kind):
    out, found = PiiScrubber().scrub(text)
    assert found[kind] == 1, (out, found)
    assert f"<{kind.upper()}>" in out


@pytest.mark.parametrize(
    "text",
    [
        "1926-1930년 사이의 일이다.",  # year range
        "1935-06-01 에 태어났다.",  # a date is not an account
        "그는 3.14와 2.71을 외웠다.",
        "4111 1111 1111 1112 는 틀린 번호다.",  # fails Luhn
        "991399-1234567",  # month 13: not a resident number
        "오후 5시에 만나자. 인구는 12345명.",
        "이메일이라는 말 @ 혼자 있는 기호.",
    ],
)
def test_pii_negative(text):
    out, found = PiiScrubber().scrub(text)
    assert not found, (out, found)
    assert out == text


def test_pii_only_enabled_kinds_and_luhn():
    out, found = PiiScrubber(["email"]).scrub("a@b.com 010-1234-5678")
    assert out == "<EMAIL> 010-1234-5678" and dict(found) == {"email": 1}
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    with pytest.raises(ValueError):
        PiiScrubber(["ssn"])


# ---------------------------------------------------------------------------------------------
# toxicity


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


@pytest.mark.parametrize(
    "text,category",
    [
        ("씨발 이게 뭐야.", "profanity"),
        ("ㅅㅂ 진짜 싫다.", "profanity"),
        ("이 개새끼야!", "profanity"),
        ("김치녀들은 다 그래.", "hate"),
        ("틀딱충 같은 소리.", "hate"),
        ("쪽바리 놈들이 왔다.", "hate"),
        ("섹스 동영상 링크.", "sexual"),
    ],
)
def test_toxicity_positive(lexicon, text, category):
    assert lexicon.hits(text)[category] >= 1


@pytest.mark.parametrize(
    "text",
    [
        "시발점에서 기차를 탔다.",  # 始發點
        "병신년 봄에 태어났다.",  # 丙申年
        "그 영화를 보지 않았다. 잠을 자지 않았다.",  # verbs
        "아이가 과자를 사 달라고 졸라 댔다.",  # 조르다
        "섹스피어의 희곡을 읽었다.",  # Shakespeare, period spelling
        "충격적인 소식에 맘이 아팠다.",
    ],
)
def test_toxicity_negative(lexicon, text):
    assert not lexicon.hits(text), lexicon.hits(text)


def test_bad_lexicon_line_is_a_clear_error(tmp_path):
    from sanchaek.errors import SanchaekError

    bad = tmp_path / "lex.tsv"
    bad.write_text("insult\t바보\n", encoding="utf-8")
    with pytest.raises(SanchaekError, match=r"lex.tsv:1"):
        load_lexicon(bad)


# ---------------------------------------------------------------------------------------------
# quality filters


@pytest.fixture
def sentence_filter():
    return SentenceFilter(
        QualityRules(
            min_sentence_chars=2,
            max_sentence_chars=200,
            min_hangul_ratio=0.5,
            max_char_repeat=10,
            max_digit_ratio=0.3,
            max_symbol_ratio=0.3,
            count_hanja_as_korean=False,
            drop_broken_chars=True,
        )
    )


@pytest.mark.parametrize(
    "text,reason",
    [
        ("가", "too_short"),
        ("가" * 201, "too_long"),
        ("옛 글자 \ue0bc 가 깨졌다.", "broken_chars"),
        ("깨진 � 글자.", "broken_chars"),
        ("ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ 웃겼다", "repeated_chars"),
        ("This sentence is English only.", "low_hangul"),
        ("あいうえお かきくけこ 이다", "low_hangul"),
        ("2023 1129 3344 5566 합계 7788", "number_run"),
        ("★☆★☆★☆ 별점 ★☆★☆", "symbols"),
    ],
)
def test_sentence_filter_drops(sentence_filter, text, reason):
    assert sentence_filter.reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "네.",
        "그는 1920년에 서울에 왔다.",
        '"정말 그랬어?" 하고 물었다.',
        "메일 <EMAIL> 로 보냈다.",
        "아아아아아 하고 울었다.",
    ],
)
def test_sentence_filter_keeps_prose(sentence_filter, text):
    assert sentence_filter.reason(text) is None


def test_document_line_shares():
    assert repeated_line_share(["가", "나", "가", "가"]) == 0.5
    assert repeated_line_share(["후렴", "후렴"]) == 0.0  # too short to judge
    assert list_line_share(["- 사과", "- 배", "1) 감", "그는 걸었다."]) == 0.75
    assert list_line_share(["| 이름 | 값 |", "12 34 56", "산문이다."]) == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------
# dedup


def test_exact_dedup_ignores_spacing_and_punctuation():
    d = ExactDeduper()
    assert d.check("a", "나는 걸었다. 바람이 불었다.") is None
    assert d.check("b", "나는  걸었다 바람이 불었다!") == "a"
    assert exact_key("가 나") == exact_key("가나")


def test_near_dedup_finds_edited_copy_and_keeps_different_text():
    base = " ".join(
        [
            "골목 끝의 찻집에서 옛 친구를 생각했다.",
            "그날도 비가 내렸고 우리는 말없이 걸었다.",
            "다리 위에서 멈춰 서서 물결을 오래 보았다.",
            "어머니의 손은 따뜻했고 나는 그 온기를 기억했다.",
            "강가의 버드나무가 바람에 흔들렸다.",
        ]
    )
    edited = base.replace("오래", "한참") + " 끝."
    other = "전혀 다른 이야기다. 시장에는 사람이 많았고 생선 냄새가 골목을 채웠다. 아이들이 뛰어다녔다."
    near = NearDeduper(threshold=0.8, num_perm=128, shingle_chars=5, seed=1)
    assert near.check("a", base) is None
    assert near.check("b", edited) == "a"
    assert near.check("c", other) is None


# ---------------------------------------------------------------------------------------------
# passages


def test_passages_pack_whole_sentences_up_to_limit():
    sents = [Sentence("가" * 30 + ".", " ") for _ in range(5)]
    passages = build_passages(sents, 70)
    assert [p.n_sentences for p in passages] == [2, 2, 1]
    assert all(len(p.text) <= 70 for p in passages)
    assert passages[0].text == sents[0].text + " " + sents[1].text


def test_long_sentence_becomes_own_passage_and_separators_kept():
    sents = [
        Sentence("짧다.", " "),
        Sentence("길" * 100 + ".", " "),
        Sentence("둘째 줄.", "\n"),
        Sentence("이어진다.", " "),
    ]
    passages = build_passages(sents, 50)
    assert [p.text for p in passages] == ["짧다.", "길" * 100 + ".", "둘째 줄. 이어진다."]
    passages = build_passages(sents[2:], 600)
    assert passages[0].text == "둘째 줄. 이어진다."
    together = build_passages([sents[0], sents[2]], 600)
    assert together[0].text == "짧다.\n둘째 줄."


def test_passage_ids_stable():
    assert passage_id("doc-1", 3) == "doc-1#0003"


# ---------------------------------------------------------------------------------------------
# hand-written held-out-style sets (tests/data/): PII, toxicity, sentence boundaries

DATA = Path(__file__).parent / "data"
PII_CASES = goldsets.read_pii_cases(DATA / "pii" / "pii.tsv")
CLEAN = goldsets.read_labelled(DATA / "pii" / "clean.tsv")


def test_pii_sets_are_big_enough_and_well_formed():
    assert len(PII_CASES) >= 150 and len(CLEAN) >= 80
    assert {c.kind for c in PII_CASES} == set(ORDER)
    assert all(c.text[c.start : c.end].strip() == c.text[c.start : c.end] != "" for c in PII_CASES)
    # particles glued to the string are the point of the set: most cases have hangul right after it
    glued = sum(1 for c in PII_CASES if c.end < len(c.text) and "가" <= c.text[c.end] <= "힣")
    assert glued >= 100


@pytest.mark.parametrize("split", ["dev", "holdout"])
@pytest.mark.parametrize("kinds", [DEFAULT_KINDS, ORDER], ids=["default", "all"])
def test_pii_recall_per_kind_and_clean_strings_kept(split, kinds):
    scrubber = PiiScrubber(kinds)
    cases = [c for c in PII_CASES if c.split == split and c.kind in kinds]
    recall = goldsets.pii_recall(lambda t: scrubber.scrub(t)[0], cases, TAGS)
    report = {k: f"{v['caught']}/{v['n']}" for k, v in recall.items()}
    print(f"PII recall ({split}, {len(kinds)} kinds):", report)
    assert set(recall) == set(kinds)
    for kind, row in recall.items():
        assert row["recall"] >= 0.95, (kind, row["misses"])
    altered = goldsets.clean_altered(lambda t: scrubber.scrub(t)[0], [r for r in CLEAN if r.split == split])
    assert len(altered) <= 1, altered


def test_optional_kinds_are_off_by_default():
    assert set(DEFAULT_KINDS).isdisjoint(OPTIONAL_KINDS)
    text = "서울특별시 마포구 양화로 45, 192.168.0.12, 여권 M12345678, 김영희 씨"
    assert PiiScrubber().scrub(text) == (text, Counter())
    out, found = PiiScrubber(ORDER).scrub(text)
    assert set(found) == {"address", "ip", "passport", "person"}, out


@pytest.mark.parametrize(
    "token",
    [
        "1-" * 50_000,
        "x@" + "a." * 50_000,
        "1 " * 50_000,
        "1:" * 50_000,
        "11111111 " * 11_000,
        "가" * 100_000 + " 씨",
        "http://a.com" + "/가" * 50_000,
        "a" * 100_000 + ".com",
        "김" * 100_000 + "@a.com",
        "x [at] " * 15_000,
    ],
    ids=[
        "dashes",
        "dotted-email",
        "spaced-digits",
        "colons",
        "digit-groups",
        "hangul",
        "url-path",
        "latin",
        "hangul-email",
        "at-words",
    ],
)
def test_pii_scrubbing_is_linear_on_100k_character_tokens(token):
    """A 10x longer input costs about 10x, never 100x (a quadratic pattern took 5.8 s on 20k chars)."""
    scrubber = PiiScrubber(ORDER)
    token = token[:100_000]
    short = token[:10_000]
    t0 = time.perf_counter()
    scrubber.scrub(short)
    t_short = max(time.perf_counter() - t0, 1e-3)
    t0 = time.perf_counter()
    scrubber.scrub(token)
    t_long = time.perf_counter() - t0
    assert t_long < 5.0 and (t_long < 0.25 or t_long / t_short < 30), (t_short, t_long)


TOXIC = goldsets.read_labelled(DATA / "toxicity" / "toxic.tsv")
INNOCENT = goldsets.read_labelled(DATA / "toxicity" / "clean.tsv")
DEFAULT_LIMITS = {"hate": 0, "profanity": 2, "sexual": 0, DISGUISED: 0}


def _dropped(lexicon, text: str) -> bool:
    return any(n > DEFAULT_LIMITS[c] for c, n in lexicon.hits(text).items())


def test_toxicity_sees_through_disguises(lexicon):
    assert len(TOXIC) >= 30
    missed = [r.text for r in TOXIC if not lexicon.hits(r.text)]
    kept = [r.text for r in TOXIC if r.label != "profanity_plain" and not _dropped(lexicon, r.text)]
    print(f"toxic: detected {len(TOXIC) - len(missed)}/{len(TOXIC)}, must-drop kept {len(kept)}")
    assert not missed and not kept, (missed, kept)


def test_toxicity_allow_list_keeps_innocent_sentences(lexicon):
    dropped = [r.text for r in INNOCENT if _dropped(lexicon, r.text)]
    print(f"innocent dropped: {len(dropped)}/{len(INNOCENT)}")
    assert not dropped, dropped


def test_keyboard_layout_and_skeleton():
    assert keyboard_to_hangul("tlqkf") == "시발" and keyboard_to_hangul("dkssudgktpdy") == "안녕하세요"
    assert skeleton("시 발 병1신 씨.발 시이이발") == "시발 병신 씨발 시발"
    assert skeleton("미친 듯이 달렸다.") == "미친 듯이 달렸다."  # spaces between words stay


@pytest.mark.parametrize("name", ["hard_dev", "hard_holdout"])
def test_hybrid_splitter_on_the_hard_boundary_set(splitter, name):
    gold = goldsets.read_boundary_gold(DATA / "sentences" / f"{name}.txt")
    scores = goldsets.boundary_scores(gold, splitter.split([g.text for g in gold]))
    print(name, scores)
    assert scores["boundary_f1"] >= 0.90, scores


def test_hard_boundary_set_is_big_enough():
    gold = [
        p
        for n in ("hard_dev", "hard_holdout")
        for p in goldsets.read_boundary_gold(DATA / "sentences" / f"{n}.txt")
    ]
    assert len(gold) >= 50 and sum(any(p.optional) for p in gold) >= 5


def test_boundary_scores_treat_optional_boundaries_as_neither():
    gold = [goldsets.GoldParagraph(("가.", "나.", "다."), (False, True, False))]
    assert goldsets.boundary_scores(gold, [["가.", "나.", "다."]])["boundary_f1"] == 1.0
    assert goldsets.boundary_scores(gold, [["가. 나.", "다."]])["boundary_f1"] == 1.0
    assert goldsets.boundary_scores(gold, [["가. 나. 다."]])["boundary_recall"] == 0.0


# ---------------------------------------------------------------------------------------------
# properties (hypothesis): what each text function promises for any input

_KOREANISH = st.text(
    alphabet=st.sampled_from(
        list("가나다라시발병신씨 .…,!?\"'“”『』「」-–—―0123456789@:/()ab\n\t\u00a0\u200bＡ１")
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(_KOREANISH)
def test_normalisation_is_idempotent(text):
    once = normalize_chars(text)
    assert normalize_chars(once) == once
    document = Normalizer(NormalizeOptions(boilerplate=(r"^구독$",)))
    cleaned, _ = document.document(text)
    assert document.document(cleaned)[0] == cleaned


@settings(max_examples=60, deadline=None)
@given(st.lists(_KOREANISH.filter(lambda t: "\n" not in t), min_size=1, max_size=4))
def test_split_then_join_gives_back_the_text(splitter, units):
    """The promise: spans are in order, do not overlap, and cover every non-space character."""
    for unit, spans in zip(units, splitter.split_spans(units), strict=True):
        assert all(s < e for s, e in spans) and all(
            a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)
        )
        assert "".join("".join(unit[s:e].split()) for s, e in spans) == "".join(unit.split())


_PII_TEXT = st.text(
    alphabet=st.sampled_from(list("0123456789-. ()+@a가로이씨님kr.com/:wh골뱅이ID")), max_size=60
) | st.sampled_from([c.text for c in PII_CASES[:40]] + [r.text for r in CLEAN[:40]])


@settings(max_examples=200, deadline=None)
@given(_PII_TEXT)
def test_scrubbing_leaves_no_match_and_changes_nothing_without_one(text):
    scrubber = PiiScrubber(ORDER)
    out, found = scrubber.scrub(text)
    if not found:
        assert out == text
    else:
        assert sum(found.values()) == sum(out.count(TAGS[k]) for k in found) - sum(
            text.count(TAGS[k]) for k in found
        )
    assert scrubber.scrub(out) == (out, Counter())
