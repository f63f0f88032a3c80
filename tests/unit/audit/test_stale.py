"""Stale success, the walk alone: which missing outputs existing ones were made from (the workflow asks for
those again; tests/integration/test_stale.py runs it under Snakemake)."""

from hagane.audit.stale import Job, Stale, find_stale


def job(rule, outputs, inputs):
    return Job(rule, tuple(outputs), lambda declared: list(inputs))


# raw → collect → tokenize → train → publish, and `all` asks for the published model.
CHAIN = [
    job("collect", ["collect.json"], ["raw.txt"]),
    job("tokenize", ["tokens.bin"], ["collect.json"]),
    job("train", ["model.pt", "train.json"], ["tokens.bin"]),
    job("publish", ["published"], ["model.pt", "train.json"]),
    job("old_report", ["report.png"], ["tokens.bin"]),  # no target leads here
]


def test_nothing_missing_nothing_stale():
    assert find_stale(["published"], CHAIN, exists=lambda p: True) == []


def test_a_missing_output_under_an_existing_one_is_stale():
    present = {"raw.txt", "collect.json", "tokens.bin", "published"}
    assert find_stale(["published"], CHAIN, exists=present.__contains__) == [
        Stale("model.pt", "train", "published"), Stale("train.json", "train", "published")]


def test_only_the_gap_next_to_what_exists_is_named():
    # tokens and the training run are gone, the published model is not: rebuilding model.pt rebuilds tokens.bin
    # too (Snakemake runs the dependencies of a job it runs), so only the outputs `published` was made from
    # are named.
    present = {"raw.txt", "collect.json", "published"}
    assert [s.missing for s in find_stale(["published"], CHAIN, exists=present.__contains__)] == ["model.pt",
                                                                                                  "train.json"]


def test_outputs_no_target_leads_to_are_left_alone():
    present = {"raw.txt", "collect.json", "model.pt", "train.json", "published", "report.png"}
    # tokens.bin is missing and report.png was made from it, but nothing asked for the report.
    assert find_stale(["published"], CHAIN, exists=present.__contains__) == [
        Stale("tokens.bin", "tokenize", "model.pt")]


def test_a_missing_target_is_snakemakes_to_rebuild():
    present = {"raw.txt", "collect.json", "tokens.bin", "model.pt", "train.json"}
    assert find_stale(["published"], CHAIN, exists=present.__contains__) == []


def test_each_output_is_looked_at_once():
    asked = []
    find_stale(["published"], CHAIN, exists=lambda p: asked.append(p) or True)
    assert sorted(asked) == sorted(set(asked))


def test_the_line_says_why():
    assert Stale("results/pretrain/_manifest.json", "pretrain_model", "results/audit/verify.txt").line() == (
        "hagane: results/pretrain/_manifest.json is missing but results/audit/verify.txt, made from it, exists "
        "(a job failed, was killed or its output was removed): rule pretrain_model runs again, and every job that "
        "depends on it")
