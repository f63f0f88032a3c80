import copy

import pytest
import yaml

from hagane.config import load_config_file, source_config, source_shards, stage_config, validate
from hagane.errors import HaganeError


def write(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def test_demo_config_is_valid_and_filled(repo, demo_config, monkeypatch):
    monkeypatch.chdir(repo)
    config = load_config_file(repo / "config" / "demo.yaml")
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
    main(["config", "check", "config/demo.yaml"])
    assert capsys.readouterr().out == (
        "config/demo.yaml: valid; debian_web: 1 shard(s) of 1 file(s) in 1 job(s) of up to 64 shards, "
        "manuals_text: 1 shard(s) of 2 file(s) in 1 job(s) of up to 64 shards\n")


# ----------------------------------------------------------------- merging as Snakemake merges --configfile

def test_merge_config_is_snakemakes_update_config():
    from snakemake.utils import update_config

    from hagane.config import merge_config

    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "f": 1, "g": {"h": 1}, "n": None}
    over = {"a": {"c": [3], "d": {"x": 2}}, "f": {"now": "a dict"}, "g": None, "n": {"k": 1}, "new": [1]}
    expected = copy.deepcopy(base)
    update_config(expected, over)
    assert merge_config(base, over) == expected == {
        "a": {"b": 1, "c": [3], "d": {"e": 1, "x": 2}}, "f": {"now": "a dict"}, "g": None, "n": {"k": 1}, "new": [1]}
    assert base["a"]["c"] == [1, 2]  # neither argument changes


def test_config_check_merges_files_over_each_other_as_snakemake_does(repo, monkeypatch, capsys, tmp_path):
    from hagane.cli import main

    monkeypatch.chdir(repo)
    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump({
        "collect": {"sources": [{"name": "manuals", "type": "text", "paths": ["data/demo/text/*.txt"]}]},
        "filter": {"kenlm": {"reference_sources": ["manuals"]}, "quality": {"reference_sources": []},
                   "select": {"thresholds": {"n_chars": {"min": 300}}}}}))
    main(["config", "check", "--show", "config/demo.yaml", str(more)])
    out = capsys.readouterr().out
    shown, summary = out.rsplit("\n", 2)[0], out.splitlines()[-1]
    config = yaml.safe_load(shown)
    # A list is replaced whole; a mapping is merged key by key, so the demo's other bounds stay.
    assert [s["name"] for s in config["collect"]["sources"]] == ["manuals"]
    assert config["filter"]["select"]["thresholds"] == {
        "n_chars": {"min": 300}, "hiragana_ratio": {"min": 0.15}, "duplicate_line_ratio": {"max": 0.3},
        "kenlm_ppl": {"max": 1500}}
    assert config["tokenizer"]["vocab_size"] == 8000 and config["pretrain"]["validation_every"] == 50  # the demo's
    assert summary == (f"config/demo.yaml + {more}: valid; manuals: 1 shard(s) of 1 file(s) in 1 job(s) of up to "
                       "64 shards")
    # --base names the Snakefile's configfile: the same merge.
    main(["config", "check", "--show", "--base", "config/demo.yaml", str(more)])
    assert yaml.safe_load(capsys.readouterr().out.rsplit("\n", 2)[0]) == config


# -------------------------------------------------------------------------------- a user's own config

def test_the_workflows_base_config_holds_no_settings(repo):
    from hagane.config import BASE_CONFIG_PATH, read_config_file

    # Snakefile: configfile: "config/config.yaml"; every --configfile is merged over it.
    assert BASE_CONFIG_PATH == repo / "config" / "config.yaml"
    assert 'configfile: "config/config.yaml"' in (repo / "Snakefile").read_text()
    assert read_config_file(BASE_CONFIG_PATH) == {}


def as_snakemake_merges(repo, user: dict) -> dict:
    """`snakemake --configfile user.yaml`: the user's file merged over the Snakefile's configfile by
    Snakemake's own function, then the Snakefile's check."""
    from snakemake.utils import update_config

    config = yaml.safe_load((repo / "config" / "config.yaml").read_text(encoding="utf-8"))
    update_config(config, user)
    return validate(config, origin="the workflow config")


def test_a_users_config_inherits_no_demo_source_or_threshold(repo, monkeypatch):
    monkeypatch.chdir(repo)
    config = as_snakemake_merges(repo, {"collect": {"sources": [{"name": "mine", "type": "text",
                                                                 "paths": ["data/demo/text/*.txt"]}]}})
    assert config["filter"]["select"]["thresholds"] == {}
    assert config["filter"]["kenlm"]["reference_sources"] == [] == config["filter"]["quality"]["reference_sources"]
    assert config["tokenizer"]["vocab_size"] == 32000  # the schema's default, not the demo's 8000


def test_a_presets_bounds_stand_unless_the_user_overrides_them(repo, monkeypatch):
    from hagane.filter.presets import resolve

    monkeypatch.chdir(repo)
    sources = {"sources": [{"name": "mine", "type": "text", "paths": ["data/demo/text/*.txt"]}]}
    swallow = as_snakemake_merges(repo, {"collect": sources, "filter": {"select": {"preset": "swallow_v1"}}})
    select = swallow["filter"]["select"]
    assert resolve(select["preset"], select["thresholds"])["n_chars"] == {"min": 400}
    assert select["min_language_score"] is None  # the preset's 0.5 (0.886 for fineweb2_ja) stands
    explicit = {"preset": "swallow_v1", "thresholds": {"n_chars": {"min": 300}}}
    mine = as_snakemake_merges(repo, {"collect": sources, "filter": {"select": explicit}})["filter"]["select"]
    bounds = resolve(mine["preset"], mine["thresholds"])
    assert bounds["n_chars"] == {"min": 300} and bounds["n_japanese_chars"] == {"min": 400}


def test_the_workflow_without_a_config_says_how_to_start_one():
    with pytest.raises(HaganeError) as err:
        validate({}, origin="the workflow config")
    assert str(err.value) == (
        "invalid configuration in the workflow config:\n  collect.sources: no corpus configured. Write your own "
        "config with `hagane init my.yaml` and run `snakemake --configfile my.yaml`; the demo runs with "
        "`--configfile config/demo.yaml`")


def test_init_writes_a_commented_config_that_checks_once_its_source_is_filled(repo, tmp_path, monkeypatch, capsys):
    from hagane.cli import main

    monkeypatch.chdir(tmp_path)
    main(["init", "mine.yaml"])
    assert capsys.readouterr().out.startswith("wrote mine.yaml: fill in collect.sources")
    text = (tmp_path / "mine.yaml").read_text(encoding="utf-8")
    assert text == (repo / "config" / "example.yaml").read_text(encoding="utf-8") and text.startswith("# ")
    with pytest.raises(SystemExit):  # as written, its one source names files that are not there
        main(["config", "check", "mine.yaml"])
    assert "collect.sources[0].paths[0]: 'data/my-corpus/*.jsonl.gz' matches no file" in capsys.readouterr().err
    corpus = tmp_path / "data" / "my-corpus"
    corpus.mkdir(parents=True)
    (corpus / "part-0.jsonl.gz").write_bytes(b"")
    main(["config", "check", "--show", "mine.yaml"])
    out = capsys.readouterr().out
    assert out.endswith("mine.yaml: valid; my_corpus: 1 shard(s) of 1 file(s) in 1 job(s) of up to 64 shards\n")
    select = yaml.safe_load(out.rsplit("\n", 2)[0])["filter"]["select"]
    assert select["thresholds"] == {} and select["min_language_score"] is None  # nothing masks a preset
    with pytest.raises(SystemExit) as exit_:  # an edited config is never overwritten
        main(["init", "mine.yaml"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "hagane init: error: mine.yaml exists; give another path (hagane init PATH) or remove it\n"


# ------------------------------------------------------------------------------------ normalization

def test_each_source_names_its_unicode_normal_form_nfkc_by_default():
    sources = {"sources": [{"name": "a", "type": "text", "paths": ["a.txt"]},
                           {"name": "b", "type": "jsonl", "paths": ["b.jsonl"], "normalization": "NFC"},
                           {"name": "c", "type": "warc", "paths": ["c.warc.gz"], "normalization": "none"}]}
    validate(sources, origin="test", section="collect")
    assert [s["normalization"] for s in sources["sources"]] == ["NFKC", "NFC", "none"]
    assert source_config(sources["sources"][1]).normalization == "NFC"
    with pytest.raises(HaganeError, match=r"collect\.sources\[0\]\.normalization: 'NFKD' is not one of \['NFKC', 'NFC', 'none'\]"):
        validate({"sources": [{"name": "a", "type": "text", "paths": ["a.txt"], "normalization": "NFKD"}]},
                 origin="test", section="collect")
