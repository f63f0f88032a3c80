
import pytest
import yaml

from hagane.config import load_config_file, source_shards, stage_config, validate
from hagane.errors import HaganeError


def write(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def test_demo_config_is_valid_and_filled(repo, demo_config, monkeypatch):
    monkeypatch.chdir(repo)
    config = load_config_file(repo / "config" / "config.yaml")
    assert config["tokenizer"]["vocab_size"] == demo_config["tokenizer"]["vocab_size"]
    shards = source_shards(config)
    assert set(shards) == {"debian_web", "manuals_text"}
    # Two small files: one collect job, named after the first and the last.
    (group,) = shards["manuals_text"].items()
    assert group[0] == "mew-manual-ja--skk-manual-ja"
    assert [p.name for p in group[1].files] == ["mew-manual-ja.txt.gz", "skk-manual-ja.txt"]


def test_files_are_grouped_by_size_on_disk(tmp_path):
    for name, size in [("a", 400), ("b", 300), ("c", 2000), ("d", 100), ("e", 100)]:
        (tmp_path / f"{name}.jsonl").write_bytes(b"x" * size)
    entry = {"name": "s", "type": "jsonl", "paths": [str(tmp_path / "*.jsonl")]}
    grouped = source_shards({"collect": {"sources": [{**entry, "group_mb": 1000 / 2**20}]}})["s"]
    assert {k: [p.stem for p in v.files] for k, v in grouped.items()} == {"a--b": ["a", "b"], "c": ["c"], "d--e": ["d", "e"]}
    one_each = source_shards({"collect": {"sources": [{**entry, "group_mb": 0}]}})["s"]
    assert list(one_each) == ["a", "b", "c", "d", "e"]


def test_typo_names_the_key_and_the_file(tmp_path, demo_config):
    demo_config["tokenizer"]["vocab_sise"] = 100
    path = write(tmp_path, demo_config)
    with pytest.raises(HaganeError) as err:
        load_config_file(path)
    assert str(path) in str(err.value)
    assert "unknown key 'vocab_sise' in tokenizer" in str(err.value)


def test_wrong_type_names_the_key(tmp_path, demo_config):
    demo_config["pretrain"]["steps"] = "many"
    with pytest.raises(HaganeError, match=r"pretrain\.steps: 'many' is not of type 'integer'"):
        load_config_file(write(tmp_path, demo_config))


def test_unknown_section_and_nested_source_key(tmp_path, demo_config):
    demo_config["collect"]["sources"][1]["seperator"] = "line"
    with pytest.raises(HaganeError, match=r"unknown key 'seperator' in collect\.sources\[1\]"):
        load_config_file(write(tmp_path, demo_config))


def test_separator_only_for_text_sources():
    bad = {"sources": [{"name": "w", "type": "warc", "paths": ["x"], "separator": "line"}]}
    with pytest.raises(HaganeError, match=r"collect\.sources\[0\]"):
        validate(bad, origin="test", section="collect")


def test_defaults_come_from_the_schema():
    cfg = stage_config("tokenizer", {}, origin="test")
    assert (cfg.model_type, cfg.vocab_size, cfg.byte_fallback) == ("bpe", 32000, True)
    text = {"sources": [{"name": "t", "type": "text", "paths": ["a.txt"]}]}
    validate(text, origin="test", section="collect")
    assert text["sources"][0]["separator"] == "blank_line"
    assert text["sources"][0]["on_record_error"] == "quarantine"


def test_missing_source_file_names_the_key(tmp_path, demo_config, repo, monkeypatch):
    monkeypatch.chdir(repo)
    demo_config["collect"]["sources"][0]["paths"] = ["data/demo/web/*.warc.gz", "data/nowhere/*.warc.gz"]
    config = load_config_file(write(tmp_path, demo_config))
    with pytest.raises(HaganeError, match=r"collect\.sources\[0\]\.paths\[1\]: 'data/nowhere/\*\.warc\.gz' matches no file"):
        source_shards(config)


def test_structured_source_keys():
    jsonl = {"sources": [{"name": "j", "type": "jsonl", "paths": ["a.jsonl"], "id_field": "uid"}]}
    validate(jsonl, origin="test", section="collect")
    assert jsonl["sources"][0]["text_field"] == "text"
    bad = {"sources": [{"name": "t", "type": "text", "paths": ["a.txt"], "text_field": "body"}]}
    with pytest.raises(HaganeError, match=r"collect\.sources\[0\]"):
        validate(bad, origin="test", section="collect")


def test_checkpoint_steps_are_the_ones_train_keeps():
    from hagane.config import checkpoint_steps

    assert checkpoint_steps({"steps": 200, "checkpoint_every": 100}) == [100, 200]
    assert checkpoint_steps({"steps": 250, "checkpoint_every": 100}) == [100, 200, 250]
    assert checkpoint_steps({"steps": 250, "checkpoint_every": 100, "keep_last": 2}) == [200, 250]
    assert checkpoint_steps({"steps": 50, "checkpoint_every": 100, "keep_last": None}) == [50]


def test_config_check_counts_shards_files_and_jobs(repo, monkeypatch, capsys):
    from hagane.cli import main

    monkeypatch.chdir(repo)
    main(["config", "check", "config/config.yaml"])
    assert capsys.readouterr().out == (
        "config/config.yaml: valid; debian_web: 1 shard(s) of 1 file(s) in 1 job(s) of up to 64 shards, "
        "manuals_text: 1 shard(s) of 2 file(s) in 1 job(s) of up to 64 shards\n")
