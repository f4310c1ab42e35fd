"""pipeline: corpora in (text, JSONL, Parquet, datasets), token shards out, and the training loader."""
