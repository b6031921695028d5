"""Exclusive OS locks on files (fcntl.flock): one holder at a time, and no stale locks.

The kernel drops a flock when the process that holds it ends, however it ends (SIGKILL
included), so a lock left by a killed run never blocks the next one, as a pid file alone
would. The holder writes its pid into the file for the message of whoever finds it taken.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from nmt.atomic import naming


class FileLock:
    """A lock on one file, taken without waiting."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._handle: int | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> bool:
        """Take the lock if no process holds it; True when this one holds it now."""
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return False
        try:
            with naming(self.path):  # a full disk
                os.ftruncate(handle, 0)
                os.write(handle, f"{os.getpid()}\n".encode())
        except OSError:
            os.close(handle)  # and with it the lock
            raise
        self._handle = handle
        return True

    def holder(self) -> str:
        """The pid the holder wrote ("unknown" while it has not yet)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._handle is not None:
            os.ftruncate(self._handle, 0)
            os.close(self._handle)
            self._handle = None
