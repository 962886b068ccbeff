"""Tests that kill the mutants of the KLUE RE metrics (klue_re_micro_f1, klue_re_auprc in
src/sanchaek/klue/metrics.py) that tests/test_klue_re.py lets live (`make mutation`,
reports/quality/mutation.json)."""

from __future__ import annotations

import numpy as np
import pytest

from sanchaek.klue import klue_re_auprc, klue_re_micro_f1

RELATIONS = ["no_relation", "org:founded", "per:title"]


def test_micro_f1_with_no_relation_everywhere_is_zero_not_perfect():
    """KLUE-baseline's sklearn call warns and scores 0 when neither side has a relation."""
    assert klue_re_micro_f1([0, 0], [0, 0], RELATIONS) == 0.0
    assert klue_re_micro_f1(np.array([1, 2]), np.array([1, 2]), RELATIONS) == 100.0


def test_auprc_takes_probabilities_as_given_and_labels_as_class_ids():
    probs = [[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]]  # a list, not an array
    # class 1 ranked 0.7(+) 0.45(-) 0.4(-): AUPRC 1; class 0 ranked 0.6(+) 0.55(+) 0.3(-): 1.
    assert klue_re_auprc(probs, np.array([0, 1, 0])) == pytest.approx(100.0)
    # Reversed ranking on both classes: the negative first (P 0, R 0), then the positive (P 1/2, R 1);
    # sklearn's points (R, P) = (1, .5), (0, 0), (0, 1): one trapezoid of area 0.25 per class.
    assert klue_re_auprc([[0.4, 0.6], [0.7, 0.3]], [0, 1]) == pytest.approx(25.0)


def test_metrics_stay_silent_where_klue_baseline_defines_the_value():
    """No relation on either side (F1 0) and a class absent from the labels (AUPRC 0.5) are defined
    results, not warnings to flood an evaluation log with."""
    import warnings

    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert klue_re_micro_f1([0, 0], [0, 0], RELATIONS) == 0.0
        assert klue_re_auprc(probs, [0, 1]) == pytest.approx(250 / 3)


def test_auprc_labels_read_back_as_floats():
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    assert klue_re_auprc(probs, np.array([0.0, 1.0, 0.0])) == pytest.approx(100.0)
