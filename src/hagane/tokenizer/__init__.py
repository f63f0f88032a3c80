"""tokenizer: SentencePiece training, and a Hugging Face tokenizer directory verified against it."""
