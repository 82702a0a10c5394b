"""Atomic file writes: a temporary file in the target's folder, renamed over the target when complete.

A reader (or a resumed build after ``kill -9``) sees either the old file or the whole new one, never half a
file. Files get the usual permissions (``0o666`` minus the umask), not ``mkstemp``'s private ``0o600``.

Temporary names are ``.<name>.<random>.tmp`` (:func:`temp_prefix`, :data:`TEMP_SUFFIX`); a write killed midway
leaves one behind, which :func:`remove_stale_temps` removes (only safe while nobody else writes into the folder:
a build does it under its output lock).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""Permissions of the files written here (what ``open()`` would give under the current umask)."""


TEMP_SUFFIX = ".tmp"
STALE_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
"""Names of the temporary files (and folders) of our atomic writes."""


def temp_prefix(name: str) -> str:
    """The ``mkstemp``/``mkdtemp`` prefix of a temporary file standing for ``name``."""
    return f".{name}."


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temporary files and folders left in ``folder`` by killed atomic writes; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if not STALE_TEMP.match(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        if fsync:
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> None:
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)
