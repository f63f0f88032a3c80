"""`hagane audit verify`: walk the manifests from the evaluation back to the raw source files.

For every manifest reached: each output must exist with its recorded size and sha256; each input must
too, and an input that lies under the results directory must be the recorded output of another
manifest with the same hash (so the chain is unbroken) — that manifest is checked next. Inputs outside
the results directory are the raw sources: their hashes are checked and the walk ends there.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path

from hagane.io import sha256_file
from hagane.manifest import MANIFEST_NAME


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


def verify(results: Path) -> dict:
    """Raise AuditFailure on the first mismatch; return counts when everything holds."""
    manifests = {p: json.loads(p.read_text()) for p in sorted(results.rglob(MANIFEST_NAME))}
    if not manifests:
        raise AuditFailure(f"no {MANIFEST_NAME} under {results}")
    manifest_at = {_key(str(p)): p for p in manifests}
    producer: dict[str, tuple[Path, dict]] = {}
    for path, m in manifests.items():
        for out in m["outputs"]:
            producer[_key(out["path"])] = (path, out)
    # Walk from the end of the chain, the evaluations and the published model. Manifests they do not lead
    # to (left by a source since removed from the config, say) are reported as unreached, not checked:
    # they made no model.
    roots = [p for p in manifests if manifests[p]["stage"] in ("evaluate", "publish")]
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
        for inp in m["inputs"]:
            check_file(inp, path, "input")
            files_checked += 1
            key = _key(inp["path"])
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
            elif key.startswith(results_prefix):
                raise AuditFailure(f"{path}: input {inp['path']} lies under {results} but no manifest produced it")
            else:
                raw_sources.add(inp["path"])
    unreached = sorted(str(p) for p in manifests if p not in seen)
    return {"manifests": len(seen), "files_checked": files_checked, "raw_sources": sorted(raw_sources),
            "unreached_manifests": unreached}
