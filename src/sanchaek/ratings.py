"""Human ratings: the SQLite vote store, its aggregation, the export stage and promotion.

Raters compare two samples for the same prompt blind (the app's Rate page) and score each 1..N on a
few criteria. Votes go to SQLite in WAL mode (several raters at once; every write is one
``BEGIN IMMEDIATE`` transaction that waits ``busy_timeout`` for the others). Inside that same
transaction the whole vote table is rewritten as a deterministic JSON Lines snapshot
(``ratings.snapshot_path``, tracked in git): the ``ratings`` DVC stage depends on that snapshot, not
on the live database, so ``dvc repro`` reruns exactly when votes changed and a fresh clone (no
database) still exports from the committed snapshot.

``sanchaek ratings export`` turns the snapshot into ``reports/ratings.json`` (per experiment: win
rate with a Wilson interval, Bradley–Terry strength, criterion means) and preference pairs
``data/processed/preferences.jsonl`` (prompt, chosen, rejected) for preference tuning.
``sanchaek promote [EXPERIMENT]`` applies the best-rated (or the named) experiment with
``dvc exp apply`` so that generate/compose use its model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import click

from .cli import params_option
from .config import RatingsParams, load_params
from .errors import SanchaekError
from .io import atomic_open, read_json, read_jsonl, write_jsonl
from .paths import Layout
from .report import write_stage_report

WINNERS = ("a", "b", "tie")
MAX_RATER_CHARS = 64

# ---- samples: what raters compare -------------------------------------------------------------


def sample_id(experiment: str, prompt: str, text: str) -> str:
    """Stable id of one generated text (the same text under another experiment is another sample)."""
    digest = hashlib.sha1(f"{experiment}\0{prompt}\0{text}".encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Sample:
    sample_id: str
    experiment: str
    prompt: str
    theme: str
    text: str
    record: dict = field(default_factory=dict, compare=False, hash=False)


def sample_from_record(record: dict, experiment: str) -> Sample | None:
    prompt, text = record.get("prompt"), record.get("text")
    if not isinstance(prompt, str) or not isinstance(text, str) or not text.strip():
        return None
    theme = record.get("theme")
    return Sample(
        sample_id=sample_id(experiment, prompt, text),
        experiment=experiment,
        prompt=prompt,
        theme=theme if isinstance(theme, str) else "",
        text=text,
        record=record,
    )


def experiment_label(record: dict, fallback: str) -> str:
    """The experiment a sample belongs to: the name the generate stage recorded (DVC_EXP_NAME or
    'workspace'), else where it was found (experiment ref, branch, workspace)."""
    label = record.get("experiment")
    return label if isinstance(label, str) and label else fallback


def parse_samples_jsonl(content: str, fallback_label: str) -> list[Sample]:
    """Samples in one samples.jsonl text; broken lines are skipped (the app must not fail on them)."""
    out = []
    for line in content.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            sample = sample_from_record(record, experiment_label(record, fallback_label))
            if sample is not None:
                out.append(sample)
    return out


def collect_samples(root: Path, params: RatingsParams) -> list[Sample]:
    """Every sample the raters may see: DVC experiments' committed samples, HEAD's, then the workspace's.

    ``sample_id`` depends only on the record (its ``experiment`` field, prompt and text), so other
    stages can join ``reports/ratings.json`` back to ``reports/samples.jsonl``. A text found in
    several places (the workspace usually equals HEAD or an applied experiment) is listed once.
    """
    from .app import repo  # git helpers; no Streamlit import

    found: list[Sample] = []
    timeout = params.dvc_timeout_s
    if params.include_experiment_samples:
        sources = list(repo.exp_refs(root, timeout))
        head = repo.head(root, timeout)
        if head is not None:
            sources.append(head)
        for label, rev in sources:
            for rel in params.sample_files:
                content = repo.git_show(root, rev, rel, timeout)
                if content:
                    found.extend(parse_samples_jsonl(content, label))
    for rel in params.sample_files:
        path = root / rel
        if path.is_file():
            found.extend(
                parse_samples_jsonl(
                    path.read_text(encoding="utf-8", errors="replace"), params.workspace_label
                )
            )
    seen: set[tuple[str, str]] = set()
    unique = []
    for sample in found:
        key = (sample.prompt, sample.text)
        if key not in seen:
            seen.add(key)
            unique.append(sample)
    return unique


def candidate_pairs(samples: list[Sample], within_experiment: bool) -> list[tuple[Sample, Sample]]:
    """Pairs a rater may compare: same prompt, different experiments; or, for a prompt that only one
    experiment answered and ``within_experiment``, two different samples of it."""
    by_prompt: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_prompt[sample.prompt].append(sample)
    pairs = []
    for group_ in by_prompt.values():
        across = [
            (x, y) for i, x in enumerate(group_) for y in group_[i + 1 :] if x.experiment != y.experiment
        ]
        if across:
            pairs.extend(across)
        elif within_experiment:
            pairs.extend(
                (x, y) for i, x in enumerate(group_) for y in group_[i + 1 :] if x.sample_id != y.sample_id
            )
    return pairs


def choose_pair(
    pairs: list[tuple[Sample, Sample]], already_rated: set[frozenset[str]], rng: random.Random
) -> tuple[Sample, Sample] | None:
    """A random pair, preferring ones this rater has not judged, in random left/right order."""
    if not pairs:
        return None
    fresh = [p for p in pairs if frozenset((p[0].sample_id, p[1].sample_id)) not in already_rated]
    left, right = rng.choice(fresh or pairs)
    return (left, right) if rng.random() < 0.5 else (right, left)


def rated_pairs(votes: list[dict], rater: str) -> set[frozenset[str]]:
    rater = " ".join(rater.split())
    return {frozenset((v["a"]["sample_id"], v["b"]["sample_id"])) for v in votes if v["rater"] == rater}


# ---- the store: SQLite, WAL, migrations --------------------------------------------------------


def _migration_1_votes(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE votes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            rater TEXT NOT NULL,
            prompt TEXT NOT NULL,
            theme TEXT NOT NULL DEFAULT '',
            sample_a TEXT NOT NULL, exp_a TEXT NOT NULL, text_a TEXT NOT NULL,
            sample_b TEXT NOT NULL, exp_b TEXT NOT NULL, text_b TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie'))
        )"""
    )
    conn.execute("CREATE INDEX votes_by_rater ON votes (rater, id)")


def _migration_2_scores(conn: sqlite3.Connection) -> None:
    # Criterion scores came after plain preferences: one row per (vote, side, criterion).
    conn.execute(
        """CREATE TABLE scores (
            vote_id INTEGER NOT NULL REFERENCES votes(id) ON DELETE CASCADE,
            side TEXT NOT NULL CHECK (side IN ('a', 'b')),
            criterion TEXT NOT NULL,
            score INTEGER NOT NULL CHECK (score >= 1),
            PRIMARY KEY (vote_id, side, criterion)
        )"""
    )


# Ordered: migration i (1-based) takes the schema from user_version i-1 to i. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1_votes, _migration_2_scores]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class NewVote:
    rater: str
    a: Sample
    b: Sample
    winner: str  # "a", "b" or "tie"
    scores: dict[str, dict[str, int]] = field(default_factory=dict)  # side -> criterion -> score


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RatingsStore:
    """Votes in SQLite; every write also rewrites the git-tracked snapshot inside its transaction.

    A connection per operation: Streamlit serves each browser session from its own thread and a
    sqlite3 connection must stay in the thread that made it.
    """

    def __init__(self, db_path: Path, snapshot_path: Path, params: RatingsParams):
        self.db_path = Path(db_path)
        self.snapshot_path = Path(snapshot_path)
        self.params = params

    @classmethod
    def from_params(cls, root: Path, params: RatingsParams) -> RatingsStore:
        return cls(root / params.db_path, root / params.snapshot_path, params)

    # -- connections and schema

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=self.params.busy_timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise SanchaekError(
                f"cannot open ratings database {self.db_path}: {exc}: check ratings.db_path"
            ) from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.params.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")  # a vote acknowledged is a vote on disk
            self._enable_wal(conn)
            self._migrate(conn)
            yield conn
        except sqlite3.DatabaseError as exc:
            raise SanchaekError(
                f"ratings database {self.db_path}: {exc}: check the file or move it aside"
            ) from exc
        finally:
            conn.close()

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment of exclusive access and does not wait on busy_timeout,
        # so a second rater opening a brand-new database retries here.
        deadline = time.monotonic() + self.params.busy_timeout_s
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() == "wal":
                    return
                raise SanchaekError(
                    f"{self.db_path}: SQLite refused WAL mode ({mode}): put it on a local disk"
                )
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise SanchaekError(
                f"{self.db_path} has schema version {version}, newer than this sanchaek ({SCHEMA_VERSION}): update sanchaek"
            )
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another rater may have migrated
            for number in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[number - 1](conn)
                conn.execute(f"PRAGMA user_version = {number}")
            if version == 0:
                self._import_snapshot(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _import_snapshot(self, conn: sqlite3.Connection) -> None:
        """A new database starts from the committed snapshot, so a fresh clone keeps earlier votes."""
        if not self.snapshot_path.is_file():
            return
        for vote in read_jsonl(self.snapshot_path):
            self._insert(conn, vote)

    # -- writes

    def _insert(self, conn: sqlite3.Connection, vote: dict) -> int:
        cur = conn.execute(
            """INSERT INTO votes (id, created_at, rater, prompt, theme, sample_a, exp_a, text_a,
                                  sample_b, exp_b, text_b, winner)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                vote.get("id"),
                vote["created_at"],
                vote["rater"],
                vote["prompt"],
                vote.get("theme", ""),
                vote["a"]["sample_id"],
                vote["a"]["experiment"],
                vote["a"]["text"],
                vote["b"]["sample_id"],
                vote["b"]["experiment"],
                vote["b"]["text"],
                vote["winner"],
            ),
        )
        vote_id = int(cur.lastrowid)
        for side in ("a", "b"):
            for criterion, score in (vote[side].get("scores") or {}).items():
                conn.execute(
                    "INSERT INTO scores (vote_id, side, criterion, score) VALUES (?, ?, ?, ?)",
                    (vote_id, side, criterion, int(score)),
                )
        return vote_id

    def _validate(self, vote: NewVote) -> str:
        rater = " ".join(vote.rater.split())
        if not rater:
            raise SanchaekError("rater name is empty: type your name before voting")
        if len(rater) > MAX_RATER_CHARS:
            raise SanchaekError(f"rater name is longer than {MAX_RATER_CHARS} characters: shorten it")
        if vote.winner not in WINNERS or (vote.winner == "tie" and not self.params.allow_ties):
            raise SanchaekError(
                f"winner {vote.winner!r} is not allowed: use 'a' or 'b'"
                + (" or 'tie'" if self.params.allow_ties else "")
            )
        if vote.a.prompt != vote.b.prompt:
            raise SanchaekError("the two samples answer different prompts: compare samples of one prompt")
        if vote.a.sample_id == vote.b.sample_id:
            raise SanchaekError("a sample cannot be compared with itself: pick two different samples")
        for side, scores in vote.scores.items():
            if side not in ("a", "b"):
                raise SanchaekError(f"score side {side!r} is unknown: use 'a' or 'b'")
            for criterion, score in scores.items():
                if criterion not in self.params.criteria:
                    raise SanchaekError(
                        f"criterion {criterion!r} is unknown: use one of {', '.join(self.params.criteria)}"
                    )
                if not isinstance(score, int) or not 1 <= score <= self.params.score_max:
                    raise SanchaekError(
                        f"{criterion} score {score!r} is out of range: give 1..{self.params.score_max}"
                    )
        return rater

    def record(self, vote: NewVote) -> int:
        """Store one vote durably and rewrite the snapshot; returns the vote id."""
        rater = self._validate(vote)
        row = {
            "created_at": _now(),
            "rater": rater,
            "prompt": vote.a.prompt,
            "theme": vote.a.theme or vote.b.theme,
            "winner": vote.winner,
        }
        for side, sample in (("a", vote.a), ("b", vote.b)):
            row[side] = {
                "sample_id": sample.sample_id,
                "experiment": sample.experiment,
                "text": sample.text,
                "scores": dict(vote.scores.get(side, {})),
            }
        with self._connect() as conn, self._write(conn):
            return self._insert(conn, row)

    def undo_last(self, rater: str) -> dict | None:
        """Delete this rater's most recent vote; returns it, or None when they have none."""
        rater = " ".join(rater.split())
        with self._connect() as conn, self._write(conn):
            found = self._votes(conn, where="v.rater = ?", args=(rater,), last_only=True)
            if not found:
                return None
            conn.execute("DELETE FROM votes WHERE id = ?", (found[0]["id"],))
            return found[0]

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock up front (waiting busy_timeout for other raters), so
        # the snapshot written before COMMIT reflects exactly this transaction's table.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            write_jsonl(self.snapshot_path, self._votes(conn))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- reads

    def _votes(
        self, conn: sqlite3.Connection, where: str = "1", args: tuple = (), last_only: bool = False
    ) -> list[dict]:
        scores: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: {"a": {}, "b": {}})
        for r in conn.execute(
            "SELECT vote_id, side, criterion, score FROM scores ORDER BY vote_id, side, criterion"
        ):
            scores[r["vote_id"]][r["side"]][r["criterion"]] = r["score"]
        out = []
        order = "ORDER BY v.id DESC LIMIT 1" if last_only else "ORDER BY v.id"
        for r in conn.execute(f"SELECT * FROM votes v WHERE {where} {order}", args):
            s = scores.get(r["id"], {"a": {}, "b": {}})
            out.append(
                {
                    "id": r["id"],
                    "created_at": r["created_at"],
                    "rater": r["rater"],
                    "prompt": r["prompt"],
                    "theme": r["theme"],
                    "a": {
                        "sample_id": r["sample_a"],
                        "experiment": r["exp_a"],
                        "text": r["text_a"],
                        "scores": s["a"],
                    },
                    "b": {
                        "sample_id": r["sample_b"],
                        "experiment": r["exp_b"],
                        "text": r["text_b"],
                        "scores": s["b"],
                    },
                    "winner": r["winner"],
                }
            )
        return out

    def votes(self) -> list[dict]:
        with self._connect() as conn:
            return self._votes(conn)

    def last_vote(self, rater: str) -> dict | None:
        rater = " ".join(rater.split())
        with self._connect() as conn:
            found = self._votes(conn, where="v.rater = ?", args=(rater,), last_only=True)
        return found[0] if found else None

    def write_snapshot(self) -> int:
        """Rewrite the snapshot from the database (after `dvc exp apply` or a lost file)."""
        with self._connect() as conn, self._write(conn):
            return conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]


def read_snapshot(path: Path) -> list[dict]:
    return list(read_jsonl(path)) if path.is_file() else []


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


def aggregate(votes: list[dict], params: RatingsParams) -> dict[str, Any]:
    """The content of reports/ratings.json (see the module docstring and the report's key list)."""
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
    return {
        "n_votes": len(votes),
        "n_raters": len({v["rater"] for v in votes}),
        "n_prompts": len({v["prompt"] for v in votes}),
        "criteria": list(params.criteria),
        "score_max": params.score_max,
        "confidence": params.confidence,
        "best_experiment": eligible[0] if eligible else None,
        "ranking": ranked,
        "experiments": experiments,
        "samples": dict(sorted(samples.items())),
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
    """The ``ratings`` stage: snapshot -> reports/ratings.json + data/processed/preferences.jsonl."""
    layout = Layout(root)
    snapshot = root / params.snapshot_path
    db = root / params.db_path
    if not snapshot.is_file() and db.is_file():
        raise SanchaekError(f"{snapshot} is missing but {db} has votes: run `sanchaek ratings snapshot`")
    votes = read_snapshot(snapshot)
    report = aggregate(votes, params)
    pairs = preference_pairs(votes)
    report["preference_pairs"] = len(pairs)
    write_jsonl(layout.preferences, pairs)
    write_stage_report(
        layout, "ratings", report, headline=("n_votes", "n_raters", "preference_pairs", "best_experiment")
    )
    return report


# ---- promote ----------------------------------------------------------------------------------


def promote(root: Path, experiment: str | None, params: RatingsParams) -> str:
    """`dvc exp apply` the named (or best-rated) experiment; returns a one-line summary.

    Applying restores the experiment's committed files, the ratings snapshot among them, so the
    snapshot is put back afterwards: votes cast since that experiment ran are not lost.
    """
    from .app import repo

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
    if experiment not in known:
        listed = ", ".join(known) if known else "none"
        raise SanchaekError(
            f"experiment '{experiment}' not found (known: {listed}): run `dvc exp show` to list them"
        )
    snapshot = root / params.snapshot_path
    saved = snapshot.read_bytes() if snapshot.is_file() else None
    result = repo.run_dvc(["exp", "apply", experiment], root, params.dvc_timeout_s)
    if saved is not None:
        with atomic_open(snapshot, "wb") as fh:
            fh.write(saved)
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
    """Rewrite the git-tracked votes snapshot from the ratings database."""
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
    "NewVote",
    "RatingsStore",
    "Sample",
    "aggregate",
    "bradley_terry",
    "candidate_pairs",
    "choose_pair",
    "collect_samples",
    "rated_pairs",
    "export",
    "preference_pairs",
    "promote",
    "sample_id",
    "wilson_interval",
]
