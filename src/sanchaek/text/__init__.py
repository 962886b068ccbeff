"""Pure text functions for the preprocess stage: normalize, split, PII, filters, dedup, passages."""
