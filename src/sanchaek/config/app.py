"""``app`` params: the Streamlit app (runs table, search box, access)."""

from __future__ import annotations

from pydantic import Field

from .base import Section


class AppParams(Section):
    # Require a login: users and their password hashes live in .streamlit/secrets.toml under
    # [sanchaek_users] (make one with `python -m sanchaek.app.auth NAME`); the login names the rater.
    auth: bool = False
    # Longer search queries are cut to this many characters, with a note (Lucene refuses queries of
    # more than 1024 clauses, and a theme is a few words).
    max_query_chars: int = Field(200, ge=1, le=5000)
    # Metric columns of the runs table, in this order, when present (`<metrics file>:<key>` as
    # `dvc exp show` names them); other metrics follow behind a switch.
    headline_metrics: list[str] = Field(
        default_factory=lambda: [
            "eval:val_loss",
            "eval:bits_per_char",
            "eval:perplexity",
            "eval:re_micro_f1",
            "eval:re_auprc",
            "eval:token_accuracy",
            "generate:distinct_2",
            "generate:repetition",
            "generate:copy_rate",
            "generate:theme_relevance",
        ]
    )
    # Curves drawn by default: the baseline and up to this many experiments (the selected rows).
    max_overlay: int = Field(6, ge=1, le=50)
