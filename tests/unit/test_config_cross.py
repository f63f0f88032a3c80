"""Constraints between config keys (hagane.config.cross_field_problems): refused when the workflow loads and
by `hagane config check`, one line per problem naming the keys, before any job starts — not when
pretraining starts or after the whole corpus is scored."""

import pytest
import yaml

from hagane.config import stage_config, validate
from hagane.errors import HaganeError


def problems(config: dict, section: str | None = None) -> list[str]:
    """The lines of the error that validate (the Snakefile's check) raises, without its first line."""
    with pytest.raises(HaganeError) as err:
        validate(config, origin="my.yaml", section=section)
    head, *lines = str(err.value).split("\n")
    assert head == "invalid configuration in my.yaml:"
    return [line.strip() for line in lines]


@pytest.fixture
def demo(demo_config, repo, monkeypatch):
    monkeypatch.chdir(repo)
    return demo_config


def test_the_issues_four_errors_each_name_their_keys_on_a_line(demo):
    demo["pretrain"].update(lr=0.001, min_lr=0.01, warmup_steps=200, steps=200, global_batch_size=30, nproc=4)
    demo["filter"]["kenlm"]["reference_sources"] = []
    assert problems(demo) == [
        "pretrain.min_lr 0.01 is above pretrain.lr 0.001: the schedule decays from lr down to min_lr; set min_lr "
        "at or below lr",
        "pretrain.warmup_steps 200 is not below pretrain.steps 200: training would end before the warmup does",
        "pretrain.global_batch_size 30 is not divisible by pretrain.nproc 4 (ranks)",
        "filter.select.thresholds: the bound on kenlm_ppl needs a column no scorer produces: kenlm_ppl is scored "
        "only with filter.kenlm.reference_sources, which is empty; name the sources whose documents train the "
        "perplexity model (clean text such as Japanese Wikipedia), or remove the bound",
    ]


def test_config_check_prints_them_and_fails(demo, tmp_path, capsys):
    from hagane.cli import main

    demo["pretrain"].update(micro_batch_size=3)  # 16 sequences over 2 ranks: 8 per rank, not 3s
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(demo, allow_unicode=True))
    with pytest.raises(SystemExit) as exit_:
        main(["config", "check", str(path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        f"hagane config check: error: invalid configuration in {path}:\n"
        "  pretrain.global_batch_size 16 is not divisible by pretrain.nproc 2 × pretrain.micro_batch_size 3: each "
        "rank's 8 sequences per step must be a whole number of micro batches\n")


def test_a_micro_batch_of_a_whole_rank_or_more_is_one_pass(demo):
    demo["pretrain"].update(micro_batch_size=8)
    validate(demo, origin="my.yaml")
    demo["pretrain"].update(micro_batch_size=64)  # batch_plan takes the whole per-rank batch
    validate(demo, origin="my.yaml")


def test_a_pretrain_verb_run_by_hand_is_checked_too():
    with pytest.raises(HaganeError, match=r"pretrain\.min_lr 0\.1 is above pretrain\.lr 0\.01"):
        stage_config("pretrain", {"lr": 0.01, "min_lr": 0.1}, origin="--pretrain-json")


def test_a_model_shape_that_cannot_be_built(demo):
    demo["pretrain"]["model"].update(n_heads=3)
    assert problems(demo) == ["pretrain.model (preset debug with the keys given beside it): dim 256 is not "
                              "divisible by n_heads 3"]
    demo["pretrain"]["model"].update(dim=192, n_heads=3, n_kv_heads=2)
    assert problems(demo) == ["pretrain.model (preset debug with the keys given beside it): n_heads 3 is not a "
                              "multiple of n_kv_heads 2"]
    demo["pretrain"]["model"] = {"preset": "3b"}
    assert problems(demo)[0].startswith("pretrain.model.preset '3b' is not a preset of models.yaml (presets: debug")


def test_presets_that_need_a_scorer(demo):
    demo["filter"]["select"].update(preset="ccnet", thresholds={})
    demo["filter"]["kenlm"]["reference_sources"] = []
    assert problems(demo) == [
        "filter.select: preset ccnet bounds kenlm_ppl, which no scorer produces: kenlm_ppl is scored only with "
        "filter.kenlm.reference_sources, which is empty; name the sources whose documents train the perplexity "
        "model (clean text such as Japanese Wikipedia), or choose another preset"]
    # cc_net's buckets are counted from kenlm_ppl even when its bound is removed.
    demo["filter"]["select"]["thresholds"] = {"kenlm_ppl": {"max_percentile": None}}
    assert len(problems(demo)) == 1
    demo["filter"]["select"].update(preset="fineweb2_ja", thresholds={})
    assert problems(demo) == [
        "filter.select: preset fineweb2_ja bounds gopher_duplicate_line_ratio and 20 more, which no scorer produces: "
        "gopher_* and fineweb_* are scored only with filter.score.word_metrics: true (FineWeb-2's Gopher and "
        "FineWeb rules over Sudachi words), which is false; set it, or choose another preset"]


def test_other_optional_columns(demo):
    demo["filter"]["quality"]["reference_sources"] = []
    demo["filter"]["select"]["thresholds"] = {"quality_prob": {"min": 0.5}, "ng_word_count": {"max": 0},
                                              "n_chars": {"min": 200}}
    assert problems(demo) == [
        "filter.select.thresholds: the bound on quality_prob needs a column no scorer produces: quality_prob is "
        "scored only with filter.quality.reference_sources, which is empty; name the reference (positive) sources "
        "of the quality classifier, or remove the bound",
        "filter.select.thresholds: the bound on ng_word_count needs a column no scorer produces: ng_word_* are "
        "scored only with filter.score.ng_words, which is empty; give NG-word list files, or remove the bound"]
    # A null bound asks for nothing.
    demo["filter"]["select"]["thresholds"] = {"quality_prob": {"min": None}}
    validate(demo, origin="my.yaml")


def test_bounds_that_contradict_each_other(demo):
    demo["filter"]["select"]["thresholds"]["n_chars"] = {"min": 200, "min_percentile": 10}
    assert problems(demo) == ["filter.select.thresholds.n_chars: both min and min_percentile; give one and set the "
                              "other to null (a --configfile is merged into the base config key by key)"]
    demo["filter"]["select"].update(preset="swallow_v1", thresholds={"mean_sentence_chars": {"min": 100}})
    assert problems(demo) == ["filter.select.thresholds.mean_sentence_chars: min 100 is above max 90 (preset "
                              "swallow_v1 and thresholds together): every document would be dropped"]


def test_source_names_must_be_collect_sources(demo):
    demo["filter"]["kenlm"]["reference_sources"] = ["wiki"]
    demo["filter"]["quality"]["reference_sources"] = ["debian_web", "manuals_text"]
    demo["pretrain"]["mixture"] = {"wiki": 2}
    demo["tokenizer"]["source_ratios"] = {"debian_web": 0.5, "web": 0.5}
    assert problems(demo) == [
        "pretrain.mixture names 'wiki', which is not a collect source (debian_web, manuals_text)",
        "filter.kenlm.reference_sources names 'wiki', which is not a collect source (debian_web, manuals_text)",
        "filter.quality.reference_sources names every collect source: the classifier needs another source's "
        "documents as its negatives",
        "tokenizer.source_ratios names 'web', which is not a collect source (debian_web, manuals_text)",
        "tokenizer.source_ratios has no ratio for collect source(s) manuals_text; give each one (0 leaves a source out)"]


def test_tokenizer_and_convert_settings_that_fail_late(demo):
    demo["tokenizer"].update(special_tokens=["<s>", "<|im_start|>"], source_ratios={"debian_web": 0, "manuals_text": 0})
    demo["convert"]["max_shard_size"] = "5 gigs"
    assert problems(demo) == [
        "tokenizer.special_tokens: ['<s>'] named twice (the fixed tokens are ['<unk>', '<s>', '</s>', '<pad>'], "
        "tokenizer.user_defined_symbols [], reserved ones <|reserved_N|>)",
        "tokenizer.source_ratios: every ratio is 0; nothing to train on",
        "convert.max_shard_size '5 gigs' is not a size such as 5GB, 500MB or 2GiB"]
    demo["tokenizer"].update(special_tokens=[], source_ratios=None, vocab_size=300, reserved_tokens=40)
    demo["convert"]["max_shard_size"] = "500MB"
    assert problems(demo) == [
        "tokenizer.vocab_size 300 leaves no piece to learn: 300 are fixed (4 control pieces, 256 byte pieces of "
        "tokenizer.byte_fallback, 40 special and reserved tokens, 0 user-defined symbols)"]


def test_the_by_name_copies_agree_with_the_modules_they_mirror():
    from hagane.config import _SIZE, TOKENIZER_FIXED_PIECES, TOKENIZER_RESERVED
    from hagane.convert.export import parse_size
    from hagane.tokenizer.train import RESERVED, SPECIAL_PIECES

    assert TOKENIZER_FIXED_PIECES == tuple(SPECIAL_PIECES[i] for i in sorted(SPECIAL_PIECES))
    assert TOKENIZER_RESERVED == RESERVED
    for text in ["5GB", "500MB", "2GiB", "1.5gb", "123", " 7 KiB ", "5.GB", "5 gigs", "GB", "5TB", "1.2.3MB", "-5"]:
        try:
            parse_size(text)
            parsed = True
        except HaganeError:
            parsed = False
        assert bool(_SIZE.fullmatch(text)) == parsed, text
