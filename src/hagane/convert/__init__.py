"""convert: native checkpoints → Hugging Face transformers directories, behind a logits gate."""
