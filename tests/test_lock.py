"""OS file locks: one holder, its pid for the message, gone with its process."""

import errno
import os
import signal
import subprocess
import sys

import pytest

from nmt import lock
from nmt.lock import FileLock

HOLDER = """
import sys, time
from nmt.lock import FileLock
assert FileLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_one_holder_at_a_time_and_its_pid(tmp_path):
    first, second = FileLock(tmp_path / "lock"), FileLock(tmp_path / "lock")
    assert first.acquire() and first.held
    assert not second.acquire() and not second.held
    assert second.holder() == str(os.getpid())
    first.release()
    assert second.acquire()
    second.release()
    assert second.holder() == "unknown"


def test_a_pid_that_does_not_fit_on_the_disk_names_the_file_and_frees_the_lock(
    tmp_path, monkeypatch
):
    def full(handle: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock.os, "write", full)
    with pytest.raises(OSError) as error:
        FileLock(tmp_path / "lock").acquire()
    assert error.value.filename == str(tmp_path / "lock")
    monkeypatch.undo()
    assert FileLock(tmp_path / "lock").acquire()


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    path = tmp_path / "lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "locked"
    lock = FileLock(path)
    assert not lock.acquire() and lock.holder() == str(child.pid)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert lock.holder() == str(child.pid)  # the pid stays in the file: no matter
    assert lock.acquire()
    lock.release()
