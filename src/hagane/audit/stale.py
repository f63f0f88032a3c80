"""Stale success: an output that is missing while an output made from it is still there.

Snakemake 9 checks a job's missing outputs only for the jobs that were asked for and for the dependencies of
jobs that already have to run (dag.py, `update_needrun`: the `missing_output` check sits under `job in
self.targetjobs`; other jobs are reached only by the breadth-first walk from jobs that need to run). A job
whose output was deleted, or removed by Snakemake when it failed or was killed, is therefore never run while
every job made from it is up to date: the rerun says "Nothing to be done" over an old model and an old
"audit passed" (upstream issue 1978). No setting changes this (`--rerun-triggers` compares times, params,
code, software and the set of inputs; `--rerun-incomplete` needs the output to exist).

So when the workflow loads, this module walks the jobs the default target leads to and finds each declared
output that is missing while an output of a job that reads it exists. The Snakefile's `rule all` asks for
those files too: the job that makes each is then a target with a missing output, which Snakemake runs, and
every job downstream of it runs again because its input is rebuilt. Nothing is deleted, and a run with
targets of its own is left as the user asked.

The walk stats each declared output it meets once (a pack's record, not its shards) and calls an input
function once per job, except a function whose first answer names no declared output (the raw files of a
pack, the plan): those are asked once per rule, so that planning does not read every pack's plan twice.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping


@dataclasses.dataclass(frozen=True)
class Job:
    rule: str
    outputs: tuple[str, ...]
    inputs: Callable[[Callable[[str], bool]], list[str]]  # given "is this a declared output?", the inputs


@dataclasses.dataclass(frozen=True)
class Stale:
    missing: str  # a declared output that is not there
    rule: str  # the rule that makes it
    made_from_it: str  # an existing output of a job that reads it

    def line(self) -> str:
        return (f"hagane: {self.missing} is missing but {self.made_from_it}, made from it, exists (a job failed, was "
                f"killed or its output was removed): rule {self.rule} runs again, and every job that depends on it")


def find_stale(targets: Iterable[str], jobs: Iterable[Job],
               exists: Callable[[str], bool] = os.path.exists) -> list[Stale]:
    """The missing outputs that existing outputs were made from, among the jobs `targets` lead to."""
    producer: dict[str, Job] = {}
    for job in jobs:
        for out in job.outputs:
            producer.setdefault(out, job)
    known: dict[str, bool] = {}

    def there(path: str) -> bool:
        if path not in known:
            known[path] = exists(path)
        return known[path]

    stale: dict[str, Stale] = {}
    queue = deque(dict.fromkeys(producer[t] for t in targets if t in producer))
    visited = set(queue)
    while queue:
        job = queue.popleft()
        made = next((out for out in job.outputs if there(out)), None)
        for path in job.inputs(producer.__contains__):
            upstream = producer.get(path)
            if upstream is None:
                continue
            if made is not None and path not in stale and not there(path):
                stale[path] = Stale(path, upstream.rule, made)
            if upstream not in visited:
                visited.add(upstream)
                queue.append(upstream)
    return list(stale.values())


def _paths(value) -> list[str]:
    """The file names in what an input function returned (a name, a list of names, unpack's dict)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Mapping):
        value = value.values()
    return [p for v in value for p in _paths(v)]


def workflow_jobs(rules, wildcard_values: Mapping[frozenset, list[dict]]) -> list[Job]:
    """Hagane's jobs from Snakemake's rules: each rule once per set of wildcard values its outputs take
    (`wildcard_values`: {frozenset of wildcard names: [values, …]}). A rule with other wildcards is left out,
    and so are temp(), pipe() and service() outputs, which are missing by design once used."""
    from snakemake.io import apply_wildcards, is_flagged
    from snakemake.iocontainers import Wildcards

    jobs = []
    for rule in rules:
        if rule.norun:
            continue
        names = frozenset(rule.wildcard_names)
        if names and names not in wildcard_values:
            continue
        patterns = [str(o) for o in rule.output
                    if not any(is_flagged(o, flag) for flag in ("temp", "pipe", "service"))]
        outside: set[int] = set()  # input functions whose answer names no declared output
        for values in wildcard_values.get(names, [{}]) if names else [{}]:
            outputs = tuple(apply_wildcards(p, values) for p in patterns)
            jobs.append(Job(rule.name, outputs, _job_inputs(rule, values, outside, Wildcards, apply_wildcards)))
    return jobs


def _job_inputs(rule, values, outside, Wildcards, apply_wildcards):
    def inputs(declared: Callable[[str], bool]) -> list[str]:
        found = []
        for index, item in enumerate(rule.input):
            if callable(item):
                if index in outside:
                    continue
                paths = _paths(item(Wildcards(fromdict=values)))
                if not any(declared(p) for p in paths):
                    outside.add(index)
                found.extend(paths)
            else:
                found.append(apply_wildcards(str(item), values))
        return found

    return inputs
