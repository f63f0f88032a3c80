"""Atomic outputs: a killed writer's temporary files are removed by the next writer of the same path, and a
write that fails for a reason the user must fix (full disk, read-only folder) is one line naming the output."""

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hagane import io as hio
from hagane.cli import main
from hagane.errors import HaganeError
from hagane.io import atomic_path, write_json, write_jsonl_zst

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process that has just ended (a killed job's, as far as its leftovers can tell)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def leftover(folder: Path, name: str, *, directory: bool = False, age_s: float = 0) -> Path:
    path = folder / name
    if directory:
        path.mkdir()
        (path / "part.bin").write_bytes(b"half")
    else:
        path.write_bytes(b"half")
    if age_s:
        then = time.time() - age_s
        for p in [path, *path.rglob("*")]:
            os.utime(p, (then, then))
    return path


def test_the_temporary_name_says_host_and_pid(tmp_path):
    seen = []
    with atomic_path(tmp_path / "out.json") as tmp:
        seen.append(tmp.name)
        tmp.write_text("{}")
    assert seen == [f".out.json.tmp-{HOST}-{os.getpid()}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_the_next_writer_removes_leftovers_of_dead_writers_only(tmp_path):
    dead, live = dead_pid(), os.getppid()  # the shell or runner that started pytest is alive
    week = hio.FOREIGN_TMP_AGE_S
    removed = [
        leftover(tmp_path, f".out.json.tmp-{HOST}-{dead}"),
        leftover(tmp_path, f".out.json.tmp-{HOST}-{dead}9", directory=True),  # a killed directory output
        leftover(tmp_path, ".out.json.tmp-node17-4242", age_s=week + 60),  # another host's, old
        leftover(tmp_path, ".out.json.tmp-4242", age_s=week + 60),  # an older Hagane's name
    ]
    kept = [
        leftover(tmp_path, f".out.json.tmp-{HOST}-{live}"),  # its writer still runs
        leftover(tmp_path, ".out.json.tmp-node18-4242", age_s=3600),  # another node's, may be alive
        leftover(tmp_path, f".other.json.tmp-{HOST}-{dead}"),  # another output's: its own writer cleans it
    ]
    write_json(tmp_path / "out.json", {"ok": True})
    assert json.loads((tmp_path / "out.json").read_text()) == {"ok": True}
    assert [p.exists() for p in removed] == [False] * len(removed)
    assert [p.exists() for p in kept] == [True] * len(kept)


def test_a_full_disk_names_the_output_not_the_temporary_file(tmp_path, monkeypatch, capsys):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "results" / "evaluate"
    with pytest.raises(HaganeError) as err:
        write_json(out / "summary.json", [])
    assert str(err.value) == (f"cannot write {out / 'summary.json'}: no space left on the file system "
                              "(free some, or point results/ elsewhere) [ENOSPC]")
    assert list(out.iterdir()) == []  # nor a temporary file left behind

    # Through the command line: one line on stderr, exit status 2, no traceback.
    metrics = tmp_path / "m.json"
    metrics.write_bytes(json.dumps({"step": 10, "tasks": {}, "held_out": {
        "loss_nats_per_token": 5.0, "perplexity": 148.0, "bits_per_char": 3.7, "bits_per_byte": 1.9, "by_source": {}}}).encode())
    train = tmp_path / "train.jsonl"
    train.write_bytes(b'{"step": 10, "tokens": 40960}\n')
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "summary", "--metrics", str(metrics), "--pretrain-metrics", str(train),
              "--out-dir", str(out)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (f"hagane evaluate summary: error: cannot write {out / 'summary.json'}: no space "
                                       "left on the file system (free some, or point results/ elsewhere) [ENOSPC]\n")


def test_a_full_disk_while_streaming_a_shard_names_the_shard(tmp_path, monkeypatch):
    real_open = open

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    # hagane.io's own `open` only: the disk fills for the shard, not for pytest.
    monkeypatch.setattr(hio, "open", lambda p, mode="r", *a, **k: FullFile(real_open(p, mode, *a, **k)),
                        raising=False)
    with pytest.raises(HaganeError, match=r"^cannot write .*/docs\.jsonl\.zst: no space left .*\[ENOSPC\]$"):
        write_jsonl_zst(tmp_path / "docs.jsonl.zst", [{"id": str(i), "text": "あ" * 1000} for i in range(2000)])
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_names_the_output(tmp_path, monkeypatch):
    # Root ignores permissions, so the refusal is simulated where it happens: creating the temporary file.
    def refuse(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(HaganeError) as err:
        write_json(tmp_path / "out.json", {})
    assert str(err.value) == (f"cannot write {tmp_path / 'out.json'}: permission denied (make the folder writable, "
                              "or run as its owner) [EACCES]")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_a_read_only_folder_names_the_output(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(HaganeError, match=r"^cannot write .*/ro/out\.json: permission denied .*\[EACCES\]$"):
            write_json(folder / "out.json", {})
        with pytest.raises(HaganeError, match=r"^cannot write .*/ro/sub/out\.json: permission denied"):
            write_json(folder / "sub" / "out.json", {})
    finally:
        folder.chmod(0o755)


def test_an_error_about_another_file_passes_unchanged(tmp_path):
    # A stage that fails to read its input inside the block must not blame the output.
    with pytest.raises(PermissionError) as err:
        with atomic_path(tmp_path / "out.json"):
            raise PermissionError(errno.EACCES, "Permission denied", "/data/source.txt")
    assert err.value.filename == "/data/source.txt"
