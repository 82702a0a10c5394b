"""Thoracic cavity, mediastinum and its organs (heart, aorta, esophagus) and the thyroid: approximations.

- thoracic cavity: per-slice convex hull of the lungs and the sternum, over the lungs' slices.
- mediastinum: the cavity between the lungs that is not lung, airway or bone.
- heart: the largest soft-tissue/blood blob of the mediastinum below the carina, after an opening that cuts
  off the great vessels, above the diaphragm surface.
- aorta: a circle search per slice for the descending aorta (left-anterior of the spine) and the ascending
  aorta (right-anterior, above the heart), smoothed along z.
- esophagus: a disc between the airway (or the heart) and the vertebral body, slightly left of the midline,
  snapped to air in its lumen when present.
- thyroid: dense soft tissue (thyroid iodine) beside and in front of the trachea above the lung apices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.frame import side_masks
from radgenome.segmentation.classical.grid import (
    WorkGrid,
    components,
    dilate,
    largest_cc,
    opening,
    slice_hull,
)

SOFT_HU = (-30.0, 400.0)
"""Heart and great vessels: blood and myocardium (up to contrast-enhanced blood)."""
HEART_OPEN_MM = 14.0
AORTA_R_MM = (8.0, 20.0)
VERTEBRA_R_MM = 18.0
ESOPHAGUS_R_MM = 8.0
THYROID_HU = (70.0, 250.0)
"""Smoothed HU of the thyroid (iodine makes it denser than muscle and unenhanced blood)."""
THYROID_REACH_MM = 30.0


@dataclass
class Mediastinum:
    cavity: np.ndarray
    region: np.ndarray
    heart: np.ndarray
    aorta: np.ndarray
    esophagus: np.ndarray
    thyroid_left: np.ndarray
    thyroid_right: np.ndarray
    notes: list[str] = field(default_factory=list)


CAVITY_CARRY_MM = 40.0
"""The cavity of a slice also holds the lung hull of the slices up to this far above (the heart's lower part
sits in front of the lung bases, outside their own hull)."""


def thoracic_cavity(g: WorkGrid, lungs: np.ndarray, sternum: np.ndarray | None) -> np.ndarray:
    src = lungs | (sternum if sternum is not None else False)
    hull = slice_hull(src, g.spacing)
    n = round(CAVITY_CARRY_MM / float(g.spacing[2]))
    acc = hull.copy()
    up = g.affine[2, 2] > 0
    for s in range(1, n + 1):
        if up:
            acc[:, :, :-s] |= hull[:, :, s:]
        else:
            acc[:, :, s:] |= hull[:, :, :-s]
    return acc | lungs


def _between(lungs_r: np.ndarray, lungs_l: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Voxels between the medial edges of the right and left lung in their (y, z) row (any lung present)."""
    big = np.float32(1e9)
    r_min = np.where(lungs_r, x, big).min(axis=0)
    l_max = np.where(lungs_l, x, -big).max(axis=0)
    has_r = r_min < big
    has_l = l_max > -big
    return (x < r_min[None]) & (x > l_max[None]) & (has_r & has_l)[None]


def segment_mediastinum(
    g: WorkGrid,
    body: np.ndarray,
    right: np.ndarray,
    left: np.ndarray,
    airway: np.ndarray,
    trachea: np.ndarray,
    bone: np.ndarray,
    sternum: np.ndarray | None,
    spine_xy: tuple[float, float, float] | None,
    carina_z: float | None,
    diaphragm: np.ndarray,
    x_mid: float,
) -> Mediastinum:
    notes: list[str] = []
    lungs = right | left
    x = g.axis_world(0)
    z = g.axis_world(2)
    cavity_all = thoracic_cavity(g, lungs, sternum) & body
    cavity = cavity_all & ~diaphragm
    free = cavity & ~lungs & ~airway & ~bone
    between = _between(right, left, x)
    region = free & (between | ~dilate(lungs, 6.0, g.spacing))
    region = largest_cc(region, 6) if region.any() else region

    # heart
    hs = g.smoothed
    soft = region & (hs > SOFT_HU[0]) & (hs < SOFT_HU[1])
    if carina_z is not None:
        soft &= z < carina_z - 10.0
    core = opening(soft, HEART_OPEN_MM, g.spacing)
    heart = np.zeros_like(region)
    if core.any():
        lab, counts = components(core, 6)
        counts[0] = 0
        heart = lab == int(np.argmax(counts))
        heart = dilate(heart, 3.0, g.spacing) & soft
        below = cavity_all & ~lungs & ~airway & ~bone & (hs > SOFT_HU[0]) & (hs < SOFT_HU[1])
        heart = _extend_down(g, heart, below)
    else:
        notes.append("heart not found (no large soft-tissue blob in the mediastinum)")

    below_tissue = body & ~bone & ~lungs & ~heart & (hs > SOFT_HU[0]) & (hs < SOFT_HU[1])
    aorta = _aorta(g, region & ~heart, soft | (region & (hs > 0)), spine_xy, x_mid, carina_z, lungs, below_tissue)
    aorta &= ~heart
    neck = body & ~bone & ~airway & (hs > -200.0) & (hs < SOFT_HU[1])
    eso = _esophagus(g, region & ~heart & ~aorta, trachea, spine_xy, x_mid, lungs, neck, bone)
    th_l, th_r = _thyroid(g, body, trachea, bone, lungs)
    return Mediastinum(cavity, region, heart, aorta, eso, th_l, th_r, notes)


HEART_EXTEND_MM = 60.0


def _extend_down(g: WorkGrid, heart: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Follow the heart below the diaphragm estimate, slice by slice, while its section keeps shrinking.

    The lower heart rests on the diaphragm in front of the lung bases, where a dome fitted to the lung bases
    can pass above it. Each slice takes the allowed tissue under the previous section (grown by 3 mm); a
    section larger than the one above it is a leak into the liver and stops the walk.
    """
    ks = np.nonzero(heart.any(axis=(0, 1)))[0]
    if not len(ks):
        return heart
    up = g.affine[2, 2] > 0
    k = int(ks[0]) if up else int(ks[-1])
    step = -1 if up else 1
    out = heart.copy()
    prev = heart[:, :, k]
    prev_area = int(prev.sum())
    areas = heart.sum(axis=(0, 1))
    low = ks[:4] if up else ks[-4:]
    ref_area = int(areas[low].max())  # the lowest sections may be cut by the dome: compare with those above
    st = ndimage.generate_binary_structure(2, 2)
    grow = max(1, round(3.0 / float(min(g.spacing[0], g.spacing[1]))))
    for _ in range(round(HEART_EXTEND_MM / float(g.spacing[2]))):
        k += step
        if k < 0 or k >= g.shape[2] or prev_area == 0:
            break
        cand = allowed[:, :, k] & ndimage.binary_dilation(prev, structure=st, iterations=grow)
        lab, n = ndimage.label(cand)
        if n == 0:
            break
        overlap = np.bincount(lab[prev], minlength=n + 1)
        overlap[0] = 0
        sec = lab == int(np.argmax(overlap))
        area = int(sec.sum())
        if area > max(1.05 * prev_area, ref_area) or area < 0.1 * areas.max():
            break
        out[:, :, k] |= sec
        prev, prev_area = sec, area
        ref_area = min(ref_area, max(area, int(0.5 * ref_area)))
    return out


def _circle_search(
    g: WorkGrid, tissue: np.ndarray, window: np.ndarray, ks: np.ndarray
) -> dict[int, tuple[int, int, float]]:
    """Per slice k in ks: the centre (i, j) and radius (mm) of the largest disc of tissue centred in the 2-D
    ``window``."""
    out: dict[int, tuple[int, int, float]] = {}
    if not len(ks) or not window.any():
        return out
    # crop in-plane to the window grown by the largest radius searched
    m = int(np.ceil(AORTA_R_MM[1] / float(min(g.spacing[0], g.spacing[1])))) + 2
    wi = np.nonzero(window.any(axis=1))[0]
    wj = np.nonzero(window.any(axis=0))[0]
    i0, i1 = max(0, wi[0] - m), min(window.shape[0], wi[-1] + 1 + m)
    j0, j1 = max(0, wj[0] - m), min(window.shape[1], wj[-1] + 1 + m)
    sp2 = np.array([g.spacing[0], g.spacing[1], 1e6])
    sub = np.pad(tissue[i0:i1, j0:j1][:, :, ks], ((0, 0), (0, 0), (1, 1)), constant_values=True)
    d = ndimage.distance_transform_edt(sub, sampling=sp2)[:, :, 1:-1]
    d = np.where(window[i0:i1, j0:j1, None], d, 0.0)
    flat = d.reshape(-1, len(ks))
    best = flat.argmax(axis=0)
    for n, k in enumerate(ks):
        r = float(flat[best[n], n])
        if AORTA_R_MM[0] <= r <= AORTA_R_MM[1]:
            i, j = np.unravel_index(int(best[n]), d.shape[:2])
            out[int(k)] = (int(i) + i0, int(j) + j0, r)
    return out


def _continue_down(g: WorkGrid, centres: dict[int, tuple[int, int, float]], allowed: np.ndarray) -> np.ndarray:
    """Continue a tube below its lowest detected slice along its last direction (abdominal aorta)."""
    out = np.zeros(g.shape, dtype=bool)
    if len(centres) < 5:
        return out
    up = g.affine[2, 2] > 0
    ks = sorted(centres)
    last = ks[:5] if up else ks[-5:]
    ci = float(np.median([centres[k][0] for k in last]))
    cj = float(np.median([centres[k][1] for k in last]))
    r = float(np.median([centres[k][2] for k in last]))
    rng = range(last[0] - 1, -1, -1) if up else range(last[-1] + 1, g.shape[2])
    xi = np.arange(g.shape[0])[:, None] * g.spacing[0]
    yj = np.arange(g.shape[1])[None, :] * g.spacing[1]
    disc = (xi - ci * g.spacing[0]) ** 2 + (yj - cj * g.spacing[1]) ** 2 <= r * r
    for k in rng:
        sec = disc & allowed[:, :, k]
        if sec.sum() < 0.3 * disc.sum():
            break
        out[:, :, k] = sec
    return out


def _tube_from_centres(g: WorkGrid, centres: dict[int, tuple[int, int, float]], allowed: np.ndarray) -> np.ndarray:
    out = np.zeros(g.shape, dtype=bool)
    if len(centres) < 3:
        return out
    ks = np.array(sorted(centres))
    ci = ndimage.median_filter(np.array([centres[k][0] for k in ks], float), size=5, mode="nearest")
    cj = ndimage.median_filter(np.array([centres[k][1] for k in ks], float), size=5, mode="nearest")
    rr = ndimage.median_filter(np.array([centres[k][2] for k in ks], float), size=5, mode="nearest")
    xi = np.arange(g.shape[0])[:, None] * g.spacing[0]
    yj = np.arange(g.shape[1])[None, :] * g.spacing[1]
    for k, i, j, r in zip(ks, ci, cj, rr, strict=True):
        disc = (xi - i * g.spacing[0]) ** 2 + (yj - j * g.spacing[1]) ** 2 <= r * r
        out[:, :, k] = disc & allowed[:, :, k]
    return out


def _aorta(
    g: WorkGrid,
    region: np.ndarray,
    tissue: np.ndarray,
    spine_xy: tuple[float, float, float] | None,
    x_mid: float,
    carina_z: float | None,
    lungs: np.ndarray,
    abdomen_tissue: np.ndarray,
) -> np.ndarray:
    if spine_xy is None or not region.any():
        return np.zeros_like(region)
    sx, _, fy = spine_xy
    x = g.axis_world(0)[:, :, 0]
    y = g.axis_world(1)[:, :, 0]
    zs = g.axis_world(2)[0, 0, :]
    ks = np.nonzero(region.any(axis=(0, 1)) & lungs.any(axis=(0, 1)))[0]
    tissue = tissue & region
    # descending: left of the spine, beside / just in front of the vertebral body, not on the body itself
    vb = (x - sx) ** 2 + (y - (fy - VERTEBRA_R_MM)) ** 2 <= (VERTEBRA_R_MM + 6.0) ** 2
    win_d = (x < sx - 8.0) & (x > sx - 60.0) & (y > fy - 12.0) & (y < fy + 35.0) & ~vb
    desc = _circle_search(g, tissue, win_d, ks)
    out = _tube_from_centres(g, desc, tissue)
    out |= _continue_down(g, desc, abdomen_tissue)
    if carina_z is not None:
        # ascending: right-anterior of the trachea, between the top of the heart and the arch
        win_a = (x > sx - 10.0) & (x < sx + 50.0) & (y > fy + 30.0) & (y < fy + 95.0)
        ka = ks[(zs[ks] < carina_z + 20.0) & (zs[ks] > carina_z - 60.0)]
        asc = _circle_search(g, tissue & ~out, win_a, ka)
        out |= _tube_from_centres(g, asc, tissue)
    return out


def _esophagus(
    g: WorkGrid,
    region: np.ndarray,
    trachea: np.ndarray,
    spine_xy: tuple[float, float, float] | None,
    x_mid: float,
    lungs: np.ndarray,
    neck: np.ndarray,
    bone: np.ndarray,
) -> np.ndarray:
    """Esophagus discs in the chest (between airway/heart and spine) and, above the lungs, in the neck
    between the trachea and the cervical vertebrae."""
    out = np.zeros_like(region)
    if spine_xy is None or not region.any():
        return out
    sx, _, fy = spine_xy
    xv = g.axis_world(0)[:, :, 0]
    yv = g.axis_world(1)[:, :, 0]
    chest = region.any(axis=(0, 1)) & lungs.any(axis=(0, 1))
    above = neck.any(axis=(0, 1)) & trachea.any(axis=(0, 1)) & ~chest
    allowed = region | (neck & above[None, None, :])
    ks = np.nonzero(chest | above)[0]
    midline_bone = bone & (np.abs(xv - sx) < 10.0)[:, :, None]
    centres: dict[int, tuple[int, int, float]] = {}
    for k in ks:
        reg = allowed[:, :, k]
        tr = trachea[:, :, k]
        if tr.any():
            ty = float(yv[0, np.argwhere(tr)[:, 1]].min())  # posterior wall of the trachea
            behind = midline_bone[:, :, k] & (yv < ty)
            front = float(yv[0, np.argwhere(behind)[:, 1]].max()) if behind.any() else fy  # vertebral body
            cy = (ty + front) / 2.0
        else:
            cy = fy + 15.0
        cx = sx - 5.0
        near = ((xv - cx) ** 2 + (yv - cy) ** 2 <= (2.0 * ESOPHAGUS_R_MM) ** 2) & reg
        air = near & (g.hu[:, :, k] < -400)
        if air.any():
            a = np.argwhere(air).mean(axis=0)
            cx, cy = float(xv[round(a[0]), 0]), float(yv[0, round(a[1])])
        i = int(np.argmin(np.abs(xv[:, 0] - cx)))
        j = int(np.argmin(np.abs(yv[0, :] - cy)))
        if reg[i, j] or near.any():
            centres[int(k)] = (i, j, ESOPHAGUS_R_MM)
    return _tube_from_centres(g, centres, allowed)


def _thyroid(
    g: WorkGrid, body: np.ndarray, trachea: np.ndarray, bone: np.ndarray, lungs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    empty = np.zeros_like(body)
    if not trachea.any():
        return empty, empty
    z = g.axis_world(2)
    lz = np.nonzero(lungs.any(axis=(0, 1)))[0]
    if not len(lz):
        return empty, empty
    top = lz[-1] if g.affine[2, 2] > 0 else lz[0]
    if top in (0, g.shape[2] - 1):  # the lungs reach the top of the volume: the neck is not in view
        return empty, empty
    z_apex = float(z[0, 0, top])
    xv = g.axis_world(0)
    yv = g.axis_world(1)
    tr_idx = np.argwhere(trachea)
    tw = g.world(tr_idx)
    sel = tw[:, 2] > z_apex - 30.0
    if not sel.any():
        return empty, empty
    tx, ty = float(tw[sel, 0].mean()), float(tw[sel, 1].mean())
    hu = g.smoothed
    dense = (hu > THYROID_HU[0]) & (hu < THYROID_HU[1]) & body & ~bone
    zone = ((xv - tx) ** 2 + (yv - ty) ** 2 <= THYROID_REACH_MM**2) & (yv > ty - 8.0)
    zone = zone & (z > z_apex - 30.0) & (z < z_apex + 70.0)
    cand = dense & zone & ~dilate(bone, 3.0, g.spacing)
    if not cand.any():
        return empty, empty
    cand = opening(cand, 2.5, g.spacing) if cand.sum() > 50 else cand
    lab, counts = components(cand, 26)
    counts[0] = 0
    keep = counts >= max(2, int(1.0 / (g.voxel_ml())))
    keep[0] = False
    cand = keep[lab]
    sides = side_masks(g, tx)  # split at the trachea, by the patient frame's right
    return cand & ~sides["right"], cand & sides["right"]
