"""``ratings`` params: the human rating loop (SQLite store, export stage, the app's Rate page)."""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import Section


class RatingsParams(Section):
    # Where votes are written: SQLite in WAL mode, outside the DVC graph (raters write it live).
    db_path: str = "data/ratings.sqlite"
    # Deterministic, git-tracked copy of every vote, rewritten after each vote/undo. The export stage
    # depends on this file (not on the database), so `dvc repro` reruns only when votes changed and
    # a fresh clone with no database still exports (from the committed, possibly empty, snapshot).
    snapshot_path: str = "ratings/votes.jsonl"
    # The same for samples flagged as broken on the Rate page (they leave every queue and the ranking).
    flags_path: str = "ratings/flags.jsonl"
    # How long a writer waits for another rater's transaction before giving up (SQLite busy_timeout).
    busy_timeout_s: float = Field(10.0, gt=0, le=600)
    # The 1..score_max scores a rater may give each sample of a pair (keys are stored in the DB).
    criteria: list[str] = Field(
        default_factory=lambda: ["fluency", "literariness", "theme_fit"], min_length=1
    )
    score_max: int = Field(5, ge=2, le=10)
    # Offer "both alike" as an answer; a tie counts half a win for each side.
    allow_ties: bool = True
    # Two-sided level of the Wilson interval around each experiment's win rate.
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # Bradley–Terry (MM algorithm): virtual ties added to every compared pair so that an experiment
    # that never (or always) won keeps a finite strength; 0 gives the plain maximum likelihood.
    bt_prior: float = Field(0.5, ge=0)
    bt_max_iter: int = Field(10_000, ge=1)
    bt_tol: float = Field(1e-10, gt=0, lt=1)
    # An experiment needs this many comparisons to be named best_experiment (and promoted by default).
    min_comparisons: int = Field(3, ge=1)
    # Pool samples from these files (the workspace output) and, if set, from every DVC experiment's
    # commit and the HEAD commit (their git-tracked reports/samples.jsonl).
    sample_files: list[str] = Field(default_factory=lambda: ["reports/samples.jsonl"])
    include_experiment_samples: bool = True
    # Label for workspace samples whose record names no experiment.
    workspace_label: str = Field("workspace", min_length=1)
    # Samples raters are not offered: fewer non-space characters than min_sample_chars (a one-character
    # sample), or fewer distinct characters than min_distinct_chars (ㅋㅋㅋㅋ…, one repeated token).
    min_sample_chars: int = Field(10, ge=1)
    min_distinct_chars: int = Field(4, ge=1)
    # When only one experiment has samples for a prompt, pair two different samples of it.
    pair_within_experiment: bool = True
    # Seconds the app (and promote) wait for `dvc status`, `dvc exp show`, `dvc exp apply`, `git show`.
    dvc_timeout_s: float = Field(60.0, gt=0, le=3600)
    # Seconds after which the app re-checks `dvc status` (in the background: pages show the last
    # answer meanwhile) and which run the workspace holds; `dvc exp show` and the pooled samples are
    # asked again only when refs, HEAD or files changed.
    dvc_cache_ttl_s: float = Field(30.0, ge=0)

    @field_validator("criteria")
    @classmethod
    def _criteria_are_keys(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or not name.replace("_", "").isalnum():
                raise ValueError(f"criterion {name!r} must be a non-empty word of letters, digits or _")
        if len(set(value)) != len(value):
            raise ValueError("criteria must be distinct")
        return value
