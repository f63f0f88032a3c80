"""The scale benchmark's corpus: N distinct Japanese documents recombined from the real sentences of Debian's
Japanese documentation (benchmarks/corpus_debian_ja.py), with exact and near copies at known rates.

Deterministic and offline once the Debian corpus is cached (apt packages only). The sentences of the
Debian corpus (cut after 。！？ and at line ends, those with Japanese, each once) form a pool; a document is
6–20 sentences drawn from it with a seeded generator, in paragraphs of 2–5 sentences. Two documents share
a sentence now and then, never most of them, so the originals are distinct (checked by hash) and none is a
near copy of another. Then, at the given rates, a document is instead
  - an exact copy of an earlier original (the same text, another record id), or
  - a near copy: an earlier original with one sentence in ten (at least one) replaced by another from the
    pool (character 5-gram Jaccard similarity ~0.8, which 14 × 8 MinHash bands catch ~90 % of the time).
The answer key (`truth.json`) maps each copy's record id to its original's, and says which kind it is.

Written as JSON Lines files of `docs_per_file` records ({"uid", "text"}) under OUT/docs/, named like the
parts of a crawl.

    .venv/bin/python benchmarks/scale_corpus.py --documents 1000000 --out .build/scale/1m
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from corpus_debian_ja import build as build_debian  # noqa: E402

_SENTENCE_END = re.compile(r"(?<=[。！？])|\n")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
EXACT_RATE, NEAR_RATE = 0.05, 0.05


def sentence_pool() -> list[str]:
    from hagane.io import read_jsonl_zst

    seen, pool = set(), []
    for doc in read_jsonl_zst(build_debian()):
        for sentence in _SENTENCE_END.split(doc["text"]):
            sentence = sentence.strip()
            if 10 <= len(sentence) <= 300 and len(_JAPANESE.findall(sentence)) >= 5 and sentence not in seen:
                seen.add(sentence)
                pool.append(sentence)
    return pool


def build(out: Path, n_documents: int, docs_per_file: int = 10_000, seed: int = 20261206,
          exact_rate: float = EXACT_RATE, near_rate: float = NEAR_RATE) -> dict:
    """Write the corpus; returns (and writes as OUT/corpus.json) its description. Skipped when a corpus of
    the same description is already there."""
    description = {"documents": n_documents, "docs_per_file": docs_per_file, "seed": seed, "exact_rate": exact_rate,
                   "near_rate": near_rate, "builder": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]}
    stamp = out / "corpus.json"
    if stamp.exists() and {k: v for k, v in json.loads(stamp.read_text()).items() if k in description} == description:
        return json.loads(stamp.read_text())
    pool = sentence_pool()
    rng = np.random.default_rng(seed)
    originals: list[list[int]] = []  # the sentence numbers of each original, for its copies
    hashes: set[bytes] = set()
    truth: dict[str, dict] = {}
    kinds = rng.random(n_documents)
    docs_dir = out / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    text_bytes = 0
    handle = None
    for i in range(n_documents):
        if i % docs_per_file == 0:
            if handle:
                handle.close()
            handle = open(docs_dir / f"part-{i // docs_per_file:05d}.jsonl", "w", encoding="utf-8")
        uid = f"d{i:08d}"
        if originals and kinds[i] < exact_rate:
            source = int(rng.integers(len(originals)))
            sentences = originals[source]
            truth[uid] = {"kind": "exact", "of": f"o{source}"}
        elif originals and kinds[i] < exact_rate + near_rate:
            source = int(rng.integers(len(originals)))
            sentences = list(originals[source])
            for k in rng.choice(len(sentences), size=max(1, len(sentences) // 10), replace=False):
                sentences[k] = int(rng.integers(len(pool)))
            truth[uid] = {"kind": "near", "of": f"o{source}"}
        else:
            while True:
                sentences = rng.integers(len(pool), size=int(rng.integers(6, 21))).tolist()
                digest = hashlib.blake2b(np.asarray(sentences, dtype=np.int64).tobytes(), digest_size=16).digest()
                if digest not in hashes:
                    hashes.add(digest)
                    break
            truth[f"o{len(originals)}"] = {"uid": uid}
            originals.append(sentences)
        paragraphs, k = [], 0
        while k < len(sentences):
            size = int(rng.integers(2, 6))
            paragraphs.append("".join(pool[s] for s in sentences[k:k + size]))
            k += size
        text = "\n".join(paragraphs)
        text_bytes += len(text.encode("utf-8"))
        handle.write(json.dumps({"uid": uid, "text": text}, ensure_ascii=False) + "\n")
    if handle:
        handle.close()
    # The key: each copy's record id → its original's record id.
    key = {uid: {"kind": t["kind"], "of": truth[t["of"]]["uid"]} for uid, t in truth.items() if "kind" in t}
    (out / "truth.json").write_text(json.dumps(key, sort_keys=True))
    result = {**description, "sentences_in_pool": len(pool), "text_bytes": text_bytes, "originals": len(originals),
              "exact_copies": sum(t["kind"] == "exact" for t in key.values()),
              "near_copies": sum(t["kind"] == "near" for t in key.values()),
              "files": -(-n_documents // docs_per_file)}
    stamp.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--docs-per-file", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.documents, args.docs_per_file), indent=2))


if __name__ == "__main__":
    main()
