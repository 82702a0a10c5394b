"""Upper abdomen (abdominal tissue, liver), breasts and the pleural shell: approximations.

- abdominal tissue: body below the lung bases (the diaphragm surface extrapolated across the body).
- liver: the largest homogeneous soft-tissue blob (liver HU) in the right upper abdomen under the right lung,
  away from the body wall.
- breasts: body tissue in front of and beside the chest wall (the thoracic cavity grown by the chest-wall
  thickness), only when it protrudes clearly (otherwise not reported: a male chest wall is not a breast).
- pleura (extra structure): a thin shell around each lung inside the thoracic cavity.
"""

from __future__ import annotations

import numpy as np

from radgenome.segmentation.classical.frame import lateral
from radgenome.segmentation.classical.grid import (
    WorkGrid,
    components,
    dilate,
    dilate_2d,
    erode_2d,
    fill_holes_2d,
    opening,
    smooth,
)

LIVER_HU = (48.0, 160.0)
LIVER_WALL_MM = 18.0
LIVER_OPEN_MM = 8.0
LIVER_LOOSE_HU = 5.0
LIVER_NO_LUNG_X_MM = 70.0
"""Without lungs, the liver is sought near this far right of the midline, at the top of the scan."""
CHEST_WALL_MM = 22.0
BREAST_MIN_PROTRUSION_MM = 25.0
BREAST_MIN_ML = 40.0
BREAST_PAIR_FRACTION = 0.5
PLEURA_MM = 4.0


def segment_liver(g: WorkGrid, abdomen: np.ndarray, body: np.ndarray, right: np.ndarray, x_mid: float) -> np.ndarray:
    """The liver under the right lung; without lungs in the scan (an abdominal CT), in the right upper part of
    the scan (the liver's dome is at the top of an abdominal field of view)."""
    if not abdomen.any():
        return np.zeros_like(abdomen)
    hu = smooth(g.smoothed, 2.0, g.spacing)
    x = g.axis_world(0)
    z = g.axis_world(2)
    deep = erode_2d(body, LIVER_WALL_MM, g.spacing)
    cand = abdomen & deep & (hu > LIVER_HU[0]) & (hu < LIVER_HU[1])
    if right.any():
        z_base = float(z[0, 0, right.any(axis=(0, 1))].min())
        rc = g.centroid_world(right)
    else:
        z_base = float(z[0, 0, body.any(axis=(0, 1))].max())
        rc = np.array([x_mid + LIVER_NO_LUNG_X_MM, 0.0, z_base])
    cand &= z > z_base - 200.0
    core = opening(cand, LIVER_OPEN_MM, g.spacing)
    if not core.any():
        return np.zeros_like(abdomen)
    lab, counts = components(core, 6)
    counts[0] = 0
    best, best_score = 0, -1.0
    for c in np.argsort(counts)[::-1][:4]:
        c = int(c)
        if counts[c] == 0:
            break
        cw = g.centroid_world(lab == c)
        if cw[0] <= x_mid:  # the liver's bulk is on the patient's right
            continue
        score = counts[c] / (1.0 + abs(cw[0] - rc[0]) / 50.0)
        if score > best_score:
            best, best_score = c, score
    if best == 0:
        return np.zeros_like(abdomen)
    # grow the core back into liver-like tissue (a relaxed lower bound keeps noisy voxels) and fill holes
    loose = abdomen & deep & (hu > LIVER_HU[0] - LIVER_LOOSE_HU) & (hu < LIVER_HU[1])
    liver = dilate(lab == best, LIVER_OPEN_MM + 2.0, g.spacing) & loose
    liver = fill_holes_2d(liver) & abdomen
    return liver & (x > x_mid - 80.0)


def segment_breasts(
    g: WorkGrid, body: np.ndarray, cavity: np.ndarray, lungs: np.ndarray, abdomen: np.ndarray, x_mid: float
) -> dict[str, np.ndarray]:
    """Breasts where the anterior body surface bulges beside the midline (a male chest wall is convex)."""
    if not cavity.any() or not lungs.any():
        return {}
    y = g.axis_world(1)
    x = g.axis_world(0)
    z = g.axis_world(2)
    lz = z[0, 0, lungs.any(axis=(0, 1))]
    z0, z1 = float(lz.min()), float(lz.max())
    zone = (z > z0 + 0.1 * (z1 - z0)) & (z < z0 + 0.7 * (z1 - z0))
    # anterior body surface per (x, z) column and its bulge over the midline surface of the same slice
    neg = np.float32(-1e9)
    front = np.where(body, y, neg).max(axis=1)  # (nx, nz)
    xs = x[:, 0, 0]
    mid = np.abs(xs - x_mid) < 12.0
    if not mid.any():
        return {}
    front_mid = front[mid].max(axis=0)  # (nz,)
    bulge = front - front_mid[None, :]
    bulge = np.where(front > neg / 2, bulge, neg)
    inner = dilate_2d(cavity, CHEST_WALL_MM, g.spacing)
    y_front = float(g.axis_percentile(lungs, 1, 50.0))
    cand: dict[str, np.ndarray] = {}
    ml: dict[str, float] = {}
    lat = lateral(g, x_mid)[:, 0, 0]  # > 0: the patient's right
    for sign, side in ((1, "right"), (-1, "left")):
        beside = (lat * sign > 20.0) & (lat * sign < 160.0)
        zk = zone[0, 0, :]
        b = bulge[beside][:, zk]
        if b.size == 0 or np.percentile(b[b > neg / 2], 95) < BREAST_MIN_PROTRUSION_MM - 10.0:
            continue
        cols = (bulge > 0) & beside[:, None] & zk[None, :]
        m = body & ~inner & ~abdomen & (y > y_front) & cols[:, None, :]
        if m.any():
            ml[side] = float(m.sum()) * g.voxel_ml()
            lab, counts = components(m, 6)
            counts[0] = 0
            cand[side] = lab == int(np.argmax(counts))
    # breasts come in pairs: once one side is clearly there, the other needs only half the volume
    paired = any(v >= BREAST_MIN_ML for v in ml.values())
    return {
        f"{side} breast": m
        for side, m in cand.items()
        if ml[side] >= BREAST_MIN_ML or (paired and ml[side] >= BREAST_MIN_ML * BREAST_PAIR_FRACTION)
    }


def pleura_shell(g: WorkGrid, right: np.ndarray, left: np.ndarray, cavity: np.ndarray) -> np.ndarray:
    lungs = right | left
    if not lungs.any():
        return np.zeros_like(lungs)
    shell = dilate(lungs, PLEURA_MM, g.spacing) & ~lungs
    return shell & dilate(cavity, PLEURA_MM, g.spacing)
