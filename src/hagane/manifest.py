"""`_manifest.json`: the provenance record every stage output directory carries (DESIGN.md).

One function writes it and every stage calls it. `hagane audit verify` reads them back.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from hagane import __version__
from hagane.io import sha256_file, write_json

MANIFEST_NAME = "_manifest.json"
# Variables through which the schedulers we support expose the job id, in the order we look.
JOB_ID_VARIABLES = ("SLURM_JOB_ID", "PJM_JOBID", "PBS_JOBID", "JOB_ID")
KEY_PACKAGES = ("torch", "sentencepiece", "transformers", "snakemake", "fasttext-numpy2", "trafilatura",
                "warcio", "pandas", "pyarrow", "numpy", "zstandard")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# Files that are not data: our own manifests, and the marker Snakemake drops into a directory() output
# after its job ends (it would appear in later stages' inputs but never in the producer's outputs).
NOT_DATA = {MANIFEST_NAME, ".snakemake_timestamp"}


def expand_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named directly, plus every data file under a named directory, sorted."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*")) if f.is_file() and f.name not in NOT_DATA)
        else:
            files.append(p)
    return files


def describe_files(paths: Iterable[str | os.PathLike]) -> list[dict]:
    return [{"path": str(f), "size": f.stat().st_size, "sha256": sha256_file(f)} for f in expand_files(paths)]


def code_version() -> dict:
    repo = Path(__file__).resolve().parents[2]
    commit, dirty = None, None
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                                capture_output=True, text=True, check=True).stdout
        dirty = bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        pass  # an installed package outside a git checkout has no commit to report
    return {"package": "hagane", "version": __version__, "git_commit": commit, "git_dirty": dirty}


def environment() -> dict:
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    job_id = next((os.environ[v] for v in JOB_ID_VARIABLES if os.environ.get(v)), None)
    return {"python": sys.version.split()[0], "platform": platform.platform(), "host": socket.gethostname(),
            "packages": packages, "scheduler_job_id": job_id}


def write_manifest(out_dir: str | os.PathLike, *, stage: str, config: dict, inputs: Iterable,
                   outputs: Iterable, counts: dict, started_at: str) -> Path:
    """Write `out_dir/_manifest.json`. Call it last, once every output is in place."""
    path = Path(out_dir) / MANIFEST_NAME
    write_json(path, {
        "stage": stage,
        "config": config,
        "inputs": describe_files(inputs),
        "outputs": describe_files(outputs),
        "code": code_version(),
        "environment": environment(),
        "started_at": started_at,
        "finished_at": now(),
        "counts": counts,
    })
    return path
