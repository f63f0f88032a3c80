"""The workflow plans PII redaction and, when it is on, the three passes of line dedup between exact dedup and
MinHash (`snakemake -n` on the demo corpus)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def plan(workdir: Path, extra: dict) -> tuple[dict[str, int], str]:
    """{rule: jobs} and the output of a dry run of the demo config with `extra` merged over it."""
    workdir.mkdir(exist_ok=True)
    if not (workdir / "data").exists():
        (workdir / "data").symlink_to(REPO / "data")
    (workdir / "extra.yaml").write_text(yaml.safe_dump(extra))
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(bin_dir / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(REPO / "config" / "demo.yaml"), str(workdir / "extra.yaml"),
                           "--profile", str(REPO / "workflow" / "profiles" / "local"), "-n"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = proc.stdout[proc.stdout.rindex("Job stats:"):]
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", stats, flags=re.M) if r != "total"}, proc.stdout


def test_redaction_runs_per_pack_and_line_dedup_only_when_on(tmp_path):
    jobs, out = plan(tmp_path / "off", {"line_dedup": {"enabled": False}})
    assert jobs["redact_documents"] == 2 and jobs["dedup_exact"] == 1
    assert not {"hash_lines", "count_lines", "remove_lines"} & set(jobs)
    assert "--documents-root results/dedup/exact" in out  # MinHash reads exact dedup's output
    assert "results/redact/debian_web/_packs/pack-00000.json" in out

    jobs, out = plan(tmp_path / "on", {"line_dedup": {"enabled": True, "partitions": 3}})
    assert jobs["redact_documents"] == 2 and jobs["hash_lines"] == 2 and jobs["count_lines"] == 3
    assert jobs["remove_lines"] == 2 and jobs["minhash_signatures"] == 2
    assert "--documents-root results/dedup/lines/remove" in out
    # The funnel and the published card count line dedup's shards too.
    assert out.count("--line-dedup-counts @results/plan/lists/line-dedup-counts.txt") == 2
    lists = (tmp_path / "on" / "results/plan/lists/line-hashes.txt").read_text().split()
    assert lists == ["results/dedup/lines/hash/debian_web/debian-docs/line_hashes.npy",
                     "results/dedup/lines/hash/manuals_text/mew-manual-ja--skk-manual-ja/line_hashes.npy"]
