"""The patient frame: where the patient's right, front and head are on the working grid.

Every left/right decision of the classical backend (lungs, ribs, clavicles, scapulae, breasts, thyroid lobes,
liver side, aorta and esophagus windows) is a comparison of **patient-frame x** — this module's coordinate,
growing towards the patient's right — with the midline. No step looks at array order or at the raw affine.

The frame is built in two stages:

1. **From the affine** (:func:`to_patient_frame`). The volume reaches the backend in closest-canonical RAS, so
   array axis 0 is the one whose world direction is nearest to +x (the patient's right in RAS), axis 1 nearest
   to +y (anterior), axis 2 nearest to +z (superior) — for any oblique in-plane rotation or tilt up to 45°. The
   frame coordinates of a working voxel are ``spacing * index + origin`` (a diagonal affine), and the true
   voxel-to-world map is kept in ``WorkGrid.world_affine``: a rotated affine over the same voxels gives the same
   masks, named on the same sides, because the body lies the same way along the array axes. (Before this
   module the steps mixed the affine's diagonal with its full rotation, so at 30° the midline and the lungs were
   placed in different coordinates and both lungs came out "right".)
2. **From the anatomy** (:func:`estimate_rotation`, :class:`RotatedGrid`). When the body itself lies rotated in
   the axial plane (a patient turned on the table, or an image resampled onto an axis-aligned grid), the
   principal axis of the body's cross-sections is its left-right axis. Beyond ``ROTATE_MIN_DEG`` (and when the
   cross-section is elongated enough to tell: aspect >= ``MIN_ASPECT``) the working grid is resampled into the
   body's own axes (trilinear HU; labels come back by nearest neighbour), the right being the end of that axis
   with positive world x (:func:`right_direction_world`). Rotations about the left-right axis (gantry-like tilt)
   do not change which side a voxel is on, and rotations about the front-back axis keep every axial row's order,
   so neither needs resampling for sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import WorkGrid

ROTATE_MIN_DEG = 6.0
"""In-plane body rotations smaller than this are left as they are (no resampling)."""
ROTATE_MAX_DEG = 50.0
"""Estimated rotations beyond this are not trusted (a round or unusual cross-section): no resampling."""
MIN_ASPECT = 1.12
"""The body's cross-section must be at least this much wider than deep for its axis to be trusted."""
ROTATE_MARGIN_MM = 6.0


Side = Literal["right", "left"]


def right_direction_world(g: WorkGrid) -> np.ndarray:
    """World RAS unit vector of the frame's +x (the patient's right, as the affine declares it)."""
    w = g.world_affine if g.world_affine is not None else g.affine
    col = w[:3, :3] @ np.linalg.solve(g.affine[:3, :3], np.array([1.0, 0.0, 0.0]))
    return col / max(float(np.linalg.norm(col)), 1e-12)


def to_patient_frame(g: WorkGrid) -> WorkGrid:
    """The working grid with a diagonal patient-frame affine (``world_affine`` keeps the world map).

    Frame coordinates equal world coordinates when the input's affine is already axis-aligned (the usual case);
    for an oblique affine they are its rigid rotation about the first voxel.
    """
    world = np.asarray(g.affine, dtype=np.float64)
    cols = world[:3, :3]
    spacing = np.sqrt((cols**2).sum(axis=0))
    signs = np.ones(3)
    for a in range(3):
        main = int(np.argmax(np.abs(cols[:, a])))
        if main != a:
            raise ValueError(
                f"array axis {a} runs along world {'xyz'[main]}: the volume is not in (closest) canonical orientation"
            )
        signs[a] = 1.0 if cols[a, a] > 0 else -1.0  # an axis stored the other way round (e.g. LAS) keeps its sign
    frame = np.diag([*(signs * spacing).tolist(), 1.0])
    frame[:3, 3] = world[:3, 3]
    return WorkGrid(hu=g.hu, affine=frame, factors=g.factors, full_shape=g.full_shape, world_affine=world)


def lateral(g: WorkGrid, x_mid: float | np.ndarray) -> np.ndarray:
    """Signed distance (mm) from the mid-sagittal plane ``x = x_mid`` (a number, or per slice broadcastable as
    ``(1, 1, nz)``), broadcastable: > 0 = the patient's right."""
    return g.axis_world(0) - np.asarray(x_mid, dtype=np.float32)


def side_of(g: WorkGrid, mask: np.ndarray, x_mid: float) -> Side:
    """The patient's side a voxel set lies on (by its centroid in the patient frame)."""
    return "right" if float(g.centroid_world(mask)[0]) > x_mid else "left"


def side_masks(g: WorkGrid, x_mid: float | np.ndarray) -> dict[Side, np.ndarray]:
    """Broadcastable masks of the patient's right and left half (``x > x_mid`` / ``x < x_mid``)."""
    lat = lateral(g, x_mid)
    return {"right": lat > 0, "left": lat < 0}


# --------------------------------------------------------------------------------------------------------
# In-plane rotation of the body within the grid
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RotationEstimate:
    angle_deg: float
    """Angle of the body's left-right axis from the grid's x axis, towards +y (degrees)."""
    aspect: float
    """Width / depth of the pooled cross-section (square root of the covariance eigenvalue ratio)."""
    applied: bool
    reason: str

    def as_settings(self) -> dict[str, Any]:
        return {
            "inplane_rotation_deg": round(self.angle_deg, 1),
            "cross_section_aspect": round(self.aspect, 2),
            "resampled": self.applied,
            "why": self.reason,
        }


def estimate_rotation(g: WorkGrid, body: np.ndarray) -> RotationEstimate:
    """The body's in-plane rotation from the second moments of its larger axial cross-sections."""
    m = body.astype(np.float32)
    x = g.axis_world(0).reshape(-1).astype(np.float32)
    y = g.axis_world(1).reshape(-1).astype(np.float32)
    n = m.sum(axis=(0, 1))
    if n.max(initial=0) <= 0:
        return RotationEstimate(0.0, 1.0, False, "no body")
    keep = n >= 0.5 * n.max()
    mx = m.sum(axis=1)  # (nx, nz)
    my = m.sum(axis=0)  # (ny, nz)
    sx, sy = x @ mx, y @ my
    sxx, syy = (x * x) @ mx, (y * y) @ my
    sxy = np.einsum("ijk,i,j->k", m, x, y)
    n, sx, sy, sxx, syy, sxy = (np.asarray(a, dtype=np.float64)[keep] for a in (n, sx, sy, sxx, syy, sxy))
    tot = float(n.sum())
    cxx = float((sxx - sx * sx / n).sum()) / tot
    cyy = float((syy - sy * sy / n).sum()) / tot
    cxy = float((sxy - sx * sy / n).sum()) / tot
    angle = 0.5 * float(np.degrees(np.arctan2(2.0 * cxy, cxx - cyy)))
    ev = np.linalg.eigvalsh(np.array([[cxx, cxy], [cxy, cyy]]))
    aspect = float(np.sqrt(max(ev[1], 1e-9) / max(ev[0], 1e-9)))
    if abs(angle) < ROTATE_MIN_DEG:
        return RotationEstimate(angle, aspect, False, f"below {ROTATE_MIN_DEG:g} degrees")
    if aspect < MIN_ASPECT:
        return RotationEstimate(angle, aspect, False, f"cross-section too round to tell (aspect < {MIN_ASPECT:g})")
    if abs(angle) > ROTATE_MAX_DEG:
        return RotationEstimate(angle, aspect, False, f"beyond {ROTATE_MAX_DEG:g} degrees: not trusted")
    t = np.radians(angle)
    u = np.array([np.cos(t), np.sin(t), 0.0])  # in frame coordinates
    w = g.world_affine if g.world_affine is not None else g.affine
    u_world = w[:3, :3] @ np.linalg.solve(g.affine[:3, :3], u)
    if u_world[0] <= 0.2 * float(np.linalg.norm(u_world)):
        return RotationEstimate(angle, aspect, False, "the body's lateral axis does not point to world x")
    return RotationEstimate(angle, aspect, True, "body rotated in the axial plane")


@dataclass
class RotatedGrid:
    """The working grid resampled into the body's own axes (rotation about the grid's z axis)."""

    grid: WorkGrid
    """The rotated working grid (patient-frame affine, diagonal)."""
    matrix: np.ndarray
    """3x3: rotated-grid index -> source-grid index (``offset`` added)."""
    offset: np.ndarray
    source_shape: tuple[int, int, int]

    @classmethod
    def build(cls, g: WorkGrid, body: np.ndarray, angle_deg: float) -> RotatedGrid:
        """Resample ``g`` (patient-frame affine, diagonal) into axes turned by ``angle_deg`` about its z axis,
        covering the body's footprint; frame coordinates are kept (the body's centre line stays in place)."""
        d = np.diag(g.affine)[:3]  # signed spacing of the source frame
        o = g.affine[:3, 3]
        s = float(min(abs(d[0]), abs(d[1])))
        t = np.radians(angle_deg)
        u = np.array([np.cos(t), np.sin(t)])  # the body's right, in frame x/y
        v = np.array([-np.sin(t), np.cos(t)])  # its front
        foot = np.argwhere(body.any(axis=2)).astype(np.float64) * d[:2] + o[:2]  # frame x/y of the footprint
        c = foot.mean(axis=0)
        a = (foot - c) @ u
        b = (foot - c) @ v
        pad = ROTATE_MARGIN_MM + s
        a0, b0 = float(a.min()) - pad, float(b.min()) - pad
        na = int(np.ceil((float(a.max()) + pad - a0) / s)) + 1
        nb = int(np.ceil((float(b.max()) + pad - b0) / s)) + 1
        # rotated index (i, j, k) -> frame point c + (a0 + i s) u + (b0 + j s) v -> source index
        matrix = np.array(
            [[s * u[0] / d[0], s * v[0] / d[0], 0.0], [s * u[1] / d[1], s * v[1] / d[1], 0.0], [0.0, 0.0, 1.0]]
        )
        start = c + a0 * u + b0 * v
        offset = np.array([(start[0] - o[0]) / d[0], (start[1] - o[1]) / d[1], 0.0])
        shape = (na, nb, g.shape[2])
        hu = ndimage.affine_transform(g.hu, matrix, offset, output_shape=shape, order=1, mode="constant", cval=-1000.0)
        to_src = np.eye(4)
        to_src[:3, :3] = matrix
        to_src[:3, 3] = offset
        frame = np.diag([s, s, d[2], 1.0])
        frame[:3, 3] = [c[0] + a0, c[1] + b0, o[2]]
        world = (g.world_affine if g.world_affine is not None else g.affine) @ to_src
        rotated = WorkGrid(
            hu=np.ascontiguousarray(hu, dtype=np.float32),
            affine=frame,
            factors=g.factors,
            full_shape=g.full_shape,
            world_affine=world,
        )
        return cls(rotated, matrix, offset, (g.shape[0], g.shape[1], g.shape[2]))

    def labels_back(self, lab: np.ndarray) -> np.ndarray:
        """A label map of the rotated grid on the source grid (nearest neighbour; outside = 0)."""
        inv = np.linalg.inv(self.matrix)
        return ndimage.affine_transform(
            lab, inv, -inv @ self.offset, output_shape=self.source_shape, order=0, mode="constant", cval=0
        )
