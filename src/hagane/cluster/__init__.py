"""Cluster schedulers that Snakemake reaches through cluster-generic (PJM, PBS Professional, Grid Engine)."""
