"""Input files are checked with ``stat`` before anything opens them.

Opening a FIFO for reading blocks until a writer appears (forever, in practice); a directory, a socket or a device
named like a reports table or a volume is a user's mistake that deserves its own reason rather than a confusing
error later. :func:`check_regular_file` refuses everything that is not a regular file (symlinks are followed; a
dangling one is named as such) and never opens the path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InputFileError(ValueError):
    """An input path that is missing or is not a regular file (the message names the path and what it is)."""


def file_kind(mode: int) -> str:
    """A readable name for what an ``st_mode`` describes (``folder``, ``FIFO (named pipe)``, ...)."""
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISREG(mode):
        return "regular file"
    return "special file"


def not_regular_reason(path: str | Path) -> str | None:
    """Why ``path`` cannot be read as a regular file (``None`` when it can); never opens it."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            return f"dangling symbolic link (to {os.readlink(p)})"
        return "no such file"
    except NotADirectoryError:
        return "no such file (a parent is not a folder)"
    except OSError as exc:
        return f"cannot stat: {exc.strerror or exc}"
    if stat.S_ISREG(st.st_mode):
        return None
    return f"is a {file_kind(st.st_mode)}, not a regular file"


def check_regular_file(path: str | Path, what: str = "file") -> os.stat_result:
    """``os.stat(path)`` when it is a regular file, else :class:`InputFileError`
    (``"<path>: cannot read <what>: <reason>"``)."""
    reason = not_regular_reason(path)
    if reason is not None:
        raise InputFileError(f"{path}: cannot read {what}: {reason}")
    return os.stat(path)
