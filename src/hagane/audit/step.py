"""`hagane audit step N`: which documents, and which of their tokens, training step N was made of.

The pretrain manifest holds what decides it: the train shards (with their hashes), seq_len, the global
batch size and the seed. The data order depends on nothing else (pretrain/data.py), so the samples of a
step are recomputed exactly, and each sample's window of the token stream is traced through the shards'
indexes to document ids. Step N counts from 1, as `metrics.jsonl` does: it trained on global samples
[(N−1)·B, N·B).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from hagane.audit.verify import AuditFailure, check_file
from hagane.errors import HaganeError
from hagane.manifest import MANIFEST_NAME
from hagane.pretrain.data import SampleStream


def train_shards(manifest: dict, manifest_path: Path) -> list[Path]:
    """The train shard prefixes, checked against the hashes the manifest recorded at training time."""
    recorded = {entry["path"]: entry for entry in manifest["inputs"]}
    prefixes = [p[:-len(".idx.parquet")] for p in recorded if p.endswith("/train.idx.parquet")]
    if not prefixes:
        raise HaganeError(f"{manifest_path}: records no train shards (…/train.idx.parquet) among its inputs")
    for prefix in prefixes:
        if prefix + ".bin" not in recorded:
            raise HaganeError(f"{manifest_path}: records {prefix}.idx.parquet but not {prefix}.bin")
        for suffix in (".bin", ".idx.parquet"):
            try:
                check_file(recorded[prefix + suffix], manifest_path, "train shard")
            except AuditFailure as err:
                raise HaganeError(f"{err}: the shard changed since training (or the audit does not run from the "
                                  "workflow's directory); the answer would not describe the trained model") from err
    return [Path(p) for p in prefixes]


def step_documents(pretrain_dir: Path, step: int) -> pd.DataFrame:
    manifest_path = pretrain_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise HaganeError(f"{manifest_path} not found: the training run has not finished (or --pretrain-dir is wrong)")
    manifest = json.loads(manifest_path.read_text())
    cfg = manifest["config"]["pretrain"]
    if not 1 <= step <= cfg["steps"]:
        raise HaganeError(f"step {step} is outside the run's steps 1 … {cfg['steps']}")
    data = SampleStream(train_shards(manifest, manifest_path), cfg["seq_len"], cfg["seed"], cfg.get("mixture"))
    frames = []
    for sample in data.step_samples(step - 1, cfg["global_batch_size"]):
        start = data.window_start(sample)
        # The window's seq_len + 1 tokens: inputs are the first seq_len, targets the last seq_len.
        docs = data.stream.documents(start, start + cfg["seq_len"] + 1)
        docs.insert(0, "sample", sample)
        frames.append(docs)
    return pd.concat(frames, ignore_index=True)
