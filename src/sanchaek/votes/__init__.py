"""The human rating loop's machinery, below the ``ratings`` stage and the app.

``samples``: what raters compare (pooled from every experiment's samples.jsonl) and which pairs are
offered; ``queue``: one rater's queue of pairs; ``store``: votes, flags and skips in SQLite with the
git-tracked snapshots; ``agreement``: Krippendorff's alpha between raters who judged the same pairs.
"""
