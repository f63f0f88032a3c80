"""tokenize: documents → binary token shards with a document index, split into train and validation."""
