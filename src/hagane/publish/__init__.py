"""publish: the curated corpus as a dataset directory others can download, load and check
(Parquet files, a dataset card, Croissant metadata and the hash chain back to the raw files)."""
