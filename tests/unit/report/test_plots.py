import json

from hagane.report.plots import funnel_counts, plot_evaluation, plot_funnel, plot_tokenizer, plot_training


def test_funnel_adds_up_every_stage(tmp_path):
    (tmp_path / "c1.json").write_text(json.dumps({"counts": {"records_seen": 10, "documents": 8, "skipped": {"not_html": 1},
                                                             "quarantined": {"truncated_record": 1}}}))
    (tmp_path / "c2.json").write_text(json.dumps({"counts": {"records_seen": 5, "documents": 5, "skipped": {},
                                                             "quarantined": {}}}))
    (tmp_path / "s1.json").write_text(json.dumps({"documents_in": 8, "kept": 6, "dropped": {"too_short": 2}}))
    (tmp_path / "s2.json").write_text(json.dumps({"documents_in": 5, "kept": 4, "dropped": {"lang_not_ja": 1}}))
    (tmp_path / "d.json").write_text(json.dumps({"documents_in": 10, "kept": 9, "dropped": {"exact_duplicate": 1}}))
    (tmp_path / "n1.json").write_text(json.dumps({"documents_in": 5, "kept": 3, "dropped": {"near_duplicate": 2}}))
    (tmp_path / "n2.json").write_text(json.dumps({"documents_in": 4, "kept": 4, "dropped": {}}))
    funnel = funnel_counts([tmp_path / "c1.json", tmp_path / "c2.json"], [tmp_path / "s1.json", tmp_path / "s2.json"],
                           tmp_path / "d.json", [tmp_path / "n1.json", tmp_path / "n2.json"])
    assert funnel == {"steps": {"records": 15, "documents": 13, "after filter": 10, "after exact dedup": 9,
                                "after near dedup": 7},
                      "dropped": {"collect: not_html": 1, "collect: truncated_record": 1, "dedup: exact_duplicate": 1,
                                  "dedup: near_duplicate": 2, "filter: lang_not_ja": 1, "filter: too_short": 2},
                      "files not read whole": []}
    plot_funnel(funnel, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_plot(tmp_path):
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"step": s, "loss": 8 - s, "tokens": 100 * s}) + "\n" for s in (1, 2, 3)))
    (tmp_path / "e.json").write_text(json.dumps({"held_out": {"loss_nats_per_token": 5.5, "bits_per_char": 3.0,
                                                              "unigram_entropy_nats_per_token": 6.5}}))
    plot_training(tmp_path / "m.jsonl", tmp_path / "e.json", tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_plot(tmp_path):
    rows = [{"step": s, "tokens": 100 * s, "bits_per_char": 4.0 - s, "web/bits_per_char": 4.2 - s,
             "continuation/acc": 0.3 + 0.01 * s, "continuation/acc_mutual_info": None, "continuation/chance": 0.25}
            for s in (1, 2)]
    (tmp_path / "summary.json").write_text(json.dumps(rows))
    plot_evaluation(tmp_path / "summary.json", tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tokenizer_plot(tmp_path):
    source = {"characters_per_token": 1.9, "bytes_per_token": 4.8, "byte_fallback_rate": 0.002}
    report = {"held_out": {"web": source, "all": source},
              "vocabulary": {"size": 8000, "pieces": {"normal": 7700, "byte": 256, "control": 3, "unknown": 1},
                             "script_share": {"hiragana": 0.1, "katakana": 0.2, "kanji": 0.4, "latin": 0.1,
                                              "digits": 0.0, "symbols": 0.1, "mixed": 0.1},
                             "longest_pieces": ["インストール", "ファイル"]}}
    (tmp_path / "r.json").write_text(json.dumps(report, ensure_ascii=False))
    plot_tokenizer(tmp_path / "r.json", tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
