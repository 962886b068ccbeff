"""Golden tokens: the Nori analysis pinned on inflections, compounds, hanja and Latin/digits.

Observed from Lucene 8.7 Nori (mecab-ko-dic) with the default params; Elasticsearch's analysis-nori
runs the same tokenizer code and dictionary. Also: the one analysis definition renders identically
for both backends, and bad analysis params fail with one clear line.
"""

from __future__ import annotations

import pytest

from sanchaek.config import params_from_dict
from sanchaek.config.search import DEFAULT_STOPTAGS, IndexParams
from sanchaek.errors import SanchaekError
from sanchaek.paths import Layout
from sanchaek.search import open_backend
from sanchaek.search.analysis import elasticsearch_settings, lucene_chain

GOLDEN = {
    # inflections of 담대하다 all reduce to 담대 (as noun or root)
    "담대하다": [("담대", "NNG", 0, 2)],
    "담대한 사람": [("담대", "XR", 0, 2), ("사람", "NNG", 4, 6)],
    "담대했다": [("담대", "NNG", 0, 2)],
    "담대하게 말했다": [("담대", "NNG", 0, 2), ("말", "NNG", 5, 6)],
    # 죽음 -> 죽 + 음, and 죽었다 -> 죽 (endings are stoptags; 오늘 is an adverb, MAG)
    "죽음": [("죽", "NNG", 0, 1), ("음", "NNG", 1, 2)],
    "오늘 엄마가 죽었다": [("엄마", "NNG", 3, 5), ("죽", "VV", 7, 8)],
    "죽엇다": [("죽", "VV", 0, 1)],  # period spelling (엇 for 었) still finds the stem
    # compounds are split (decompound_mode: discard)
    "가정집 사랑방": [("가정", "NNG", 0, 2), ("집", "NNG", 2, 3), ("사랑", "NNG", 4, 6), ("방", "NNG", 6, 7)],
    "서울대학교병원": [
        ("서울", "NNP", 0, 2),
        ("대", "NNG", 2, 3),
        ("학교", "NNG", 3, 5),
        ("병원", "NNG", 5, 7),
    ],
    # hanja read as hangul (nori_readingform), offsets still point at the hanja
    "學校에 갔다": [("학교", "NNG", 0, 2), ("가", "VV", 4, 5)],
    "豪放하고 膽大하고": [("호방", "XR", 0, 2), ("담대", "NNG", 5, 7)],
    # Latin lowercased, digits kept, counters tagged
    "iPhone 15 Pro를 샀다": [
        ("iphone", "SL", 0, 6),
        ("15", "SN", 7, 9),
        ("pro", "SL", 10, 13),
        ("사", "VV", 15, 16),
    ],
    "COVID-19 백신 2차 접종": [
        ("covid", "SL", 0, 5),
        ("19", "SN", 6, 8),
        ("백신", "NNG", 9, 11),
        ("2", "SN", 12, 13),
        ("차", "NNBC", 13, 14),
        ("접종", "NNG", 15, 17),
    ],
}


def analyze(params: IndexParams, text: str, tmp_path) -> list[tuple]:
    backend = open_backend(params, Layout(tmp_path), backend="embedded")
    return [(t.term, t.pos, t.start, t.end) for t in backend.analyze(text)]


@pytest.mark.parametrize("text", list(GOLDEN))
def test_golden_tokens(text, tmp_path):
    assert analyze(IndexParams(), text, tmp_path) == GOLDEN[text]


def with_analysis(**analysis) -> IndexParams:
    return IndexParams.model_validate({"analysis": analysis})


def test_decompound_modes(tmp_path):
    text = "가정집 서울대학교병원"
    none = analyze(with_analysis(nori_tokenizer={"decompound_mode": "none"}), text, tmp_path)
    mixed = analyze(with_analysis(nori_tokenizer={"decompound_mode": "mixed"}), text, tmp_path)
    assert [t[0] for t in none] == ["가정집", "서울", "대학교", "병원"]
    assert [t[0] for t in mixed] == ["가정집", "가정", "집", "서울", "대학교", "대", "학교", "병원"]


def test_user_dictionary_rules_are_applied(tmp_path):
    params = with_analysis(nori_tokenizer={"decompound_mode": "none", "user_dictionary_rules": ["산책소설"]})
    # decompound_mode none also keeps the inflected 썼 whole (it is not split into 쓰 + 었)
    assert [t[0] for t in analyze(params, "산책소설을 썼다", tmp_path)] == ["산책소설", "썼"]
    assert [t[0] for t in analyze(IndexParams(), "산책소설을 썼다", tmp_path)] == ["산책", "소설", "쓰"]


def test_filters_can_be_switched_off(tmp_path):
    params = with_analysis(nori_readingform=False, lowercase=False, nori_part_of_speech={"stoptags": []})
    assert analyze(params, "學校에 iPhone", tmp_path) == [
        ("學校", "NNG", 0, 2),
        ("에", "J", 2, 3),
        ("iPhone", "SL", 4, 10),
    ]


def test_one_definition_renders_for_both_backends():
    params = with_analysis(nori_tokenizer={"decompound_mode": "mixed", "user_dictionary_rules": ["산책소설"]})
    es = elasticsearch_settings(params.analysis)
    tokenizer = es["tokenizer"]["sanchaek_nori_tokenizer"]
    assert tokenizer == {
        "type": "nori_tokenizer",
        "decompound_mode": "mixed",
        "discard_punctuation": True,
        "user_dictionary_rules": ["산책소설"],
    }
    assert es["analyzer"]["sanchaek_nori"]["filter"] == ["sanchaek_nori_pos", "nori_readingform", "lowercase"]
    assert es["filter"]["sanchaek_nori_pos"]["stoptags"] == DEFAULT_STOPTAGS
    chain = lucene_chain(params.analysis, "userdict_ko.txt")
    assert [c.rsplit(".", 1)[-1] for c, _ in chain] == [
        "KoreanTokenizerFactory",
        "KoreanPartOfSpeechStopFilterFactory",
        "KoreanReadingFormFilterFactory",
        "LowerCaseFilterFactory",
    ]
    assert chain[0][1]["decompoundMode"] == "mixed" and chain[0][1]["userDictionary"] == "userdict_ko.txt"
    assert chain[1][1]["tags"].split(",") == DEFAULT_STOPTAGS


def test_empty_stoptags_mean_no_filter_in_both():
    params = with_analysis(nori_part_of_speech={"stoptags": []})
    assert "filter" not in elasticsearch_settings(params.analysis)
    assert len(lucene_chain(params.analysis, None)) == 3


@pytest.mark.parametrize(
    "index, fragment",
    [
        (
            {"analysis": {"nori_tokenizer": {"decompound_mode": "some"}}},
            "index.analysis.nori_tokenizer.decompound_mode",
        ),
        (
            {"analysis": {"nori_part_of_speech": {"stoptags": ["XX"]}}},
            "index.analysis.nori_part_of_speech.stoptags",
        ),
        ({"analysis": {"nori_tokenizer": {"user_dictionary_rules": ["a\nb"]}}}, "user_dictionary_rules"),
        ({"analysis": {"stemmer": True}}, "unknown key 'index.analysis.stemmer'"),
        ({"backend": "solr"}, "index.backend"),
    ],
)
def test_bad_analysis_params_fail_with_one_line(index, fragment):
    with pytest.raises(SanchaekError, match=fragment.replace(".", r"\.")) as err:
        params_from_dict({"index": index})
    assert "\n" not in str(err.value)


def test_highlight_fragments_from_offsets():
    from sanchaek.search.highlight import highlight, utf16_to_str_offsets

    text = "가" * 50 + "죽음" + "나" * 50 + "죽었다" + "다" * 10
    assert highlight(text, [(50, 51), (51, 52)], 20, 1).count("<em>") == 2
    two = highlight(text, [(50, 51), (102, 103)], 20, 2)
    assert two.count("<em>") == 2 and " … " in two
    assert highlight(text, [], 10, 1) == "가" * 10
    assert utf16_to_str_offsets("가나") is None
    assert utf16_to_str_offsets("😀가") == [0, 0, 1, 2]  # the emoji takes two UTF-16 units


def test_strings_cross_into_the_jvm_unchanged(tmp_path):
    from sanchaek.search.embedded import java_strings

    backend = open_backend(IndexParams(), Layout(tmp_path), backend="embedded")
    values = ["", "가나다", "😀 엄마가 죽었다", "a\x00b", "한" * 5000, "𠀀漢字 學校"]
    assert [str(s) for s in java_strings(backend.java, values)] == values
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate is no text, in Java either
        java_strings(backend.java, ["x\ud800y"])


def test_offsets_survive_characters_outside_the_bmp(tmp_path):
    tokens = analyze(IndexParams(), "😀 엄마가 죽었다", tmp_path)
    assert ("엄마", "NNG", 2, 4) in tokens


def test_analyze_json_has_positions_with_gaps_position_lengths_and_utf16_offsets(tmp_path):
    from sanchaek.search.analysis import analyze_response

    backend = open_backend(IndexParams(), Layout(tmp_path), backend="embedded")
    text = "😀 엄마가 죽었다"
    tokens = analyze_response(text, backend.analyze(text))["tokens"]
    # 가 (a particle) is stopped and leaves a gap; 😀 is two UTF-16 units, as Elasticsearch counts
    assert [(t["token"], t["position"], t["start_offset"], t["end_offset"]) for t in tokens] == [
        ("😀", 0, 0, 2), ("엄마", 1, 3, 5), ("죽", 3, 7, 8),
    ]  # fmt: skip
    mixed = open_backend(
        with_analysis(nori_tokenizer={"decompound_mode": "mixed"}), Layout(tmp_path), backend="embedded"
    )
    compound = analyze_response("가정집", mixed.analyze("가정집"))["tokens"]
    assert [(t["token"], t["position"], t.get("positionLength", 1)) for t in compound] == [
        ("가정집", 0, 2), ("가정", 0, 1), ("집", 1, 1),
    ]  # fmt: skip


def test_nori_number_is_an_analysis_option(tmp_path):
    params = with_analysis(nori_number=True)
    assert [t[0] for t in analyze(params, "십만 원을 냈다", tmp_path)][:1] == ["100000"]
    assert [t[0] for t in analyze(IndexParams(), "십만 원을 냈다", tmp_path)][:2] == [
        "십",
        "만",
    ]  # without: two numerals
    assert elasticsearch_settings(params.analysis)["analyzer"]["sanchaek_nori"]["filter"][0] == "nori_number"
    assert lucene_chain(params.analysis, None)[1][0].endswith("KoreanNumberFilterFactory")


def test_analyze_reads_a_file_or_stdin_and_says_when_the_text_is_empty(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sanchaek.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("index:\n  backend: embedded\n", encoding="utf-8")
    (tmp_path / "t.txt").write_text("엄마가 죽었다\n", encoding="utf-8")
    runner = CliRunner()
    from_file = runner.invoke(cli, ["analyze", "--file", "t.txt"], standalone_mode=False)
    from_stdin = runner.invoke(cli, ["analyze", "-"], input="엄마가 죽었다\n", standalone_mode=False)
    assert from_file.exit_code == 0 and "엄마\tNNG" in from_file.output and "죽\tVV" in from_file.output
    assert from_stdin.output == from_file.output
    for args, stdin in ((["analyze", "   "], None), (["analyze", "-"], " \n\t")):
        empty = runner.invoke(cli, args, input=stdin, standalone_mode=False)
        assert isinstance(empty.exception, SanchaekError) and "empty" in str(empty.exception)
        assert "stoptags" not in str(empty.exception)
    missing = runner.invoke(cli, ["analyze", "--file", "nope.txt"], standalone_mode=False)
    assert isinstance(missing.exception, SanchaekError) and "nope.txt" in str(missing.exception)
