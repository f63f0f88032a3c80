"""report: plots for the Snakemake report (`snakemake --report`), drawn from the stages' own outputs."""
