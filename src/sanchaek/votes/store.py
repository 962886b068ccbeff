"""The vote store: SQLite in WAL mode, its migrations, and the git-tracked snapshots.

Votes go to SQLite (several raters at once; every write is one ``BEGIN IMMEDIATE`` transaction that
waits ``busy_timeout`` for the others). Inside that same transaction the vote table is rewritten as
a deterministic JSON Lines snapshot (``ratings.snapshot_path``) and the flags as another
(``ratings.flags_path``), both tracked in git: the ``ratings`` DVC stage depends on them, not on the
live database, so ``dvc repro`` reruns exactly when votes or flags changed and a fresh clone (no
database) still exports from the committed snapshots. Skips are a rater's own bookkeeping (their
queue order) and stay in the database.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..config import RatingsParams
from ..errors import SanchaekError
from ..io import read_jsonl, write_jsonl
from .queue import normal_rater, pair_key
from .samples import Sample

WINNERS = ("a", "b", "tie")
MAX_RATER_CHARS = 64
MAX_REASON_CHARS = 200


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


def _migration_3_flags_and_skips(conn: sqlite3.Connection) -> None:
    # "flag: broken sample" takes a sample out of every queue and out of Bradley–Terry (one flag per
    # sample is enough); a skip only moves a pair to the end of that rater's queue.
    conn.execute(
        """CREATE TABLE flags (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            rater TEXT NOT NULL,
            sample_id TEXT NOT NULL UNIQUE,
            experiment TEXT NOT NULL,
            prompt TEXT NOT NULL,
            text TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        )"""
    )
    conn.execute(
        """CREATE TABLE skips (
            rater TEXT NOT NULL,
            pair TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (rater, pair)
        )"""
    )


# Ordered: migration i (1-based) takes the schema from user_version i-1 to i. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1_votes,
    _migration_2_scores,
    _migration_3_flags_and_skips,
]
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
    """Votes and flags in SQLite; every write also rewrites the git-tracked snapshots inside its transaction.

    A connection per operation: Streamlit serves each browser session from its own thread and a
    sqlite3 connection must stay in the thread that made it.
    """

    def __init__(self, db_path: Path, snapshot_path: Path, flags_path: Path, params: RatingsParams):
        self.db_path = Path(db_path)
        self.snapshot_path = Path(snapshot_path)
        self.flags_path = Path(flags_path)
        self.params = params

    @classmethod
    def from_params(cls, root: Path, params: RatingsParams) -> RatingsStore:
        return cls(root / params.db_path, root / params.snapshot_path, root / params.flags_path, params)

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
            if version < 3:
                self._import_flags(conn)
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

    def _import_flags(self, conn: sqlite3.Connection) -> None:
        if not self.flags_path.is_file():
            return
        for flag in read_jsonl(self.flags_path):
            self._insert_flag(conn, flag)

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
        rater = _checked_rater(vote.rater)
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
        rater = normal_rater(rater)
        with self._connect() as conn, self._write(conn):
            found = self._votes(conn, where="v.rater = ?", args=(rater,), last_only=True)
            if not found:
                return None
            conn.execute("DELETE FROM votes WHERE id = ?", (found[0]["id"],))
            return found[0]

    def flag(self, rater: str, sample: Sample, reason: str = "") -> bool:
        """Flag ``sample`` as broken; False when it was flagged already (by anyone)."""
        row = {
            "created_at": _now(),
            "rater": _checked_rater(rater),
            "sample_id": sample.sample_id,
            "experiment": sample.experiment,
            "prompt": sample.prompt,
            "text": sample.text,
            "reason": " ".join(reason.split())[:MAX_REASON_CHARS],
        }
        with self._connect() as conn, self._write(conn):
            return self._insert_flag(conn, row)

    def unflag(self, sample_id: str) -> bool:
        """Take a flag back (the sample is offered and ranked again); False when it was not flagged."""
        with self._connect() as conn, self._write(conn):
            return conn.execute("DELETE FROM flags WHERE sample_id = ?", (sample_id,)).rowcount > 0

    def _insert_flag(self, conn: sqlite3.Connection, flag: dict) -> bool:
        cur = conn.execute(
            """INSERT OR IGNORE INTO flags (created_at, rater, sample_id, experiment, prompt, text, reason)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                flag["created_at"],
                flag["rater"],
                flag["sample_id"],
                flag["experiment"],
                flag["prompt"],
                flag["text"],
                flag.get("reason", ""),
            ),
        )
        return cur.rowcount > 0

    def skip(self, rater: str, a: Sample, b: Sample) -> None:
        """Move the pair to the end of this rater's queue."""
        rater = _checked_rater(rater)
        with self._connect() as conn, self._write(conn, snapshots=False):
            conn.execute(
                "INSERT OR REPLACE INTO skips (rater, pair, created_at) VALUES (?, ?, ?)",
                (rater, pair_key(a.sample_id, b.sample_id), _now()),
            )

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection, snapshots: bool = True) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock up front (waiting busy_timeout for other raters), so
        # the snapshots written before COMMIT reflect exactly this transaction's tables.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if snapshots:
                write_jsonl(self.snapshot_path, self._votes(conn))
                write_jsonl(self.flags_path, self._flags(conn))
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

    def _flags(self, conn: sqlite3.Connection) -> list[dict]:
        cols = ("created_at", "rater", "sample_id", "experiment", "prompt", "text", "reason")
        return [
            {c: r[c] for c in cols}
            for r in conn.execute(f"SELECT {', '.join(cols)} FROM flags ORDER BY sample_id")
        ]

    def flags(self) -> list[dict]:
        with self._connect() as conn:
            return self._flags(conn)

    def skipped(self, rater: str) -> set[str]:
        """Pair keys (``queue.pair_key``) this rater skipped."""
        with self._connect() as conn:
            rows = conn.execute("SELECT pair FROM skips WHERE rater = ?", (normal_rater(rater),))
            return {r["pair"] for r in rows}

    def last_vote(self, rater: str) -> dict | None:
        rater = normal_rater(rater)
        with self._connect() as conn:
            found = self._votes(conn, where="v.rater = ?", args=(rater,), last_only=True)
        return found[0] if found else None

    def write_snapshot(self) -> int:
        """Rewrite the snapshot from the database (after `dvc exp apply` or a lost file)."""
        with self._connect() as conn, self._write(conn):
            return conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0]


def _checked_rater(name: str) -> str:
    rater = normal_rater(name)
    if not rater:
        raise SanchaekError("rater name is empty: type your name (or log in) before rating")
    if len(rater) > MAX_RATER_CHARS:
        raise SanchaekError(f"rater name is longer than {MAX_RATER_CHARS} characters: shorten it")
    return rater


def read_snapshot(path: Path) -> list[dict]:
    """The records of a snapshot (votes or flags); a missing file has none."""
    return list(read_jsonl(path)) if path.is_file() else []
