"""Bones by threshold, grouped by position relative to the lungs and the spine.

- ``vertebrae``: the bone column that persists through the slices near the posterior midline (+ its arches).
- ``sternum``: anterior midline bone in front of the mediastinum.
- ``left clavicle``/``right clavicle``: anterior bone above the upper third of the lungs, away from the lungs.
- ``left scapula``/``right scapula``: posterior-lateral bone outside the rib cage (far from the lungs).
- ``left rib``/``right rib``: the remaining bone hugging the lungs, by side of the spine (world x).

Contrast-filled blood can exceed the bone threshold: when a large bright pool lies between the lungs, deep
below the anterior skin (the heart), bone is restricted to voxels on or next to cortical-dense bone; bright
voxels medial to both lungs are never ribs. No rib or vertebra numbering (not reliable without a model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radgenome.segmentation.classical.grid import WorkGrid, dilate, dilate_2d, fill_holes_2d, keep_large

BONE_HU = 180.0
SPINE_PERSISTENCE = 0.5
"""Fraction of the chest slices in which a pixel must be bone to count as the vertebral column."""
HARD_BONE_HU = 400.0
"""Cortical bone (and no contrast-filled vessel) is denser than this on the working grid."""
CONTRAST_BLOOD_ML = 30.0
"""More 'bone' than this between the lungs, below HARD_BONE_HU, means contrast-enhanced blood."""
SUBCUTANEOUS_MM = 35.0
"""The sternum lies within this depth below the anterior body surface; the heart's blood pool deeper."""
RIB_MAX_DIST_MM = 22.0
"""Ribs lie within this distance of the lungs (scapulae and clavicles are farther)."""


@dataclass
class Bones:
    masks: dict[str, np.ndarray]
    spine_xy: tuple[float, float, float] | None
    """World (x, y) of the vertebral column's centre and y of its anterior surface (the vertebral bodies)."""
    notes: list[str] = field(default_factory=list)
    contrast: bool = False
    """Contrast-enhanced blood was detected between the lungs."""


def segment_bones(g: WorkGrid, body: np.ndarray, lungs: np.ndarray, x_mid: float) -> Bones:
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
    lz = np.nonzero(lungs.any(axis=(0, 1)))[0]
    chest = np.zeros(g.shape[2], dtype=bool)
    if len(lz):
        chest[lz[0] : lz[-1] + 1] = True
    else:
        chest[:] = True
    # lung geometry in world mm
    if lungs.any():
        ly_c = float(g.axis_percentile(lungs, 1, 50.0))
        lz0, lz1 = (float(v) for v in g.axis_percentile(lungs, 2, [0.0, 100.0]))
    else:
        ly_c, lz0, lz1 = 0.0, -1e9, 1e9

    # vertebral column: persistent bone near the posterior midline
    persist = bone[:, :, chest].mean(axis=2)
    near_mid = (np.abs(x[:, :, 0] - x_mid) < 30.0) & (y[:, :, 0] < ly_c)
    col = (persist >= SPINE_PERSISTENCE) & near_mid
    spine_xy = None
    if col.any():
        ci = np.argwhere(col)
        sx = float(x[ci[:, 0], 0, 0].mean())
        sy = float(y[0, ci[:, 1], 0].mean())
        front = ci[np.abs(x[ci[:, 0], 0, 0] - sx) < 10.0]
        fy = float(y[0, front[:, 1], 0].max()) if len(front) else sy + 15.0
        spine_xy = (sx, sy, fy)
        foot = dilate_2d(col[:, :, None], 12.0, g.spacing)[:, :, 0]
        # posterior arches: bone posterior to the column centre within 35 mm of the midline
        arch = (np.abs(x[:, :, 0] - sx) < 35.0) & (y[:, :, 0] < sy) & (y[:, :, 0] > sy - 70.0)
        vert = bone & (foot | arch)[:, :, None]
        masks["vertebrae"] = vert
    else:
        notes.append("vertebral column not found")
        vert = np.zeros_like(bone)
    rest = bone & ~vert
    near_lung = dilate(lungs, RIB_MAX_DIST_MM, g.spacing)
    sx = spine_xy[0] if spine_xy else x_mid
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
    for sign, side in ((1, "right"), (-1, "left")):
        sd = (x - sx) * sign > 0
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
