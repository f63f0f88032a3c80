"""evaluate: held-out perplexity and bits per character/byte of a converted model."""
