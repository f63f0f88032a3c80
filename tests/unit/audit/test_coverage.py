"""What the audit covers: the published model folder file by file, every evaluation and converted checkpoint,
the evaluation summary, and every manifest on the chain (a missing one is named, with the stage that read it)."""

import json
import os
from pathlib import Path

import pytest

from hagane.audit.verify import AuditFailure, verify
from hagane.evaluate.run import summarize
from hagane.manifest import now, write_manifest

STEP = "step_0000002"


def put(path: str, text: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    return path


def manifest(out_dir: str, stage: str, inputs: list[str], outputs: list[str]) -> None:
    write_manifest(out_dir, stage=stage, config={}, inputs=inputs, outputs=outputs, counts={}, started_at=now())


@pytest.fixture
def results(tmp_path, monkeypatch):
    """The end of the chain as the workflow leaves it (with the stages before pretrain folded into one raw file)."""
    monkeypatch.chdir(tmp_path)
    raw = put("raw/corpus.txt", "生のデータ")
    put("results/tokenizer/hf/tokenizer.json", "{}")
    manifest("results/tokenizer", "tokenizer", [raw], ["results/tokenizer/hf"])
    put(f"results/pretrain/checkpoints/{STEP}/trainer_state.json", '{"step": 2}')
    put("results/pretrain/metrics.jsonl", '{"step": 1, "tokens": 64}\n{"step": 2, "tokens": 128}\n')
    manifest("results/pretrain", "pretrain", [raw], [f"results/pretrain/checkpoints/{STEP}", "results/pretrain/metrics.jsonl"])
    convert = f"results/convert/{STEP}"
    put(f"{convert}/model/config.json", '{"architectures": ["LlamaForCausalLM"]}')
    put(f"{convert}/model/model.safetensors", "重み")
    put(f"{convert}/card.json", '{"step": 2}')
    manifest(convert, "convert", [f"results/pretrain/checkpoints/{STEP}", "results/tokenizer/hf"],
             [f"{convert}/model", f"{convert}/card.json"])
    evaluate = f"results/evaluate/{STEP}"
    put(f"{evaluate}/metrics.json", json.dumps({"step": 2, "tasks": {}, "held_out": {
        "loss_nats_per_token": 5.0, "perplexity": 148.0, "bits_per_char": 3.7, "bits_per_byte": 1.9, "by_source": {}}}))
    put(f"{evaluate}/generations.jsonl", '{"prompt": "日本の首都は", "greedy": "東京"}\n')
    manifest(evaluate, "evaluate", [f"{convert}/model"], [f"{evaluate}/metrics.json", f"{evaluate}/generations.jsonl"])
    summarize([Path(f"{evaluate}/metrics.json")], Path("results/pretrain/metrics.jsonl"), Path("results/evaluate"))
    put("results/publish/model/config.json", '{"architectures": ["LlamaForCausalLM"]}')
    put("results/publish/model/README.md", "# モデル")
    manifest("results/publish", "publish", [f"{convert}/model", f"{convert}/card.json", f"{evaluate}/metrics.json"],
             ["results/publish/model"])
    return tmp_path / "results"


def test_the_whole_end_of_the_chain_verifies(results):
    report = verify(results)
    assert report["manifests"] == 5 and report["raw_sources"] == ["raw/corpus.txt"]
    assert report["unreached_manifests"] == []


@pytest.mark.parametrize("manifest_path, why", [
    (f"results/evaluate/{STEP}/_manifest.json", f"the evaluation results/evaluate/{STEP} has no evaluate manifest"),
    ("results/publish/_manifest.json", "the published model results/publish/model has no publish manifest"),
    (f"results/convert/{STEP}/_manifest.json", f"the converted checkpoint results/convert/{STEP} has no convert manifest"),
])
def test_a_deleted_manifest_of_an_end_product_fails_naming_it(results, manifest_path, why):
    Path(manifest_path).unlink()
    with pytest.raises(AuditFailure) as err:
        verify(Path("results"))
    assert str(err.value) == f"{manifest_path} is missing: {why}; rerun the workflow to rebuild it"


def test_a_missing_manifest_inside_the_chain_is_named_with_the_stage_that_read_it(results):
    Path("results/tokenizer/_manifest.json").unlink()
    with pytest.raises(AuditFailure) as err:
        verify(Path("results"))
    assert str(err.value) == (
        f"results/convert/{STEP}/_manifest.json (stage convert) read results/tokenizer/hf/tokenizer.json, which lies "
        "under results but no manifest produced it: results/tokenizer/_manifest.json is missing (or does not list "
        "it); rerun the workflow to rebuild it")


def test_the_manifest_behind_the_summary_must_be_there(results):
    Path("results/pretrain/_manifest.json").unlink()
    with pytest.raises(AuditFailure) as err:
        verify(Path("results"))
    assert str(err.value) == (
        "results/evaluate/summary.json rests on results/pretrain/metrics.jsonl, which no manifest records: the "
        "pretrain manifest results/pretrain/_manifest.json is missing (or does not list it)")


@pytest.mark.parametrize("extra", ["results/publish/model/extra.bin", "results/publish/model/sub/notes.txt",
                                   f"results/evaluate/{STEP}/old_metrics.json"])
def test_an_unrecorded_file_in_a_delivered_folder_fails(results, extra):
    put(extra, "誰も保証しない")
    folder = "results/publish/model" if "publish" in extra else f"results/evaluate/{STEP}"
    manifest_path = "results/publish/_manifest.json" if "publish" in extra else f"results/evaluate/{STEP}/_manifest.json"
    stage = "publish" if "publish" in extra else "evaluate"
    with pytest.raises(AuditFailure) as err:
        verify(Path("results"))
    assert str(err.value) == (f"{manifest_path}: {extra} is in the {stage} output {folder} but the manifest does not "
                              f"record it: nothing vouches for it (remove it, or rerun the {stage} stage)")


def test_snakemakes_own_marker_in_a_directory_output_is_not_data(results):
    put("results/publish/model/.snakemake_timestamp", "")
    assert verify(Path("results"))["manifests"] == 5


def test_an_edited_or_stale_summary_fails(results):
    path = Path("results/evaluate/summary.csv")
    path.write_text(path.read_text().replace("3.7", "2.9"))
    with pytest.raises(AuditFailure, match=r"^results/evaluate/summary\.csv differs from the summary of the "
                                           r"evaluations it lists \(steps 2\): it is stale or was edited"):
        verify(Path("results"))


def test_half_a_summary_fails(results):
    os.remove("results/evaluate/summary.json")
    with pytest.raises(AuditFailure, match=r"^results/evaluate/summary\.csv is there without "
                                           r"results/evaluate/summary\.json"):
        verify(Path("results"))
