"""Lungs: air inside the body minus the airway, split into left and right, then lobes (approximation).

Left/right comes from world x of the affine (RAS: +x is the patient's right). Lungs that touch at the anterior
or posterior junction line are separated by eroding the merged component until it falls apart and giving every
voxel to the nearest eroded core; if erosion does not separate them, a sagittal cut is placed at the plane
where the merged lung's cross-section is smallest.

Lobes are an **anatomical approximation**, not fissure detection: each lung is cut by an oblique plane running
from the posterior lung at ``OBLIQUE_POST`` of its height to the anterior lung at ``OBLIQUE_ANT`` of its
height (lower lobe below it), and the right lung's upper/middle lobes are separated by a horizontal plane at
``HORIZONTAL`` of its height, anterior to the oblique plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import (
    WorkGrid,
    bbox,
    closing,
    components,
    fill_holes_2d,
)

LUNG_HU = -400.0
MIN_LUNG_ML = 60.0
SECOND_LUNG_FRACTION = 0.12
"""A second air component counts as a lung if at least this fraction of the largest one."""
CLOSE_MM = 6.0
SPLIT_MAX_ERODE_MM = 18.0
OBLIQUE_POST = 0.64
OBLIQUE_ANT = 0.08
HORIZONTAL = 0.52


@dataclass
class Lungs:
    right: np.ndarray
    left: np.ndarray
    split_method: str
    notes: list[str] = field(default_factory=list)


def _side_of(g: WorkGrid, mask: np.ndarray, x_mid: float) -> float:
    return float(g.centroid_world(mask)[0] - x_mid)


def _split_merged(g: WorkGrid, merged: np.ndarray, x_mid: float) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Separate one component holding both lungs into (right, left, method)."""
    box = bbox(merged, margin=1)
    if box is None:
        return None
    sub = merged[box]
    total = int(sub.sum())
    x_sub = g.axis_world(0)[box[0]]
    core = sub.copy()
    step = float(np.mean(g.spacing))
    for it in range(1, int(SPLIT_MAX_ERODE_MM / step) + 1):
        core = ndimage.binary_erosion(core)
        lab, counts = components(core, 26)
        if len(counts) < 3:
            if not core.any():
                break
            continue
        order = np.argsort(counts[1:])[::-1] + 1
        a, b = int(order[0]), int(order[1])
        if counts[b] < 0.1 * counts[a]:
            continue
        ca = float((x_sub * (lab == a)).sum() / counts[a]) - x_mid
        cb = float((x_sub * (lab == b)).sum() / counts[b]) - x_mid
        if ca * cb >= 0:  # both cores on one side: not the left/right split
            continue
        owner = np.zeros(sub.shape, dtype=np.uint8)
        owner[lab == a] = 1
        owner[lab == b] = 2
        owner = _grow_labels(owner, sub, it + 2)
        ma = np.zeros_like(merged)
        mb = np.zeros_like(merged)
        ma[box] = owner == 1
        mb[box] = owner == 2
        if min(int(ma.sum()), int(mb.sum())) < 0.1 * total:
            continue
        right, left = (ma, mb) if ca > cb else (mb, ma)
        return right, left, f"erosion-split({it * step:.0f}mm)"
    # fallback: sagittal cut at the minimal cross-section near the midline
    x = g.axis_world(0)[:, 0, 0]
    prof = merged.sum(axis=(1, 2)).astype(np.float64)
    near = np.abs(x - x_mid) <= 40.0
    if not near.any():
        return None
    cand = np.nonzero(near)[0]
    i = int(cand[np.argmin(prof[cand])])
    xs = x[i]
    right = merged & (g.axis_world(0) > xs)
    left = merged & ~(g.axis_world(0) > xs)
    if min(right.sum(), left.sum()) < 0.1 * total:
        return None
    return right, left, "sagittal-cut"


def _grow_labels(owner: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Grow seed labels into ``allowed`` one voxel per step (ties to the higher label), then fill the rest."""
    for _ in range(steps):
        grown = ndimage.grey_dilation(owner, size=(3, 3, 3))
        new = allowed & (owner == 0) & (grown > 0)
        if not new.any():
            break
        owner[new] = grown[new]
    rest = allowed & (owner == 0)
    if rest.any():
        _, inds = ndimage.distance_transform_edt(owner == 0, return_indices=True)
        owner[rest] = owner[inds[0][rest], inds[1][rest], inds[2][rest]]
    return owner


def segment_lungs(g: WorkGrid, body: np.ndarray, airway: np.ndarray, x_mid: float) -> Lungs | None:
    """Right and left lung masks (vessels filled in), or None when there is no lung-sized air."""
    notes: list[str] = []
    cand = (g.hu < LUNG_HU) & body & ~airway
    vml = g.voxel_ml()
    lab, counts = components(cand, 6)
    counts[0] = 0
    if counts.max(initial=0) * vml < MIN_LUNG_ML:
        return None
    order = np.argsort(counts)[::-1]
    first = int(order[0])
    big = lab == first
    right: np.ndarray | None = None
    left: np.ndarray | None = None
    method = "components"
    xw = g.axis_world(0)
    both_sides = min((big & (xw > x_mid)).sum(), (big & (xw <= x_mid)).sum()) > 0.2 * counts[first]
    if both_sides:
        res = _split_merged(g, big, x_mid)
        if res is None:
            notes.append("lungs merged and could not be split")
            side = _side_of(g, big, x_mid)
            right, left = (big, np.zeros_like(big)) if side > 0 else (np.zeros_like(big), big)
        else:
            right, left, method = res
    else:
        side = _side_of(g, big, x_mid)
        zr = np.nonzero(big.any(axis=(0, 1)))[0]
        other = None
        for c in order[1:6]:
            c = int(c)
            if counts[c] < SECOND_LUNG_FRACTION * counts[first] or counts[c] * vml < MIN_LUNG_ML / 2:
                break
            m = lab == c
            if _side_of(g, m, x_mid) * side >= 0:
                continue
            zc = np.nonzero(m.any(axis=(0, 1)))[0]
            overlap = min(zr[-1], zc[-1]) - max(zr[0], zc[0])
            if overlap < 0.4 * min(len(zr), len(zc)):
                continue
            other = m
            break
        if other is None:
            notes.append("only one lung found")
            other = np.zeros_like(big)
        right, left = (big, other) if side > 0 else (other, big)
    # fill vessels and airway walls inside each lung, without bridging the two lungs
    out = []
    for m in (right, left):
        if m.any():
            m = fill_holes_2d(closing(m, CLOSE_MM, g.spacing) & body)
        out.append(m)
    right, left = out
    overlap = right & left
    if overlap.any():
        left &= ~overlap
    return Lungs(right=right & ~airway, left=left & ~airway, split_method=method, notes=notes)


def approximate_lobes(
    g: WorkGrid, lung: np.ndarray, right: bool, extent: tuple[float, float, float, float] | None = None
) -> dict[str, np.ndarray]:
    """Lobes of one lung by oblique/horizontal planes relative to its own extent (anatomical approximation).

    ``extent`` = (posterior y, anterior y, base z, apex z) in world mm overrides the extent measured on the
    mask (for a partial volume whose lung extent is known from elsewhere).
    """
    side = "right" if right else "left"
    if not lung.any():
        return {}
    if extent is None:
        y0, y1 = (float(v) for v in g.axis_percentile(lung, 1, [1.0, 99.0]))
        z0, z1 = (float(v) for v in g.axis_percentile(lung, 2, [0.5, 99.5]))
    else:
        y0, y1, z0, z1 = extent
    h = max(z1 - z0, 1.0)
    y = g.axis_world(1)
    z = g.axis_world(2)
    t = np.clip((y - y0) / max(y1 - y0, 1.0), 0.0, 1.0)  # 0 posterior .. 1 anterior
    zf = z0 + h * (OBLIQUE_POST + (OBLIQUE_ANT - OBLIQUE_POST) * t)
    lower = lung & (z < zf)
    out: dict[str, np.ndarray] = {f"{side} lung lower lobe": lower}
    if right:
        zh = z0 + h * HORIZONTAL
        rest = lung & ~lower
        out["right lung upper lobe"] = rest & (z >= zh)
        out["right lung middle lobe"] = rest & (z < zh)
    else:
        out["left lung upper lobe"] = lung & ~lower
    return out
