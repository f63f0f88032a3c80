import json

import datasets
import pytest

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_dataset, collect_file
from hagane.config import Shard, source_config, source_shards
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst


def texts(out):
    return [d["text"] for d in read_jsonl_zst(out / DOCUMENTS)]


def test_json_builder_over_a_data_file_streams_rows_with_ids(tmp_path):
    f = tmp_path / "part-0.jsonl"
    rows = [{"uid": "a", "content": JA_PARAGRAPHS[0]}, {"uid": "b", "content": None},
            {"uid": "c", "content": JA_PARAGRAPHS[1]}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    source = source_config({"name": "hf", "type": "huggingface", "dataset": "json", "paths": [str(f)],
                            "text_field": "content", "id_field": "uid"})
    assert source.split == "train" and source.streaming is True
    acc = collect_file(source, f, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 3, "documents": 2, "skipped": {},
                             "quarantined": {"missing_text_field": 1}}
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [d["origin"]["record_id"] for d in docs] == ["a", "c"]
    assert docs[0]["origin"]["dataset"] == "json" and docs[0]["origin"]["split"] == "train"
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == "row:1"


def test_saved_dataset_directory_is_one_shard_and_matches_the_records(tmp_path):
    saved = tmp_path / "corpus"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": JA_PARAGRAPHS[:3]}),
        "validation": datasets.Dataset.from_dict({"text": JA_PARAGRAPHS[3:]}),
    }).save_to_disk(str(saved))
    entry = {"name": "hf", "type": "huggingface", "dataset": str(saved), "split": "validation"}
    assert source_shards({"collect": {"sources": [entry]}}) == {"hf": {"all": Shard(())}}
    acc = collect_dataset(source_config(entry), tmp_path / "out")
    assert acc.documents == 1 and texts(tmp_path / "out") == JA_PARAGRAPHS[3:]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["inputs"]  # the saved files, so a changed dataset is seen
    with pytest.raises(HaganeError, match=r"no split 'test' \(splits: train, validation\)"):
        collect_dataset(source_config({**entry, "split": "test"}), tmp_path / "out2")


def test_directory_of_data_files_and_streaming_off_give_the_same_documents(tmp_path):
    data = tmp_path / "repo" / "data"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False)
                                                 for t in JA_PARAGRAPHS) + "\n", encoding="utf-8")
    entry = {"name": "hf", "type": "huggingface", "dataset": str(tmp_path / "repo")}
    collect_dataset(source_config(entry), tmp_path / "streamed")
    collect_dataset(source_config({**entry, "streaming": False}), tmp_path / "cached")
    assert texts(tmp_path / "streamed") == texts(tmp_path / "cached") == JA_PARAGRAPHS
    assert (tmp_path / "streamed" / DOCUMENTS).read_bytes() == (tmp_path / "cached" / DOCUMENTS).read_bytes()


def test_unreachable_hub_name_and_misconfigured_builders_are_named_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # fail at once instead of retrying the network
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    hub = source_config({"name": "hf", "type": "huggingface", "dataset": "someone/not-here"})
    with pytest.raises(HaganeError, match=r"source 'hf' \(dataset 'someone/not-here'\)"):
        collect_dataset(hub, tmp_path / "out")
    builder = source_config({"name": "hf", "type": "huggingface", "dataset": "json"})
    with pytest.raises(HaganeError, match=r"the 'json' builder reads data files; list them in `paths`"):
        collect_dataset(builder, tmp_path / "out")


def test_schema_keeps_dataset_keys_to_huggingface_sources():
    with pytest.raises(HaganeError, match=r"dataset"):
        source_config({"name": "t", "type": "text", "paths": ["x"], "dataset": "json"})
    with pytest.raises(HaganeError, match=r"dataset"):
        source_config({"name": "h", "type": "huggingface"})
    with pytest.raises(HaganeError, match=r"paths"):
        source_config({"name": "t", "type": "text"})
