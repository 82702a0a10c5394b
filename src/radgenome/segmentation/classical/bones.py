"""Bones by threshold, grouped by position relative to the lungs and the spine.

- ``vertebrae``: the vertebral column tracked slice by slice (``thorax.find_spine``: bone persisting near
  the posterior midline within ±20 mm), grown by 12 mm in-plane, plus the neural arches behind it.
- ``sternum``: anterior midline bone in front of the mediastinum.
- ``left clavicle``/``right clavicle``: anterior bone above the upper third of the lungs, away from the lungs.
- ``left scapula``/``right scapula``: posterior-lateral bone outside the rib cage (far from the lungs).
- ``left rib``/``right rib``: the remaining bone hugging the lungs, by side of the spine in the patient frame
  (:func:`~radgenome.segmentation.classical.frame.side_masks`); without lungs in the field of view (an abdominal
  CT), the rib sections of the rib cage (:func:`~radgenome.segmentation.classical.thorax.find_rib_cage`).

Contrast-filled blood can exceed the bone threshold: when a large bright pool lies between the lungs, deep
below the anterior skin (the heart), bone is restricted to voxels on or next to cortical-dense bone; bright
voxels medial to both lungs are never ribs. No rib or vertebra numbering (not reliable without a model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.frame import side_masks
from radgenome.segmentation.classical.grid import WorkGrid, dilate, dilate_2d, fill_holes_2d, keep_large
from radgenome.segmentation.classical.thorax import PERSIST_MM, Thorax

BONE_HU = 180.0
HARD_BONE_HU = 400.0
"""Cortical bone (and no contrast-filled vessel) is denser than this on the working grid."""
CONTRAST_BLOOD_ML = 30.0
"""More 'bone' than this between the lungs, below HARD_BONE_HU, means contrast-enhanced blood."""
SUBCUTANEOUS_MM = 35.0
"""The sternum lies within this depth below the anterior body surface; the heart's blood pool deeper."""
RIB_MAX_DIST_MM = 22.0
"""Ribs lie within this distance of the lungs (scapulae and clavicles are farther)."""
VERTEBRA_GROW_MM = 12.0


@dataclass
class Bones:
    masks: dict[str, np.ndarray]
    spine_xy: tuple[float, float, float] | None
    """World (x, y) of the vertebral column's centre and y of its anterior surface (the vertebral bodies),
    medians over the lungs' slices (over every slice without lungs)."""
    notes: list[str] = field(default_factory=list)
    contrast: bool = False
    """Contrast-enhanced blood was detected between the lungs."""


def segment_bones(
    g: WorkGrid,
    body: np.ndarray,
    lungs: np.ndarray,
    x_mid: float,
    thorax: Thorax | None = None,
    lung_z: tuple[float, float] | None = None,
) -> Bones:
    """``lung_z``: the lungs' (base, apex) z when the field of view cuts them (the extent the lobes assume);
    clavicles and scapulae are placed relative to it."""
    notes: list[str] = []
    bone = (g.hu > BONE_HU) & body
    bone = keep_large(bone, max(2, int(200.0 / (g.voxel_ml() * 1000.0))), 26)
    masks: dict[str, np.ndarray] = {}
    if not bone.any():
        return Bones({}, None, ["no bone above the threshold"])
    x = g.axis_world(0)
    y = g.axis_world(1)
    z = g.axis_world(2)
    # depth below the anterior body surface (sternum and clavicles are subcutaneous, the heart is not)
    front = np.where(body, y, np.float32(-1e9)).max(axis=1, keepdims=True)
    depth = front - y
    contrast = False
    between = _between_lungs(lungs, x, x_mid)
    if lungs.any():
        # bright voxels between the lungs, deep below the anterior surface, in the anterior half of the
        # chest and not cortical-dense: the heart's blood pool when contrast was given
        ly = float(g.axis_percentile(lungs, 1, 50.0))
        blood = bone & between & (g.hu < HARD_BONE_HU)
        blood &= (depth > SUBCUTANEOUS_MM) & (y > ly)
        if blood.sum() * g.voxel_ml() > CONTRAST_BLOOD_ML:
            # keep as bone only what lies on or next to dense (cortical) bone
            contrast = True
            hard = fill_holes_2d((g.hu > HARD_BONE_HU) & body)
            bone &= dilate(hard, 4.0, g.spacing) | hard
    lk = lungs.any(axis=(0, 1))
    # lung geometry in world mm
    if lungs.any():
        ly_c = float(g.axis_percentile(lungs, 1, 50.0))
        lz0, lz1 = (float(v) for v in g.axis_percentile(lungs, 2, [0.0, 100.0]))
        if lung_z is not None:
            lz0, lz1 = min(lz0, lung_z[0]), max(lz1, lung_z[1])
    else:
        ly_c, lz0, lz1 = 0.0, -1e9, 1e9

    # vertebral column: the thorax's per-slice spine track
    spine = thorax.spine if thorax is not None else None
    spine_xy = None
    if spine is not None:
        sel = lk if lk.any() else np.ones_like(lk)
        sx_k = spine.centre[:, 0].astype(np.float32)[None, None, :]
        sy_k = spine.centre[:, 1].astype(np.float32)[None, None, :]
        spine_xy = (
            float(np.median(spine.centre[sel, 0])),
            float(np.median(spine.centre[sel, 1])),
            float(np.median(spine.front[sel])),
        )
        win = max(1, 2 * round(PERSIST_MM / float(g.spacing[2])) + 1)
        col = ndimage.maximum_filter1d(spine.column, size=win, axis=2, mode="nearest")
        foot = dilate_2d(col, VERTEBRA_GROW_MM, g.spacing)
        # posterior arches: bone behind the column centre within 35 mm of its x
        arch = (np.abs(x - sx_k) < 35.0) & (y < sy_k) & (y > sy_k - 70.0)
        vert = bone & (foot | arch)
        masks["vertebrae"] = vert
        sx: np.ndarray | float = sx_k
    else:
        notes.append("vertebral column not found")
        vert = np.zeros_like(bone)
        sx = x_mid
    rest = bone & ~vert
    sides = side_masks(g, sx)
    if not lungs.any():
        # no lung in the field of view: the rib cage's sections are the ribs (an abdominal CT's lower ribs)
        if thorax is not None and thorax.ribs.any():
            for side in ("right", "left"):
                rib = rest & thorax.ribs & sides[side] & (np.abs(x - sx) > 12.0)
                if rib.any():
                    masks[f"{side} rib"] = rib
        return Bones(masks, spine_xy, notes, contrast)
    near_lung = dilate(lungs, RIB_MAX_DIST_MM, g.spacing)
    lz_mid = (z >= lz0) & (z <= lz1)
    # sternum: anterior midline, subcutaneous
    sternum = rest & (np.abs(x - sx) < 28.0) & (y > ly_c + 20.0) & lz_mid & (depth < SUBCUTANEOUS_MM)
    sternum = keep_large(sternum, 3, 26)
    if sternum.any():
        masks["sternum"] = sternum
    rest &= ~sternum
    upper = z > lz0 + 0.6 * (lz1 - lz0)
    far = ~near_lung
    clav = rest & upper & (y > ly_c + 5.0) & far & (np.abs(x - sx) > 15.0)
    scap = rest & (y < ly_c + 15.0) & far & (np.abs(x - sx) > 35.0) & (z > lz0 + 0.25 * (lz1 - lz0))
    inside_med = near_lung & ~lungs
    for side in ("right", "left"):
        sd = sides[side]
        for kind, m in (("clavicle", clav), ("scapula", scap)):
            mm = keep_large(m & sd, 3, 26)
            if mm.any():
                masks[f"{side} {kind}"] = mm
        rib = rest & sd & inside_med & ~clav & ~scap & (np.abs(x - sx) > 12.0)
        rib &= ~between
        if rib.any():
            masks[f"{side} rib"] = rib
    return Bones(masks, spine_xy, notes, contrast)


def _between_lungs(lungs: np.ndarray, x: np.ndarray, sx: float) -> np.ndarray:
    """Voxels medial to both lungs in their (y, z) row: mediastinum (bright there = contrast-filled vessels)."""
    big = np.float32(1e9)
    right_min = np.where(lungs & (x > sx), x, big).min(axis=0)  # medial edge of the right lung per (y, z)
    left_max = np.where(lungs & (x < sx), x, -big).max(axis=0)
    ok = (right_min < big) & (left_max > -big)
    return (x < right_min[None]) & (x > left_max[None]) & ok[None]
