"""The working grid of the classical segmenter and its morphology helpers (numpy/scipy/cc3d only).

Coarse steps run on a block-averaged copy of the CT (about ``target_mm`` per voxel); labels are upsampled to
the input grid at the end. Morphology with physical radii is done through Euclidean distance transforms
(fast and isotropic in mm, whatever the voxel size).
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage

SMOOTH_MM = 2.5
NOISY_HU = 25.0


@dataclass
class WorkGrid:
    """A block-averaged HU volume with the coordinates of its voxel centres.

    ``affine`` maps voxels to the coordinates every step reasons in. Straight from :func:`downsample` these are
    world RAS; after :func:`radgenome.segmentation.classical.frame.to_patient_frame` they are **patient-frame**
    millimetres: axis 0 grows towards the patient's right, 1 anterior, 2 superior, with a diagonal affine,
    whatever the obliquity of the input's affine (``world_affine`` keeps the voxel-to-world map).
    """

    hu: np.ndarray
    """float32 HU on the working grid."""
    affine: np.ndarray
    """4x4 voxel-to-(frame or world) affine of the working grid."""
    factors: tuple[int, int, int]
    """Block size (input voxels per working voxel) along each axis."""
    full_shape: tuple[int, int, int]
    world_affine: np.ndarray | None = None
    """4x4 voxel-to-world RAS affine when ``affine`` is a patient frame (None: ``affine`` is the world one)."""

    @property
    def spacing(self) -> np.ndarray:
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.hu.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    def axis_world(self, axis: int) -> np.ndarray:
        """Coordinate (mm) ``axis`` (0=x R, 1=y A, 2=z S) along array axis ``axis``, broadcastable.

        Exact for a diagonal ``affine`` — the patient frame of :mod:`~radgenome.segmentation.classical.frame`,
        where x grows towards the patient's right as decided from the input's affine (never the array order).
        """
        n = self.shape[axis]
        v = (self.affine[axis, axis] * np.arange(n) + self.affine[axis, 3]).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = n
        return v.reshape(shape)

    def world(self, idx: np.ndarray) -> np.ndarray:
        """World coordinates of (N, 3) voxel indices."""
        idx = np.atleast_2d(np.asarray(idx, dtype=np.float64))
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def axis_percentile(self, mask: np.ndarray, axis: int, q: float | list[float]) -> np.ndarray:
        """Percentile(s) of world coordinate ``axis`` over the voxels of ``mask`` (from the axis profile:
        no per-voxel coordinates)."""
        other = tuple(a for a in range(3) if a != axis)
        counts = mask.sum(axis=other).astype(np.float64)
        coords = self.axis_world(axis).reshape(-1).astype(np.float64)
        order = np.argsort(coords)
        coords, counts = coords[order], counts[order]
        cum = np.cumsum(counts)
        if cum[-1] <= 0:
            return np.full(np.shape(q), np.nan)
        qs = np.maximum(np.atleast_1d(np.asarray(q, dtype=np.float64)) / 100.0 * cum[-1], 0.5)
        out = coords[np.minimum(np.searchsorted(cum, qs, side="left"), len(coords) - 1)]
        return out if np.ndim(q) else out[0]

    def centroid_world(self, mask: np.ndarray) -> np.ndarray:
        n = float(np.count_nonzero(mask))
        if n == 0:
            return np.full(3, np.nan)
        mean = [
            float((mask.sum(axis=tuple(b for b in range(3) if b != a)) * np.arange(mask.shape[a])).sum()) / n
            for a in range(3)
        ]
        return self.world(np.asarray([mean]))[0]

    @property
    def noise_hu(self) -> float:
        """Robust estimate of the voxel noise (HU std) from neighbour differences in soft tissue."""
        cached = self.__dict__.get("_noise")
        if cached is None:
            a, b = self.hu[:-1], self.hu[1:]
            soft = (a > -150) & (a < 150) & (b > -150) & (b < 150)
            diff = np.abs(a[soft] - b[soft])
            cached = float(1.4826 * np.median(diff) / np.sqrt(2.0)) if diff.size > 100 else 0.0
            self.__dict__["_noise"] = cached
        return float(cached)

    @property
    def smoothed(self) -> np.ndarray:
        """HU for soft-tissue classes: as is, or Gaussian-smoothed (SMOOTH_MM, >= 0.8 voxel) when the noise
        exceeds NOISY_HU (low-dose or thin-slice data that the block averaging did not quiet)."""
        cached = self.__dict__.get("_smoothed")
        if cached is None or cached.shape != self.hu.shape:
            if self.noise_hu <= NOISY_HU:
                cached = self.hu
            else:
                sig = [max(0.8, SMOOTH_MM / float(s)) for s in self.spacing]
                cached = ndimage.gaussian_filter(self.hu, sig, mode="nearest").astype(np.float32)
            self.__dict__["_smoothed"] = cached
        return cached

    def crop(self, box: tuple[slice, slice, slice]) -> WorkGrid:
        """The sub-grid ``box`` (same world positions: the affine is shifted)."""
        shift = np.eye(4)
        shift[:3, 3] = [box[0].start, box[1].start, box[2].start]
        return WorkGrid(
            hu=np.ascontiguousarray(self.hu[box]),
            affine=self.affine @ shift,
            factors=self.factors,
            full_shape=self.full_shape,
            world_affine=None if self.world_affine is None else self.world_affine @ shift,
        )

    def to_world(self, pts: np.ndarray) -> np.ndarray:
        """World RAS (mm) of (N, 3) points given in this grid's coordinates (frame or world)."""
        pts = np.atleast_2d(np.asarray(pts, dtype=np.float64))
        if self.world_affine is None:
            return pts
        idx = (pts - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T
        return idx @ self.world_affine[:3, :3].T + self.world_affine[:3, 3]

    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0


def block_factors(spacing: tuple[float, float, float], target_mm: float) -> tuple[int, int, int]:
    f = [max(1, round(target_mm / s)) for s in spacing]
    return (f[0], f[1], f[2])


def downsample(hu: np.ndarray, affine: np.ndarray, target_mm: float) -> WorkGrid:
    """Block-average ``hu`` to about ``target_mm`` voxels (edge blocks padded by replication)."""
    spacing = tuple(float(s) for s in np.sqrt((affine[:3, :3] ** 2).sum(axis=0)))
    f = block_factors((spacing[0], spacing[1], spacing[2]), target_mm)
    full = (int(hu.shape[0]), int(hu.shape[1]), int(hu.shape[2]))
    if f == (1, 1, 1):
        work = hu.astype(np.float32, copy=True)
    else:
        pads = [(0, (-n) % k) for n, k in zip(full, f, strict=True)]
        src = np.pad(hu, pads, mode="edge") if any(p[1] for p in pads) else hu
        acc = np.int32 if src.dtype.kind in "iub" and src.dtype.itemsize <= 2 else np.float64
        a, b, c = src.shape
        s = np.add.reduce(src.reshape(a // f[0], f[0], b, c), axis=1, dtype=acc)
        s = np.add.reduce(s.reshape(a // f[0], b // f[1], f[1], c), axis=2)
        s = np.add.reduce(s.reshape(a // f[0], b // f[1], c // f[2], f[2]), axis=3)
        work = s.astype(np.float32) / np.float32(f[0] * f[1] * f[2])
    scale = np.diag([*f, 1.0])
    shift = np.eye(4)
    shift[:3, 3] = (np.asarray(f) - 1) / 2.0  # centre of each block in input index space
    waff = affine @ shift @ scale
    return WorkGrid(hu=np.ascontiguousarray(work, dtype=np.float32), affine=waff, factors=f, full_shape=full)


def upsample_labels(lab: np.ndarray, factors: tuple[int, int, int], full_shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a working-grid label map to the input grid (one copy)."""
    if factors == (1, 1, 1):
        return np.ascontiguousarray(lab[: full_shape[0], : full_shape[1], : full_shape[2]])
    a, b, c = lab.shape
    f0, f1, f2 = factors
    col = np.repeat(lab, f2, axis=2) if f2 > 1 else lab  # the contiguous axis first
    out = np.empty((a * f0, b * f1, c * f2), dtype=lab.dtype)
    out.reshape(a, f0, b, f1, c * f2)[...] = col[:, None, :, None, :]
    if out.shape != tuple(full_shape):
        out = np.ascontiguousarray(out[: full_shape[0], : full_shape[1], : full_shape[2]])
    return out


# --------------------------------------------------------------------------------------------------------
# Morphology in mm. Box structuring elements through separable min/max filters (fast whatever the radius);
# ball-exact versions through the Euclidean distance transform where the shape matters (cropped first).
# --------------------------------------------------------------------------------------------------------
def _sizes(r_mm: float, spacing: np.ndarray, planar: bool = False) -> tuple[int, int, int]:
    k = [2 * round(r_mm / float(s)) + 1 for s in spacing]
    if planar:
        k[2] = 1
    return (k[0], k[1], k[2])


def edt(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(mask, sampling=spacing).astype(np.float32)


def _margin(r_mm: float, spacing: np.ndarray) -> tuple[int, int, int]:
    m = [int(np.ceil(r_mm / float(s))) + 1 for s in spacing]
    return (m[0], m[1], m[2])


def _crop(mask: np.ndarray, margin: tuple[int, int, int]) -> tuple[slice, slice, slice] | None:
    if not mask.any():
        return None
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        nz = np.nonzero(mask.any(axis=other))[0]
        out.append(slice(max(0, int(nz[0]) - margin[axis]), min(mask.shape[axis], int(nz[-1]) + 1 + margin[axis])))
    return (out[0], out[1], out[2])


def _round_dilate(sub: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Dilation by a near-ball: a box of half-width 0.3 r then 0.7 r of 6-connected steps (cube+octahedron)."""
    k = _sizes(0.3 * r_mm, spacing)
    out = ndimage.maximum_filter(sub, size=k, mode="constant", cval=False) if k != (1, 1, 1) else sub
    steps = round(0.7 * r_mm / float(np.mean(spacing)))
    if steps > 0:
        out = ndimage.binary_dilation(out, iterations=steps)
    return out


def dilate(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Dilation by a near-ball of radius ``r_mm`` (box + diamond steps; computed on the mask's bounding box)."""
    if r_mm <= 0 or not mask.any():
        return mask.copy()
    box = _crop(mask, _margin(r_mm, spacing))
    out = np.zeros_like(mask)
    if box is not None:
        out[box] = _round_dilate(mask[box], r_mm, spacing)
    return out


def erode(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Erosion by the same near-ball (the volume border counts as inside)."""
    if r_mm <= 0:
        return mask.copy()
    box = _crop(mask, (1, 1, 1))
    out = np.zeros_like(mask)
    if box is None:
        return out
    sub = mask[box]
    # pad with replication so that the border does not erode, then erode the complement by dilation
    pads = _margin(r_mm, spacing)
    padded = np.pad(sub, [(p, p) for p in pads], mode="edge")
    core = ~_round_dilate(~padded, r_mm, spacing)
    n0, n1, n2 = sub.shape
    out[box] = core[pads[0] : pads[0] + n0, pads[1] : pads[1] + n1, pads[2] : pads[2] + n2]
    return out


def dilate_box(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Dilation by a box of half-width ``r_mm`` (rounded to voxels)."""
    k = _sizes(r_mm, spacing)
    if r_mm <= 0 or k == (1, 1, 1) or not mask.any():
        return mask.copy()
    return ndimage.maximum_filter(mask, size=k, mode="constant", cval=False)


def opening(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    return dilate(erode(mask, r_mm, spacing), r_mm, spacing) & mask


def closing(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    return erode(dilate(mask, r_mm, spacing), r_mm, spacing) | mask


def dilate_2d(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Dilation within each axial slice (box)."""
    k = _sizes(r_mm, spacing, planar=True)
    if k == (1, 1, 1) or not mask.any():
        return mask.copy()
    return ndimage.maximum_filter(mask, size=k, mode="constant", cval=False)


def erode_2d(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    k = _sizes(r_mm, spacing, planar=True)
    if k == (1, 1, 1):
        return mask.copy()
    return ndimage.minimum_filter(mask, size=k, mode="nearest")


def ball_opening(mask: np.ndarray, r_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Opening by a ball of radius ``r_mm`` (exact in mm; EDT on the mask's bounding box)."""
    box = bbox(mask, margin=int(np.ceil(r_mm / float(min(spacing)))) + 1)
    out = np.zeros_like(mask)
    if box is None:
        return out
    sub = mask[box]
    core = edt(sub, spacing) > r_mm
    if not core.any():
        return out
    grown = edt(~core, spacing) <= r_mm
    out[box] = grown & sub
    return out


def fill_holes_2d(mask: np.ndarray) -> np.ndarray:
    """Fill holes in every axial slice: background regions (in-plane connectivity) not touching the slice edge."""
    box = bbox(mask, margin=1)
    if box is None:
        return mask.copy()
    sub = mask[box]
    st = np.zeros((3, 3, 3), dtype=bool)
    st[:, :, 1] = ndimage.generate_binary_structure(2, 1)
    lab, n = ndimage.label(~sub, structure=st)
    if n == 0:
        return mask.copy()
    edge = np.zeros(n + 1, dtype=bool)
    for face in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
        edge[np.unique(face)] = True
    hole = ~edge
    hole[0] = False
    out = mask.copy()
    out[box] |= hole[lab]
    return out


def largest_cc(mask: np.ndarray, connectivity: int = 6) -> np.ndarray:
    if not mask.any():
        return mask.copy()
    lab, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    if n <= 1:
        return lab > 0
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(np.argmax(counts))


def components(mask: np.ndarray, connectivity: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(label array, voxel count per label with index 0 = background)."""
    lab, n = cc3d.connected_components(mask, connectivity=connectivity, return_N=True)
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    return lab, counts


def keep_large(mask: np.ndarray, min_voxels: int, connectivity: int = 6) -> np.ndarray:
    if not mask.any():
        return mask.copy()
    lab, counts = components(mask, connectivity)
    keep = counts >= min_voxels
    keep[0] = False
    return keep[lab]


def slice_hull(mask: np.ndarray, spacing: np.ndarray, directions: int = 16) -> np.ndarray:
    """Per-axial-slice convex hull (circumscribed ``directions``-gon), vectorised over slices."""
    out = np.zeros_like(mask)
    box = bbox(mask)
    if box is None:
        return out
    out[box] = _slice_hull(mask[box], spacing, directions)
    return out


def _slice_hull(mask: np.ndarray, spacing: np.ndarray, directions: int) -> np.ndarray:
    """Inside = for every direction d: x cos d + y sin d <= the slice's support in d. Solved per (x, slice) as a
    y interval (one pass over the volume instead of one per direction)."""
    nx, ny, nz = mask.shape
    present = mask.any(axis=(0, 1))
    if not present.any():
        return np.zeros_like(mask)
    x = np.arange(nx, dtype=np.float64) * float(spacing[0])
    y = (np.arange(ny, dtype=np.float32) * np.float32(spacing[1]))[None, :, None]
    pi, pj, pk = np.nonzero(mask)
    px, py = x[pi], pj * float(spacing[1])
    y_lo = np.full((nx, nz), -np.inf)
    y_hi = np.full((nx, nz), np.inf)
    ok = np.broadcast_to(present[None, :], (nx, nz)).copy()
    for t in np.linspace(0.0, np.pi * 2, directions, endpoint=False):
        c, s = float(np.cos(t)), float(np.sin(t))
        support = np.full(nz, -np.inf)
        np.maximum.at(support, pk, px * c + py * s)
        rhs = support[None, :] + 1e-3 - x[:, None] * c  # (nx, nz): y * s <= rhs
        if abs(s) < 1e-9:
            ok &= rhs >= 0.0
        elif s > 0:
            y_hi = np.minimum(y_hi, rhs / s)
        else:
            y_lo = np.maximum(y_lo, rhs / s)
    ok &= y_lo <= y_hi
    lo = np.where(ok, y_lo, np.inf).astype(np.float32)[:, None, :]
    hi = np.where(ok, y_hi, -np.inf).astype(np.float32)[:, None, :]
    return (y >= lo) & (y <= hi)


def bbox(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice, slice] | None:
    if not mask.any():
        return None
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        nz = np.nonzero(mask.any(axis=other))[0]
        out.append(slice(max(0, int(nz[0]) - margin), min(mask.shape[axis], int(nz[-1]) + 1 + margin)))
    return (out[0], out[1], out[2])


def smooth(hu: np.ndarray, sigma_mm: float, spacing: np.ndarray) -> np.ndarray:
    sig = [max(0.0, sigma_mm / float(s)) for s in spacing]
    return ndimage.gaussian_filter(hu, sig, mode="nearest").astype(np.float32)
