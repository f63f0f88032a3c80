"""Planning at scale: `snakemake -n` over the demo config plus N one-file shards named like Common Crawl's
WET files, with the local profile and each site profile; wall, CPU and peak memory of each dry run, the jobs
it plans, and (with --profile-cpu) where the CPU went, by package, from cProfile.

    .venv/bin/python benchmarks/plan_dry_run.py --shards 10000 100000

Goal (issue 20): 10,000 shards within 30 s and 1 GB, 100,000 within 5 minutes, with every profile. The
figures before packs, measured the same way on the same machine, are in the issue: 10,000 shards took
430-490 s of CPU and 1.9 GB with the local profile.
Writes benchmarks/plan_dry_run.results.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import ROOT, git_revision, load_average, machine  # noqa: E402
from scaleplan import REPO, build_workdir, dry_run, in_job, snakemake_command, venv_env  # noqa: E402

PROFILES = ["local", "fugaku", "tsubame", "abci", "slurm"]


def cpu_by_package(workdir: Path, profile: str) -> dict[str, float]:
    """The dry run again under cProfile, its own CPU (tottime) summed per top-level package."""
    out = workdir / "plan.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *snakemake_command(workdir),
                    "--profile", str(REPO / "workflow" / "profiles" / profile), "-n", "--quiet", "rules"],
                   check=True, capture_output=True, env=venv_env())
    stats = pstats.Stats(str(out))
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/src/hagane/" in filename or filename.endswith((".smk", "Snakefile")):
            package = "hagane (package, rules)"
        elif filename.startswith("<"):
            package = "builtins"
        else:
            package = "python stdlib"
        totals[package] = totals.get(package, 0.0) + tottime
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:8]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--profiles", nargs="+", default=PROFILES)
    parser.add_argument("--profile-cpu", action="store_true", help="also cProfile the local dry run")
    parser.add_argument("--workdir", type=Path, help="where to build the corpora (default: a temporary folder)")
    args = parser.parse_args()
    results = {"machine": machine(), "code": git_revision(), "load_average_before": load_average(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.workdir or Path(tmp)
        for n in args.shards:
            workdir = base / f"shards-{n}"
            started = time.perf_counter()
            build_workdir(workdir, n)
            print(f"{n} shards: files written in {time.perf_counter() - started:.1f} s", flush=True)
            for profile in args.profiles:
                run = dry_run(workdir, profile)
                if run["returncode"] != 0:
                    raise SystemExit(f"dry run failed ({profile}, {n} shards):\n{run['output'][-3000:]}")
                row = {"shards": n, "profile": profile, **{k: run[k] for k in ("wall_s", "cpu_s", "peak_mb", "total_jobs")},
                       "collect_jobs": run["jobs"]["collect_documents"]}
                if profile == "local":
                    # What a cluster job pays before its work: Snakemake parses the workflow again in the job.
                    row.update(in_job(workdir))
                if args.profile_cpu and profile == "local":
                    row["cpu_by_package"] = cpu_by_package(workdir, profile)
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    out = ROOT / "benchmarks" / "plan_dry_run.results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Planning at scale (`snakemake -n`), written by benchmarks/plan_dry_run.py", "",
             f"Machine: {results['machine']}; code {results['code']}; load before {results['load_average_before']}.",
             "", "| shards | profile | jobs planned | collect jobs | wall s | CPU s | peak MB |", "|---|---|---|---|---|---|---|"]
    for r in results["runs"]:
        lines.append(f"| {r['shards']:,} | {r['profile']} | {r['total_jobs']:,} | {r['collect_jobs']:,} | {r['wall_s']} | "
                     f"{r['cpu_s']} | {r['peak_mb']} |")
    lines += ["", "A cluster job's start-up (Snakemake in remote mode for one collect pack job, beyond the job's own "
              "command):", ""]
    for r in results["runs"]:
        if "start_up_wall_s" in r:
            lines.append(f"- {r['shards']:,} shards: {r['start_up_wall_s']} s wall, {r['start_up_cpu_s']} s CPU")
    for r in results["runs"]:
        if "cpu_by_package" in r:
            lines += ["", f"CPU by package (cProfile, own time), {r['shards']:,} shards, local: "
                      + ", ".join(f"{k} {v} s" for k, v in r["cpu_by_package"].items())]
    (ROOT / "benchmarks" / "plan_dry_run.results.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
