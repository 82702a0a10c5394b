"""Lungs: air inside the thorax minus the airway, split into left and right, then lobes (approximation).

A lung is an air region (< ``LUNG_HU``, inside the body, not airway) of at least ``MIN_LUNG_ML / 2`` that is
not pure gas (median above ``GAS_MEDIAN_HU``: lung parenchyma carries tissue and vessels, bowel and stomach
gas do not) and that is *in the thorax*: within ``AIRWAY_NEAR_MM`` of the airway tree; or, where the airway is
not in the field of view, inside the rib cage (:mod:`~radgenome.segmentation.classical.thorax`) for at least
half of its voxels and either cut by the top of the scan (the lung bases of an abdominal CT) or larger than
``LARGE_LUNG_ML``; or inside the cage, on the other side of an accepted lung, overlapping it in height.
Gas inside the abdomen is never lung: every rejected air region larger than ``MIN_LUNG_ML / 2`` is named in
the notes with the reason.

Left/right comes from the patient frame (:mod:`~radgenome.segmentation.classical.frame`: +x is the patient's
right as the affine declares it). Lungs that touch at the anterior
or posterior junction line are separated by eroding the merged component until it falls apart and giving every
voxel to the nearest eroded core; if erosion does not separate them, a sagittal cut is placed at the plane
where the merged lung's cross-section is smallest.

Lobes are an **anatomical approximation**, not fissure detection: each lung is cut by an oblique plane running
from the posterior lung at ``OBLIQUE_POST`` of its height to the anterior lung at ``OBLIQUE_ANT`` of its
height (lower lobe below it), and the right lung's upper/middle lobes are separated by a horizontal plane at
``HORIZONTAL`` of its height, anterior to the oblique plane. A lung cut by the field of view (its apex above
the scan, or its base below it) gets its planes from an assumed height of ``LUNG_HEIGHT_MM`` (:func:`lung_extent`).
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
    dilate,
    fill_holes_2d,
)
from radgenome.segmentation.classical.thorax import Thorax

LUNG_HU = -400.0
MIN_LUNG_ML = 60.0
SECOND_LUNG_FRACTION = 0.12
"""A second air component counts as a lung if at least this fraction of the largest one."""
GAS_MEDIAN_HU = -970.0
"""An air region whose median is below this is gas (bowel, stomach, outside air), not lung parenchyma."""
AIRWAY_NEAR_MM = 9.0
"""A lung lies within this distance of the airway tree (the bronchi enter it)."""
LARGE_LUNG_ML = 400.0
CAGE_FRACTION = 0.5
CUT_AREA_MM2 = 500.0
"""A lung showing at least this area in the first or last slice is cut by the field of view there."""
LUNG_HEIGHT_MM = 240.0
"""Assumed apex-to-base height of a lung cut by the field of view (for the lobe planes only)."""
MAX_CANDIDATES = 8
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
    rejected: list[str] = field(default_factory=list)
    """Air regions of lung size that are not lung, each with its reason (gas, outside the thorax)."""
    accepted_by: list[str] = field(default_factory=list)
    """Why each lung component was accepted (airway, cage+top, cage+large, pair)."""

    @property
    def found(self) -> bool:
        return bool(self.right.any() or self.left.any())


def _side_of(g: WorkGrid, mask: np.ndarray, x_mid: float) -> float:
    """Signed lateral offset (mm, > 0 = patient's right) of the mask's centroid from the midline."""
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


def _top_index(g: WorkGrid, body: np.ndarray) -> tuple[int, int]:
    """(highest, lowest) slice index holding body (superior end first)."""
    ks = np.nonzero(body.any(axis=(0, 1)))[0]
    return (int(ks[-1]), int(ks[0])) if g.affine[2, 2] > 0 else (int(ks[0]), int(ks[-1]))


def _thoracic_air(
    g: WorkGrid, body: np.ndarray, airway: np.ndarray, thorax: Thorax | None
) -> tuple[np.ndarray, np.ndarray, list[int], list[str], list[str]]:
    """(component labels, counts, lung component ids, their acceptance reasons, rejection notes)."""
    cand = (g.hu < LUNG_HU) & body & ~airway
    vml = g.voxel_ml()
    lab, counts = components(cand, 6)
    counts[0] = 0
    order = [int(c) for c in np.argsort(counts)[::-1][:MAX_CANDIDATES] if counts[c] * vml >= MIN_LUNG_ML / 2]
    near = dilate(airway, AIRWAY_NEAR_MM, g.spacing) if airway.any() else None
    has_cage = thorax is not None and bool(thorax.cage_slices.any())
    k_top, _ = _top_index(g, body)
    px = float(g.spacing[0] * g.spacing[1])
    z = g.axis_world(2)[0, 0, :]
    stats = {}
    boxes = ndimage.find_objects(lab, max_label=max(order, default=0))
    for c in order:
        box = boxes[c - 1]
        assert box is not None
        m = lab[box] == c  # the component on its bounding box
        ml = float(counts[c] * vml)
        med = float(np.median(g.hu[box][m]))
        in_cage = float((m & thorax.cage[box]).sum()) / counts[c] if has_cage and thorax is not None else 0.0
        zs = z[box[2]][m.any(axis=(0, 1))]
        top = k_top - box[2].start
        centre = np.argwhere(m).mean(axis=0) + [b.start for b in box]
        stats[c] = {
            "ml": ml,
            "median": med,
            "near_airway": bool(near is not None and (m & near[box]).any()),
            "in_cage": in_cage,
            "top_cut": 0 <= top < m.shape[2] and float(m[:, :, top].sum()) * px >= CUT_AREA_MM2,
            "z": (float(zs.min()), float(zs.max())),
            "at": g.to_world(g.world(centre))[0],
        }
    accepted: list[int] = []
    why: list[str] = []
    rejected: list[str] = []
    for c in order:
        s = stats[c]
        if s["median"] < GAS_MEDIAN_HU:
            rejected.append(f"air region of {_where(s)} is gas (median {s['median']:.0f} HU), not lung")
            continue
        if s["near_airway"]:
            accepted.append(c)
            why.append("airway")
        elif s["in_cage"] >= CAGE_FRACTION and s["top_cut"]:
            accepted.append(c)
            why.append("rib cage + cut by the top of the scan")
        elif s["in_cage"] >= CAGE_FRACTION and s["ml"] >= LARGE_LUNG_ML:
            accepted.append(c)
            why.append("rib cage + lung-sized")
    # a partner on the other side of an accepted lung, inside the cage, overlapping it in height
    if accepted:
        first = accepted[0]
        for c in order:
            s = stats[c]
            if c in accepted or s["median"] < GAS_MEDIAN_HU or s["in_cage"] < CAGE_FRACTION:
                continue
            f = stats[first]
            if s["ml"] < SECOND_LUNG_FRACTION * f["ml"]:
                continue
            overlap = min(f["z"][1], s["z"][1]) - max(f["z"][0], s["z"][0])
            if overlap >= 0.4 * min(f["z"][1] - f["z"][0], s["z"][1] - s["z"][0]):
                accepted.append(c)
                why.append("rib cage + beside the other lung")
    for c in order:
        if c in accepted or stats[c]["median"] < GAS_MEDIAN_HU:
            continue
        s = stats[c]
        place = "inside" if s["in_cage"] >= CAGE_FRACTION else "outside"
        rejected.append(f"air region of {_where(s)} is {place} the rib cage and not reached by the airway: not lung")
    return lab, counts, accepted, why, rejected


def _where(s: dict) -> str:
    x, y, z = (float(v) for v in s["at"])
    return f"{s['ml']:.0f} ml centred at ({x:.0f}, {y:.0f}, {z:.0f}) mm RAS"


def segment_lungs(
    g: WorkGrid, body: np.ndarray, airway: np.ndarray, x_mid: float, thorax: Thorax | None = None
) -> Lungs:
    """Right and left lung masks (vessels filled in); both empty when no air region is a lung."""
    notes: list[str] = []
    lab, counts, accepted, why, rejected = _thoracic_air(g, body, airway, thorax)
    empty = np.zeros_like(body)
    if not accepted:
        return Lungs(empty, empty.copy(), "none", notes, rejected, [])
    vml = g.voxel_ml()
    first = accepted[0]
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
        other = None
        for c in accepted[1:]:
            m = lab == c
            if _side_of(g, m, x_mid) * side >= 0 or counts[c] * vml < MIN_LUNG_ML / 2:
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
    return Lungs(
        right=right & ~airway,
        left=left & ~airway,
        split_method=method,
        notes=notes,
        rejected=rejected,
        accepted_by=why,
    )


def lung_extent(
    g: WorkGrid, lung: np.ndarray, cut_top: bool, cut_bottom: bool
) -> tuple[tuple[float, float, float, float], str | None]:
    """(posterior y, anterior y, base z, apex z) for the lobe planes, and a note when the field of view cuts
    the lung (its missing end is placed ``LUNG_HEIGHT_MM`` from the end that is seen)."""
    y0, y1 = (float(v) for v in g.axis_percentile(lung, 1, [1.0, 99.0]))
    z0, z1 = (float(v) for v in g.axis_percentile(lung, 2, [0.5, 99.5]))
    assumed = f"lobe planes assume a {LUNG_HEIGHT_MM:.0f} mm lung"
    if cut_top and not cut_bottom and z1 - z0 < LUNG_HEIGHT_MM:
        return (y0, y1, z0, z0 + LUNG_HEIGHT_MM), f"apex above the field of view ({assumed})"
    if cut_bottom and not cut_top and z1 - z0 < LUNG_HEIGHT_MM:
        return (y0, y1, z1 - LUNG_HEIGHT_MM, z1), f"base below the field of view ({assumed})"
    if cut_top and cut_bottom:
        return (y0, y1, z0, z1), "cut by the field of view at both ends (lobe planes on the part seen)"
    return (y0, y1, z0, z1), None


def cut_ends(g: WorkGrid, lung: np.ndarray, body: np.ndarray) -> tuple[bool, bool]:
    """(apex cut by the top of the scan, base cut by its bottom): the lung shows >= CUT_AREA_MM2 there."""
    if not lung.any():
        return False, False
    k_top, k_bot = _top_index(g, body)
    px = float(g.spacing[0] * g.spacing[1])
    return (float(lung[:, :, k_top].sum()) * px >= CUT_AREA_MM2, float(lung[:, :, k_bot].sum()) * px >= CUT_AREA_MM2)


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
