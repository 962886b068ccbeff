"""The app's KLUE-RE block: F1 in %, the model beside baselines and control, a model that does not
beat a baseline shown as such, the partial split flagged. The pure table, then the Overview page."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from sanchaek.app.views.re_compare import rows_and_notes

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def scores(f1: float, lo: float, hi: float, auprc: float = 50.0) -> dict:
    return {
        "micro_f1": f1,
        "micro_f1_lo": lo,
        "micro_f1_hi": hi,
        "auprc": auprc,
        "auprc_lo": 45.0,
        "auprc_hi": 55.0,
    }


def gain(model: dict, other: dict, lo: float, hi: float) -> dict:
    return {"micro_f1": model["micro_f1"] - other["micro_f1"], "micro_f1_lo": lo, "micro_f1_hi": hi,
            "auprc": 0.0, "auprc_lo": -1.0, "auprc_hi": 1.0}  # fmt: skip


def reports(model_f1: float) -> tuple[dict, dict]:
    model = scores(model_f1, model_f1 - 3, model_f1 + 3)
    refs = {"type_prior": scores(58.4, 55.4, 61.3), "char_ngram": scores(70.6, 68.0, 73.1),
            "control": scores(40.0, 37.0, 43.0)}  # fmt: skip
    gains = {
        "over_type_prior": gain(model, refs["type_prior"], model_f1 - 58.4 - 4, model_f1 - 58.4 + 4),
        "over_char_ngram": gain(model, refs["char_ngram"], model_f1 - 70.6 - 4, model_f1 - 70.6 + 4),
        "over_control": gain(model, refs["control"], model_f1 - 40 - 4, model_f1 - 40 + 4),
    }
    report = {"val_loss": 3.2, "perplexity": 24.5, "bits_per_char": 2.345, "bits_per_byte": 0.91,
              **{f"re_{k}": v for k, v in model.items()}, "re_n_train": 5195, "re_n_dev": 1299,
              "re_baselines": refs, "re_gain": gains}  # fmt: skip
    detail = {"re": {"partial_split": True, "marker_style": "klue (untyped)", "systems": {"model": {}}}}
    return report, detail


def test_a_model_below_a_baseline_is_shown_as_such_and_the_partial_split_flagged():
    rows, notes = rows_and_notes(*reports(66.1))
    assert [r["micro-F1 (%)"] for r in rows] == [66.1, 58.4, 70.6, 40.0]
    assert rows[0]["95% 구간 interval"] == "63.1–69.1" and rows[2][
        "모델 − 이것 model minus this (F1)"
    ].startswith("-4.5")
    levels = dict((text.split(" · ")[1].split(" (")[0], level) for level, text in notes if " · " in text)
    assert levels["the model scores below the char ngram"] == "error"
    assert not any("type prior" in text and level in ("error", "warning") for level, text in notes)
    assert any(level == "info" and "partial split" in text for level, text in notes)
    assert ("caption", "개체 표지 markers: klue (untyped)") in notes


def test_a_model_above_every_reference_says_so_and_unclear_gains_warn():
    _, notes = rows_and_notes(*reports(80.0))
    assert any(level == "success" for level, _ in notes)
    _, notes = rows_and_notes(*reports(72.0))  # char n-gram gain 1.4 with interval -2.6..5.4
    assert any(level == "warning" and "does not clearly beat the char ngram" in text for level, text in notes)
    assert rows_and_notes({"val_loss": 3.0, "re_micro_f1": None}, None) == ([], [])


def test_overview_shows_the_re_table_and_bits_per_char(tmp_path, monkeypatch):
    report, detail = reports(66.1)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    (tmp_path / "reports" / "eval_detail.json").write_text(json.dumps(detail), encoding="utf-8")
    monkeypatch.setenv("SANCHAEK_ROOT", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "overview"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["글자당 비트 bits/char"] == "2.345"
    table = at.dataframe[-1].value
    assert list(table["micro-F1 (%)"]) == [66.1, 58.4, 70.6, 40.0]
    assert any("scores below the char ngram" in e.value for e in at.error)
    assert any("partial split" in e.value for e in at.info)
