"""Trachea and main bronchi: air region-growing from the trachea seen in the upper slices.

The seed is the round, midline air column found in the highest slices of the body, in front of the vertebral
column (when the spine is known: between its front and ``TRACHEA_MAX_AHEAD_MM`` ahead of it — bowel gas in
front of the abdomen is not a trachea). Growing is repeated with rising thresholds and stops before the region
leaks into the lung parenchyma (its volume jumps). The carina is the first slice, going down, where the airway
splits into two lateral branches: above it ``trachea``, below it ``bronchie``; an airway whose part above
the split lies more than ``TRACHEA_MAX_LATERAL_MM`` beside the midline is a main bronchus of a scan starting
below the carina (all bronchi). An air column that neither reaches the top of the scan (within
``TRACHEA_TOP_MM``: the trachea runs up into the neck) nor branches at a carina is not an airway (gas in the
stomach, the bowel or the esophagus): it is dropped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cc3d
import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import WorkGrid
from radgenome.segmentation.classical.thorax import Spine

SEED_HU = -900.0
GROW_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in range(-975, -599, 15))
LEAK_RATIO = 1.6
"""A growing step whose volume exceeds the previous one by this factor is a leak into the lung."""
MAX_AIRWAY_ML = 250.0
TRACHEA_AREA_MM2 = (30.0, 900.0)
TRACHEA_MAX_OFFSET_MM = 35.0
TRACHEA_MAX_AHEAD_MM = 90.0
"""The trachea lies in front of the vertebral bodies, at most this far ahead of their front."""
TRACHEA_TOP_MM = 30.0
TRACHEA_MAX_LATERAL_MM = 15.0
"""The trachea runs within this distance of the midline; an airway 'above the carina' farther out is a main
bronchus of a scan that starts below the carina."""
TOPHAT_MM = 7.5
"""Half-size of the grey closing whose difference to the CT (black top-hat) marks dark tubes (airway lumen
between brighter walls) that the global threshold cannot reach without leaking into the lung."""
TOPHAT_HU = 300.0
EXTEND_HU = -700.0
EXTEND_STEPS = 1


@dataclass
class Airway:
    mask: np.ndarray
    trachea: np.ndarray
    bronchi: np.ndarray
    carina_z: float | None
    threshold: float | None
    notes: list[str] = field(default_factory=list)
    below_carina: bool = False
    """The scan starts below the carina: what was seen is bronchi only (the trachea is above the scan)."""


def _slices_top_down(g: WorkGrid) -> list[int]:
    order = list(range(g.shape[2]))
    return order[::-1] if g.affine[2, 2] > 0 else order


def _inplane_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    st = np.zeros((3, 3, 3), dtype=bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    lab, n = ndimage.label(mask, structure=st)
    return lab, int(n)


def find_seed(
    g: WorkGrid, body: np.ndarray, x_mid: float, spine: Spine | None = None
) -> tuple[int, int, int] | None:
    """A voxel in the trachea: the highest midline round air region inside the body (in front of the spine)."""
    air = (g.hu < SEED_HU) & body
    px_area = float(g.spacing[0] * g.spacing[1])
    x = g.axis_world(0)[:, 0, 0]
    y = g.axis_world(1)[0, :, 0]
    order = _slices_top_down(g)
    for k in order[: max(3, int(0.6 * len(order)))]:
        sl = air[:, :, k]
        if not sl.any():
            continue
        lab, n = ndimage.label(sl)
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        areas = ndimage.sum_labels(np.ones_like(sl, dtype=np.float32), lab, idx) * px_area
        cx = np.asarray(ndimage.mean(np.broadcast_to(x[:, None], sl.shape), lab, idx))
        ok = (areas >= TRACHEA_AREA_MM2[0]) & (areas <= TRACHEA_AREA_MM2[1])
        ok &= np.abs(cx - x_mid) <= TRACHEA_MAX_OFFSET_MM
        if spine is not None:
            cy = np.asarray(ndimage.mean(np.broadcast_to(y[None, :], sl.shape), lab, idx))
            ahead = cy - float(spine.front[k])
            ok &= (ahead > -5.0) & (ahead < TRACHEA_MAX_AHEAD_MM)
        if not ok.any():
            continue
        best = int(idx[ok][np.argmin(np.abs(cx[ok] - x_mid))])
        pts = np.argwhere(lab == best)
        c = pts[np.argmin(((pts - pts.mean(axis=0)) ** 2).sum(axis=1))]
        # it must continue downwards as a column (not a blob of gas)
        col = cc3d.connected_components(air, connectivity=6)
        comp = col == col[int(c[0]), int(c[1]), k]
        zs = np.nonzero(comp.any(axis=(0, 1)))[0]
        if len(zs) * float(g.spacing[2]) >= 25.0:
            return (int(c[0]), int(c[1]), int(k))
    return None


GROW_BOX_MM = (120.0, 100.0, 320.0)
"""The airway tree is searched within this half-width in x and y around the seed and this far below it."""


def _grow_box(g: WorkGrid, seed: tuple[int, int, int]) -> tuple[slice, slice, slice]:
    out = []
    for a in range(2):
        r = int(np.ceil(GROW_BOX_MM[a] / float(g.spacing[a])))
        out.append(slice(max(0, seed[a] - r), min(g.shape[a], seed[a] + r + 1)))
    n = int(np.ceil(GROW_BOX_MM[2] / float(g.spacing[2])))
    if g.affine[2, 2] > 0:  # superior = higher index: the tree lies below the seed
        out.append(slice(max(0, seed[2] - n), min(g.shape[2], seed[2] + 2)))
    else:
        out.append(slice(max(0, seed[2] - 1), min(g.shape[2], seed[2] + n + 1)))
    return (out[0], out[1], out[2])


def grow_airway(g: WorkGrid, body: np.ndarray, seed: tuple[int, int, int]) -> tuple[np.ndarray, float | None]:
    prev: np.ndarray | None = None
    prev_t: float | None = None
    prev_n = 0
    vml = g.voxel_ml()
    box = _grow_box(g, seed)
    hu = g.hu[box]
    inside = body[box]
    s = (seed[0] - box[0].start, seed[1] - box[1].start, seed[2] - box[2].start)
    for t in GROW_THRESHOLDS:
        cand = (hu < t) & inside
        if not cand[s]:
            continue
        lab = cc3d.connected_components(cand, connectivity=6)
        region = lab == lab[s]
        n = int(region.sum())
        if n * vml > MAX_AIRWAY_ML or (prev is not None and n > LEAK_RATIO * prev_n and n - prev_n > 20):
            break
        prev, prev_t, prev_n = region, t, n
    out = np.zeros_like(body)
    if prev is None:
        return out, None
    out[box] = prev
    return out, prev_t


def extend_airway(g: WorkGrid, body: np.ndarray, airway: np.ndarray) -> np.ndarray:
    """Grow the airway a few voxels into dark tubular voxels (black top-hat > TOPHAT_HU, HU < EXTEND_HU)."""
    if not airway.any():
        return airway
    m = EXTEND_STEPS + 1
    idx = np.argwhere(airway)
    lo = np.maximum(idx.min(axis=0) - m, 0)
    hi = np.minimum(idx.max(axis=0) + m + 1, airway.shape)
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    hu = g.hu[box]
    size = [2 * round(TOPHAT_MM / float(s)) + 1 for s in g.spacing]
    tophat = ndimage.grey_closing(hu, size=size) - hu
    cand = (tophat > TOPHAT_HU) & (hu < EXTEND_HU) & body[box]
    cur = airway[box].copy()
    st = ndimage.generate_binary_structure(3, 1)
    for _ in range(EXTEND_STEPS):
        nxt = ndimage.binary_dilation(cur, st) & (cand | cur)
        if nxt.sum() == cur.sum():
            break
        cur = nxt
    out = airway.copy()
    out[box] |= cur
    return out


def split_carina(g: WorkGrid, airway: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(trachea, bronchi, carina z in mm) by the first slice where the airway splits into two branches."""
    idx = np.argwhere(airway.any(axis=2))
    if not len(idx):
        return airway.copy(), np.zeros_like(airway), None
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    sub = airway[lo[0] : hi[0], lo[1] : hi[1], :]
    lab, n = _inplane_labels(sub)
    if n == 0:
        return airway.copy(), np.zeros_like(airway), None
    px = float(g.spacing[0] * g.spacing[1])
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    objs = ndimage.find_objects(lab)
    per_slice: dict[int, int] = {}
    for i, sl in enumerate(objs, start=1):
        if sl is None or counts[i] * px < 12.0:
            continue
        per_slice[sl[2].start] = per_slice.get(sl[2].start, 0) + 1
    order = _slices_top_down(g)
    started = False
    carina_k: int | None = None
    for pos, k in enumerate(order):
        c = per_slice.get(k, 0)
        if c >= 1:
            started = True
        if started and c >= 2:
            nxt = order[pos + 1] if pos + 1 < len(order) else None
            if nxt is None or per_slice.get(nxt, 0) >= 2:
                carina_k = k
                break
    if carina_k is None:
        return airway.copy(), np.zeros_like(airway), None
    z = g.axis_world(2)[0, 0, :]
    zc = float(z[carina_k])
    above = z >= zc  # world z: superior is positive whatever the array order
    trachea = airway & above[None, None, :]
    bronchi = airway & ~above[None, None, :]
    # the slice of the split itself belongs to the bronchi
    trachea[:, :, carina_k] = False
    bronchi[:, :, carina_k] = airway[:, :, carina_k]
    return trachea, bronchi, zc


def segment_airway(g: WorkGrid, body: np.ndarray, x_mid: float, spine: Spine | None = None) -> Airway:
    notes: list[str] = []
    empty = np.zeros_like(body)
    seed = find_seed(g, body, x_mid, spine)
    if seed is None:
        return Airway(empty, empty, empty, None, None, ["trachea not found in the upper slices"])
    mask, thr = grow_airway(g, body, seed)
    mask = extend_airway(g, body, mask)
    trachea, bronchi, zc = split_carina(g, mask)
    if zc is None:
        z = g.axis_world(2)
        top = float(z[0, 0, body.any(axis=(0, 1))].max())
        reach = float(z[0, 0, mask.any(axis=(0, 1))].max()) if mask.any() else -np.inf
        if reach < top - TRACHEA_TOP_MM:
            return Airway(
                empty, empty, empty, None, None,
                [f"an air column {top - reach:.0f} mm below the top of the scan neither reaches up into the neck "
                 "nor branches at a carina: not taken for the trachea"],
            )
        notes.append("carina not found: the airway is reported as trachea only")
    if trachea.any():
        mid = float(np.median(spine.centre[:, 0])) if spine is not None else x_mid
        off = float(g.centroid_world(trachea)[0]) - mid
        if abs(off) > TRACHEA_MAX_LATERAL_MM:
            notes.append(
                f"the airway at the top of the scan lies {abs(off):.0f} mm beside the midline: a main bronchus "
                "(the scan starts below the carina)"
            )
            return Airway(mask, np.zeros_like(mask), mask.copy(), None, thr, notes, below_carina=True)
    return Airway(mask, trachea, bronchi, zc, thr, notes)
