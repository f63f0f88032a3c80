import pytest

from hagane.audit.verify import AuditFailure, verify
from hagane.manifest import now, write_manifest


def chain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_text("生のデータ")
    (tmp_path / "results" / "one").mkdir(parents=True)
    (tmp_path / "results" / "one" / "out.txt").write_text("一段目")
    write_manifest("results/one", stage="one", config={}, inputs=["raw/a.txt"], outputs=["results/one/out.txt"],
                   counts={}, started_at=now())
    (tmp_path / "results" / "two").mkdir()
    (tmp_path / "results" / "two" / "out.txt").write_text("二段目")
    write_manifest("results/two", stage="evaluate", config={}, inputs=["results/one/out.txt"],
                   outputs=["results/two/out.txt"], counts={}, started_at=now())


def test_an_intact_chain_verifies_back_to_the_raw_file(tmp_path, monkeypatch):
    chain(tmp_path, monkeypatch)
    report = verify(tmp_path / "results")
    assert report["manifests"] == 2 and report["raw_sources"] == ["raw/a.txt"]
    assert report["files_checked"] == 4


@pytest.mark.parametrize("path, message", [
    ("results/two/out.txt", r"results/two/_manifest\.json: output results/two/out\.txt has "),
    ("results/one/out.txt", r"results/two/_manifest\.json: input results/one/out\.txt has "),
    ("raw/a.txt", r"results/one/_manifest\.json: input raw/a\.txt has "),
])
def test_the_first_mismatch_is_named(tmp_path, monkeypatch, path, message):
    chain(tmp_path, monkeypatch)
    (tmp_path / path).write_text("改竄", encoding="utf-8")
    with pytest.raises(AuditFailure, match=message):
        verify(tmp_path / "results")


def test_an_input_under_results_without_a_producer_fails(tmp_path, monkeypatch):
    chain(tmp_path, monkeypatch)
    (tmp_path / "results" / "one" / "_manifest.json").unlink()
    with pytest.raises(AuditFailure, match=r"lies under .* but no manifest produced it"):
        verify(tmp_path / "results")


def test_leftovers_that_made_no_model_are_reported_not_checked(tmp_path, monkeypatch):
    chain(tmp_path, monkeypatch)
    (tmp_path / "results" / "old").mkdir()
    (tmp_path / "results" / "old" / "x.txt").write_text("古い")
    write_manifest("results/old", stage="collect", config={}, inputs=[],
                   outputs=["results/old/x.txt"], counts={}, started_at=now())
    (tmp_path / "results" / "old" / "x.txt").write_text("消えた")  # would fail if it were checked
    report = verify(tmp_path / "results")
    assert report["unreached_manifests"] == [str(tmp_path / "results" / "old" / "_manifest.json")]


def test_absolute_paths_link_to_their_producer(tmp_path, monkeypatch):
    chain(tmp_path, monkeypatch)
    (tmp_path / "results" / "three").mkdir()
    (tmp_path / "results" / "three" / "o.txt").write_text("三")
    write_manifest("results/three", stage="evaluate", config={}, inputs=[str(tmp_path / "results/two/out.txt")],
                   outputs=["results/three/o.txt"], counts={}, started_at=now())
    assert verify(tmp_path / "results")["raw_sources"] == ["raw/a.txt"]
