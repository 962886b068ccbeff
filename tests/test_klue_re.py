"""KLUE-RE: metrics on hand-computed cases, bootstrap against sklearn, the loader, the grouped split,
markers, the baselines on hand cases, ReObjective, fine-tuning."""

from __future__ import annotations

import json
import math
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from sanchaek import klue
from sanchaek.config import EvaluateParams, params_from_dict
from sanchaek.errors import SanchaekError
from sanchaek.klue import (
    CharNgramModel,
    Entity,
    ReExample,
    ReObjective,
    TypePrior,
    encode_examples,
    evaluate_re,
    finetune_re,
    grouped_split,
    klue_re_auprc,
    klue_re_micro_f1,
    load_re_split,
    mark_entities,
    parse_examples,
    planned_steps,
    random_init_like,
    sentence_key,
    stratified_sample,
)
from sanchaek.klue.metrics import bootstrap_scores, paired_gain, resample_counts, score_with_interval
from sanchaek.model.loading import load_causal_lm

RELATIONS = ["no_relation", "org:founded", "per:title"]


def klue_dir(shared: Path) -> Path:
    return shared / "data" / "klue-re"


def row(guid: str, sentence: str, subj: str, obj: str, label, stype="PER", otype="ORG") -> dict:
    """An official-schema row; entity offsets computed from the words (end_idx inclusive)."""
    s, o = sentence.index(subj), sentence.index(obj)
    return {
        "guid": guid,
        "sentence": sentence,
        "subject_entity": {"word": subj, "start_idx": s, "end_idx": s + len(subj) - 1, "type": stype},
        "object_entity": {"word": obj, "start_idx": o, "end_idx": o + len(obj) - 1, "type": otype},
        "label": label,
        "source": "wikitree",
    }


# Our own placeholder sentences (not from KLUE).
ROWS = [
    row("t-0", "김하늘은 푸른출판사의 대표이다.", "김하늘", "푸른출판사", "per:title"),
    row("t-1", "푸른출판사는 1999년에 세워졌다.", "푸른출판사", "1999년", "org:founded", "ORG", "DAT"),
    row("t-2", "이바다와 김하늘은 같은 골목을 걸었다.", "이바다", "김하늘", "no_relation", "PER", "PER"),
]


# ------------------------------------------------------------------------------------------ metrics


def test_micro_f1_hand_computed_excludes_no_relation():
    # labels 0=no_relation. gold [0,1,2,1,0], pred [0,1,1,0,2]; the label set is {1, 2}:
    # TP = 1 (index 1); predicted in {1,2}: indices 1,2,4 -> P = 1/3; gold in {1,2}: indices 1,2,3 -> R = 1/3
    # F1 = 1/3 -> 33.333...
    assert klue_re_micro_f1([0, 1, 1, 0, 2], [0, 1, 2, 1, 0], RELATIONS) == pytest.approx(100 / 3)
    # Correct no_relation predictions earn nothing: gold [0,0,1], pred [0,0,0] -> TP 0, F1 0.
    assert klue_re_micro_f1([0, 0, 0], [0, 0, 1], RELATIONS) == 0.0
    # Excluded by name, not position: here no_relation is class 1. gold [1,1,0,2], pred [1,0,0,2]:
    # label set {0,2}: TP = 2 (indices 2,3); predicted in {0,2}: 1,2,3 -> P = 2/3; gold: 2,3 -> R = 1
    # F1 = 2 * (2/3 * 1) / (2/3 + 1) = 0.8 -> 80.
    assert klue_re_micro_f1([1, 0, 0, 2], [1, 1, 0, 2], ["a", "no_relation", "b"]) == pytest.approx(80.0)


def test_auprc_hand_computed_two_classes():
    # gold [0,1,0,1]; p(class 1) = [0.1, 0.9, 0.8, 0.3], p(class 0) = 1 - that.
    # class 1 ranked: 0.9(+) 0.8(-) 0.3(+) 0.1(-); PR points (recall, precision):
    # (0,1) end point, (.5,1), (.5,.5), (1,2/3), (1,.5); trapezoids over recall:
    # 0->.5 at 1 = .5; .5->1 between .5 and 2/3 = .5 * (7/6) / 2 = 7/24 -> total 19/24 = 0.791666...
    # class 0 ranked: 0.9(+) 0.7(-) 0.2(+) 0.1(-): the same pattern -> 19/24. Mean x100 = 79.1666...
    p1 = np.array([0.1, 0.9, 0.8, 0.3])
    probs = np.stack([1 - p1, p1], axis=1)
    assert klue_re_auprc(probs, [0, 1, 0, 1]) == pytest.approx(100 * 19 / 24)


def test_auprc_perfect_ranking_and_absent_class_like_klue_baseline():
    # Every class's positives score above its negatives: PR curve is precision 1 at every recall -> 1.0.
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    labels = [0, 1, 0, 1]
    # Class 2 never occurs: the scikit-learn installed here sets recall 1 at every threshold with
    # precision 0, plus the (0, 1) end point -> one trapezoid from recall 0 to 1 between precision 1
    # and 0 = 0.5. (The scikit-learn 0.23.2 that KLUE-baseline pins divides 0 by 0 there: recall NaN,
    # and the mean over classes is NaN.) Mean (1 + 1 + 0.5) / 3 x100 = 83.333...
    assert klue_re_auprc(probs, labels) == pytest.approx(250 / 3)


# ------------------------------------------------------------------------------------------ loader


def test_parse_official_schema_and_int_labels():
    examples = parse_examples(ROWS, origin="x.json", relations=RELATIONS)
    assert [e.label for e in examples] == ["per:title", "org:founded", "no_relation"]
    assert examples[0].subject.word == "김하늘" and examples[0].subject.end == 2
    # datasets' ClassLabel: ints in relation_list order
    as_ints = [{**r, "label": RELATIONS.index(r["label"])} for r in ROWS]
    assert [e.label for e in parse_examples(as_ints, origin="hf", relations=RELATIONS)] == [
        e.label for e in examples
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r["subject_entity"].update(end_idx=3), r"x\.json: t-0: subject_entity span \[0, 3\]"),
        (lambda r: r["object_entity"].pop("type"), r"x\.json: t-0: object_entity lacks key 'type'"),
        (lambda r: r.update(label="per:hobby"), r"t-0: label 'per:hobby' is not in relation_list"),
        (lambda r: r.update(label=None), r"x\.json has no labels .*t-0.*cannot be scored"),
        (lambda r: r["object_entity"].update(start_idx=1, end_idx=2, word="하늘"), "overlap"),
    ],
)
def test_bad_rows_name_file_and_guid(change, expected):
    bad = json.loads(json.dumps(ROWS))
    change(bad[0])
    with pytest.raises(SanchaekError, match=expected) as err:
        parse_examples(bad, origin="x.json", relations=RELATIONS)
    assert "\n" not in str(err.value)


def _examples(counts: dict[str, int]) -> list[ReExample]:
    ex = parse_examples(ROWS[:1], origin="x", relations=RELATIONS)[0]
    out = []
    for label, n in counts.items():
        out += [ReExample(f"{label}-{i}", ex.sentence, ex.subject, ex.object, label) for i in range(n)]
    return out


def _grouped_examples(counts: dict[str, int], per_sentence: int) -> list[ReExample]:
    """``counts[label]`` examples per label, ``per_sentence`` consecutive examples sharing a sentence."""
    subj, obj = Entity("가", 0, 0, "PER"), Entity("나", 2, 2, "ORG")
    out, k = [], 0
    for label, n in counts.items():
        for i in range(n):
            sentence = f"가 나 문장 {k // per_sentence}번"
            out.append(ReExample(f"{label}-{i}", sentence, subj, obj, label))
            k += 1
    return out


def test_grouped_split_never_shares_a_sentence_and_keeps_labels_on_both_sides():
    examples = _grouped_examples({"a": 30, "b": 60, "c": 90}, per_sentence=3)
    train, dev = grouped_split(examples, 0.2, seed=7)
    assert len(train) + len(dev) == len(examples) and {e.guid for e in train}.isdisjoint(e.guid for e in dev)
    assert {sentence_key(e) for e in train}.isdisjoint(sentence_key(e) for e in dev)
    assert len(dev) == pytest.approx(0.2 * len(examples), abs=6)  # whole sentences of 3
    assert set(Counter(e.label for e in dev)) == {"a", "b", "c"} == set(Counter(e.label for e in train))
    again = grouped_split(examples, 0.2, seed=7)
    assert [e.guid for e in again[1]] == [e.guid for e in dev]
    assert [e.guid for e in grouped_split(examples, 0.2, seed=8)[1]] != [e.guid for e in dev]
    # the same sentence re-spaced is the same group
    respaced = ReExample("x", "가  나 문장 0번", examples[0].subject, examples[0].object, "a")
    assert sentence_key(respaced) == sentence_key(examples[0])


def test_too_few_sentences_to_split_is_a_clear_error():
    with pytest.raises(SanchaekError, match="3 distinct sentences cannot be split into 5"):
        grouped_split(_grouped_examples({"a": 9}, per_sentence=3), 0.2, seed=0)


def test_stratified_sample_keeps_every_label_and_shares():
    examples = _examples({"a": 2, "b": 10, "c": 88})
    sample = stratified_sample(examples, 20, seed=0)
    counts = Counter(e.label for e in sample)
    assert len(sample) == 20 and set(counts) == {"a", "b", "c"}
    assert counts["c"] > counts["b"] > 0  # shares roughly kept
    assert stratified_sample(examples, 20, seed=0) == sample
    assert stratified_sample(examples, None, seed=0) == examples


def test_partial_subset_split_from_shared_data(shared_dir):
    params = EvaluateParams(
        klue_re_dir=str(klue_dir(shared_dir)), re_max_train_examples=None, re_max_dev_examples=300
    )
    split = load_re_split(params)
    assert split.source == "partial" and len(split.relations) == 30
    train_labels = Counter(e.label for e in split.train)
    assert len(split.train) == 5195 and len(set(train_labels)) == 30  # 6,494 - 1,299 held out
    assert len({e.label for e in split.dev}) == 30 and len(split.dev) == 300  # capped, every label kept
    assert {sentence_key(e) for e in split.train}.isdisjoint(sentence_key(e) for e in split.dev)
    assert split.partial and "sentence-grouped" in split.split
    # org:dissolved has 8 examples in all; grouped, RE-dev keeps 1: named in a one-line warning
    assert len(split.warnings) == 1 and "org:dissolved (1)" in split.warnings[0]
    assert split.files["train"]["sha256"].startswith("fc49a1f7")
    again = load_re_split(params)
    assert [e.guid for e in again.dev] == [e.guid for e in split.dev]


def _tmp_klue_dir(tmp_path: Path, shared_dir: Path) -> Path:
    folder = tmp_path / "klue-re"
    folder.mkdir()
    (folder / "relation_list.json").write_bytes((klue_dir(shared_dir) / "relation_list.json").read_bytes())
    return folder


def test_official_files_are_auto_detected(tmp_path, shared_dir):
    folder = _tmp_klue_dir(tmp_path, shared_dir)
    (folder / "klue-re-v1.1_train.json").write_text(
        json.dumps(ROWS * 4, ensure_ascii=False), encoding="utf-8"
    )
    (folder / "klue-re-v1.1_dev.json").write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    split = load_re_split(EvaluateParams(klue_re_dir=str(folder)))
    assert split.source == "official" and len(split.train) == 12 and len(split.dev) == 3
    assert split.files["dev"]["official_verified"] is False  # our stand-in is not the official blob


def test_official_source_without_files_and_unlabeled_dev_are_clear_errors(shared_dir):
    with pytest.raises(SanchaekError, match="klue-re-v1.1_train.json .*re_source: partial"):
        load_re_split(EvaluateParams(klue_re_dir=str(klue_dir(shared_dir)), re_source="official"))
    params = EvaluateParams(
        klue_re_dir=str(klue_dir(shared_dir)),
        re_source="files",
        re_train_file=klue.data.PARTIAL_LABELED,
        re_dev_file=klue.data.PARTIAL_UNLABELED,
    )
    with pytest.raises(SanchaekError, match="dev_7765_unlabeled.json has no labels .*cannot be scored"):
        load_re_split(params)
    with pytest.raises(SanchaekError, match="re_train_file"):
        params_from_dict({"evaluate": {"re_source": "files"}})


def test_hf_source_maps_int_labels_through_the_same_loader(tmp_path, shared_dir, monkeypatch):
    # `datasets` + network are not available here: a stand-in module returns rows shaped like the hub's.
    folder = _tmp_klue_dir(tmp_path, shared_dir)
    relations = klue.load_relations(folder)

    class Split(list):
        features = {"label": types.SimpleNamespace(names=relations)}

    def to_hub(rows):
        return Split({**r, "label": relations.index(r["label"])} for r in rows)

    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda name, config: {"train": to_hub(ROWS * 3), "validation": to_hub(ROWS)}
    monkeypatch.setitem(sys.modules, "datasets", fake)
    split = load_re_split(EvaluateParams(klue_re_dir=str(folder), re_source="hf"))
    assert split.source == "hf" and [e.label for e in split.dev] == [r["label"] for r in ROWS]


# ------------------------------------------------------------------------------------------ markers


def test_klue_markers_are_untyped_and_point_at_the_closing_tag():
    ex = parse_examples(ROWS[:1], origin="x", relations=RELATIONS)[0]
    text, subj_close, obj_close = mark_entities(ex, "klue")
    assert text == "<subj>김하늘</subj>은 <obj>푸른출판사</obj>의 대표이다."
    assert text[: subj_close + 1].endswith("</subj>") and text[: obj_close + 1].endswith("</obj>")
    assert "PER" not in text and "ORG" not in text
    assert EvaluateParams().re_marker_style == "klue"
    assert klue.marker_label("typed_punct").startswith(
        "typed_punct (typed"
    ) and "untyped" in klue.marker_label("klue")


def test_typed_punct_markers():
    ex = parse_examples(ROWS[:1], origin="x", relations=RELATIONS)[0]
    text, subj_close, obj_close = mark_entities(ex, "typed_punct")
    assert text == "@ * PER * 김하늘 @은 # ^ ORG ^ 푸른출판사 #의 대표이다."
    assert text[subj_close] == "@" and text[obj_close] == "#"
    # object before subject in the sentence
    ex2 = parse_examples(ROWS[1:2], origin="x", relations=RELATIONS)[0]
    flipped = ReExample("f", ex2.sentence, ex2.object, ex2.subject, ex2.label)
    text2, s2, o2 = mark_entities(flipped, "punct")
    assert text2 == "# 푸른출판사 #는 @ 1999년 @에 세워졌다." and text2[s2] == "@" and text2[o2] == "#"


@pytest.fixture(scope="module")
def tiny(tiny_lm_dir):
    return load_causal_lm(str(tiny_lm_dir))


def test_encoding_points_at_closing_markers_and_windows_long_inputs(tiny):
    _, tok = tiny
    long_sentence = "아주 긴 문장 " * 30 + "김하늘은 푸른출판사의 대표이다." + " 끝" * 30
    rows = [ROWS[0], row("long", long_sentence, "김하늘", "푸른출판사", "per:title")]
    examples = parse_examples(rows, origin="x", relations=RELATIONS)
    enc = encode_examples(examples, tok, relations=RELATIONS, marker_style="typed_punct", max_length=48)
    for i in range(2):
        ids = enc.input_ids[i]
        assert len(ids) <= 48 and ids[-1] == tok.eos_token_id
        assert tok.decode([ids[enc.subject_pos[i]]]).strip() == "@"
        assert tok.decode([ids[enc.object_pos[i]]]).strip() == "#"
    assert len(enc.input_ids[1]) == 48 and enc.labels == [2, 2]
    # klue markers are text to this tokenizer: the pooled token is the one holding the closing ">"
    enc = encode_examples(examples[:1], tok, relations=RELATIONS, marker_style="klue", max_length=64)
    ids = enc.input_ids[0]
    assert tok.decode(ids[: enc.subject_pos[0] + 1]).endswith("</subj>")
    assert tok.decode(ids[: enc.object_pos[0] + 1]).endswith("</obj>")


# ------------------------------------------------------------------------------------------ objective


def small_params(shared_dir: Path, **overrides) -> EvaluateParams:
    values = {
        "klue_re_dir": str(klue_dir(shared_dir)),
        "re_max_train_examples": 40,
        "re_max_dev_examples": 30,
        "re_max_length": 48,
        "re_batch_size": 8,
        "re_dropout": 0.0,
    }
    return EvaluateParams(**{**values, **overrides})


def test_re_objective_loss_is_finite_and_reaches_the_backbone(tiny_lm_dir, shared_dir):
    model, tok = load_causal_lm(str(tiny_lm_dir))
    model.train()
    objective = ReObjective.from_params(small_params(shared_dir), tok, model.config.hidden_size, seed=3)
    loss = objective.loss(model)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert loss.item() == pytest.approx(math.log(30), rel=0.2)  # a fresh head is near uniform
    loss.backward()
    embed = model.get_input_embeddings().weight.grad
    first_layer = model.model.layers[0].self_attn.q_proj.weight.grad
    assert embed is not None and embed.abs().sum() > 0
    assert first_layer is not None and first_layer.abs().sum() > 0
    assert objective.head.classifier.weight.grad.abs().sum() > 0


def test_re_batches_are_seeded_and_resume_from_state_dict(tiny, shared_dir):
    model, tok = tiny
    params = small_params(shared_dir)
    a = ReObjective.from_params(params, tok, model.config.hidden_size, seed=5)
    b = ReObjective.from_params(params, tok, model.config.hidden_size, seed=5)
    seq_a = [a._next_indices() for _ in range(7)]  # 40 examples / 8 = 5 per epoch: crosses an epoch
    assert seq_a == [b._next_indices() for _ in range(7)]
    assert sorted(i for batch in seq_a[:5] for i in batch) == list(range(40))
    torch.testing.assert_close(a.head.classifier.weight, b.head.classifier.weight)
    resumed = ReObjective.from_params(params, tok, model.config.hidden_size, seed=5)
    resumed.load_state_dict(a.state_dict())
    assert resumed._next_indices() == a._next_indices()
    c = ReObjective.from_params(params, tok, model.config.hidden_size, seed=6)
    assert [c._next_indices() for _ in range(5)] != seq_a[:5]


def test_short_finetune_learns_and_reports_all_keys(tiny_lm_dir, shared_dir):
    model, tok = load_causal_lm(str(tiny_lm_dir))
    params = small_params(shared_dir, re_max_train_examples=16, re_batch_size=16)
    objective = ReObjective.from_params(params, tok, model.config.hidden_size, seed=1)
    fit = finetune_re(
        model, objective, steps=25, lr=3e-3, head_lr=1e-2, weight_decay=0.0, warmup_ratio=0.1, grad_clip=1.0
    )
    assert fit["steps"] == 25 and fit["last_loss"] < fit["first_loss"] * 0.7  # it fits its 16 examples
    scores = evaluate_re(model, objective)
    assert set(scores) >= {"micro_f1", "auprc", "accuracy", "loss", "n", "labels_present"}
    assert scores["n"] == 30 and 0 <= scores["micro_f1"] <= 100 and 0 < scores["auprc"] <= 100
    train_scores = objective.evaluate(model, objective.train_data)
    assert train_scores["accuracy"] > 50  # seen examples are mostly right
    assert not model.training  # evaluation leaves the model as it found it (eval after fine-tuning)


def test_planned_steps():
    assert planned_steps(100, 16, 3.0, None) == 21  # ceil(3 * 7)
    assert planned_steps(100, 16, 3.0, 10) == 10
    assert planned_steps(100, 16, 0.5, None) == 4


# ------------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_scores_equal_sklearn_on_every_resample():
    # The vectorised resample scores against klue_re_micro_f1 / klue_re_auprc (sklearn) on the
    # resampled arrays themselves; rounded probabilities make ties, the last class never occurs.
    rng = np.random.default_rng(0)
    relations = ["no_relation"] + [f"r{i}" for i in range(9)]
    labels = rng.integers(0, 9, 120)
    probs = np.round(rng.dirichlet(np.ones(10), 120), 2)
    counts = resample_counts(len(labels), 40, seed=1)
    fast = bootstrap_scores(probs, labels, relations, counts)
    for r in range(40):
        idx = np.repeat(np.arange(len(labels)), counts[r].astype(int))
        assert fast["micro_f1"][r] == pytest.approx(
            klue_re_micro_f1(probs[idx].argmax(1), labels[idx], relations), abs=1e-9
        )
        assert fast["auprc"][r] == pytest.approx(klue_re_auprc(probs[idx], labels[idx]), abs=1e-9)


def test_intervals_hold_the_point_and_paired_gain_of_a_system_with_itself_is_zero():
    rng = np.random.default_rng(2)
    relations = ["no_relation", "a", "b"]
    labels = rng.integers(0, 3, 200)
    probs = np.eye(3)[np.where(rng.random(200) < 0.7, labels, (labels + 1) % 3)] * 0.8 + 0.2 / 3
    counts = resample_counts(200, 500, seed=3)
    scores, samples = score_with_interval(probs, labels, relations, counts, 0.95)
    assert scores["micro_f1_lo"] < scores["micro_f1"] < scores["micro_f1_hi"]
    assert scores["micro_f1_hi"] - scores["micro_f1_lo"] < 20  # 200 examples: a few points either side
    gain = paired_gain(scores, samples, scores, samples, 0.95)
    assert gain == {
        "micro_f1": 0.0,
        "micro_f1_lo": 0.0,
        "micro_f1_hi": 0.0,
        "auprc": 0.0,
        "auprc_lo": 0.0,
        "auprc_hi": 0.0,
    }


# ------------------------------------------------------------------------------------------ baselines


def _typed(guid: str, stype: str, otype: str, label: str, sentence: str = "가 나") -> ReExample:
    return ReExample(guid, sentence, Entity("가", 0, 0, stype), Entity("나", 2, 2, otype), label)


def test_type_prior_on_ten_hand_made_examples():
    # PER-ORG: 3x per:title, 1x no_relation; ORG-DAT: 2x org:founded; PER-PER: 3x no_relation, 1x per:title
    ten = (
        [_typed(f"a{i}", "PER", "ORG", "per:title") for i in range(3)]
        + [_typed("a3", "PER", "ORG", "no_relation")]
        + [_typed(f"b{i}", "ORG", "DAT", "org:founded") for i in range(2)]
        + [_typed(f"c{i}", "PER", "PER", "no_relation") for i in range(3)]
        + [_typed("c3", "PER", "PER", "per:title")]
    )
    prior = TypePrior(RELATIONS, smoothing=0.0).fit(ten)
    probs = prior.predict_proba(
        [_typed("q1", "PER", "ORG", "?"), _typed("q2", "ORG", "DAT", "?"), _typed("q3", "PER", "PER", "?")]
    )
    np.testing.assert_allclose(probs, [[0.25, 0.0, 0.75], [0.0, 1.0, 0.0], [0.75, 0.0, 0.25]])
    # smoothing 1: one virtual example with the overall shares (no_relation 4, founded 2, title 4 of 10)
    smoothed = TypePrior(RELATIONS, smoothing=1.0).fit(ten).predict_proba([_typed("q", "ORG", "DAT", "?")])
    np.testing.assert_allclose(smoothed, [[0.4 / 3, 2.2 / 3, 0.4 / 3]])
    # an unseen pair falls back to the overall shares
    unseen = TypePrior(RELATIONS, smoothing=1.0).fit(ten).predict_proba([_typed("q", "LOC", "NOH", "?")])
    np.testing.assert_allclose(unseen, [[0.4, 0.2, 0.4]])
    labels = np.array([RELATIONS.index(e.label) for e in ten])
    # on its own training set: PER-ORG -> per:title (4 predicted, 3 right), ORG-DAT -> org:founded
    # (2 of 2), PER-PER -> no_relation (its per:title missed): TP 5, predicted 6, gold 6 -> F1 = 10/12
    train_probs = prior.predict_proba(ten)
    assert klue_re_micro_f1(train_probs.argmax(1), labels, RELATIONS) == pytest.approx(1000 / 12)


def test_char_ngram_model_beats_chance_on_a_separable_toy_set():
    # The relation is told by a word next to the object; types are the same everywhere.
    cues = {"no_relation": "옆에", "org:founded": "설립한", "per:title": "대표인"}
    rng = np.random.default_rng(0)
    names = ["김하늘", "이바다", "박구름", "최들판", "정바람", "한노을"]

    def make(i: int, label: str) -> ReExample:
        subj = names[rng.integers(len(names))]
        sentence = f"{subj}은 {cues[label]} 회사{i}에 갔다."
        o = sentence.index(f"회사{i}")
        return ReExample(f"{label}{i}", sentence, Entity(subj, 0, len(subj) - 1, "PER"),
                         Entity(f"회사{i}", o, o + len(f"회사{i}") - 1, "ORG"), label)  # fmt: skip

    train = [make(i, label) for i in range(20) for label in RELATIONS]
    dev = [make(100 + i, label) for i in range(10) for label in RELATIONS]
    model = CharNgramModel(RELATIONS, max_n=3, c=4.0).fit(train)
    probs = model.predict_proba(dev)
    labels = np.array([RELATIONS.index(e.label) for e in dev])
    assert probs.shape == (30, 3) and np.allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == labels).mean() > 0.9  # chance is 1/3
    assert klue_re_micro_f1(probs.argmax(1), labels, RELATIONS) > 90
    # a relation absent from RE-train gets probability 0, in relation_list order
    two = CharNgramModel(RELATIONS).fit([e for e in train if e.label != "org:founded"])
    assert np.all(two.predict_proba(dev)[:, 1] == 0.0)


def test_control_is_the_same_architecture_with_fresh_weights(tiny):
    model, _ = tiny
    control = random_init_like(model, seed=5)  # the fixture is an untrained seed-0 init
    assert type(control) is type(model) and control.config.to_dict() == model.config.to_dict()
    assert sum(p.numel() for p in control.parameters()) == sum(p.numel() for p in model.parameters())
    trained, fresh = model.model.layers[0].mlp.up_proj.weight, control.model.layers[0].mlp.up_proj.weight
    assert not torch.equal(trained, fresh)
    again = random_init_like(model, seed=5).model.layers[0].mlp.up_proj.weight
    assert torch.equal(fresh, again)  # seeded
