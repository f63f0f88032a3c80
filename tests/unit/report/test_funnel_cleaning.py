"""The funnel with PII redaction's and line dedup's counts (rules/clean.smk)."""

import json

from hagane.report.plots import funnel_counts, plot_funnel


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_pii_per_kind_and_the_line_dedup_step(tmp_path):
    collect = write(tmp_path / "c.json", {"counts": {"records_seen": 10, "documents": 10, "skipped": {},
                                                      "quarantined": {}}})
    select = write(tmp_path / "s.json", {"documents_in": 10, "kept": 9, "dropped": {"too_short": 1}})
    exact = write(tmp_path / "d.json", {"documents_in": 9, "kept": 8, "dropped": {"exact_duplicate": 1}})
    near = write(tmp_path / "n.json", {"documents_in": 7, "kept": 6, "dropped": {"near_duplicate": 1}})
    redact = [write(tmp_path / "r1.json", {"pii": {"email": 3, "ipv4": 0}}),
              write(tmp_path / "r2.json", {"pii": {"email": 1, "ipv4": 2}})]
    lines = write(tmp_path / "l.json", {"documents_in": 8, "kept": 7, "dropped": {"line_dedup_too_short": 1},
                                        "lines_removed": 40, "chars_removed": 900, "documents_changed": 6})
    funnel = funnel_counts([collect], [select], exact, [near], redact, [lines])
    assert funnel["steps"] == {"records": 10, "documents": 10, "after filter": 9, "after exact dedup": 8,
                               "after line dedup": 7, "after near dedup": 6}
    assert list(funnel["steps"]) == ["records", "documents", "after filter", "after exact dedup", "after line dedup",
                                     "after near dedup"]
    assert funnel["pii"] == {"email": 4, "ipv4": 2}
    assert funnel["line dedup"] == {"documents_in": 8, "kept": 7, "lines_removed": 40, "chars_removed": 900,
                                    "documents_changed": 6}
    assert funnel["dropped"]["dedup: line_dedup_too_short"] == 1
    plot_funnel(funnel, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Without them the funnel is what it was: no PII key, no line dedup step.
    plain = funnel_counts([collect], [select], exact, [near])
    assert "pii" not in plain and "after line dedup" not in plain["steps"]
