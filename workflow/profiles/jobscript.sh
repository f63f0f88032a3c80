#!/bin/bash
# properties = {properties}
# The job script of the fugaku, abci and tsubame profiles (linked into each). The submit command passes
# HAGANE_ACTIVATE: the activate script of the environment the job runs in. On Fugaku that must be an
# aarch64 environment (compute nodes are A64FX; the login node that runs Snakemake is x86-64); on ABCI and
# TSUBAME it defaults to the virtual environment Snakemake runs in. Then Snakemake's own job command.
# (Braces are doubled: Snakemake fills this file in with str.format.)
set -e
if [ -n "${{HAGANE_ACTIVATE:-}}" ]; then
  . "${{HAGANE_ACTIVATE}}"
fi
{exec_job}
