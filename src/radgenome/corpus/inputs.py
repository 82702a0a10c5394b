"""Imaging inputs: NIfTI files, folders of them (searched recursively) and DICOM series folders, one case per stem.

Nothing is dropped silently: a path that yields nothing, or a stem seen twice (outputs would collide), becomes an
:class:`InputProblem` naming the path and the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from radgenome.corpus.dicom import looks_like_dicom_dir
from radgenome.corpus.metadata import volume_stem


@dataclass(frozen=True)
class InputCase:
    path: Path
    stem: str
    kind: Literal["nifti", "dicom"]


@dataclass(frozen=True)
class InputProblem:
    path: str
    message: str


def _is_nifti(p: Path) -> bool:
    return p.is_file() and (p.name.endswith(".nii.gz") or p.name.endswith(".nii"))


def discover_inputs(paths: list[Path]) -> tuple[list[InputCase], list[InputProblem]]:
    """NIfTI files, folders of them (searched recursively) and DICOM series folders -> cases.

    Returns (cases, problems): a path that yields nothing, or a stem seen twice, is a problem.
    """
    cases: list[InputCase] = []
    problems: list[InputProblem] = []
    for raw in paths:
        p = Path(raw)
        if _is_nifti(p):
            cases.append(InputCase(p, volume_stem(p.name), "nifti"))
        elif p.is_dir():
            found: list[InputCase] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                rp = Path(root)
                for name in sorted(files):
                    fp = rp / name
                    if _is_nifti(fp):
                        found.append(InputCase(fp, volume_stem(name), "nifti"))
                if looks_like_dicom_dir(rp):
                    found.append(InputCase(rp, rp.name, "dicom"))
            if not found:
                problems.append(InputProblem(str(p), "no NIfTI files or DICOM series found"))
            cases.extend(found)
        elif p.exists():
            problems.append(InputProblem(str(p), "not a .nii/.nii.gz file or a folder"))
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
