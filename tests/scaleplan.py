"""A workflow directory with the demo config plus N one-file text shards named like Common Crawl's files,
and `snakemake -n` on it with a site profile: what tests/integration/test_scale_plan.py asserts and what
benchmarks/plan_dry_run.py measures at 10^4–10^5 shards. Planning reads no document, so every file holds
the same short Japanese paragraph."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EXTRA_SOURCE = "cc_wet"
TEXT = "鋼は鉄に炭素を加えて作られる合金であり、古くから刀や農具の材料として使われてきた。\n"


def cc_name(i: int) -> str:
    """A path shaped like a Common Crawl WET file's (segment folder, 50-odd-character file name)."""
    segment = 1707947473347 + i // 1000
    return (f"crawl-data/CC-MAIN-2024-10/segments/{segment}.{i % 7}/wet/"
            f"CC-MAIN-20240220211055-20240221001055-{i:05d}.txt")


def build_workdir(workdir: Path, n_shards: int) -> Path:
    """Write the files and `config.yaml` (the demo's plus the extra source); returns the config's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "data").exists():
        (workdir / "data").symlink_to(REPO / "data")
    root = workdir / "extra"
    for i in range(n_shards):
        path = root / cc_name(i)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(TEXT, encoding="utf-8")
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    config["collect"]["sources"].append({"name": EXTRA_SOURCE, "type": "text", "root": "extra/crawl-data",
                                         "paths": ["extra/crawl-data/*/segments/*/wet/*.txt"], "group_mb": 0})
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def venv_env() -> dict:
    """The environment with this virtual environment's programs (snakemake, hagane) first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake_command(workdir: Path) -> list[str]:
    """Snakemake on the repository's workflow, in `workdir`, with its config."""
    return [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]


def timed_snakemake(workdir: Path, *args: str, timeout: int = 1800) -> dict:
    """Run Snakemake under GNU time: return code, output, wall and CPU seconds, peak memory (MB)."""
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M", *snakemake_command(workdir), *args],
                          capture_output=True, text=True, env=venv_env(), timeout=timeout)
    wall = time.perf_counter() - started
    out = proc.stdout + proc.stderr
    timing = re.search(r"^TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)$", out, flags=re.M)
    return {"returncode": proc.returncode, "output": out, "wall_s": round(wall, 2),
            "cpu_s": round(float(timing.group(2)) + float(timing.group(3)), 2) if timing else None,
            "peak_mb": round(int(timing.group(4)) / 1024, 1) if timing else None}


def dry_run(workdir: Path, profile: str, *extra: str, quiet: bool = True, timeout: int = 1800) -> dict:
    """`snakemake -n --profile workflow/profiles/<profile>` in `workdir`: its wall and CPU seconds, peak memory
    (GNU time), the planned jobs per rule, and the output."""
    run = timed_snakemake(workdir, "--profile", str(REPO / "workflow" / "profiles" / profile), "-n",
                          *(["--quiet", "rules"] if quiet else []), *extra, timeout=timeout)
    out = run["output"]
    stats = out[out.rindex("Job stats:"):] if "Job stats:" in out else ""
    jobs = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M) if rule != "total"}
    return {**run, "jobs": jobs, "total_jobs": sum(jobs.values())}


def in_job(workdir: Path, pack: str = "pack-00000") -> dict:
    """Run one collect pack job as a cluster job runs it (Snakemake in remote mode for one target job, which
    parses the workflow again) and return what that cost beyond the job's own command: the start-up a
    cluster job pays before it does any work."""
    run = timed_snakemake(workdir, "--target-jobs", f"collect_documents:source={EXTRA_SOURCE},pack={pack}", "--force",
                          "--nolock", "--ignore-incomplete", "--max-inventory-time", "0", "--mode", "remote",
                          "--cores", "1", "--quiet", "all")
    if run["returncode"] != 0 or run["cpu_s"] is None:
        raise RuntimeError(f"the remote-mode job failed:\n{run['output'][-3000:]}")
    # GNU time's wall, not ours: the same clock as the job's benchmark file.
    wall = float(re.search(r"^TIME ([\d.]+) ", run["output"], flags=re.M).group(1))
    bench = (workdir / "benchmarks" / "collect" / EXTRA_SOURCE / f"{pack}.tsv").read_text().splitlines()[-1].split("\t")
    job_wall, job_cpu = float(bench[0]), float(bench[9] or 0)
    return {"start_up_wall_s": round(wall - job_wall, 2), "start_up_cpu_s": round(run["cpu_s"] - job_cpu, 2)}
