"""Imaging inputs: NIfTI files, folders of them (searched recursively) and DICOM series folders, one case per stem.

Nothing is dropped silently: a path that yields nothing, a stem seen twice (outputs would collide), or an entry
named like a volume that is not a regular file (a FIFO, a folder, a dangling symbolic link, a device) becomes an
:class:`InputProblem` naming the path and the reason. Entries are judged with ``stat`` only: nothing is opened
that could block (a FIFO is never opened).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radgenome.corpus.dicom import looks_like_dicom_dir
from radgenome.corpus.files import not_regular_reason
from radgenome.corpus.metadata import volume_stem

NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass(frozen=True)
class InputCase:
    path: Path
    stem: str
    kind: Literal["nifti", "dicom"]
    root: Path | None = None
    """The folder the case was found in (the folder given, or the parent of a file or series given directly):
    the anchor a build stores its path relative to (so a moved corpus can be re-anchored)."""


@dataclass(frozen=True)
class InputProblem:
    path: str
    message: str
    stem: str = ""
    """The stem of an entry named like a volume that cannot be used ('' otherwise)."""


def named_like_nifti(name: str) -> bool:
    return name.endswith(NIFTI_SUFFIXES)


def _is_nifti(p: Path) -> bool:
    return named_like_nifti(p.name) and not_regular_reason(p) is None


def _unusable(p: Path) -> InputProblem | None:
    """A problem for an entry named like a NIfTI file that is not a regular file."""
    reason = not_regular_reason(p)
    if reason is None:
        return None
    return InputProblem(str(p), f"named like a volume but {reason}", volume_stem(p.name))


def discover_inputs(paths: list[Path]) -> tuple[list[InputCase], list[InputProblem]]:
    """NIfTI files, folders of them (searched recursively) and DICOM series folders -> cases.

    Returns (cases, problems): a path that yields nothing, a stem seen twice, or an entry named like a volume that
    is not a regular file is a problem.
    """
    cases: list[InputCase] = []
    problems: list[InputProblem] = []
    for raw in paths:
        p = Path(raw)
        if named_like_nifti(p.name) and not p.is_dir():
            problem = _unusable(p)
            if problem is None:
                cases.append(InputCase(p, volume_stem(p.name), "nifti", p.parent))
            elif p.exists() or os.path.islink(p):
                problems.append(problem)
            else:
                problems.append(InputProblem(str(p), "no such file or folder"))
        elif p.is_dir():
            found, odd = _walk(p)
            problems.extend(odd)
            if not found and not odd:
                problems.append(InputProblem(str(p), "no NIfTI files or DICOM series found"))
            cases.extend(found)
        elif p.exists():
            reason = not_regular_reason(p)
            problems.append(InputProblem(str(p), reason if reason else "not a .nii/.nii.gz file or a folder"))
        elif os.path.islink(p):
            problems.append(InputProblem(str(p), str(not_regular_reason(p))))
        else:
            problems.append(InputProblem(str(p), "no such file or folder"))
    seen: dict[str, Path] = {}
    unique: list[InputCase] = []
    for c in cases:
        if c.stem in seen:
            problems.append(
                InputProblem(str(c.path), f"stem {c.stem!r} already used by {seen[c.stem]} (outputs would collide)")
            )
            continue
        seen[c.stem] = c.path
        unique.append(c)
    return unique, problems


def _walk(top: Path) -> tuple[list[InputCase], list[InputProblem]]:
    found: list[InputCase] = []
    problems: list[InputProblem] = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        rp = Path(root)
        for name in sorted(files):  # every non-folder entry: files, FIFOs, sockets, devices, symbolic links
            if not named_like_nifti(name):
                continue
            fp = rp / name
            problem = _unusable(fp)
            if problem is None:
                found.append(InputCase(fp, volume_stem(name), "nifti", top))
            else:
                problems.append(problem)
        for name in list(dirs):
            if named_like_nifti(name) and not looks_like_dicom_dir(rp / name):
                problems.append(InputProblem(str(rp / name), "named like a volume but is a folder",
                                             volume_stem(name)))
        if looks_like_dicom_dir(rp):
            found.append(InputCase(rp, rp.name, "dicom", top if rp != top else top.parent))
    return found, problems
