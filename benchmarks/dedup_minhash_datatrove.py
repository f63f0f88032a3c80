"""The datatrove half of benchmarks/dedup_minhash.py. It runs inside datatrove's own virtual environment
(.build/bench-datatrove, made by collect_warc.py's `datatrove_python`), never in Hagane's.

One stage of datatrove's MinHash pipeline per call, as a datatrove user runs them (each stage its own
LocalPipelineExecutor, one worker):

    signatures  JsonlReader(shards) → MinhashDedupSignature      tasks = shards
    buckets     MinhashDedupBuckets                               tasks = bands (datatrove's "buckets")
    clusters    MinhashDedupCluster                               tasks = 1
    filter      JsonlReader(shards) → MinhashDedupFilter(exclusion_writer) → JsonlWriter   tasks = shards

Shingles: datatrove builds them from words of its simplified text (`simplify_text`: lower case, digits to
0, punctuation removed, whitespace collapsed). Given a word tokenizer that returns characters, its n-grams
are character n-grams of that text, the setting this benchmark compares.

    .build/bench-datatrove/bin/python benchmarks/dedup_minhash_datatrove.py STAGE --shards DIR --work DIR \
        --bands 14 --rows 8 [--ngram 5] [--seed 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                              MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer


class Characters(WordTokenizer):
    """Every character a word: datatrove's word n-grams become character n-grams."""

    def word_tokenize(self, text: str) -> list[str]:
        return list(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["signatures", "buckets", "clusters", "filter"])
    parser.add_argument("--shards", type=Path, required=True, help="folder of *.jsonl.zst document shards")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--bands", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="seed of the hash functions")
    args = parser.parse_args()

    config = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=args.bands,
                           hashes_per_bucket=args.rows, n_grams=args.ngram,
                           seed=args.seed)
    shards = len(list(args.shards.glob("*.jsonl.zst")))
    sigs, buckets, remove = (str(args.work / name) for name in ("signatures", "buckets", "remove_ids"))

    def reader():
        return JsonlReader(str(args.shards), glob_pattern="*.jsonl.zst", compression="zstd")

    if args.stage == "signatures":
        pipeline, tasks = [reader(), MinhashDedupSignature(output_folder=sigs, config=config, language=Characters())], shards
    elif args.stage == "buckets":
        pipeline, tasks = [MinhashDedupBuckets(input_folder=sigs, output_folder=buckets, config=config)], args.bands
    elif args.stage == "clusters":
        pipeline, tasks = [MinhashDedupCluster(input_folder=buckets, output_folder=remove, config=config)], 1
    else:
        pipeline = [reader(), MinhashDedupFilter(input_folder=remove, exclusion_writer=JsonlWriter(
                        str(args.work / "removed"), compression=None)),
                    JsonlWriter(str(args.work / "kept"), compression=None)]
        tasks = shards
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                          logging_dir=str(args.work / "logs" / args.stage)).run()


if __name__ == "__main__":
    main()
