"""The ``ratings`` stage: votes snapshot -> aggregates, Bradley–Terry ranking, preference pairs; promote.

Raters compare two samples for the same prompt blind (the app's Rate page, ``votes`` below) and
score each 1..N on a few criteria. ``sanchaek ratings export`` turns the git-tracked snapshots
(votes and flags, written by ``votes.store``) into ``reports/ratings.json`` (per experiment: win
rate with a Wilson interval, Bradley–Terry strength, criterion means; rater agreement; the flagged
samples) and preference pairs ``data/processed/preferences.jsonl`` (prompt, chosen, rejected) for
preference tuning. A vote that involves a flagged ("broken") sample leaves the ranking and the
pairs. ``sanchaek promote [EXPERIMENT]`` applies the best-rated (or the named) experiment with
``dvc exp apply`` so that generate/compose use its model.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from statistics import NormalDist
from typing import Any

import click

from . import repo
from .cli import params_option
from .config import RatingsParams, load_params
from .errors import SanchaekError
from .io import atomic_open, read_json, write_jsonl
from .paths import Layout
from .report import write_stage_report
from .votes.agreement import rater_agreement
from .votes.samples import sample_id
from .votes.store import RatingsStore, read_snapshot

FLAG_EXCERPT_CHARS = 200

# ---- aggregation -------------------------------------------------------------------------------


def wilson_interval(successes: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (ties count as half successes)."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends: no rounding residue
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return low, high


def bradley_terry(
    wins: dict[tuple[str, str], float], prior: float, max_iter: int, tol: float
) -> dict[str, float]:
    """Bradley–Terry strengths by Hunter's MM algorithm; ``wins[(i, j)]`` = times i beat j.

    P(i beats j) = p_i / (p_i + p_j). Each pair that met gets ``prior`` virtual ties (prior/2 wins
    each way) so that strengths stay finite. Strengths are normalised to sum to 1.
    """
    games: dict[tuple[str, str], float] = defaultdict(float)  # unordered pair -> comparisons
    won: dict[str, float] = defaultdict(float)
    for (i, j), w in wins.items():
        if i == j or w <= 0:
            continue
        games[tuple(sorted((i, j)))] += w
        won[i] += w
    for pair in list(games):
        games[pair] += prior
        for x in pair:
            won[x] += prior / 2
    neighbours: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for (i, j), n in games.items():
        neighbours[i].append((j, n))
        neighbours[j].append((i, n))
    items = sorted(neighbours)
    if not items:
        return {}
    p = {x: 1.0 / len(items) for x in items}
    for _ in range(max_iter):
        # MM update: p_i <- W_i / sum_j n_ij / (p_i + p_j), then renormalise.
        new = {}
        for i in items:
            denom = sum(n / (p[i] + p[j]) for j, n in neighbours[i] if p[i] + p[j] > 0)
            new[i] = won[i] / denom if denom > 0 else 0.0
        total = sum(new.values()) or 1.0
        new = {x: v / total for x, v in new.items()}
        delta = max(abs(new[x] - p[x]) for x in items)
        p = new
        if delta < tol:
            break
    return p


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def without_flagged(votes: list[dict], flagged: set[str]) -> list[dict]:
    """The votes in which neither sample is flagged as broken."""
    return [v for v in votes if v["a"]["sample_id"] not in flagged and v["b"]["sample_id"] not in flagged]


def flag_rows(flags: list[dict]) -> list[dict]:
    """The flagged samples as reports/ratings.json lists them (the text cut to an excerpt)."""
    return [
        {
            "sample_id": f["sample_id"],
            "experiment": f["experiment"],
            "prompt": f["prompt"],
            "text": f["text"][:FLAG_EXCERPT_CHARS],
            "rater": f["rater"],
            "reason": f.get("reason", ""),
            "created_at": f["created_at"],
        }
        for f in sorted(flags, key=lambda f: f["sample_id"])
    ]


def aggregate(votes: list[dict], params: RatingsParams, flags: list[dict] = ()) -> dict[str, Any]:
    """The content of reports/ratings.json (see the module docstring and the report's key list).

    Votes that involve a flagged sample are left out of every count and of Bradley–Terry; the
    flags are listed under ``flagged``.
    """
    all_votes = votes
    votes = without_flagged(votes, {f["sample_id"] for f in flags})
    tally: dict[str, dict[str, float]] = defaultdict(lambda: {"wins": 0.0, "losses": 0.0, "ties": 0.0})
    pair_wins: dict[tuple[str, str], float] = defaultdict(float)
    exp_scores: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    samples: dict[str, dict[str, Any]] = {}
    experiments_seen: set[str] = set()
    for vote in votes:
        a, b, winner = vote["a"], vote["b"], vote["winner"]
        for side in (a, b):
            experiments_seen.add(side["experiment"])
            for criterion, score in (side.get("scores") or {}).items():
                exp_scores[side["experiment"]][criterion].append(score)
            s = samples.setdefault(
                side["sample_id"],
                {
                    "experiment": side["experiment"],
                    "prompt": vote["prompt"],
                    "theme": vote.get("theme", ""),
                    "wins": 0,
                    "losses": 0,
                    "ties": 0,
                    "_scores": defaultdict(list),
                },
            )
            for criterion, score in (side.get("scores") or {}).items():
                s["_scores"][criterion].append(score)
        _count_sample(samples[a["sample_id"]], samples[b["sample_id"]], winner)
        ea, eb = a["experiment"], b["experiment"]
        if ea == eb:
            continue  # a within-experiment pair says nothing about the experiment's rank
        if winner == "a":
            pair_wins[(ea, eb)] += 1
            tally[ea]["wins"] += 1
            tally[eb]["losses"] += 1
        elif winner == "b":
            pair_wins[(eb, ea)] += 1
            tally[eb]["wins"] += 1
            tally[ea]["losses"] += 1
        else:
            pair_wins[(ea, eb)] += 0.5
            pair_wins[(eb, ea)] += 0.5
            tally[ea]["ties"] += 1
            tally[eb]["ties"] += 1
    strengths = bradley_terry(pair_wins, params.bt_prior, params.bt_max_iter, params.bt_tol)
    experiments: dict[str, Any] = {}
    for exp in sorted(experiments_seen):
        t = tally[exp]
        n = t["wins"] + t["losses"] + t["ties"]
        score_points = t["wins"] + 0.5 * t["ties"]
        low, high = wilson_interval(score_points, n, params.confidence)
        experiments[exp] = {
            "comparisons": int(n),
            "wins": int(t["wins"]),
            "losses": int(t["losses"]),
            "ties": int(t["ties"]),
            "win_rate": round(score_points / n, 4) if n else None,
            "win_rate_low": round(low, 4) if n else None,
            "win_rate_high": round(high, 4) if n else None,
            "bt_strength": round(strengths[exp], 6) if exp in strengths else None,
            "scores": {c: _mean(exp_scores[exp].get(c, [])) for c in params.criteria},
            "score_counts": {c: len(exp_scores[exp].get(c, [])) for c in params.criteria},
        }
    ranked = sorted(
        (e for e, v in experiments.items() if v["bt_strength"] is not None),
        key=lambda e: (-experiments[e]["bt_strength"], -(experiments[e]["win_rate_low"] or 0), e),
    )
    for rank, exp in enumerate(ranked, start=1):
        experiments[exp]["rank"] = rank
    eligible = [e for e in ranked if experiments[e]["comparisons"] >= params.min_comparisons]
    for s in samples.values():
        s["scores"] = {c: _mean(s["_scores"].get(c, [])) for c in params.criteria}
        del s["_scores"]
    agreement = rater_agreement(votes)
    return {
        "n_votes": len(votes),
        "n_votes_flagged": len(all_votes) - len(votes),
        "n_raters": len({v["rater"] for v in votes}),
        "n_prompts": len({v["prompt"] for v in votes}),
        "criteria": list(params.criteria),
        "score_max": params.score_max,
        "confidence": params.confidence,
        "best_experiment": eligible[0] if eligible else None,
        "ranking": ranked,
        "experiments": experiments,
        "samples": dict(sorted(samples.items())),
        "agreement": {
            "krippendorff_alpha": agreement.alpha,
            "level": "ordinal",
            "units": agreement.units,
            "raters": agreement.raters,
            "why_missing": agreement.why,
        },
        "flagged": flag_rows(list(flags)),
    }


def _count_sample(sa: dict, sb: dict, winner: str) -> None:
    if winner == "a":
        sa["wins"] += 1
        sb["losses"] += 1
    elif winner == "b":
        sb["wins"] += 1
        sa["losses"] += 1
    else:
        sa["ties"] += 1
        sb["ties"] += 1


def preference_pairs(votes: list[dict]) -> list[dict]:
    """(prompt, chosen, rejected) rows for preference tuning (DPO-style); ties give no pair."""
    pairs = []
    for vote in votes:
        if vote["winner"] not in ("a", "b"):
            continue
        chosen, rejected = (vote["a"], vote["b"]) if vote["winner"] == "a" else (vote["b"], vote["a"])
        pairs.append(
            {
                "prompt": vote["prompt"],
                "chosen": chosen["text"],
                "rejected": rejected["text"],
                "theme": vote.get("theme", ""),
                "chosen_experiment": chosen["experiment"],
                "rejected_experiment": rejected["experiment"],
                "rater": vote["rater"],
                "vote_id": vote["id"],
            }
        )
    return pairs


def export(root: Path, params: RatingsParams) -> dict[str, Any]:
    """The ``ratings`` stage: snapshots -> reports/ratings.json + data/processed/preferences.jsonl."""
    layout = Layout(root)
    snapshot = root / params.snapshot_path
    db = root / params.db_path
    if not snapshot.is_file() and db.is_file():
        raise SanchaekError(f"{snapshot} is missing but {db} has votes: run `sanchaek ratings snapshot`")
    votes = read_snapshot(snapshot)
    flags = read_snapshot(root / params.flags_path)
    report = aggregate(votes, params, flags)
    pairs = preference_pairs(without_flagged(votes, {f["sample_id"] for f in flags}))
    report["preference_pairs"] = len(pairs)
    write_jsonl(layout.preferences, pairs)
    write_stage_report(
        layout, "ratings", report, headline=("n_votes", "n_raters", "preference_pairs", "best_experiment")
    )
    return report


# ---- promote ----------------------------------------------------------------------------------


def promote(root: Path, experiment: str | None, params: RatingsParams) -> str:
    """`dvc exp apply` the named (or best-rated) experiment; returns a one-line summary.

    Applying restores the experiment's committed files, the ratings snapshots among them, so the
    snapshots are put back afterwards: votes and flags cast since that experiment ran are not lost.
    """
    if experiment is None:
        report_path = Layout(root).report("ratings.json")
        report = read_json(
            report_path, what="ratings report", fix="run `sanchaek ratings export` or name the experiment"
        )
        experiment = report.get("best_experiment") if isinstance(report, dict) else None
        if not experiment:
            raise SanchaekError(
                f"{report_path} names no best experiment (needs {params.min_comparisons}+ comparisons): rate more pairs or name the experiment"
            )
    if repo.dvc_command() is None:
        raise SanchaekError("dvc is not installed: run `make setup`")
    known = [name for name, _ in repo.exp_refs(root, params.dvc_timeout_s)]
    if experiment not in known and "@" in experiment:
        raise SanchaekError(
            f"'{experiment}' is a commit's baseline, not an experiment: `git checkout {experiment.split('@')[-1]}` "
            "brings its params and outputs back"
        )
    if experiment not in known:
        listed = ", ".join(known) if known else "none"
        raise SanchaekError(
            f"experiment '{experiment}' not found (known: {listed}): run `dvc exp show` to list them"
        )
    snapshots = [root / params.snapshot_path, root / params.flags_path]
    saved = {path: path.read_bytes() for path in snapshots if path.is_file()}
    result = repo.run_dvc(["exp", "apply", experiment], root, params.dvc_timeout_s)
    for path, content in saved.items():
        with atomic_open(path, "wb") as fh:
            fh.write(content)
    if not result.ok:
        raise SanchaekError(f"dvc exp apply {experiment} failed: {result.error}")
    return f"promoted '{experiment}': its params and model are now in the workspace; run `dvc repro` to regenerate"


# ---- CLI --------------------------------------------------------------------------------------


@click.group("ratings")
def group() -> None:
    """Human ratings: export aggregates and preference pairs, refresh the snapshot."""


@group.command("export")
@params_option
def export_command(params_path: str) -> None:
    """Write reports/ratings.json and data/processed/preferences.jsonl from the votes snapshot."""
    params = load_params(params_path).ratings
    report = export(Path("."), params)
    best = report["best_experiment"] or "none yet"
    click.echo(
        f"ratings: {report['n_votes']} votes by {report['n_raters']} raters, "
        f"{report['preference_pairs']} preference pairs, best experiment: {best}"
    )


@group.command("snapshot")
@params_option
def snapshot_command(params_path: str) -> None:
    """Rewrite the git-tracked votes and flags snapshots from the ratings database."""
    params = load_params(params_path).ratings
    root = Path(".")
    if not (root / params.db_path).is_file():
        raise SanchaekError(f"{params.db_path} not found: nothing to snapshot (votes are cast in `make app`)")
    n = RatingsStore.from_params(root, params).write_snapshot()
    click.echo(f"{params.snapshot_path}: {n} votes")


@click.command("promote")
@click.argument("experiment", required=False)
@params_option
def promote_command(experiment: str | None, params_path: str) -> None:
    """Make EXPERIMENT (default: the best-rated one) the model generate/compose use (dvc exp apply)."""
    params = load_params(params_path).ratings
    click.echo(promote(Path("."), experiment, params))


__all__ = [
    "aggregate",
    "bradley_terry",
    "export",
    "flag_rows",
    "preference_pairs",
    "promote",
    "sample_id",  # compose joins ratings.json to samples.jsonl with it
    "wilson_interval",
    "without_flagged",
]
