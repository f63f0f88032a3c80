"""The datatrove half of benchmarks/filter_score.py. It runs inside datatrove's own virtual environment
(.build/bench-datatrove, made by collect_warc.py's `datatrove_python`), never in Hagane's.

    floor  JsonlReader → JsonlWriter
    chain  JsonlReader → GopherRepetitionFilter → FineWebQualityFilter → GopherQualityFilter → JsonlWriter

The chain is FineWeb-2's Japanese filtering step as its pipeline runs it (huggingface/fineweb-2:
fineweb-2-pipeline.py, the three filters in that order with its settings: Gopher's paragraph and
line-character repetition rules and FineWeb's short-line rule off, FineWeb's duplicate-line characters at
0.1; configs/jpn_Jpan.yml at commit baedee4 for the thresholds and stop words below; DESIGN.md quotes an
earlier version's values), with `language="jpn"`, which makes datatrove split words with spaCy's
Japanese tokenizer over SudachiPy. One task, one worker: one core. Prints one JSON line: documents, kept,
CPU seconds of the pipeline run (imports and the Sudachi dictionary load are outside: the tokenizer is
built and used once before the clock starts), and the count per drop reason.

    .build/bench-datatrove/bin/python benchmarks/filter_score_datatrove.py chain --corpus FILE --out DIR
"""

from __future__ import annotations

import argparse
import json
import resource
from collections import Counter
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.word_tokenizers import load_word_tokenizer

JAPANESE = "jpn"
# FineWeb-2's jpn_Jpan.yml
DUP_LINE_FRAC = 0.375
TOP_N_GRAMS = ((2, 0.121), (3, 0.129), (4, 0.145))
DUP_N_GRAMS = ((5, 0.307), (6, 0.283), (7, 0.264), (8, 0.248), (9, 0.234), (10, 0.223))
MIN_AVG_WORD_LENGTH, MAX_AVG_WORD_LENGTH = 1, 5
MAX_NON_ALPHA_WORDS_RATIO = 0.759
LINE_PUNCT_THR = 0.167
NEW_LINE_RATIO = 0.162
STOP_WORDS = ["の", "に", "を", "は", "た", "て", "が", "と", "で", "年", "し", "・", "月", "れ", "さ"]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline", choices=["floor", "chain"])
    parser.add_argument("--corpus", type=Path, required=True, help="one .jsonl.zst shard")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    reader = JsonlReader(str(args.corpus.parent), glob_pattern=args.corpus.name, text_key="text", id_key="id")
    filters = []
    if args.pipeline == "chain":
        load_word_tokenizer(JAPANESE).word_tokenize("辞書を読み込む。")  # Sudachi's dictionary: outside the clock
        filters = [
            GopherRepetitionFilter(dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                                   dup_line_frac=DUP_LINE_FRAC, top_n_grams=TOP_N_GRAMS, dup_n_grams=DUP_N_GRAMS,
                                   language=JAPANESE),
            FineWebQualityFilter(short_line_thr=999, char_duplicates_ratio=0.1, line_punct_thr=LINE_PUNCT_THR,
                                 new_line_ratio=NEW_LINE_RATIO, language=JAPANESE),
            GopherQualityFilter(min_avg_word_length=MIN_AVG_WORD_LENGTH, max_avg_word_length=MAX_AVG_WORD_LENGTH,
                                max_non_alpha_words_ratio=MAX_NON_ALPHA_WORDS_RATIO, stop_words=STOP_WORDS,
                                min_stop_words=2, language=JAPANESE),
        ]
    writer = JsonlWriter(str(args.out / "kept"), output_filename="kept.jsonl.gz")
    executor = LocalPipelineExecutor(pipeline=[reader, *filters, writer], tasks=1, workers=1,
                                     logging_dir=str(args.out / "logs"))
    started = cpu_seconds()
    stats = executor.run()
    spent = cpu_seconds() - started
    reasons: Counter = Counter()
    documents = kept = 0
    for step in stats.stats:
        figures = {key: value["total"] if isinstance(value, dict) else value
                   for key, value in step.stats.to_dict().items()}
        if "READER" in step.name or step is stats.stats[0]:
            documents = int(figures["documents"])
        elif step is stats.stats[-1]:  # the writer
            kept = int(figures.get("total", 0))
        reasons.update({key.removeprefix("dropped_"): int(value) for key, value in figures.items()
                        if key.startswith("dropped_")})
    print(json.dumps({"documents": documents, "kept": kept, "cpu_s": spent, "reasons": dict(reasons.most_common())}))


if __name__ == "__main__":
    main()
