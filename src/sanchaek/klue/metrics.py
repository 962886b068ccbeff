"""KLUE-RE metrics as KLUE-baseline computes them, and bootstrap intervals around them.

``klue_re_micro_f1`` and ``klue_re_auprc`` are KLUE-baseline's formulas (scikit-learn's ``f1_score``
and ``precision_recall_curve`` + ``auc``). The bootstrap resamples RE-dev with replacement; a resample
is a vector of counts per example, so both metrics are computed for all resamples at once as weighted
sums (the same numbers sklearn gives on the resampled arrays: the tests check it), and every system
is scored on the same resamples, so the difference of two systems gets a paired interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from .data import NO_RELATION

BOOTSTRAP_CHUNK = 128  # resamples per vectorised pass (memory: chunk x examples floats per class)


def klue_re_micro_f1(
    preds: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, label_list: Sequence[str]
) -> float:
    """Micro-F1 ×100 over every relation except no_relation (passed to sklearn as the label set)."""
    from sklearn.metrics import f1_score

    no_relation = list(label_list).index(NO_RELATION)
    label_indices = [i for i in range(len(label_list)) if i != no_relation]
    return float(f1_score(labels, preds, average="micro", labels=label_indices, zero_division=0) * 100.0)


def klue_re_auprc(probs: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Mean over all classes (no_relation included) of the one-vs-rest PR-curve area, ×100.

    As in KLUE-baseline: ``precision_recall_curve`` then ``auc(recall, precision)`` per class. A class
    absent from ``labels`` still counts in the mean. With the scikit-learn installed here its curve is
    recall 1 / precision 0 plus the (0, 1) end point, an area of 0.5; with the 0.23.2 that
    KLUE-baseline pins, recall is 0/0 = NaN and so is the mean. Compare AUPRC only between runs on
    the same RE-dev.
    """
    from sklearn.metrics import auc, precision_recall_curve

    probs = np.asarray(probs, dtype=np.float64)
    num_classes = probs.shape[1]
    onehot = np.eye(num_classes)[np.asarray(labels, dtype=np.int64)]
    score = np.zeros((num_classes,))
    for c in range(num_classes):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No positive class found in y_true")
            precision, recall, _ = precision_recall_curve(onehot[:, c], probs[:, c])
        score[c] = auc(recall, precision)
    return float(np.average(score) * 100.0)


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n)`` counts: how often each RE-dev example is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    counts = np.zeros((resamples, n), dtype=np.float64)
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    return counts


def weighted_micro_f1(
    preds: np.ndarray, labels: np.ndarray, label_list: Sequence[str], weights: np.ndarray
) -> np.ndarray:
    """``klue_re_micro_f1`` for each row of ``weights`` (``(R, n)`` counts): 2·TP / (predicted + gold)."""
    no_relation = list(label_list).index(NO_RELATION)
    preds, labels = np.asarray(preds), np.asarray(labels)
    gold = labels != no_relation
    predicted = preds != no_relation
    tp = weights @ ((preds == labels) & gold).astype(np.float64)
    denominator = weights @ predicted.astype(np.float64) + weights @ gold.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 200.0 * tp / denominator, 0.0)


def weighted_auprc(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``klue_re_auprc`` for each row of ``weights``: per class, the PR curve of the weighted examples.

    Examples sorted by score once; thresholds at the ends of runs of equal scores (sklearn's points);
    a zero-weight run repeats the previous point and adds no area; a class with no weighted positive
    gets sklearn's 0.5.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    area = np.zeros((weights.shape[0], probs.shape[1]))
    for c in range(probs.shape[1]):
        order = np.argsort(-probs[:, c], kind="stable")
        scores = probs[order, c]
        positive = (labels[order] == c).astype(np.float64)
        ends = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
        w = weights[:, order]
        tps = np.cumsum(w * positive, axis=1)[:, ends]
        fps = np.cumsum(w * (1.0 - positive), axis=1)[:, ends]
        total = tps[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(tps + fps > 0, tps / (tps + fps), 1.0)
            recall = np.where(total > 0, tps / total, 0.0)
        recall = np.hstack([np.zeros((len(w), 1)), recall])
        precision = np.hstack([np.ones((len(w), 1)), precision])
        trapezoids = np.diff(recall, axis=1) * (precision[:, 1:] + precision[:, :-1]) / 2.0
        area[:, c] = np.where(total[:, 0] > 0, trapezoids.sum(axis=1), 0.5)
    return area.mean(axis=1) * 100.0


def bootstrap_scores(
    probs: np.ndarray, labels: np.ndarray, label_list: Sequence[str], counts: np.ndarray
) -> dict[str, np.ndarray]:
    """micro-F1 and AUPRC (×100) of one system on every resample in ``counts``."""
    preds = np.asarray(probs).argmax(axis=1)
    f1, auprc = [], []
    for start in range(0, len(counts), BOOTSTRAP_CHUNK):
        chunk = counts[start : start + BOOTSTRAP_CHUNK]
        f1.append(weighted_micro_f1(preds, labels, label_list, chunk))
        auprc.append(weighted_auprc(probs, labels, chunk))
    return {"micro_f1": np.concatenate(f1), "auprc": np.concatenate(auprc)}


def interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The percentile interval holding ``level`` of the bootstrap samples."""
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail])
    return float(lo), float(hi)


def score_with_interval(
    probs: np.ndarray,
    labels: np.ndarray,
    label_list: Sequence[str],
    counts: np.ndarray,
    level: float,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Point scores on the whole RE-dev with their bootstrap interval, plus the per-resample scores."""
    preds = np.asarray(probs).argmax(axis=1)
    point = {
        "micro_f1": klue_re_micro_f1(preds, labels, label_list),
        "auprc": klue_re_auprc(probs, labels),
    }
    samples = bootstrap_scores(probs, labels, label_list, counts)
    out: dict[str, float] = {}
    for metric, value in point.items():
        lo, hi = interval(samples[metric], level)
        out.update({metric: value, f"{metric}_lo": lo, f"{metric}_hi": hi})
    return out, samples


def paired_gain(
    ours: dict[str, float],
    ours_samples: dict[str, np.ndarray],
    theirs: dict[str, float],
    theirs_samples: dict[str, np.ndarray],
    level: float,
) -> dict[str, float]:
    """Our score minus theirs, with the interval of that difference over the shared resamples."""
    out: dict[str, float] = {}
    for metric in ("micro_f1", "auprc"):
        lo, hi = interval(ours_samples[metric] - theirs_samples[metric], level)
        out.update({metric: ours[metric] - theirs[metric], f"{metric}_lo": lo, f"{metric}_hi": hi})
    return out


def per_class(
    preds: np.ndarray, labels: np.ndarray, label_list: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 (×100) and RE-dev support of every relation."""
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=list(range(len(label_list))), zero_division=0
    )
    return {
        name: {
            "precision": round(float(precision[i]) * 100, 2),
            "recall": round(float(recall[i]) * 100, 2),
            "f1": round(float(f1[i]) * 100, 2),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_list)
    }
