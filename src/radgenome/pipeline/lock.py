"""An exclusive lock on an output folder: one build at a time writes into OUT.

``OUT/.radgenome.lock`` is locked with ``flock`` (exclusive, non-blocking) for the whole build and holds who took
it (pid, host, start time, command). The operating system releases the lock when the process ends, however it
ends (``kill -9`` included), so a stale lock file never blocks a later build; the file itself stays. A second
build into the same OUT fails at once with :class:`OutputLockedError`, whose message names the holder.

On a system without ``fcntl`` (Windows) no lock is taken (:attr:`OutputLock.supported` is False).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class OutputLockedError(RuntimeError):
    """Another process holds the output folder's lock (the message names the folder and the holder)."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str
    command: str = ""

    def describe(self) -> str:
        what = f" ({self.command})" if self.command else ""
        return f"pid {self.pid} on host {self.host}, since {self.started}{what}"


class OutputLock:
    """``with OutputLock(path, command="build"):`` — hold the lock for the block (see the module doc)."""

    supported = fcntl is not None

    def __init__(self, path: str | Path, command: str = "") -> None:
        self.path = Path(path)
        self.command = command
        self._fh: Any = None

    def acquire(self) -> LockHolder:
        """Take the lock and write who holds it; :class:`OutputLockedError` when another process has it."""
        fh = self.path.open("a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fh)
                fh.close()
                who = holder.describe() if holder is not None else "a process that left no details"
                raise OutputLockedError(
                    f"{self.path.parent}: another build is writing into this folder ({who}); wait for it to end "
                    "or choose another output folder"
                ) from None
        me = LockHolder(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(timespec="seconds"),
                        self.command)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(me.__dict__) + "\n")
        fh.flush()
        self._fh = fh
        return me

    def release(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.seek(0)
            self._fh.truncate()
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fh: Any) -> LockHolder | None:
    try:
        fh.seek(0)
        data = json.loads(fh.read() or "null")
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started"]), str(data.get("command", "")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
