"""RadGenome's ``seg_<stem>/`` mask layout: one binary ``<name>.nii.gz`` per structure, per parent mask name with a
present descendant, and per anatomical top-level region (unions over the region hierarchy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radgenome.anatomy import ANATOMICAL_REGIONS, load_hierarchy
from radgenome.anatomy.vocabulary import is_mask_name
from radgenome.regions import NotAMaskError, region_mask
from radgenome.segmentation.io import write_mask


def layout_names(labels: dict[int, str], include_parents: bool = True) -> list[str]:
    """Names written by :func:`write_radgenome_layout`: the structures, the parent mask names that have a
    present descendant, and the 10 anatomical top-level regions."""
    h = load_hierarchy()
    names = set(labels.values())
    if include_parents:
        for name in list(labels.values()):
            if name in h:
                names.update(a for a in h.ancestors(name) if is_mask_name(a))
    names.update(ANATOMICAL_REGIONS)
    return sorted(names)


def write_radgenome_layout(
    labelmap: np.ndarray,
    affine: np.ndarray,
    labels: dict[int, str],
    out_dir: str | Path,
    include_parents: bool = True,
) -> list[Path]:
    """Write RadGenome's ``seg_<stem>/`` layout into ``out_dir``: one binary ``<name>.nii.gz`` per structure,
    per parent mask name with a present descendant, and per anatomical top-level region (unions)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in layout_names(labels, include_parents):
        try:
            mask = region_mask(labelmap, labels, name)
        except (NotAMaskError, KeyError):
            continue
        written.append(write_mask(mask, affine, out_dir / f"{name}.nii.gz"))
    return written
