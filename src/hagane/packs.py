"""Packs: the shards one data-stage job works through.

A corpus of 10^5 shards cannot be 10^5 Snakemake jobs per stage: planning grows faster than the job count,
every cluster job pays its start-up, and whole-node schedulers charge 48 cores for a single-threaded job
(DESIGN.md, "Scale"). So the per-shard stages (collect, score, select, MinHash signatures, near dedup,
tokenize) run one job per *pack*: up to `shards_per_job` consecutive shards of one source, worked
through by a pool of `threads` processes. The shard stays the unit of data: its outputs, its
`_manifest.json` and its path under `results/<stage>/<source>/<shard>/` are what they were.

The plan — which shards (and which input files) make each pack — is written by the workflow when it loads,
under `results/plan/`, and each file only when its bytes change, so that its time stamp (Snakemake's
rerun trigger) moves only with its content. Jobs read their shards from it: no command line and no
Snakemake record holds a list that grows with the corpus.

A pack job leaves a record, `results/<stage>/<source>/_packs/<pack>.json`: the declared output that
Snakemake tracks. Each shard it finishes gets `_done.json` beside its manifest, a fingerprint of what
made it (the stage's settings, the shard's inputs as size and time stamp, Hagane's own source and the
key libraries' versions). A job that runs again — a retry after a time limit or a lost node, a rerun after
a killed workflow, a pack cut differently — redoes only the shards whose fingerprint no longer holds:
every stage is deterministic, so a shard whose fingerprint holds would come out byte for byte the same.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

from tqdm import tqdm

from hagane.config import Shard
from hagane.errors import HaganeError
from hagane.io import atomic_path, write_json
from hagane.manifest import MANIFEST_NAME, environment

PLAN_ROOT = Path("results/plan")
PACK_LIST = "packs.json"
PACKS_DIR = "_packs"
DONE_NAME = "_done.json"


@dataclasses.dataclass(frozen=True)
class Pack:
    source: str
    name: str
    shards: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.source}/{self.name}"


def pack_name(index: int) -> str:
    return f"pack-{index:05d}"


def plan_packs(shards: dict[str, dict[str, Shard]], shards_per_job: int) -> list[Pack]:
    """Consecutive shards of each source, `shards_per_job` at a time (the last pack of a source may be
    smaller). A pack never mixes sources: each source has its own reader and its own settings."""
    if shards_per_job < 1:
        raise HaganeError(f"shards_per_job must be at least 1 (got {shards_per_job})")
    packs = []
    for source, parts in shards.items():
        names = list(parts)
        if PACKS_DIR in names:
            raise HaganeError(f"source {source!r}: a shard may not be named {PACKS_DIR!r} (the folder of pack records)")
        for index, start in enumerate(range(0, len(names), shards_per_job)):
            packs.append(Pack(source, pack_name(index), tuple(names[start:start + shards_per_job])))
    return packs


def plan_file(pack_id: str, root: str | os.PathLike = PLAN_ROOT) -> Path:
    return Path(root) / f"{pack_id}.json"


def pack_record(stage_root: str | os.PathLike, pack_id: str) -> Path:
    """Where the job of a pack leaves its record, under a stage's output root (results/filter/score, …)."""
    source, name = pack_id.split("/")
    return Path(stage_root) / source / PACKS_DIR / f"{name}.json"


def _canonical(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def _write_if_changed(path: Path, content: bytes) -> bool:
    try:
        if path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)
    return True


def write_plan(shards: dict[str, dict[str, Shard]], packs: list[Pack], root: str | os.PathLike = PLAN_ROOT) -> int:
    """Write one plan file per pack (its shards, their files and byte ranges) and the pack list; files of
    packs that no longer exist are removed. Returns how many files changed."""
    root = Path(root)
    changed = 0
    wanted = set()
    for pack in packs:
        path = plan_file(pack.id, root)
        wanted.add(path)
        entries = [{"name": part, "files": [str(f) for f in shard.files], "roots": [str(r) for r in shard.roots],
                    "byte_range": list(shard.byte_range) if shard.byte_range else None}
                   for part, shard in ((part, shards[pack.source][part]) for part in pack.shards)]
        changed += _write_if_changed(path, _canonical({"source": pack.source, "pack": pack.name, "shards": entries}))
    listing = {"packs": {pack.id: list(pack.shards) for pack in packs}}
    changed += _write_if_changed(root / PACK_LIST, _canonical(listing))
    if root.is_dir():
        for stale in root.glob("*/pack-*.json"):
            if stale not in wanted:
                stale.unlink()
                changed += 1
    return changed


@dataclasses.dataclass(frozen=True)
class PlannedShard:
    name: str
    files: tuple[Path, ...]
    roots: tuple[Path, ...]
    byte_range: tuple[int, int] | None


@dataclasses.dataclass(frozen=True)
class PackPlan(Pack):
    """A pack as its plan file holds it: each shard with its files."""

    shards: tuple[PlannedShard, ...]


def read_plan(path: str | os.PathLike) -> PackPlan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        shards = tuple(PlannedShard(s["name"], tuple(Path(f) for f in s["files"]), tuple(Path(r) for r in s["roots"]),
                                    tuple(s["byte_range"]) if s.get("byte_range") else None)
                       for s in data["shards"])
        return PackPlan(data["source"], data["pack"], shards)
    except FileNotFoundError:
        raise HaganeError(f"{path}: no such pack plan; the workflow writes results/plan/ when it loads "
                          "(run snakemake again)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise HaganeError(f"{path}: not a pack plan ({err}); delete results/plan/ and run snakemake again") from err


def read_pack_list(path: str | os.PathLike) -> dict[str, list[str]]:
    """{pack id: its shard names} from results/plan/packs.json."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["packs"]
    except FileNotFoundError:
        raise HaganeError(f"{path}: no pack list; the workflow writes results/plan/ when it loads") from None
    except (json.JSONDecodeError, KeyError) as err:
        raise HaganeError(f"{path}: not a pack list ({err}); delete results/plan/ and run snakemake again") from err


def read_packs(root: str | os.PathLike = PLAN_ROOT) -> list[Pack]:
    """The packs of the plan the main Snakemake process wrote (what a cluster job reads at start-up)."""
    return [Pack(*pack_id.split("/"), tuple(parts)) for pack_id, parts in read_pack_list(Path(root) / PACK_LIST).items()]


def write_shard_list(packs: list[Pack], name: str, pattern: str, sources: Iterable[str] | None = None, *,
                     write: bool = True, root: str | os.PathLike = PLAN_ROOT) -> Path:
    """Write (when it changed) `root/lists/NAME.txt`: `pattern` ("results/tokenize/{shard}/train") filled
    in for every shard of the packs, of some sources only, one per line — the form argparse reads from
    `@FILE`. Returns its path."""
    path = Path(root) / "lists" / f"{name}.txt"
    if not write:  # a cluster job: the main process wrote it
        return path
    wanted = None if sources is None else set(sources)
    lines = [pattern.format(shard=f"{pack.source}/{part}") for pack in packs
             if wanted is None or pack.source in wanted for part in pack.shards]
    if any("\n" in line for line in lines):
        raise HaganeError(f"{name}: a shard path holds a line break; rename the file")
    _write_if_changed(path, "".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path


def shard_dir(record: str | os.PathLike, shard: str) -> Path:
    """A shard's output folder beside the folder of its pack's record (results/<stage>/<source>/<shard>)."""
    return Path(record).parent.parent / shard


# ------------------------------------------------------------------------------------------ running


@functools.cache
def _code_digest() -> str:
    """Hagane's own source: a shard made by other code is made again (a fix must reach old outputs)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _package_versions() -> dict:
    """The key libraries' versions, looked up once per process (each lookup reads package metadata)."""
    return environment()["packages"]


def _stamp(path: Path) -> list:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _fingerprint(stage: str, spec: str, manifest: dict) -> str:
    basis = {"stage": stage, "spec": spec, "code": _code_digest(), "packages": _package_versions(),
             "inputs": [_stamp(Path(i["path"])) for i in manifest["inputs"]]}
    return hashlib.sha256(_canonical(basis)).hexdigest()


def _done_outputs(out_dir: Path, manifest: dict) -> list[Path]:
    return [Path(o["path"]) for o in manifest["outputs"]] + [out_dir / MANIFEST_NAME]


def _read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(stage: str, spec: str, out_dir: Path) -> bool:
    """Whether the shard in `out_dir` was finished by this very job description (see the module's doc)."""
    try:
        done = json.loads((out_dir / DONE_NAME).read_text(encoding="utf-8"))
        manifest = _read_manifest(out_dir)
        if manifest is None:
            return False
        outputs = [_stamp(p) for p in _done_outputs(out_dir, manifest)]
        return (done["fingerprint"], done["outputs"]) == (_fingerprint(stage, spec, manifest), outputs)
    except (OSError, ValueError, KeyError, TypeError):
        return False  # a missing input or output, a damaged marker: the shard is made again


def mark_done(stage: str, spec: str, out_dir: Path, seconds: float) -> None:
    """Write the shard's marker, with the CPU seconds its work took (what benchmarks/scale.py sums to tell
    the work from the workflow's and the jobs' own costs)."""
    manifest = _read_manifest(out_dir)
    if manifest is None:
        raise HaganeError(f"{out_dir}: the stage wrote no readable {MANIFEST_NAME}")
    write_json(out_dir / DONE_NAME, {"fingerprint": _fingerprint(stage, spec, manifest),
                                     "outputs": [_stamp(p) for p in _done_outputs(out_dir, manifest)],
                                     "work_cpu_s": round(seconds, 3)})


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """One shard of a pack job: `work(*args)` writes the shard's outputs and manifest into `out_dir`.
    `spec` describes the work completely (settings, input paths, options) for the fingerprint."""

    name: str
    out_dir: Path
    work: Callable
    args: tuple
    spec: str


def _run_task(stage: str, task: ShardTask) -> str | None:
    """Run one shard in a worker; an error comes back as text naming the shard (the others go on)."""
    try:
        started = time.process_time()
        task.work(*task.args)
        mark_done(stage, task.spec, task.out_dir, time.process_time() - started)
        return None
    except HaganeError as err:
        return str(err)
    except Exception:  # noqa: BLE001 — the pack reports every failed shard, then fails as a whole
        return traceback.format_exc(limit=6).strip()


def run_pack(stage: str, pack_id: str, tasks: list[ShardTask], record: Path, *, workers: int = 1) -> dict:
    """Work through a pack's shards, `workers` at a time, skipping those already done; then write the
    pack's record. A shard that fails does not stop the others: the job fails at the end naming every
    failed shard, and its retry redoes only those."""
    todo = [t for t in tasks if not is_done(stage, t.spec, t.out_dir)]
    reused = len(tasks) - len(todo)
    print(f"{stage} {pack_id}: {len(tasks)} shard(s), {reused} already done, {len(todo)} to do, "
          f"{min(workers, max(len(todo), 1))} worker(s)", flush=True)
    errors: dict[str, str] = {}
    progress = tqdm(total=len(todo), desc=f"{stage} {pack_id}", unit="shard", mininterval=10)
    if workers <= 1 or len(todo) <= 1:
        for task in todo:
            if (error := _run_task(stage, task)) is not None:
                errors[task.name] = error
            progress.update()
    else:
        # Fresh interpreters (spawn): the parent holds tqdm's monitor thread and maybe library threads, and
        # forking a threaded process can deadlock. Each worker imports once and works through many shards.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context) as pool:
            futures = {pool.submit(_run_task, stage, task): task for task in todo}
            for future in concurrent.futures.as_completed(futures):
                task = futures[future]
                try:
                    error = future.result()
                except concurrent.futures.process.BrokenProcessPool as err:
                    error = f"its worker process died ({err}); out of memory? (the job's mem_mb)"
                if error is not None:
                    errors[task.name] = error
                progress.update()
    progress.close()
    if errors:
        lines = "\n".join(f"  {name}: {error}" for name, error in sorted(errors.items()))
        raise HaganeError(f"{stage} {pack_id}: {len(errors)} of {len(tasks)} shard(s) failed (the others are "
                          f"done and are not redone on retry):\n{lines}")
    shards = {}
    total_bytes = 0
    for task in tasks:
        manifest = _read_manifest(task.out_dir) or {}
        outputs = manifest.get("outputs", [])
        total_bytes += sum(o["size"] for o in outputs)
        shards[task.name] = {"out_dir": str(task.out_dir), "outputs": [o["path"] for o in outputs],
                             "bytes": sum(o["size"] for o in outputs), "counts": manifest.get("counts", {})}
    write_json(record, {"stage": stage, "pack": pack_id, "shards": shards, "bytes": total_bytes,
                        "max_shard_bytes": max((s["bytes"] for s in shards.values()), default=0)})
    print(f"{stage} {pack_id}: done ({len(tasks)} shard(s), {total_bytes:,} bytes written; {reused} reused)")
    return shards


def record_bytes(record: str | os.PathLike) -> tuple[int, int]:
    """(all bytes, the largest shard's bytes) that a pack's shards wrote, from its record: what the next
    stage's job of that pack reads. (0, 0) while the record does not exist yet (a dry run)."""
    try:
        data = json.loads(Path(record).read_text(encoding="utf-8"))
        return int(data["bytes"]), int(data["max_shard_bytes"])
    except (OSError, ValueError, KeyError):
        return 0, 0
