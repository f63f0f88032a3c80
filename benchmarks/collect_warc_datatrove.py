"""The datatrove half of benchmarks/collect_warc.py. It runs inside datatrove's own virtual environment
(.build/bench-datatrove, made by collect_warc.py), never in Hagane's.

The pipeline is datatrove's usual WARC → text path: WarcReader, then the Trafilatura extractor with its
default settings, then a JsonlWriter (zstd, like Hagane's shards), run by LocalPipelineExecutor with one
task and one worker, so it is single-task just as Hagane's collect_file is.

    .build/bench-datatrove/bin/python benchmarks/collect_warc_datatrove.py --warc FILE --out DIR

Writes DIR/documents.jsonl ({"id", "url", "text"} per line, plain) and DIR/result.json (timing, counts,
versions), and prints result.json's content on stdout. Timing covers executor.run() only: the
interpreter's start and the imports are outside it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import time
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.writers import JsonlWriter


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children. The extractor runs trafilatura in
    a child process (datatrove's ExtractorSandbox), so the process's own time alone would miss most of it."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def step_stats(stats: list[dict], name_part: str) -> dict:
    """The counters of the first pipeline step whose name contains `name_part`, as plain numbers."""
    for step in stats:
        if name_part in step["name"]:
            return {key: value["total"] if isinstance(value, dict) else value
                    for key, value in step["stats"].items()}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warc", type=Path, required=True, help="the WARC file to read")
    parser.add_argument("--out", type=Path, required=True, help="an empty or missing folder for the outputs")
    args = parser.parse_args()
    warc = args.warc.resolve()
    out = args.out.resolve()

    executor = LocalPipelineExecutor(
        pipeline=[
            WarcReader(data_folder=str(warc.parent), glob_pattern=warc.name),
            Trafilatura(),
            JsonlWriter(str(out / "datatrove"), compression="zstd"),
        ],
        tasks=1,
        workers=1,
        logging_dir=str(out / "logs"),
    )
    wall_start, cpu_start = time.perf_counter(), cpu_seconds()
    stats = executor.run()
    wall, cpu = time.perf_counter() - wall_start, cpu_seconds() - cpu_start
    stats = json.loads(stats.to_json())

    # Flatten datatrove's output (outside the timing) so the caller needs no datatrove to read it.
    documents = 0
    with open(out / "documents.jsonl", "w", encoding="utf-8") as sink:
        for doc in JsonlReader(str(out / "datatrove")).run():
            sink.write(json.dumps({"id": doc.id, "url": doc.metadata.get("url"), "text": doc.text},
                                  ensure_ascii=False) + "\n")
            documents += 1

    reader, extractor = step_stats(stats, "Warc"), step_stats(stats, "Trafilatura")
    result = {
        "wall_s": wall,
        "cpu_s": cpu,
        # The reader counts every document it passes on: HTML response records that decoded.
        "pages": reader.get("documents", 0),
        "documents": documents,
        "extractor": {key: extractor[key] for key in ("total", "extracted", "forwarded", "dropped", "timeout",
                                                      "clean_error", "broken_process") if key in extractor},
        "versions": {name: importlib.metadata.version(name)
                     for name in ("datatrove", "trafilatura", "warcio", "lxml")},
    }
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
