"""Body mask: everything denser than air that belongs to the patient (not the table, not the air)."""

from __future__ import annotations

import numpy as np

from radgenome.segmentation.classical.grid import WorkGrid, dilate_2d, erode_2d, fill_holes_2d, largest_cc

BODY_HU = -500.0
"""Voxels above this are tissue (fat is about -100, air -1000)."""
TABLE_OPEN_MM = 6.0
"""In-plane opening radius that detaches the scanner table and blankets from the body."""


def segment_body(g: WorkGrid) -> np.ndarray:
    """The patient's body with its internal air (lungs, airway, bowel gas) filled in, per axial slice."""
    tissue = g.hu > BODY_HU
    if not tissue.any():
        return tissue
    core = erode_2d(tissue, TABLE_OPEN_MM, g.spacing)
    core = largest_cc(core, connectivity=6)
    if not core.any():
        core = largest_cc(tissue, connectivity=6)
    body = dilate_2d(core, TABLE_OPEN_MM + 0.5 * float(max(g.spacing[0], g.spacing[1])), g.spacing) & tissue
    body = largest_cc(body | core, connectivity=6)
    return fill_holes_2d(body)
