"""sanchaek (산책): a data-versioned pipeline that tunes a Korean LM for literary writing."""

__version__ = "0.1.0"
