import json

from hagane.report.plots import funnel_counts, plot_funnel, plot_training


def test_funnel_adds_up_every_stage(tmp_path):
    (tmp_path / "c1.json").write_text(json.dumps({"counts": {"records_seen": 10, "documents": 8, "skipped": {"not_html": 1},
                                                             "quarantined": {"truncated_record": 1}}}))
    (tmp_path / "c2.json").write_text(json.dumps({"counts": {"records_seen": 5, "documents": 5, "skipped": {},
                                                             "quarantined": {}}}))
    (tmp_path / "s1.json").write_text(json.dumps({"documents_in": 8, "kept": 6, "dropped": {"too_short": 2}}))
    (tmp_path / "s2.json").write_text(json.dumps({"documents_in": 5, "kept": 4, "dropped": {"lang_not_ja": 1}}))
    (tmp_path / "d.json").write_text(json.dumps({"documents_in": 10, "kept": 9, "dropped": {"exact_duplicate": 1}}))
    funnel = funnel_counts([tmp_path / "c1.json", tmp_path / "c2.json"], [tmp_path / "s1.json", tmp_path / "s2.json"],
                           tmp_path / "d.json")
    assert funnel == {"steps": {"records": 15, "documents": 13, "after filter": 10, "after dedup": 9},
                      "dropped": {"collect: not_html": 1, "collect: truncated_record": 1, "dedup: exact_duplicate": 1,
                                  "filter: lang_not_ja": 1, "filter: too_short": 2}}
    plot_funnel(funnel, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_plot(tmp_path):
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"step": s, "loss": 8 - s, "tokens": 100 * s}) + "\n" for s in (1, 2, 3)))
    (tmp_path / "e.json").write_text(json.dumps({"loss_nats_per_token": 5.5, "unigram_entropy_nats_per_token": 6.5,
                                                 "bits_per_char": 3.0}))
    plot_training(tmp_path / "m.jsonl", tmp_path / "e.json", tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
