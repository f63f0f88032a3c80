"""dedup: exact duplicates by normalised-text hash, across the whole corpus."""
