"""The thorax before the lungs: vertebral column, spinal canal and rib cage; the diaphragm once lungs are known.

The lung search needs to know where the chest is (lungs are air inside the rib cage, above the diaphragm,
reached by the airway tree; gas in the abdomen never is), and the bone steps — and the vertebra and rib
numbering built on them — need the same landmarks. Everything is in patient-frame millimetres
(:mod:`~radgenome.segmentation.classical.frame`: x towards the patient's right, y anterior, z superior).

- :func:`find_spine`: the vertebral column **tracked slice by slice** (it may curve — kyphosis, scoliosis — or
  lie tilted in the grid): bone that persists within ``PERSIST_MM`` above and below near the posterior midline
  of each slice; in every slice the largest such section is the vertebra (the descending aorta, even
  contrast-filled, is smaller). Gives the vertebral-body centre and front per slice (interpolated across the
  discs) and the spinal canal's centre where the neural arch closes around it.
- :func:`find_rib_cage`: rib sections are small bone sections (at most ``RIB_SECTION_MAX_MM2``) beside and in
  front of the spine; a slice belongs to the cage when it has such sections on both sides of the spine, in runs
  of at least ``CAGE_MIN_RUN_MM``; the cage is the per-slice convex hull of the sections and the vertebra.
  Pelvic bones are broad plates (larger sections) and do not make a cage.
- :func:`fit_diaphragm`: a quadratic dome per lung fitted to the lung bases (from below); below it = abdomen.

:func:`find_thorax` runs the first two and returns a :class:`Thorax`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import WorkGrid, fill_holes_2d, slice_hull

BONE_HU = 180.0
PERSIST_MM = 20.0
"""Half-height of the window (along z) in which spine bone must persist (>= half of the slices)."""
SPINE_WINDOW_MM = 40.0
"""The vertebra is searched within this distance of the slice's body centre line."""
MIN_VERTEBRA_MM2 = 150.0
RIB_SECTION_MAX_MM2 = 900.0
RIB_SECTION_MIN_MM2 = 12.0
RIB_LATERAL_MM = 30.0
"""A rib section lies at least this far beside the spine's centre."""
CAGE_MIN_RUN_MM = 45.0
CAGE_GAP_MM = 12.0


@dataclass
class Spine:
    """The vertebral column, per axial slice of the working grid."""

    centre: np.ndarray
    """(nz, 2) x, y (mm) of the vertebral body's centre (interpolated where not seen)."""
    front: np.ndarray
    """(nz,) y (mm) of the vertebral body's anterior surface."""
    seen: np.ndarray
    """(nz,) bool: the vertebra was found in this slice (not interpolated)."""
    column: np.ndarray
    """Boolean volume: the vertebral sections found (body, and the arch where attached to it)."""
    canal: np.ndarray
    """(nz, 2) x, y of the spinal canal's centre where the neural arch encloses it, NaN elsewhere."""
    canal_mask: np.ndarray
    """Boolean volume: the enclosed spinal canal sections."""

    def centre_at(self, k: int) -> tuple[float, float]:
        return float(self.centre[k, 0]), float(self.centre[k, 1])


@dataclass
class Thorax:
    """Landmarks of the chest found before the lungs (see the module docstring)."""

    spine: Spine | None
    ribs: np.ndarray
    """Boolean volume: rib-like bone sections (also sternum, clavicle, scapula sections: the cage's outline)."""
    cage: np.ndarray
    """Boolean volume: inside the rib cage (per-slice convex hull), in cage slices only."""
    cage_slices: np.ndarray
    """(nz,) bool: the slices where the rib cage closes on both sides."""
    notes: list[str] = field(default_factory=list)

    def cage_z(self, g: WorkGrid) -> tuple[float, float] | None:
        """(lowest, highest) z (mm) of the rib cage, None without one."""
        if not self.cage_slices.any():
            return None
        z = g.axis_world(2)[0, 0, :][self.cage_slices]
        return float(z.min()), float(z.max())


def _inplane_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    st = np.zeros((3, 3, 3), dtype=bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    lab, n = ndimage.label(mask, structure=st)
    return lab, int(n)


def _fill_track(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``v`` over the slices where ``ok`` is False (constant beyond the ends)."""
    idx = np.arange(len(v))
    if not ok.any():
        return np.full(len(v), np.nan)
    return np.interp(idx, idx[ok], v[ok])


def _span(coords: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of a monotonic 1-D coordinate array covering [lo, hi] (empty when outside)."""
    inside = np.nonzero((coords >= lo) & (coords <= hi))[0]
    return slice(int(inside[0]), int(inside[-1]) + 1) if len(inside) else slice(0, 0)


def _per_slice_stats(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, mean x, mean y) per slice of ``mask`` (x, y: 1-D coordinates of axes 0 and 1)."""
    i, j, k = np.nonzero(mask)
    nz = mask.shape[2]
    n = np.bincount(k, minlength=nz).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(k, weights=x[i], minlength=nz) / n
        my = np.bincount(k, weights=y[j], minlength=nz) / n
    return n, mx, my


def find_spine(g: WorkGrid, body: np.ndarray, bone: np.ndarray) -> Spine | None:
    """The vertebral column tracked per slice (None when no persistent midline bone is found)."""
    nz = g.shape[2]
    x = g.axis_world(0).reshape(-1)
    y = g.axis_world(1).reshape(-1)
    px = float(abs(g.spacing[0] * g.spacing[1]))
    # per-slice body centre line: the spine lies within SPINE_WINDOW_MM of it, behind the body's centre
    area = body.sum(axis=(0, 1)).astype(np.float64)
    has = area > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        bx = x @ body.sum(axis=1) / area
        by = y @ body.sum(axis=0) / area
    if not has.any():
        return None
    # work on the box holding every slice's window
    bi = _span(x, float(np.nanmin(bx)) - SPINE_WINDOW_MM, float(np.nanmax(bx)) + SPINE_WINDOW_MM)
    bj = _span(y, -np.inf, float(np.nanmax(by)))
    xs, ys = x[bi], y[bj]
    sub = bone[bi, bj, :]
    size = max(1, 2 * round(PERSIST_MM / float(abs(g.spacing[2]))) + 1)
    persist = ndimage.uniform_filter1d(sub.astype(np.float32), size=size, axis=2, mode="nearest") >= 0.5
    window = (np.abs(xs[:, None, None] - bx[None, None, :]) < SPINE_WINDOW_MM) & (
        ys[None, :, None] < by[None, None, :]
    )
    cand = sub & persist & window & has[None, None, :]
    lab, n = _inplane_labels(cand)
    if n == 0:
        return None
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    objs = ndimage.find_objects(lab)
    best = np.zeros(nz, dtype=np.int64)
    best_n = np.zeros(nz, dtype=np.int64)
    for i, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        k = sl[2].start
        if counts[i] > best_n[k]:
            best[k], best_n[k] = i, counts[i]
    seen = best_n * px >= MIN_VERTEBRA_MM2
    if seen.sum() < 2:
        return None
    keep = np.zeros(n + 1, dtype=bool)
    keep[best[seen]] = True
    col_sub = keep[lab]
    _, cx, cy = _per_slice_stats(col_sub, xs, ys)
    # front of the vertebral body: the most anterior column voxel within 10 mm of the slice's centre x
    i, j, k = np.nonzero(col_sub)
    near = np.abs(xs[i] - cx[k]) < 10.0
    fy = np.full(nz, -np.inf)
    np.maximum.at(fy, k[near], ys[j[near]])
    fy = np.where(np.isfinite(fy), fy, cy + 15.0)
    for arr in (cx, cy, fy):
        arr[seen] = ndimage.median_filter(arr[seen], size=5, mode="nearest")
    centre = np.stack([_fill_track(cx, seen), _fill_track(cy, seen)], axis=1)
    front = _fill_track(fy, seen)
    column = np.zeros_like(bone)
    column[bi, bj, :] = col_sub
    canal, canal_mask = _spinal_canal(g, bone, centre, front)
    return Spine(centre=centre, front=front, seen=seen, column=column, canal=canal, canal_mask=canal_mask)


CANAL_REACH_MM = 40.0
CANAL_MIN_MM2 = 20.0


def _spinal_canal(
    g: WorkGrid, bone: np.ndarray, centre: np.ndarray, front: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The canal where the neural arch closes around it: per slice, the hole in the bone ring nearest behind
    the vertebral body's centre."""
    nz = g.shape[2]
    out = np.full((nz, 2), np.nan)
    canal_mask = np.zeros_like(bone)
    x = g.axis_world(0).reshape(-1)
    y = g.axis_world(1).reshape(-1)
    bi = _span(x, float(centre[:, 0].min()) - CANAL_REACH_MM, float(centre[:, 0].max()) + CANAL_REACH_MM)
    bj = _span(y, float(centre[:, 1].min()) - 2.5 * CANAL_REACH_MM, float(centre[:, 1].max()))
    xs, ys = x[bi], y[bj]
    dx = xs[:, None, None] - centre[None, None, :, 0]
    dy = ys[None, :, None] - centre[None, None, :, 1]
    near = (np.abs(dx) < CANAL_REACH_MM) & (dy < 0) & (dy > -2.5 * CANAL_REACH_MM)
    ring = bone[bi, bj, :] & near
    holes = fill_holes_2d(ring) & ~ring & near
    lab, n = _inplane_labels(holes)
    if n == 0:
        return out, canal_mask
    ii, jj, kk_all = np.nonzero(lab)
    ids = lab[ii, jj, kk_all]
    counts = np.bincount(ids, minlength=n + 1)[1:].astype(np.float64)
    hx = np.bincount(ids, weights=xs[ii], minlength=n + 1)[1:] / np.maximum(counts, 1)
    hy = np.bincount(ids, weights=ys[jj], minlength=n + 1)[1:] / np.maximum(counts, 1)
    kk = np.zeros(n, dtype=np.int64)
    kk[ids - 1] = kk_all
    area = counts * float(abs(g.spacing[0] * g.spacing[1]))
    best = np.zeros(nz, dtype=np.int64)
    for i in np.nonzero(area >= CANAL_MIN_MM2)[0]:
        k = kk[i]
        if best[k] == 0 or hy[i] > hy[best[k] - 1]:
            best[k] = i + 1
    keep = np.zeros(n + 1, dtype=bool)
    keep[best[best > 0]] = True
    has = best > 0
    out[has, 0] = hx[best[has] - 1]
    out[has, 1] = hy[best[has] - 1]
    canal_mask[bi, bj, :] = keep[lab]
    return out, canal_mask


def find_rib_cage(g: WorkGrid, body: np.ndarray, bone: np.ndarray, spine: Spine | None) -> tuple[
    np.ndarray, np.ndarray, np.ndarray
]:
    """(rib-like sections, cage interior, cage slices) — see the module docstring."""
    nz = g.shape[2]
    empty = np.zeros_like(body)
    if spine is None or not bone.any():
        return empty, empty, np.zeros(nz, dtype=bool)
    x = g.axis_world(0)[:, :, 0]
    y = g.axis_world(1)[:, :, 0]
    sx = spine.centre[None, None, :, 0]
    sy = spine.centre[None, None, :, 1]
    fy = spine.front[None, None, :]
    xx = x[:, :, None]
    yy = y[:, :, None]
    vertebra = (np.abs(xx - sx) < 35.0) & (yy < fy + 5.0) & (yy > sy - 75.0)
    cand = bone & body & ~vertebra
    lab, n = _inplane_labels(cand)
    if n == 0:
        return empty, empty, np.zeros(nz, dtype=bool)
    px = float(abs(g.spacing[0] * g.spacing[1]))
    ii, jj, kk_all = np.nonzero(lab)
    ids = lab[ii, jj, kk_all]
    counts = np.bincount(ids, minlength=n + 1)[1:].astype(np.float64)
    area = counts * px
    kk = np.zeros(n, dtype=np.int64)
    kk[ids - 1] = kk_all
    mean_x = np.bincount(ids, weights=x[ii, 0], minlength=n + 1)[1:] / np.maximum(counts, 1)
    ok = (area >= RIB_SECTION_MIN_MM2) & (area <= RIB_SECTION_MAX_MM2)
    off = mean_x - spine.centre[kk, 0]
    right = np.bincount(kk[ok & (off > RIB_LATERAL_MM)], minlength=nz) > 0
    left = np.bincount(kk[ok & (off < -RIB_LATERAL_MM)], minlength=nz) > 0
    slices = _runs(right & left, g)
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = ok & slices[kk]
    ribs = keep[lab]
    outline = ribs | (spine.column & slices[None, None, :])
    cage = slice_hull(outline, g.spacing) & slices[None, None, :]
    return ribs, cage, slices


def _runs(flags: np.ndarray, g: WorkGrid) -> np.ndarray:
    """Close gaps up to CAGE_GAP_MM, then keep runs of at least CAGE_MIN_RUN_MM."""
    dz = float(g.spacing[2])
    gap = max(1, round(CAGE_GAP_MM / dz))
    closed = ndimage.binary_closing(flags, structure=np.ones(2 * gap + 1, dtype=bool)) | flags
    # binary_closing erodes at the array ends: restore runs touching them
    lab, n = ndimage.label(closed)
    out = np.zeros_like(flags)
    for i in range(1, n + 1):
        run = lab == i
        if run.sum() * dz >= CAGE_MIN_RUN_MM:
            out |= run
    return out


def find_thorax(g: WorkGrid, body: np.ndarray) -> Thorax:
    """Spine, spinal canal and rib cage of the working grid (patient frame)."""
    bone = (g.hu > BONE_HU) & body
    notes: list[str] = []
    spine = find_spine(g, body, bone)
    if spine is None:
        notes.append("vertebral column not found")
    ribs, cage, slices = find_rib_cage(g, body, bone, spine)
    if spine is not None and not slices.any():
        notes.append("no rib cage in the field of view")
    return Thorax(spine=spine, ribs=ribs, cage=cage, cage_slices=slices, notes=notes)


# --------------------------------------------------------------------------------------------------------
# Diaphragm: fitted to the lung bases
# --------------------------------------------------------------------------------------------------------
@dataclass
class Diaphragm:
    """The diaphragm surface fitted to the lung bases."""

    below: np.ndarray
    """Boolean volume: body voxels below the surface (the abdomen), lungs excluded."""
    surface: np.ndarray
    """(nx, ny) z (mm) of the surface per column."""
    dome_top: dict[str, float]
    """Highest point (z mm) of each side's dome that was fitted ("right"/"left")."""


def fit_diaphragm(g: WorkGrid, right: np.ndarray, left: np.ndarray, body: np.ndarray) -> Diaphragm | None:
    """A quadratic dome per side fitted to the lung bases (lower envelope); None without lungs to fit.

    Lung bottoms that rest on the heart lie above the diaphragm; they are dropped by trimming the fit from
    above, so the heart is not taken for abdomen. Columns outside both fits take the nearest side's surface.
    """
    z = g.axis_world(2)
    up = g.affine[2, 2] > 0
    lungs = right | left
    if not lungs.any():
        return None
    xw = g.axis_world(0)[:, :, 0]
    yw = g.axis_world(1)[:, :, 0]
    lz = z[0, 0, lungs.any(axis=(0, 1))]
    z_lo, z_hi = float(lz.min()), float(lz.max())
    fits = []
    z_top: dict[str, float] = {}
    for side, m in (("right", right), ("left", left)):
        if not m.any():
            continue
        zz = np.where(m, z, np.float32(1e9) if up else np.float32(-1e9))
        base = zz.min(axis=2) if up else zz.max(axis=2)
        ok = m.any(axis=2) & (base < z_lo + 0.5 * (z_hi - z_lo))
        if ok.sum() < 12:
            continue
        px = np.broadcast_to(xw, ok.shape)[ok].astype(np.float64)
        py = np.broadcast_to(yw, ok.shape)[ok].astype(np.float64)
        pz = base[ok].astype(np.float64)
        coef, kept = _fit_lower_dome(px, py, pz)
        z_top[side] = float(pz[kept].max())
        cx = float(np.broadcast_to(xw, m.shape[:2])[m.any(axis=2)].mean())
        fits.append((side, cx, coef))
    if not fits:
        return None
    shape2 = (g.shape[0], g.shape[1])
    X = np.broadcast_to(xw, shape2).astype(np.float64)
    Y = np.broadcast_to(yw, shape2).astype(np.float64)
    # each dome is clamped at the highest lung base it was fitted to (no rise where it extrapolates)
    if len(fits) == 1:
        side, _, c = fits[0]
        surf = np.minimum(_dome(c, X, Y), z_top[side])
    else:
        (s1, c1, f1), (s2, c2, f2) = fits
        mid = (c1 + c2) / 2.0
        d1, d2 = np.minimum(_dome(f1, X, Y), z_top[s1]), np.minimum(_dome(f2, X, Y), z_top[s2])
        surf = np.where((X - mid) * (c1 - mid) > 0, d1, d2)
    surf = np.clip(surf, z_lo - 5.0, z_hi)
    below = z < surf[:, :, None].astype(np.float32) if up else z > surf[:, :, None].astype(np.float32)
    return Diaphragm(below=below & body & ~lungs, surface=surf, dome_top=z_top)


def _dome(c: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * y * y + c[5] * x * y


def _fit_lower_dome(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares quadratic surface, refitted without the points lying well above it; (coefficients,
    points kept)."""
    keep = np.ones(len(z), dtype=bool)
    coef = np.zeros(6)
    for _ in range(4):
        A = np.stack([np.ones(keep.sum()), x[keep], y[keep], x[keep] ** 2, y[keep] ** 2, x[keep] * y[keep]], axis=1)
        coef, *_ = np.linalg.lstsq(A, z[keep], rcond=None)
        res = z - _dome(coef, x, y)
        new = res < 8.0
        if new.sum() < 12 or np.array_equal(new, keep):
            break
        keep = new
    return coef, keep
