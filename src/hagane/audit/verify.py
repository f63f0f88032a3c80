"""`hagane audit verify`: walk the manifests from the evaluation back to the raw source files.

For every manifest reached: each output must exist with its recorded size and sha256; each input must
too, and an input that lies under the results directory must be the recorded output of another
manifest with the same hash (so the chain is unbroken) — that manifest is checked next. Inputs outside
the results directory are the raw sources: their hashes are checked and the walk ends there.

What the workflow delivers is covered whole: the published model and dataset, every evaluation and converted checkpoint
must each have their manifest, their folders may hold no file that manifest does not record, and the
evaluation summary (which has no manifest of its own) must be exactly what its evaluations give.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import deque
from pathlib import Path

from hagane.io import sha256_file
from hagane.manifest import MANIFEST_NAME, NOT_DATA

# Stages whose output folders are delivered or describe what is: every file in them must be recorded.
# (Earlier stages' folders also hold bookkeeping of their own, such as the packs' _done.json.)
WHOLE_FOLDER_STAGES = ("publish", "evaluate", "convert")
# The directory() outputs of rules/: a file inside one belongs to the manifest of the folder above it.
DIRECTORY_OUTPUTS = ("model", "hf", "checkpoints")
STEP = re.compile(r"step_\d{7}")


class AuditFailure(Exception):
    pass


def _key(path: str) -> str:
    # Absolute, so that a stage run by hand with absolute paths still links to its producer.
    return os.path.abspath(path)


def check_file(entry: dict, manifest: Path, role: str) -> None:
    path = Path(entry["path"])
    if not path.is_file():
        raise AuditFailure(f"{manifest}: {role} {path} is missing")
    size = path.stat().st_size
    if size != entry["size"]:
        raise AuditFailure(f"{manifest}: {role} {path} has {size} bytes, manifest says {entry['size']}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise AuditFailure(f"{manifest}: {role} {path} has sha256 {digest}, manifest says {entry['sha256']}")


def stage_folder(path: Path, results: Path) -> Path:
    """The folder whose _manifest.json should record `path`: its own, or the one above a directory() output
    (results/convert/step_0000200/model/config.json → results/convert/step_0000200)."""
    folder = path.parent
    while folder != results and folder.parent != results and (
            folder.name in DIRECTORY_OUTPUTS or folder.parent.name == "checkpoints"):
        folder = folder.parent
    return folder


def expected_manifests(results: Path) -> list[tuple[Path, str]]:
    """(manifest, why it must exist) for each end product found under `results`: the published model and its
    GGUF, the published dataset, every evaluation, the evaluation task and every converted checkpoint."""
    expected = []
    publish = results / "publish"
    if (publish / "model").exists():
        expected.append((publish / MANIFEST_NAME, f"the published model {publish / 'model'} has no publish manifest"))
    if (publish / "gguf").is_dir() and any(f.name not in NOT_DATA for f in (publish / "gguf").iterdir()):
        expected.append((publish / "gguf" / MANIFEST_NAME, f"{publish / 'gguf'} holds a GGUF export without its "
                         "publish manifest"))
    if (publish / "corpus" / "dataset").exists():
        expected.append((publish / "corpus" / MANIFEST_NAME, f"the published dataset {publish / 'corpus' / 'dataset'} "
                         "has no publish manifest"))
    for stage, what in (("evaluate", "the evaluation"), ("convert", "the converted checkpoint")):
        for folder in sorted((results / stage).glob("step_*")):
            if STEP.fullmatch(folder.name) and folder.is_dir():
                expected.append((folder / MANIFEST_NAME, f"{what} {folder} has no {stage} manifest"))
    tasks = results / "evaluate" / "tasks"
    if tasks.is_dir():
        expected.append((tasks / MANIFEST_NAME, f"the evaluation task {tasks} has no evaluate-task manifest"))
    return expected


def check_folders(path: Path, manifest: dict, results: Path) -> None:
    """Every file in the folders that `manifest`'s outputs fill must be one of them: an extra file in the
    published model would be uploaded with it and vouched for by nobody."""
    home = path.parent.resolve()
    recorded = {Path(out["path"]).resolve() for out in manifest["outputs"]}
    folders: dict[Path, bool] = {}  # folder → whether its sub-folders count too
    for out in recorded:
        try:
            parts = out.relative_to(home).parts
        except ValueError:
            continue  # written elsewhere (by hand, say): not a folder of this manifest
        if len(parts) == 1:
            folders.setdefault(home, False)
        else:
            folders[home / parts[0]] = True
    for folder, deep in sorted(folders.items()):
        files = folder.rglob("*") if deep else folder.iterdir()
        for f in sorted(files):
            if f.is_file() and f.name not in NOT_DATA and f.resolve() not in recorded:
                # Named as the manifests name files: relative to where the audit runs.
                shown = os.path.relpath(f)
                raise AuditFailure(f"{path}: {shown} is in the {manifest['stage']} output {Path(os.path.relpath(folder))} "
                                   "but the manifest does not record it: nothing vouches for it (remove it, or rerun "
                                   f"the {manifest['stage']} stage)")


def check_summary(results: Path, producer: dict) -> list[Path]:
    """The evaluation summary has no manifest: it must be exactly what the recorded evaluations and training
    metrics give. Returns the manifests it rests on, which the walk then checks."""
    evaluate = results / "evaluate"
    names = ("summary.json", "summary.csv")
    present = [n for n in names if (evaluate / n).is_file()]
    if not present:
        return []
    if len(present) == 1:
        raise AuditFailure(f"{evaluate / present[0]} is there without {evaluate / (set(names) - set(present)).pop()}: "
                           "the summary was not written whole; rerun the evaluation summary")
    try:
        steps = [int(row["step"]) for row in json.loads((evaluate / "summary.json").read_text(encoding="utf-8"))]
    except (ValueError, TypeError, KeyError) as err:
        raise AuditFailure(f"{evaluate / 'summary.json'}: not an evaluation summary ({err})") from None
    rests_on = []
    metric_files = [evaluate / f"step_{step:07d}" / "metrics.json" for step in steps]
    pretrain_metrics = results / "pretrain" / "metrics.jsonl"
    for f, stage in [*((m, "evaluate") for m in metric_files), (pretrain_metrics, "pretrain")]:
        if _key(str(f)) not in producer:
            raise AuditFailure(f"{evaluate / 'summary.json'} rests on {f}, which no manifest records: the {stage} "
                               f"manifest {stage_folder(f, results) / MANIFEST_NAME} is missing (or does not list it)")
        rests_on.append(producer[_key(str(f))][0])
    # The summary is recomputed by the code that wrote it, from the files the manifests vouch for.
    from hagane.evaluate.run import summarize

    with tempfile.TemporaryDirectory() as tmp:
        summarize(metric_files, pretrain_metrics, Path(tmp))
        for name in names:
            if (Path(tmp) / name).read_bytes() != (evaluate / name).read_bytes():
                raise AuditFailure(f"{evaluate / name} differs from the summary of the evaluations it lists "
                                   f"(steps {', '.join(map(str, steps))}): it is stale or was edited; rerun the "
                                   "evaluation summary")
    return rests_on


def verify(results: Path) -> dict:
    """Raise AuditFailure on the first mismatch; return counts when everything holds."""
    manifests = {p: json.loads(p.read_text()) for p in sorted(results.rglob(MANIFEST_NAME))}
    if not manifests:
        raise AuditFailure(f"no {MANIFEST_NAME} under {results}")
    for path, why in expected_manifests(results):
        if path not in manifests:
            raise AuditFailure(f"{path} is missing: {why}; rerun the workflow to rebuild it")
    manifest_at = {_key(str(p)): p for p in manifests}
    producer: dict[str, tuple[Path, dict]] = {}
    for path, m in manifests.items():
        for out in m["outputs"]:
            producer[_key(out["path"])] = (path, out)
    # Walk from the end of the chain, the evaluations, the published model and the summary. Manifests they do
    # not lead to (left by a source since removed from the config, say) are reported as unreached, not
    # checked: they made no model.
    roots = [p for p in manifests if manifests[p]["stage"] in ("evaluate", "publish")]
    roots += check_summary(results, producer)
    if not roots:
        consumed = {producer[_key(i["path"])][0] for m in manifests.values() for i in m["inputs"]
                    if _key(i["path"]) in producer}
        roots = [p for p in manifests if p not in consumed]
    results_prefix = os.path.abspath(results) + os.sep
    queue, seen = deque(roots), set()
    raw_sources: set[str] = set()
    files_checked = 0
    while queue:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        m = manifests[path]
        for out in m["outputs"]:
            check_file(out, path, "output")
            files_checked += 1
        if m["stage"] in WHOLE_FOLDER_STAGES:
            check_folders(path, m, results)
        for inp in m["inputs"]:
            key = _key(inp["path"])
            if key.startswith(results_prefix) and key not in manifest_at and key not in producer:
                # Checked before the file's hash: a file under results/ that no manifest records is a broken
                # chain whether or not the file is still there.
                if Path(inp["path"]).name == MANIFEST_NAME:
                    raise AuditFailure(f"{path} (stage {m['stage']}) read the manifest {inp['path']}, which is "
                                       "missing; rerun the workflow to rebuild it")
                expected = stage_folder(Path(inp["path"]), Path(os.path.relpath(results))) / MANIFEST_NAME
                raise AuditFailure(f"{path} (stage {m['stage']}) read {inp['path']}, which lies under {results} "
                                   f"but no manifest produced it: {expected} is missing (or does not list it); "
                                   "rerun the workflow to rebuild it")
            check_file(inp, path, "input")
            files_checked += 1
            if key in manifest_at:
                # A stage that read another's manifest (the model card's provenance): that manifest's
                # own hash was just checked, and the walk goes on through it.
                queue.append(manifest_at[key])
            elif key in producer:
                source_manifest, recorded = producer[key]
                if recorded["sha256"] != inp["sha256"]:
                    raise AuditFailure(f"{path}: input {inp['path']} has sha256 {inp['sha256']}, but {source_manifest} "
                                       f"recorded {recorded['sha256']} when it wrote it")
                queue.append(source_manifest)
            else:
                raw_sources.add(inp["path"])
    unreached = sorted(str(p) for p in manifests if p not in seen)
    return {"manifests": len(seen), "files_checked": files_checked, "raw_sources": sorted(raw_sources),
            "unreached_manifests": unreached}
