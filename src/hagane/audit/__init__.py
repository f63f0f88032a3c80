"""audit: answer provenance questions from the manifests, and verify every hash along the chain."""
