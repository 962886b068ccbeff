"""crawl stage: one polite fetcher, one module per source, resumable output in data/raw/<source>.jsonl."""
