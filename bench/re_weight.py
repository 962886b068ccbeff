"""Does ``train.re_weight`` help? Train the same model with and without the joint KLUE-RE loss.

For every seed and every ``re_weight``: train a scratch model on the whole corpus (``query.scope:
all``), then score it as the evaluate stage does: bits per character / byte on the held-out
documents, and KLUE-RE after the ``evaluate.re_*`` fine-tune, with the random-init control of the
same seed (its architecture with fresh weights, the same fine-tune; it does not depend on re_weight,
so it is fitted once per seed) and the two baselines (fitted once: they depend on neither). Every RE
number is on the same RE-dev with paired bootstrap intervals; across seeds the mean of each group
and of the re_weight > 0 minus re_weight 0 difference (paired by seed) get a t interval.

    python bench/re_weight.py --params bench/re_weight_gpu.yaml --root DIR --seeds 1 2 3 --weights 0 0.2 --out OUT.json

``--root`` holds ``data/processed/{train,val}.jsonl`` (made by crawl, preprocess, index and query with
``query.scope: all``); the model of each run is written to ``DIR/models/lm`` and replaced by the next.
The JSON is rewritten after every run, so a run cut short keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sanchaek.config import params_from_dict
from sanchaek.evaluate import autocast_dtype, lm_metrics, resolve_device
from sanchaek.klue import (
    CharNgramModel,
    ReObjective,
    TypePrior,
    finetune_with_params,
    load_re_split,
    predict_re,
    random_init_like,
)
from sanchaek.klue.metrics import paired_gain, resample_counts, score_with_interval
from sanchaek.paths import Layout


def t_interval(values: list[float], level: float = 0.95) -> dict[str, float]:
    """Mean and Student-t interval over seeds (n - 1 degrees of freedom)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": mean, "lo": float("nan"), "hi": float("nan"), "n": len(x)}
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "sd": float(x.std(ddof=1)), "n": len(x)}


def params_for(base: dict[str, Any], seed: int, weight: float) -> Any:
    raw = json.loads(json.dumps(base))
    raw["train"]["seed"] = seed
    raw["train"]["re_weight"] = weight
    raw["evaluate"]["seed"] = seed
    return params_from_dict(raw)


def train_once(params: Any, layout: Layout) -> dict[str, Any]:
    from sanchaek.train import train

    started = time.perf_counter()
    result = train(params, layout, checkpoints=False, live_dir=None)
    return {
        "steps": result.steps,
        "tokens": result.tokens,
        "final_val_loss": result.final.get("val_loss"),
        "tokens_per_s": result.tokens / max(result.loop_seconds or 1e-9, 1e-9),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1])
    ap.add_argument("--out", required=True)
    ap.add_argument("--merge", nargs="+", help="JSON files of runs over disjoint seeds (run in parallel) -> one report")
    args = ap.parse_args()
    if args.merge:
        merge_reports([Path(f) for f in args.merge], args.weights, Path(args.out))
        return

    import torch

    from sanchaek.model.loading import load_causal_lm

    base = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
    layout = Layout(Path(args.root))
    first = params_for(base, args.seeds[0], args.weights[0])
    p = first.evaluate
    split = load_re_split(p)
    labels = np.array([split.relations.index(str(ex.label)) for ex in split.dev])
    counts = resample_counts(len(labels), p.re_bootstrap, 0)  # one resample set for every system and run
    level = p.re_ci_level

    def scored(probs: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        return score_with_interval(probs, labels, split.relations, counts, level)

    started = time.perf_counter()
    baselines = {
        "type_prior": TypePrior(split.relations, p.re_type_prior_smoothing)
        .fit(split.train)
        .predict_proba(split.dev),
        "char_ngram": CharNgramModel(split.relations, p.re_ngram_max_n, p.re_ngram_c, p.seed)
        .fit(split.train)
        .predict_proba(split.dev),
    }
    report: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "device": torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else platform.processor() or "cpu",
        "params": base,
        "re_split": split.describe(),
        "baselines": {name: scored(probs)[0] for name, probs in baselines.items()},
        "baseline_seconds": round(time.perf_counter() - started, 1),
        "runs": [],
    }
    out = Path(args.out)

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    save()
    for seed in args.seeds:
        control: tuple[dict[str, float], dict[str, np.ndarray]] | None = None
        for weight in args.weights:
            params = params_for(base, seed, weight)
            run: dict[str, Any] = {"seed": seed, "re_weight": weight, "train": train_once(params, layout)}
            device = resolve_device(params.evaluate.device)
            dtype = autocast_dtype(params.evaluate.precision, device)
            model, tokenizer = load_causal_lm(str(layout.model_dir), device=device)
            run["lm"], _ = lm_metrics(model, tokenizer, params, layout, device, dtype)
            objective = ReObjective.from_split(
                split, params.evaluate, tokenizer, model.config.hidden_size, seed
            )
            t0 = time.perf_counter()
            finetune_with_params(model, objective, params.evaluate, dtype)
            model_scores = scored(predict_re(model, objective, objective.dev_data, autocast_dtype=dtype))
            run["re_seconds"] = round(time.perf_counter() - t0, 1)
            if control is None:
                t0 = time.perf_counter()
                fresh = random_init_like(model, seed)
                control_objective = objective.fresh()
                finetune_with_params(fresh, control_objective, params.evaluate, dtype)
                control = scored(
                    predict_re(fresh, control_objective, control_objective.dev_data, autocast_dtype=dtype)
                )
                report.setdefault("controls", {})[str(seed)] = {
                    **control[0],
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                del fresh
            run["re_model"] = model_scores[0]
            run["re_minus_control"] = paired_gain(*model_scores, *control, level)
            run["re_minus_char_ngram"] = paired_gain(*model_scores, *scored(baselines["char_ngram"]), level)
            report["runs"].append(run)
            report["summary"] = summarize(report["runs"], args.weights)  # so far: a cut run keeps it
            del model
            torch.cuda.empty_cache() if torch.cuda.is_available() else None
            print(
                f"seed {seed} re_weight {weight:g}: bits/char {run['lm']['bits_per_char']:.4f} "
                f"RE F1 {model_scores[0]['micro_f1']:.2f} control {control[0]['micro_f1']:.2f} "
                f"({run['train']['seconds']}s train, {run['re_seconds']}s RE)",
                flush=True,
            )
            save()
    report["summary"] = summarize(report["runs"], args.weights)
    report["seconds"] = round(time.perf_counter() - started, 1)
    save()


def merge_reports(files: list[Path], weights: list[float], out: Path) -> None:
    """One report from runs over disjoint seeds (one process per seed on one GPU): the runs and
    controls side by side, the summary over all of them. The baselines and the bootstrap resamples
    do not depend on the seed, so every part computed the same ones."""
    parts = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    merged = {k: v for k, v in parts[0].items() if k not in ("runs", "controls", "summary", "seconds")}
    merged["command"] = [p["command"] for p in parts]
    merged["runs"] = sorted((r for p in parts for r in p["runs"]), key=lambda r: (r["seed"], r["re_weight"]))
    merged["controls"] = {k: v for p in parts for k, v in p.get("controls", {}).items()}
    merged["summary"] = summarize(merged["runs"], weights)
    merged["seconds"] = max(p.get("seconds", 0) for p in parts)
    out.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def summarize(runs: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """Per re_weight: mean over seeds with t intervals; each weight > 0 minus weight 0, paired by seed."""
    by = {w: {r["seed"]: r for r in runs if r["re_weight"] == w} for w in weights}
    metrics = {
        "re_micro_f1": lambda r: r["re_model"]["micro_f1"],
        "re_minus_control_f1": lambda r: r["re_minus_control"]["micro_f1"],
        "re_auprc": lambda r: r["re_model"]["auprc"],
        "bits_per_char": lambda r: r["lm"]["bits_per_char"],
        "bits_per_byte": lambda r: r["lm"]["bits_per_byte"],
        "val_loss": lambda r: r["lm"]["val_loss"],
    }
    out: dict[str, Any] = {"per_weight": {}, "difference_vs_0": {}}
    for w in weights:
        out["per_weight"][f"{w:g}"] = {
            name: t_interval([get(r) for r in by[w].values()]) for name, get in metrics.items()
        }
    base = by.get(weights[0], {})
    for w in weights[1:]:
        seeds = sorted(set(base) & set(by[w]))
        out["difference_vs_0"][f"{w:g}"] = {
            name: t_interval([get(by[w][s]) - get(base[s]) for s in seeds]) for name, get in metrics.items()
        }
    return out


if __name__ == "__main__":
    main()
