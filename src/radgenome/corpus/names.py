"""VolumeNames that are safe to use as file names and CSV cells.

A VolumeName becomes the stem of output files (``OUT/cases/<stem>.json``, ``OUT/masks/<stem>.nii.gz``,
``OUT/seg_<stem>/``) and the first cell of every table row, so it must be usable as one path component on every
common file system and must never start like a spreadsheet formula. The safe pattern (:data:`VOLUME_NAME_PATTERN`)::

    [A-Za-z0-9][A-Za-z0-9._-]*        at most MAX_VOLUME_NAME (150) characters, no ".."

— a letter or digit first (so never ``=``, ``+``, ``-``, ``@``, a dot or a space), then letters, digits, ``.``, ``_``
and ``-``; no ``/`` or ``\\``, no ``..``, no NUL or other control character, no spaces. CT-RATE's names
(``train_12_a_1.nii.gz``) and most hospital identifiers fit; a name outside it fails its row alone, named, with
the reason (:func:`volume_name_problem`). 150 characters leave room, within the usual 255-byte file-name limit,
for the longest name we derive from a stem (the hidden temporary file of an atomic write:
``.<stem>.nii.gz.<random>.tmp``).
"""

from __future__ import annotations

import re

MAX_VOLUME_NAME = 150
"""Longest accepted VolumeName, in characters (ASCII only, so also in bytes)."""

VOLUME_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a VolumeName may look like (full match); see the module doc."""


def volume_name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe VolumeName (``None`` when it is)."""
    if not name:
        return "empty VolumeName"
    shown = repr(name[:60] + ("..." if len(name) > 60 else ""))
    if len(name) > MAX_VOLUME_NAME:
        return f"VolumeName {shown} is {len(name)} characters long (at most {MAX_VOLUME_NAME})"
    if "\x00" in name:
        return f"VolumeName {shown} contains a NUL byte"
    if "/" in name or "\\" in name:
        return f"VolumeName {shown} contains a path separator"
    if ".." in name:
        return f"VolumeName {shown} contains '..'"
    if VOLUME_NAME_PATTERN.fullmatch(name) is None:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "._-"))})
        if not bad:
            return f"VolumeName {shown} must start with a letter or digit"
        return f"VolumeName {shown} has characters outside [A-Za-z0-9._-]: {', '.join(repr(c) for c in bad[:8])}"
    return None
