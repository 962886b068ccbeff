"""``sanchaek sweep``: a hyper-parameter grid, ranked by how fast the val loss falls.

Each grid point is a short in-process training run (``train.train`` with the point's overrides,
``sweep.steps`` steps, evals every ``sweep.eval_every``; no checkpoints, no model saved). Runs are
ranked by the area under the val-loss curve over the first ``sweep.early_steps`` steps, divided by
its width (the mean val loss over that window: lower = learns faster), with the final val loss as
tie-break, into ``reports/sweep.json``. ``--apply-best`` writes the winner's values into
``params.yaml`` so the next ``dvc repro`` trains with them.

The same grid through DVC instead (one experiment per point, compared with ``dvc exp show``)::

    dvc exp run --queue -S train.lr=1e-3 -S train.warmup_steps=10   # one line per grid point
    dvc queue start -j 1 && dvc exp show --only-changed
    dvc exp apply <best-exp>                                         # promote it
"""

from __future__ import annotations

import gc
import io
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import click
import yaml as pyyaml

from .cli import params_option
from .config import Params, load_params, params_from_dict
from .errors import SanchaekError
from .io import read_json, write_json, write_text
from .paths import Layout

log = logging.getLogger(__name__)


def expand_grid(grid: dict[str, list]) -> list[dict[str, Any]]:
    """Cartesian product of ``{dotted.key: [values]}`` in a stable order (keys as written)."""
    if not grid:
        raise SanchaekError("sweep.grid is empty: add e.g. {train.lr: [1e-3, 3e-3]} to params.yaml")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SanchaekError(f"sweep.grid.{key} must be a non-empty list of values")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def apply_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """``params`` with dotted keys replaced, validated like params.yaml (bad keys fail with one line)."""
    data = params.model_dump()
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node = data
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise SanchaekError(
                    f"sweep.grid key '{dotted}' does not name a params value: use section.key"
                )
            node = node[part]
        if parts[-1] not in node:
            raise SanchaekError(f"sweep.grid key '{dotted}' is not a params key: use e.g. train.lr")
        node[parts[-1]] = value
    return params_from_dict(data, "sweep.grid")


def early_auc(history: list[dict[str, float]], early_steps: int) -> float:
    """Mean val loss over steps ``[first eval, early_steps]`` (trapezoid area / width)."""
    points = sorted((h["step"], h["val_loss"]) for h in history)
    if not points:
        return float("nan")
    inside = [(s, v) for s, v in points if s <= early_steps]
    after = [(s, v) for s, v in points if s > early_steps]
    if inside and after and inside[-1][0] < early_steps:  # interpolate the curve at early_steps
        (s0, v0), (s1, v1) = inside[-1], after[0]
        inside.append((early_steps, v0 + (v1 - v0) * (early_steps - s0) / (s1 - s0)))
    if not inside:
        inside = points[:1]
    if len(inside) == 1:
        return float(inside[0][1])
    area = sum((s1 - s0) * (v0 + v1) / 2 for (s0, v0), (s1, v1) in itertools.pairwise(inside))
    return float(area / (inside[-1][0] - inside[0][0]))


def run_params(params: Params, overrides: dict[str, Any]) -> Params:
    """A grid point's params: the overrides, plus the sweep's budget and no checkpoints/resume."""
    sweep = params.sweep
    fixed = {"train.max_steps": sweep.steps, "train.max_tokens": None, "train.max_minutes": None,
             "train.eval_every": sweep.eval_every, "train.resume": "never", "train.checkpoint_every": 0}  # fmt: skip
    return apply_overrides(params, {**fixed, **overrides})


def rank_runs(runs: list[dict[str, Any]], rank_by: str) -> list[dict[str, Any]]:
    def key(run: dict[str, Any]) -> tuple[float, float]:
        nan_last = float("inf")
        auc = run["early_auc"] if run["early_auc"] == run["early_auc"] else nan_last
        final = run["final_val_loss"] if run["final_val_loss"] == run["final_val_loss"] else nan_last
        return (auc, final) if rank_by == "early_auc" else (final, auc)

    return sorted(runs, key=key)


def sweep(params: Params, layout: Layout) -> dict[str, Any]:
    """Train every grid point and return the ranked report (also what ``reports/sweep.json`` holds)."""
    from .train import train

    points = expand_grid(params.sweep.grid)
    runs_params = [run_params(params, point) for point in points]  # validate every point before training
    runs: list[dict[str, Any]] = []
    for i, (point, point_params) in enumerate(zip(points, runs_params, strict=True)):
        log.warning("sweep run %d/%d: %s", i + 1, len(points), point)
        started = time.monotonic()
        try:
            result = train(point_params, layout, save_final_model=False, checkpoints=False, live_dir=None)
            error = None
        except SanchaekError as exc:  # a diverging point is a result, not a reason to stop the sweep
            result, error = None, str(exc)
        seconds = time.monotonic() - started
        history = result.history if result else []
        final = result.final if result else {}
        runs.append({
            "id": i,
            "overrides": point,
            "early_auc": early_auc(history, params.sweep.early_steps),
            "final_val_loss": final.get("val_loss", float("nan")),
            "final_token_accuracy": final.get("val_token_accuracy", float("nan")),
            "final_perplexity": final.get("val_perplexity", float("nan")),
            "steps": result.steps if result else 0,
            "seconds": round(seconds, 2),
            "tokens_per_s": (result.tokens / seconds) if result else 0.0,
            "history": history,
            "error": error,
        })  # fmt: skip
        del result
        gc.collect()
        _free_gpu_memory()
    ranked = rank_runs(runs, params.sweep.rank_by)
    return {
        "grid": params.sweep.grid,
        "steps": params.sweep.steps,
        "early_steps": params.sweep.early_steps,
        "rank_by": params.sweep.rank_by,
        "ranking": [r["id"] for r in ranked],
        "best": {
            "id": ranked[0]["id"],
            "overrides": ranked[0]["overrides"],
            "early_auc": ranked[0]["early_auc"],
            "final_val_loss": ranked[0]["final_val_loss"],
        },  # fmt: skip
        "runs": runs,
    }


def _free_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _quoted_if_ambiguous(value: Any) -> Any:
    """Strings that a YAML 1.1 reader would turn into something else ('no', '1e-3') get quotes."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, str) and pyyaml.safe_load(value) != value:
        return SingleQuotedScalarString(value)
    return value


def apply_best_run(report: dict[str, Any], params_path: Path) -> dict[str, Any]:
    """Write the best run's values into ``params.yaml`` (comments and layout kept) and validate it."""
    from ruamel.yaml import YAML

    best = report["best"]
    if best.get("overrides") is None:
        raise SanchaekError("reports/sweep.json has no best run: rerun `sanchaek sweep`")
    yaml = YAML()  # round-trip mode keeps the file's comments and order
    yaml.preserve_quotes = True  # 'no' must stay quoted: YAML 1.1 readers (PyYAML, DVC) take no as false
    data = yaml.load(params_path.read_text(encoding="utf-8"))
    for dotted, value in best["overrides"].items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
        node[leaf] = _quoted_if_ambiguous(value)
    # Validate before writing: a params.yaml that no stage can load is worse than none applied.
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    params_from_dict(pyyaml.safe_load(buffer.getvalue()), str(params_path))
    write_text(params_path, buffer.getvalue())
    return best["overrides"]


@click.command(help="Run the sweep grid from params.yaml and rank runs by early-curve speed.")
@params_option
@click.option("--apply-best", is_flag=True, help="Write the best run's values into the params file.")
@click.option(
    "--no-run", is_flag=True, help="Do not train; with --apply-best, apply from reports/sweep.json."
)
def command(params_path: str, apply_best: bool, no_run: bool) -> None:
    params = load_params(params_path)
    layout = Layout(Path("."))
    out = layout.report("sweep.json")
    if no_run:
        report = read_json(out, what="sweep report", fix="run `sanchaek sweep` first")
    else:
        report = sweep(params, layout)
        write_json(out, report)
        for place, run_id in enumerate(report["ranking"], start=1):
            run = report["runs"][run_id]
            click.echo(
                f"{place}. {run['overrides']}: early val loss {run['early_auc']:.4f}, "
                f"final {run['final_val_loss']:.4f}" + (f" ({run['error']})" if run["error"] else "")
            )
        click.echo(f"wrote {out}")
    if apply_best:
        applied = apply_best_run(report, Path(params_path))
        click.echo(f"applied to {params_path}: {applied}")
