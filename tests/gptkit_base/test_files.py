"""gptkit_base.files: writes that are whole or absent, with the umask's permissions, and one writer per directory."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from gptkit_base import files
from gptkit_base.errors import GptkitError, NotUTF8Error
from gptkit_base.files import (
    LOCK_FILE,
    DirectoryBusy,
    atomic_write,
    atomic_write_text,
    exclusive_directory,
    read_utf8,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("half of the new")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def test_one_writer_per_directory(tmp_path):
    run = tmp_path / "run"
    with exclusive_directory(run):
        assert (run / LOCK_FILE).read_text() == f"{os.getpid()}\n"
        with pytest.raises(DirectoryBusy, match=rf"{run} is in use by another gptkit process \(pid {os.getpid()}\)"):
            with exclusive_directory(run):
                pass
        (run / "result").write_text("kept")
    assert sorted(p.name for p in run.iterdir()) == ["result"]  # the lock file goes, the results stay
    with exclusive_directory(run):  # free again
        pass


def test_a_directory_made_for_nothing_is_removed(tmp_path):
    with pytest.raises(ValueError), exclusive_directory(tmp_path / "new" / "run"):
        raise ValueError("the run could not start")
    assert not (tmp_path / "new").exists()  # nor the parent it made for it
    with exclusive_directory(tmp_path):  # a directory that was there stays, even empty
        pass
    assert tmp_path.is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        with exclusive_directory(tmp_path / "file"):
            pass


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gptkit_base.files import exclusive_directory\n"
         f"with exclusive_directory({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DirectoryBusy, match=f"pid {holder.pid}"):
            with exclusive_directory(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with exclusive_directory(tmp_path):  # kill -9 released the kernel's lock; the stale file is taken over
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"


@pytest.mark.skipif(files.fcntl is None, reason="no flock on this platform")
def test_a_lock_file_removed_before_it_is_locked_is_not_the_lock(tmp_path, monkeypatch):
    """The holder removes the lock file as it finishes, still holding its flock. A writer that opened the old file
    just before then gets that file's flock, but it is no longer the lock: it must lock the file now at the path."""
    holder = exclusive_directory(tmp_path)
    holder.__enter__()
    flock = files.fcntl.flock

    def holder_finishes_first(fd, operation):  # between the writer's open and its flock
        monkeypatch.setattr(files.fcntl, "flock", flock)
        holder.__exit__(None, None, None)
        return flock(fd, operation)

    monkeypatch.setattr(files.fcntl, "flock", holder_finishes_first)
    with exclusive_directory(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"  # the file at the path, which is locked:
        with pytest.raises(DirectoryBusy, match=f"pid {os.getpid()}"):
            with exclusive_directory(tmp_path):
                pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_file_that_is_not_utf8_is_a_project_error_naming_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\r\n{"note": "caf\xe9"}\n')
    with pytest.raises(NotUTF8Error, match=r"metrics\.jsonl: not UTF-8 text \(invalid continuation byte\)") as e:
        read_utf8(path)
    assert isinstance(e.value, GptkitError) and isinstance(e.value, UnicodeError)  # callers catching either see it
    path.write_bytes(b'{"step": 1}\r\n{"note": "caf\xc3\xa9"}\n')
    assert read_utf8(path) == '{"step": 1}\n{"note": "café"}\n'  # line ends as a text file reads them
