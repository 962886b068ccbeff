"""The preprocess stage end to end on small raw fixtures (our own placeholder Korean)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sanchaek.config import PreprocessParams, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.preprocess import command, preprocess, raw_files

PROSE = (
    "나는 강가를 따라 천천히 걸었다. 바람이 차가웠다. 골목 끝의 찻집에서 옛 친구를 생각했다.\n\n"
    '그날도 비가 내렸다. "어디 가니?" 하고 누가 물었다. 나는 대답하지 않았다…\n\n'
    "다리 위에서 멈춰 섰다. 물결이 느리게 흘러갔다. 원주율 3.14를 외우던 시절이 떠올랐다."
)
LINES = "\n".join(
    [
        "어머니의 손은 따뜻했다.",
        "나는 그 온기를 오래 기억했다.",
        "죽음은 멀리 있는 것이 아니었다.",
        "늘 곁에서 함께 걸었다.",
    ]
)
PERIOD = "그 때에 나는 서울에 잇섯다. 돈이 업섯다. 大監이 말하엿다. 가튼 사람이 만히 모엿다. 물ㅅ결이 조흔 날이엇다."
PII = "연락은 walker@example.com 이나 010-1234-5678 로 해 주세요. 나는 다시 길을 나섰다."
TOXIC = "씨발 씨발 씨발 진짜. 김치녀는 꺼져. 나는 조용히 창밖을 보았다."
HTML = "<p>봄이 왔다&nbsp;그리고 꽃이 폈다.</p><p>골목마다 사람들이 나와 있었다.</p><script>var x = 1;</script><br>무단 전재 및 재배포 금지"


def record(doc_id: str, text: str, **extra) -> dict:
    base = {
        "id": doc_id,
        "source": "fixture",
        "url": None,
        "title": f"제목 {doc_id}",
        "author": "작가",
        "genre": "short_story",
        "published": None,
        "text": text,
        "fetched_at": None,
        "layout": "paragraphs",
    }
    base.update(extra)
    return base


def write_raw(raw_dir: Path, records: list[dict], name: str = "fixture.jsonl") -> Path:
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def fixture_records() -> list[dict]:
    return [
        record("prose", PROSE),
        record("lines", LINES, layout="sentence_per_line", genre="novel"),
        record("period", PERIOD, genre="essay"),
        record("pii", PII),
        record("toxic", TOXIC),
        record("html", HTML),
        record("prose-copy", PROSE.replace("  ", " ")),  # exact duplicate after normalization
        record("prose-near", PROSE.replace("천천히", "느릿느릿") + " 끝."),  # near duplicate
    ]


def params(**overrides) -> PreprocessParams:
    return params_from_dict({"preprocess": {"workers": 1, "split": {"workers": 1}, **overrides}}).preprocess


@pytest.fixture
def raw_dir(tmp_path) -> Path:
    raw = tmp_path / "data" / "raw"
    write_raw(raw, fixture_records())
    return raw


def test_counts_add_up_and_every_step_acts(raw_dir):
    result = preprocess(raw_files(raw_dir), params())
    rep = result.report
    for part in ("documents", "sentences", "passages"):
        block = rep[part]
        assert block["in"] == block["out"] + sum(block["dropped"].values())
        src = block["per_source"]["fixture"]
        assert src["in"] == src["out"] + sum(src["dropped"].values())
    assert rep["documents"]["in"] == 8
    # the toxic document is dense with hits (> 3 per 1k chars): dropped whole
    assert rep["documents"]["dropped"] == {"exact_duplicate": 1, "near_duplicate": 1, "toxic": 1}
    assert {k: n for k, n in rep["pii"]["found"].items() if n} == {"email": 1, "phone": 1}
    assert rep["sentences"]["pii_by_kind"] == rep["pii"]["found"]
    assert set(rep["pii"]["found"]) == {"email", "url", "phone", "rrn", "card", "account", "handle"}
    assert rep["hanja"]["converted"] == 2
    assert rep["modernity"]["documents_not_modern"] == 1
    assert rep["normalize"]["boilerplate_lines_removed"] == 1

    docs = {d["id"]: d for d in result.documents}
    assert set(docs) == {"prose", "lines", "period", "pii", "html"}
    assert "<EMAIL>" in docs["pii"]["text"] and "<PHONE>" in docs["pii"]["text"]
    assert "대감" in docs["period"]["text"] and docs["period"]["modern"] is False
    assert "<" not in docs["html"]["text"] and "var x" not in docs["html"]["text"]
    # sentence_per_line: one sentence per input line, no re-splitting
    assert docs["lines"]["n_sentences"] == 4
    assert docs["lines"]["text"] == LINES


def test_passages_contract(raw_dir):
    result = preprocess(raw_files(raw_dir), params(passage_chars=60, passage_min_chars=5))
    ids = [p["passage_id"] for p in result.passages]
    assert len(ids) == len(set(ids))
    keys = {"passage_id", "doc_id", "source", "genre", "title", "author", "text", "n_sentences"}
    for p in result.passages:
        assert keys <= set(p)
        assert p["passage_id"].startswith(p["doc_id"] + "#")
        assert len(p["text"]) <= 60 or p["n_sentences"] == 1
    lines = [p for p in result.passages if p["doc_id"] == "lines"]
    assert sum(p["n_sentences"] for p in lines) == 4


def test_sources_report_has_three_criteria(raw_dir):
    sources = preprocess(raw_files(raw_dir), params()).sources
    fixture = sources["per_source"]["fixture"]
    assert set(fixture) == {"quality", "fit", "quantity"}
    assert fixture["quantity"]["documents_in"] == 8 and fixture["quantity"]["documents"] == 5
    assert 0 < fixture["fit"]["hanja_ratio"] < 0.1
    assert fixture["fit"]["dialogue_share"] > 0
    assert sources["per_layout"]["sentence_per_line"]["fit"]["period_spelling_share"] == 0.0
    assert sources["per_genre"]["essay"]["fit"]["period_spelling_share"] > 0.3
    assert sources["reference"]["mean_sentence_chars"] > 0


def test_toxic_sentences_dropped_when_document_density_allowed(raw_dir):
    result = preprocess(raw_files(raw_dir), params(toxicity={"doc_max_per_1k_chars": 1000}))
    assert result.report["sentences"]["dropped"]["toxic"] == 2
    toxic = next(d for d in result.documents if d["id"] == "toxic")
    assert toxic["text"] == "나는 조용히 창밖을 보았다."


def test_modernity_drop_and_pii_drop(raw_dir):
    p = params(style={"modernity_action": "drop"}, pii={"action": "drop"})
    rep = preprocess(raw_files(raw_dir), p).report
    assert rep["documents"]["dropped"]["not_modern"] == 1
    assert rep["sentences"]["dropped"]["pii"] == 1


def test_hanja_keep_leaves_hanja(raw_dir):
    result = preprocess(raw_files(raw_dir), params(style={"hanja": "keep"}))
    period = next(d for d in result.documents if d["id"] == "period")
    assert "大監" in period["text"]


@pytest.mark.parametrize(
    "line,reason",
    [
        (b'{"id": "x", "text": "\xc7\xd1\xb1\xdb"}\n', "invalid UTF-8"),  # EUC-KR bytes
        (b'{"id": "x", "text": "broken\n', "broken JSON"),
        (json.dumps(record("x", "   ")).encode() + b"\n", "empty text"),
        (json.dumps(record("prose", "다시 같은 아이디.")).encode() + b"\n", "duplicate id"),
    ],
)
def test_bad_input_raises_with_file_and_line_or_is_counted(raw_dir, line, reason):
    path = raw_dir / "fixture.jsonl"
    with path.open("ab") as fh:
        fh.write(line)
    with pytest.raises(SanchaekError, match=rf"fixture.jsonl:9: {reason}"):
        preprocess(raw_files(raw_dir), params())
    rep = preprocess(raw_files(raw_dir), params(on_bad_line="skip")).report
    assert rep["bad_lines"]["skipped"] == 1
    assert rep["documents"]["in"] == 8


def test_missing_raw_dir_is_clear(tmp_path):
    with pytest.raises(SanchaekError, match="sanchaek crawl"):
        raw_files(tmp_path / "nothing")


def test_sources_read_in_file_order(tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw, [record("b1", PROSE, source="b")], "b.jsonl")
    write_raw(raw, [record("a1", PROSE, source="a")], "a.jsonl")
    result = preprocess(raw_files(raw), params())
    # a.jsonl is read first, so b's copy is the duplicate
    assert [d["id"] for d in result.documents] == ["a1"]
    assert result.report["documents"]["per_source"]["b"]["dropped"] == {"exact_duplicate": 1}


def _write_params(root: Path) -> None:
    (root / "params.yaml").write_text("preprocess:\n  split:\n    workers: 1\n", encoding="utf-8")


def test_command_writes_outputs_deterministically_and_atomically(tmp_path, raw_dir):
    root = raw_dir.parents[1]
    _write_params(root)
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        first = runner.invoke(command, [])
        assert first.exit_code == 0, first.output
        outputs = [
            Path("data/interim/documents.jsonl"),
            Path("data/interim/passages.jsonl"),
            Path("reports/preprocess.json"),
            Path("reports/sources.json"),
        ]
        before = [p.read_bytes() for p in outputs]
        assert all(before)
        second = runner.invoke(command, [])
        assert second.exit_code == 0
        assert [p.read_bytes() for p in outputs] == before

        # a bad line makes the stage fail before writing: earlier outputs stay intact
        with (raw_dir / "fixture.jsonl").open("ab") as fh:
            fh.write(b"{not json\n")
        failed = runner.invoke(command, [])
        assert isinstance(failed.exception, SanchaekError)
        assert [p.read_bytes() for p in outputs] == before
        assert not list(Path("data/interim").glob(".*.tmp"))
    finally:
        os.chdir(cwd)


def test_bad_params_fail_with_dotted_key():
    with pytest.raises(SanchaekError, match=r"preprocess.quality.min_hangul_ratio"):
        params_from_dict({"preprocess": {"quality": {"min_hangul_ratio": 2}}})
    with pytest.raises(SanchaekError, match=r"preprocess.split.splitter"):
        params_from_dict({"preprocess": {"split": {"splitter": "kss"}}})
    with pytest.raises(SanchaekError, match="boilerplate"):
        params_from_dict({"preprocess": {"normalize": {"boilerplate": ["(unclosed"]}}})


def test_real_corpus_sample(shared_dir, tmp_path):
    """A sample of the real corpus (both layouts, hanja, period spelling) through the stage."""
    works = shared_dir / "data" / "corpus" / "works.jsonl"
    lines = works.read_text(encoding="utf-8").splitlines()
    sample = [json.loads(x) for x in lines[:6] + lines[60:100]]
    records = [
        record(
            w["id"],
            w["text"],
            title=w["title"],
            author=w["author"],
            genre=w["genre"],
            layout=w["layout"],
            source="corpus",
        )
        for w in sample
    ]
    raw = tmp_path / "raw"
    write_raw(raw, records, "corpus.jsonl")
    result = preprocess(raw_files(raw), params())
    rep = result.report
    assert rep["documents"]["out"] >= 40
    assert rep["sentences"]["out"] > 0.95 * rep["sentences"]["in"]
    assert rep["hanja"]["left_unread"] == 0
    modern = result.sources["per_layout"]["sentence_per_line"]["fit"]
    period = result.sources["per_layout"]["paragraphs"]["fit"]
    assert modern["period_spelling_share"] < 0.005 < period["period_spelling_share"]
    assert modern["hanja_ratio"] < period["hanja_ratio"]
    assert all(len(p["text"]) <= 600 or p["n_sentences"] == 1 for p in result.passages)


# ---------------------------------------------------------------------------------------------
# params.yaml, the config defaults and the code's defaults say the same thing

REPO = Path(__file__).resolve().parents[1]


def test_params_yaml_preprocess_section_equals_the_config_defaults():
    """Every preprocess knob is listed in params.yaml with the default the config holds: dropping a
    PII kind (or changing any other knob) in one place and not the other fails here."""
    import yaml

    listed = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))["preprocess"]
    assert PreprocessParams.model_validate(listed).model_dump() == PreprocessParams().model_dump()

    def missing(model, section: dict, prefix: str) -> list[str]:
        out = []
        for name in type(model).model_fields:
            value = getattr(model, name)
            if name not in section:
                out.append(prefix + name)
            elif hasattr(type(value), "model_fields"):
                out += missing(value, section[name], f"{prefix}{name}.")
        return out

    assert missing(PreprocessParams(), listed, "preprocess.") == []


def test_config_defaults_are_the_codes_defaults():
    import inspect

    from sanchaek.text import pii
    from sanchaek.text.sentences import SentenceSplitter

    p = PreprocessParams()
    assert p.pii.kinds == list(pii.DEFAULT_KINDS)
    assert set(p.pii.kinds) == set(inspect.signature(pii.PiiScrubber).parameters["kinds"].default)
    # every kind the scrubber knows can be switched on from params, and no other
    kinds_allowed = set(
        PreprocessParams.model_fields["pii"].annotation.model_fields["kinds"].annotation.__args__[0].__args__
    )
    assert kinds_allowed == set(pii.TAGS) == set(pii.ORDER)
    split = inspect.signature(SentenceSplitter).parameters
    assert split["kind"].default == p.split.splitter
    assert split["kiwi_min_chars"].default == p.split.kiwi_min_chars
    assert split["max_quote_chars"].default == p.split.max_quote_chars
    assert split["quote_aware"].default == p.split.quote_aware


def test_dates_times_and_prices_survive_the_stage(tmp_path):
    """Ordinary sentences holding a date, a time, a price, a year range or an ISBN are neither dropped
    nor tagged (the clean look-alikes of tests/data/pii/ that are written in hangul prose)."""
    from sanchaek.text import goldsets

    rows = [
        r
        for r in goldsets.read_labelled(REPO / "tests" / "data" / "pii" / "clean.tsv")
        if r.label
        in {"year_range", "date", "time", "price", "isbn", "barcode", "timestamp", "chapter", "number"}
    ]
    records = [record(f"c{i}", r.text + " 나는 그날을 오래 기억했다.") for i, r in enumerate(rows)]
    raw = tmp_path / "raw"
    write_raw(raw, records)
    result = preprocess(raw_files(raw), params(dedup={"near": False}, style={"hanja": "keep"}))
    texts = {d["id"]: d["text"] for d in result.documents}
    lost = [r.text for i, r in enumerate(rows) if r.text not in texts.get(f"c{i}", "")]
    assert len(rows) >= 40 and lost == [], lost


def test_one_hit_does_not_drop_a_short_document(raw_dir, tmp_path):
    raw = tmp_path / "raw"
    write_raw(raw, [record("short", "씨발, 하고 그는 중얼거렸다. 나는 웃었다.")])
    rep = preprocess(raw_files(raw), params()).report
    assert rep["documents"]["out"] == 1 and rep["sentences"]["dropped"] == {}
