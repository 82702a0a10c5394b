"""Synthetic chest (and abdominal) CT phantoms with known structure masks.

:func:`make_phantom` draws a smooth, anatomically placed chest (body, lungs with oblique/horizontal fissures
and five lobes, trachea and main/lobar bronchi, heart, aorta, esophagus, thyroid, ribs, vertebrae, sternum,
clavicles, scapulae, breasts, liver, spleen, stomach) in realistic HU, on a canonical RAS grid (array axis 0
grows towards the patient's Right, axis 1 Anterior, axis 2 Superior). World coordinates are millimetres with
the body centre near the origin, so the patient's **left** lung is at negative world x (low axis-0 index).

Optional lesions (a nodule of a given diameter in a given lobe, a pleural effusion on one side) come with
their masks, so later stages can produce reports whose truth is known.

The anatomy runs from the head of the femurs to the neck, so any **field of view** can be drawn: ``z_range``
gives the world z of the lowest and highest slice (``make_phantom(z_range=(-470, -50))`` is an abdominal CT from
the pelvis to the lung bases), and :data:`FOV_PRESETS` / :func:`make_fov_phantom` name the usual ones (chest,
chest CTs stopping at various levels, abdominal CTs with and without the lung bases). Below the chest the phantom
has kidneys, colon and small bowel with gas (air-fluid levels), the urinary bladder (fluid, labelled abdominal
tissue: it has no RadGenome mask name) and the pelvic bones
(``abdomen=True``, the default whenever the field of view reaches below the liver).

:func:`write_phantom_nifti` writes the CT (and optionally the label map) with any axis code ("RAS", "LPS",
"PIR", ...): the array is reoriented with nibabel's orientation utilities and the affine changed to match, so
the same anatomy sits on the same physical points whatever the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FOV_PRESETS",
    "LOBES",
    "Phantom",
    "make_ctrate_sized",
    "make_fov_phantom",
    "make_phantom",
    "reorient_array",
    "write_phantom_nifti",
]

LOBES: tuple[str, ...] = (
    "right lung upper lobe",
    "right lung middle lobe",
    "right lung lower lobe",
    "left lung upper lobe",
    "left lung lower lobe",
)

# ---------------------------------------------------------------------------------------------------------
# Anatomy parameters (mm, world RAS: +x patient right, +y anterior, +z superior; body centre near 0)
# ---------------------------------------------------------------------------------------------------------
BODY_CY = -5.0
BODY_AX, BODY_AY = 150.0, 112.0  # chest body half-axes
NECK_AX, NECK_AY, NECK_CY = 65.0, 60.0, 0.0
NECK_Z0, NECK_Z1 = 150.0, 175.0  # chest -> neck transition
FAT_MM = 12.0  # subcutaneous fat thickness
CAV_AX, CAV_AY = 114.0, 82.0  # pleural cavity half-axes
CAV_ZMID, CAV_ZTOP = 40.0, 150.0  # cavity narrows above CAV_ZMID to 0 at CAV_ZTOP
LUNG_APEX_Z = 140.0
MED_HALF_WIDTH = 22.0  # mediastinal band |x| < this
DOME_TOP = {1: -55.0, -1: -65.0}  # right dome higher than left
DOME_X = 55.0
DOME_DROP = 50.0
DIAPHRAGM_MM = 6.0  # diaphragm muscle + gastric wall between the lung base and the gastric gas
FISSURE_OBLIQUE = {1: (-10.0, 0.8), -1: (-4.0, 0.8)}  # z = c - m*y (posterior-superior to anterior-inferior)
FISSURE_HORIZONTAL_Z = 15.0  # right horizontal fissure
HEART_C, HEART_R = (-20.0, 25.0, -22.0), (55.0, 45.0, 45.0)
LIVER_C, LIVER_R = (35.0, 5.0, -110.0), (95.0, 80.0, 75.0)
SPLEEN_C, SPLEEN_R = (-85.0, -40.0, -100.0), (22.0, 40.0, 35.0)
STOMACH_C, STOMACH_R = (-50.0, 35.0, -105.0), (38.0, 32.0, 32.0)
VERT_C = (0.0, -60.0)
VERT_R = 18.0
CANAL_C, CANAL_R = (0.0, -86.0), 8.0
T1_Z, VERT_PITCH, DISC_MM = 135.0, 25.0, 4.0
RIB_R = 5.0
RIB_OFFSET = 8.0  # rib centreline this far outside the cavity ellipse
CLAV_R = 7.0
THYROID_Z = 122.0
# abdomen and pelvis (drawn with ``abdomen=True``)
ABDOMEN_AUTO_Z = -170.0  # a grid reaching below this gets the abdomen by default
PELVIS_Z0, PELVIS_Z1 = -250.0, -310.0  # abdomen -> pelvis transition (body widens)
PELVIS_AX, PELVIS_AY, PELVIS_CY = 165.0, 106.0, 0.0
KIDNEY_C = {1: (70.0, -45.0, -192.0), -1: (-70.0, -45.0, -178.0)}  # right kidney lower
KIDNEY_R = (28.0, 22.0, 52.0)
BLADDER_C, BLADDER_R = (0.0, 45.0, -415.0), (48.0, 36.0, 34.0)
ILIAC_C, ILIAC_R = (0.0, 25.0, -335.0), (128.0, 92.0, 78.0)  # the wings are a shell of this ellipsoid
ILIAC_SHELL_MM = 7.0
ILIAC_CREST_Z = -262.0
FEMUR_HEAD_C, FEMUR_HEAD_R = (95.0, 8.0, -420.0), 24.0
BOWEL_WALL_MM = 3.0

HU = {
    "air": -1000.0,
    "lung": -850.0,
    "fat": -100.0,
    "muscle": 45.0,
    "soft": 40.0,
    "blood": 45.0,
    "heart": 42.0,
    "liver": 60.0,
    "spleen": 48.0,
    "stomach": 25.0,
    "esophagus": 35.0,
    "thyroid": 90.0,
    "gland": 25.0,
    "cortical": 900.0,
    "trabecular": 250.0,
    "disc": 80.0,
    "canal": 20.0,
    "fissure": -650.0,
    "nodule": 30.0,
    "effusion": 15.0,
    "airway_wall": 0.0,
    "kidney": 32.0,
    "bladder": 8.0,
    "bowel_wall": 40.0,
    "bowel_fluid": 15.0,
    "pelvic_bone": 420.0,
    "femur": 600.0,
}


CONTRAST_HU = {
    "blood": 260.0,
    "chamber": 250.0,
    "heart": 110.0,
    "liver": 105.0,
    "spleen": 120.0,
    "thyroid": 160.0,
    "kidney": 170.0,
}


@dataclass
class Phantom:
    """A synthetic chest CT with its known label map (canonical RAS array order)."""

    hu: np.ndarray
    """int16 HU volume."""
    affine: np.ndarray
    """4x4 RAS voxel-to-world affine (diagonal spacing, body centre near world 0)."""
    labelmap: np.ndarray
    """uint8 label map, same shape as ``hu``; 0 = outside the body."""
    labels: dict[int, str]
    """Label id -> structure name (RadGenome mask names; ``body`` is the one extra)."""
    lesions: dict[str, np.ndarray] = field(default_factory=dict)
    """Lesion name (``lung nodule``, ``lung effusion``) -> boolean mask."""
    findings: list[dict[str, Any]] = field(default_factory=list)
    """Ground truth of the lesions drawn (type, location, size in mm, centroid in mm)."""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def spacing(self) -> tuple[float, float, float]:
        z = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))

    @property
    def ids(self) -> dict[str, int]:
        """Structure name -> label id."""
        return {v: k for k, v in self.labels.items()}

    def mask(self, *names: str) -> np.ndarray:
        """Boolean mask of the union of the named structures (names absent from the phantom are ignored)."""
        ids = [i for i, n in self.labels.items() if n in names]
        return np.isin(self.labelmap, ids)

    def mask_prefix(self, prefix: str) -> np.ndarray:
        """Union of the structures whose name starts with ``prefix`` (e.g. ``left rib``)."""
        ids = [i for i, n in self.labels.items() if n.startswith(prefix)]
        return np.isin(self.labelmap, ids)


# ---------------------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------------------
def _cavity_scale(z: np.ndarray | float) -> np.ndarray:
    """Shrink factor of the thoracic cavity cross-section with height (1 below CAV_ZMID, 0 at CAV_ZTOP)."""
    zz = np.asarray(z, dtype=np.float32)
    t = np.clip((zz - CAV_ZMID) / (CAV_ZTOP - CAV_ZMID), 0.0, 1.0)
    return np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0)).astype(np.float32)


def _body_axes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.clip((z - NECK_Z0) / (NECK_Z1 - NECK_Z0), 0.0, 1.0).astype(np.float32)
    t = t * t * (3 - 2 * t)
    ax = BODY_AX + (NECK_AX - BODY_AX) * t
    ay = BODY_AY + (NECK_AY - BODY_AY) * t
    cy = BODY_CY + (NECK_CY - BODY_CY) * t
    zz = np.asarray(z, dtype=np.float32)
    if float(zz.min()) < PELVIS_Z0:  # the pelvis is wider and flatter than the chest
        p = np.clip((PELVIS_Z0 - zz) / (PELVIS_Z0 - PELVIS_Z1), 0.0, 1.0).astype(np.float32)
        p = p * p * (3 - 2 * p)
        ax = ax + (PELVIS_AX - BODY_AX) * p
        ay = ay + (PELVIS_AY - BODY_AY) * p
        cy = cy + (PELVIS_CY - BODY_CY) * p
    return ax, ay, cy


def _diaphragm_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the diaphragm surface: two domes, the right one higher."""
    domes = []
    for s in (1, -1):
        r2 = ((x - s * DOME_X) / 100.0) ** 2 + ((y - BODY_CY) / 85.0) ** 2
        domes.append(DOME_TOP[s] - DOME_DROP * r2)
    return np.maximum(domes[0], domes[1])


def _ellipsoid(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: Sequence[float], r: Sequence[float]) -> np.ndarray:
    return ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2 <= 1.0


def _vertebra_levels(z_lo: float, z_hi: float) -> list[tuple[str, float]]:
    """(name, centre z) of the vertebrae whose bodies intersect [z_lo, z_hi]."""
    out: list[tuple[str, float]] = []
    for k in range(-7, 18):  # C1..C7 (k=-7..-1), T1..T12 (0..11), L1..L5 (12..16), S1 (17)
        zc = T1_Z - k * VERT_PITCH
        if zc + VERT_PITCH / 2 < z_lo or zc - VERT_PITCH / 2 > z_hi:
            continue
        if k < 0:
            n = 8 + k
            name = f"cervical vertebrae {n} (c{n})"
        elif k < 12:
            name = f"thoracic vertebrae {k + 1} (t{k + 1})"
        elif k < 17:
            name = f"lumbar vertebrae {k - 11} (l{k - 11})"
        else:
            name = "sacral vertebrae 1 (s1)"
        out.append((name, zc))
    return out


def _rib_path(side: int, k: int, n: int = 40) -> tuple[np.ndarray, float]:
    """Centreline (n, 3) of rib ``k`` (1..12) on one side, and its radius."""
    z_post = T1_Z - (k - 1) * VERT_PITCH - 5.0
    end = {1: 2.55, 2: 2.6, 3: 2.65, 4: 2.65, 5: 2.65, 6: 2.6, 7: 2.5, 8: 2.25, 9: 2.05, 10: 1.9}.get(k, 1.35)
    phi = np.linspace(0.28, end, n)
    drop = 18.0 + 2.5 * min(k, 8)
    z = z_post - drop * (1 - np.cos(phi)) / 2.0 * 1.6
    scale = np.maximum(_cavity_scale(z), 0.35)
    ax = CAV_AX * scale + RIB_OFFSET
    ay = CAV_AY * scale + RIB_OFFSET
    x = side * ax * np.sin(phi)
    y = BODY_CY - ay * np.cos(phi)
    pts = np.stack([x, y, z], axis=1)
    # join the head of the rib to the vertebra
    head = np.array([[side * 14.0, VERT_C[1] - 6.0, z_post + 2.0]])
    return np.concatenate([head, pts], axis=0), RIB_R if k > 1 else RIB_R * 0.9


# ---------------------------------------------------------------------------------------------------------
# Painting on a grid
# ---------------------------------------------------------------------------------------------------------
class _Grid:
    def __init__(self, shape: tuple[int, int, int], spacing: Sequence[float], origin: Sequence[float]) -> None:
        self.shape = shape
        self.spacing = np.asarray(spacing, dtype=np.float64)
        self.origin = np.asarray(origin, dtype=np.float64)
        self.axes = [(self.origin[a] + self.spacing[a] * np.arange(shape[a])).astype(np.float32) for a in range(3)]

    def index_box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice] | None:
        i0 = np.floor((lo - self.origin) / self.spacing).astype(int)
        i1 = np.ceil((hi - self.origin) / self.spacing).astype(int) + 1
        i0 = np.clip(i0, 0, self.shape)
        i1 = np.clip(i1, 0, self.shape)
        if np.any(i1 <= i0):
            return None
        return (slice(i0[0], i1[0]), slice(i0[1], i1[1]), slice(i0[2], i1[2]))

    def coords(self, box: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self.axes[0][box[0]][:, None, None]
        y = self.axes[1][box[1]][None, :, None]
        z = self.axes[2][box[2]][None, None, :]
        return x, y, z


def _capsule_boxes(
    grid: _Grid, pts: np.ndarray, radii: np.ndarray
) -> list[tuple[tuple[slice, slice, slice], np.ndarray]]:
    """For each segment of a polyline tube: (index box, distance-minus-radius field on the box)."""
    out = []
    for a, b, ra, rb in zip(pts[:-1], pts[1:], radii[:-1], radii[1:], strict=True):
        rmax = max(ra, rb)
        box = grid.index_box(np.minimum(a, b) - rmax - 1, np.maximum(a, b) + rmax + 1)
        if box is None:
            continue
        x, y, z = grid.coords(box)
        ab = (b - a).astype(np.float32)
        L2 = float(ab @ ab) or 1e-6
        t = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1] + (z - a[2]) * ab[2]) / L2
        t = np.clip(t, 0.0, 1.0)
        d = np.sqrt((x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 + (z - a[2] - t * ab[2]) ** 2)
        out.append((box, d - (ra + t * (rb - ra))))
    return out


def _paint_tube(
    grid: _Grid,
    labelmap: np.ndarray,
    hu: np.ndarray,
    pts: np.ndarray,
    radii: np.ndarray | float,
    label: int | None,
    hu_value: float,
    inner: tuple[float, float] | None = None,
    only_where: np.ndarray | None = None,
) -> None:
    """Paint a polyline tube: label + HU inside; ``inner=(depth, hu)`` paints a core deeper than ``depth``."""
    pts = np.asarray(pts, dtype=np.float32)
    r = np.broadcast_to(np.asarray(radii, dtype=np.float32), (len(pts),))
    for box, dd in _capsule_boxes(grid, pts, r):
        m = dd <= 0
        if only_where is not None:
            m &= only_where[box]
        if label is not None:
            labelmap[box][m] = label
        hu[box][m] = hu_value
    if inner is not None:
        depth, hu_in = inner
        for box, dd in _capsule_boxes(grid, pts, np.maximum(r - depth, 0.5)):
            m = dd <= 0
            if only_where is not None:
                m &= only_where[box]
            hu[box][m] = hu_in


def _airway_tree() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, centreline, radii) of the trachea and the main + lobar bronchi (lumen)."""
    carina = (0.0, -5.0, 40.0)
    trachea = np.array([(0.0, 5.0, 400.0), (0.0, 5.0, 140.0), carina])
    tr = np.array([9.0, 9.0, 8.5])
    branches = [
        [carina, (28.0, -8.0, 22.0), (40.0, -10.0, 5.0), (55.0, -30.0, -30.0)],  # right main -> RLL
        [(28.0, -8.0, 22.0), (58.0, -5.0, 38.0)],  # RUL
        [(40.0, -10.0, 5.0), (58.0, 28.0, -8.0)],  # RML
        [carina, (-40.0, -10.0, 25.0), (-62.0, -32.0, -28.0)],  # left main -> LLL
        [(-40.0, -10.0, 25.0), (-62.0, 12.0, 38.0)],  # LUL
    ]
    radii = [[7.0, 6.0, 5.5, 4.0], [4.5, 3.5], [3.8, 3.0], [6.5, 5.5, 4.0], [4.5, 3.5]]
    out = [("trachea", trachea, tr)]
    for b, r in zip(branches, radii, strict=True):
        out.append(("bronchie", np.array(b), np.array(r)))
    return out


def _aorta_path() -> np.ndarray:
    return np.array(
        [
            (5.0, 25.0, -8.0),
            (12.0, 25.0, 45.0),
            (0.0, 25.0, 72.0),
            (-26.0, 8.0, 80.0),
            (-28.0, -20.0, 72.0),
            (-25.0, -35.0, 55.0),
            (-24.0, -36.0, 0.0),
            (-20.0, -36.0, -100.0),
            (-12.0, -32.0, -180.0),
            (-12.0, -30.0, -400.0),
        ]
    )


def _esophagus_path() -> np.ndarray:
    return np.array(
        [
            (-2.0, -16.0, 400.0),
            (-2.0, -18.0, 140.0),
            (-5.0, -24.0, 40.0),
            (-10.0, -22.0, -40.0),
            (-35.0, 15.0, -85.0),
        ]
    )


# ---------------------------------------------------------------------------------------------------------
# The phantom
# ---------------------------------------------------------------------------------------------------------
def _structure_names(female: bool, z_lo: float, z_hi: float, abdomen: bool = False) -> list[str]:
    names = ["body", "abdominal tissue", "mediastinal tissue", *LOBES]
    names += ["liver", "spleen", "stomach", "heart", "aorta", "esophagus", "trachea", "bronchie"]
    names += ["left thyroid", "right thyroid"]
    if female:
        names += ["left breast", "right breast"]
    names += [n for n, _ in _vertebra_levels(z_lo, z_hi)]
    names += [f"{side} rib {k}" for side in ("left", "right") for k in range(1, 13)]
    names += ["sternum", "left clavicle", "right clavicle", "left scapula", "right scapula"]
    names += ["lung nodule", "lung effusion"]
    if abdomen:
        names += ["left kidney", "right kidney", "colon", "small bowel", "rectum", "bone"]
        names += ["head of left femur", "head of right femur", "left femur", "right femur"]
    return names


# Bowel: (label, centreline, radius, gas level per point). The gas level is the height of the air-fluid level
# above the centreline as a fraction of the lumen radius (supine: gas rises anteriorly, +y); None = no gas.
_COLON = (
    (70.0, 20.0, -340.0),
    (82.0, 6.0, -300.0),
    (86.0, 4.0, -250.0),
    (82.0, 12.0, -212.0),
    (70.0, 36.0, -196.0),  # hepatic flexure
    (35.0, 62.0, -205.0),
    (0.0, 70.0, -212.0),  # transverse colon
    (-40.0, 62.0, -200.0),
    (-86.0, 18.0, -160.0),  # splenic flexure
    (-96.0, 0.0, -200.0),
    (-96.0, -4.0, -300.0),  # descending colon
    (-70.0, 18.0, -345.0),
    (-25.0, 32.0, -362.0),  # sigmoid
    (0.0, -30.0, -378.0),
)
_COLON_GAS = (None, None, 0.2, 0.0, -0.3, -0.4, -0.4, -0.3, -0.2, 0.1, None, 0.3, 0.0, None)
_RECTUM = ((0.0, -30.0, -378.0), (0.0, -55.0, -400.0), (0.0, -62.0, -460.0))
_RECTUM_GAS = (0.2, 0.4, None)


def _small_bowel_path() -> tuple[np.ndarray, tuple[float | None, ...]]:
    """A serpentine of small-bowel loops in the mid abdomen (four horizontal passes joined at the ends)."""
    pts: list[tuple[float, float, float]] = []
    gas: list[float | None] = []
    for k, z in enumerate((-228.0, -252.0, -276.0, -300.0)):
        y = 42.0 if k % 2 == 0 else 18.0
        xs = (-52.0, -18.0, 16.0, 48.0) if k % 2 == 0 else (48.0, 16.0, -18.0, -52.0)
        for j, x in enumerate(xs):
            pts.append((x, y + (6.0 if j % 2 else -6.0), z))
            gas.append(0.35 if k in (0, 2) and j in (1, 2) else None)
    return np.array(pts), tuple(gas)


def make_phantom(
    shape: tuple[int, int, int] = (96, 96, 80),
    spacing: tuple[float, float, float] = (3.5, 3.5, 4.0),
    seed: int = 0,
    *,
    female: bool = False,
    noise: float = 12.0,
    lung_noise: float = 30.0,
    touching_lungs: bool = False,
    fissures: bool = True,
    stomach_gas: bool = True,
    contrast: bool = False,
    table: bool = False,
    vessels: bool = True,
    nodule: tuple[str, float] | None = None,
    effusion: str | None = None,
    effusion_depth_mm: float = 30.0,
    chunk_slices: int = 24,
    z_range: tuple[float, float] | None = None,
    abdomen: bool | None = None,
    bowel_gas: bool = True,
) -> Phantom:
    """Draw a synthetic chest CT.

    Args:
        shape, spacing: canonical RAS grid (axis 0 -> R, 1 -> A, 2 -> S) and voxel size (mm).
        seed: noise seed.
        female: draw breasts (``left breast``/``right breast``).
        noise: HU noise std in soft tissue; ``lung_noise`` in the lung parenchyma.
        touching_lungs: let the lungs meet at the anterior junction line (a hard case for left/right split).
        fissures: draw the lobar fissures as thin denser sheets.
        stomach_gas: put an air bubble in the gastric fundus (a classic lung-segmentation distractor).
        vessels: draw pulmonary vessel trees from each hilum (blood HU, labelled as the lung lobe they run in,
            as lung masks include their vessels).
        table: draw the scanner table under the patient (label 0: not patient), touching the back.
        contrast: portal-venous contrast: blood pool (heart chambers, aorta) ~260 HU, enhanced myocardium,
            liver, spleen and thyroid (the case where blood exceeds a naive bone threshold).
        nodule: ``(lobe name, diameter mm)`` — a solid nodule in that lobe (label ``lung nodule``).
        effusion: ``"left"``/``"right"`` — a dependent pleural effusion (label ``lung effusion``).
        effusion_depth_mm: maximal depth of the effusion from the posterior chest wall.
        chunk_slices: slices processed at once (bounds memory on large grids).
        z_range: world z (mm) of the lowest and the highest slice: the field of view (``shape[2]`` is then
            derived from it and the z spacing). Default: the grid centred on world 0 (a chest CT). Landmarks:
            lung apex 140, carina 40, diaphragm domes -55 (right) / -65 (left), lowest lung about -112,
            kidneys -125..-245, iliac crests -262, femoral heads -420.
        abdomen: draw kidneys, colon, small bowel, rectum, bladder and the pelvic bones; None: when the field
            of view reaches below ``ABDOMEN_AUTO_Z`` (the default chest grid does not).
        bowel_gas: gas (air-fluid levels) in colon, small bowel and rectum (needs the abdomen).
    """
    sp = np.asarray(spacing, dtype=np.float64)
    if z_range is not None:
        lo, hi = float(min(z_range)), float(max(z_range))
        shape = (int(shape[0]), int(shape[1]), max(2, round((hi - lo) / float(sp[2])) + 1))
    shape = (int(shape[0]), int(shape[1]), int(shape[2]))
    rng = np.random.default_rng(seed)
    tab = dict(HU)
    if contrast:
        tab.update(CONTRAST_HU)
    # Body centre at world (0, BODY_CY-ish, 0): put the array centre at world 0 (z centred on the chest).
    origin = -sp * (np.asarray(shape) - 1) / 2.0
    if z_range is not None:
        origin[2] = min(z_range)
    affine = np.diag([*sp.tolist(), 1.0])
    affine[:3, 3] = origin
    grid = _Grid(shape, sp, origin)
    z_lo, z_hi = float(grid.axes[2][0]), float(grid.axes[2][-1])
    if abdomen is None:
        abdomen = z_lo < ABDOMEN_AUTO_Z

    names = _structure_names(female, z_lo - 30.0, z_hi + 30.0, abdomen)
    ids = {n: i + 1 for i, n in enumerate(names)}
    labelmap = np.zeros(shape, dtype=np.uint8)
    hu = np.full(shape, tab["air"], dtype=np.float32)
    lung_ids = [ids[n] for n in LOBES]

    x2 = grid.axes[0][:, None, None]
    y2 = grid.axes[1][None, :, None]
    dia2 = _diaphragm_z(x2, y2)  # (nx, ny, 1)
    for k0 in range(0, shape[2], chunk_slices):
        sl = slice(k0, min(shape[2], k0 + chunk_slices))
        z = grid.axes[2][sl][None, None, :]
        _paint_chunk(
            labelmap[:, :, sl],
            hu[:, :, sl],
            x2,
            y2,
            z,
            dia2,
            ids,
            female,
            touching_lungs,
            fissures,
            stomach_gas,
            grid.spacing,
            tab,
            abdomen,
        )

    lungs = np.isin(labelmap, lung_ids)
    body = labelmap > 0
    # Tubes: aorta, esophagus, airway (lumen + wall)
    _paint_tube(
        grid,
        labelmap,
        hu,
        _aorta_path(),
        np.array([13, 13, 12, 12, 12, 12, 12, 11, 11, 11.0]),
        ids["aorta"],
        tab["blood"],
        only_where=body,
    )
    _paint_tube(
        grid,
        labelmap,
        hu,
        _esophagus_path(),
        8.0,
        ids["esophagus"],
        tab["esophagus"],
        inner=(6.0, -600.0),
        only_where=body,
    )
    for _name, pts, r in _airway_tree():
        _paint_tube(grid, labelmap, hu, pts, r + 2.0, None, tab["airway_wall"], only_where=body)
    for name, pts, r in _airway_tree():
        _paint_tube(grid, labelmap, hu, pts, r, ids[name], tab["air"], only_where=body)
    if abdomen:
        _paint_abdomen_tubes(grid, labelmap, hu, ids, tab, body, bowel_gas)
    # Thyroid lobes flanking the trachea at the inlet (+ isthmus drawn with the right lobe)
    _paint_tube(
        grid,
        labelmap,
        hu,
        np.array([(19.0, 14.0, THYROID_Z - 20), (19.0, 16.0, THYROID_Z + 20)]),
        9.0,
        ids["right thyroid"],
        tab["thyroid"],
        only_where=body,
    )
    _paint_tube(
        grid,
        labelmap,
        hu,
        np.array([(-19.0, 14.0, THYROID_Z - 20), (-19.0, 16.0, THYROID_Z + 20)]),
        9.0,
        ids["left thyroid"],
        tab["thyroid"],
        only_where=body,
    )
    _paint_tube(
        grid,
        labelmap,
        hu,
        np.array([(10.0, 20.0, THYROID_Z - 12), (0.0, 21.0, THYROID_Z - 12)]),
        5.0,
        ids["right thyroid"],
        tab["thyroid"],
        only_where=body,
    )
    _paint_tube(
        grid,
        labelmap,
        hu,
        np.array([(-10.0, 20.0, THYROID_Z - 12), (0.0, 21.0, THYROID_Z - 12)]),
        5.0,
        ids["left thyroid"],
        tab["thyroid"],
        only_where=body,
    )
    # Ribs and clavicles (cortex + trabecular core)
    for side, sname in ((1, "right"), (-1, "left")):
        for k in range(1, 13):
            pts, r = _rib_path(side, k)
            _paint_tube(
                grid,
                labelmap,
                hu,
                pts,
                r,
                ids[f"{sname} rib {k}"],
                tab["cortical"],
                inner=(1.6, tab["trabecular"]),
                only_where=body,
            )
        clav = np.array([(side * 18.0, 82.0, 128.0), (side * 60.0, 62.0, 136.0), (side * 125.0, 0.0, 146.0)])
        _paint_tube(
            grid,
            labelmap,
            hu,
            clav,
            CLAV_R,
            ids[f"{sname} clavicle"],
            tab["cortical"],
            inner=(1.8, tab["trabecular"]),
            only_where=body,
        )
    labels = {i: n for n, i in ids.items()}

    lesions: dict[str, np.ndarray] = {}
    findings: list[dict[str, Any]] = []
    if effusion is not None:
        m = _effusion_mask(labelmap, grid, ids, effusion, effusion_depth_mm)
        labelmap[m] = ids["lung effusion"]
        hu[m] = tab["effusion"]
        lesions["lung effusion"] = m
        findings.append(
            {
                "type": "pleural effusion",
                "side": effusion,
                "voxels": int(m.sum()),
                "volume_ml": float(m.sum() * np.prod(sp) / 1000.0),
                "depth_mm": float(effusion_depth_mm),
            }
        )
    if nodule is not None:
        m, centre = _nodule_mask(labelmap, grid, ids, nodule[0], float(nodule[1]))
        labelmap[m] = ids["lung nodule"]
        hu[m] = tab["nodule"]
        lesions["lung nodule"] = m
        findings.append(
            {
                "type": "lung nodule",
                "lobe": nodule[0],
                "diameter_mm": float(nodule[1]),
                "centroid_mm": [float(c) for c in centre],
            }
        )

    if vessels:
        _paint_vessels(grid, labelmap, hu, lung_ids, tab["blood"], np.random.default_rng(seed + 1000))
    if table:
        _paint_table(grid, labelmap, hu)
    # Noise: texture in the lungs, quantum noise elsewhere
    lungs = np.isin(labelmap, lung_ids)
    body = labelmap > 0
    for k0 in range(0, shape[2], chunk_slices):
        sl = slice(k0, min(shape[2], k0 + chunk_slices))
        n = rng.standard_normal(hu[:, :, sl].shape, dtype=np.float32)
        sigma = np.where(lungs[:, :, sl], np.float32(lung_noise), np.float32(noise))
        sigma = np.where(body[:, :, sl], sigma, np.float32(6.0))
        hu[:, :, sl] += n * sigma
    out = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    present = set(np.unique(labelmap).tolist())
    labels = {i: n for i, n in labels.items() if i in present}
    opts = {
        "shape": shape,
        "spacing": tuple(float(s) for s in spacing),
        "seed": seed,
        "female": female,
        "touching_lungs": touching_lungs,
        "nodule": nodule,
        "effusion": effusion,
        "contrast": contrast,
        "table": table,
        "z_range": (z_lo, z_hi),
        "abdomen": abdomen,
        "bowel_gas": bowel_gas and abdomen,
    }
    return Phantom(
        hu=out,
        affine=affine,
        labelmap=labelmap,
        labels=labels,
        lesions=lesions,
        findings=findings,
        options=opts,
    )


def _paint_chunk(
    lab: np.ndarray,
    hu: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    dia: np.ndarray,
    ids: dict[str, int],
    female: bool,
    touching_lungs: bool,
    fissures: bool,
    stomach_gas: bool,
    spacing: np.ndarray,
    tab: dict[str, float],
    abdomen: bool = False,
) -> None:
    """Paint the smooth (formula-defined) structures of a slab of slices in place (HU from ``tab``)."""

    def put(mask: np.ndarray, name: str | None, value: float) -> None:
        if name is not None:
            lab[mask] = ids[name]
        hu[mask] = value

    ax, ay, cy = _body_axes(z)
    rb = ((x / ax) ** 2 + ((y - cy) / ay) ** 2).astype(np.float32)
    body = rb <= 1.0
    put(body, "body", tab["fat"])
    inner = (x / (ax - FAT_MM)) ** 2 + ((y - cy) / (ay - FAT_MM)) ** 2 <= 1.0
    put(inner, None, tab["muscle"])
    below = z < dia
    put(body & below, "abdominal tissue", tab["fat"])
    put(inner & below, None, tab["soft"])
    if female:
        for s, name in ((1, "right breast"), (-1, "left breast")):
            e = _ellipsoid(x, y, z, (s * 72.0, 92.0, -15.0), (52.0, 48.0, 58.0)) & ~inner
            put(e, name, tab["fat"])
            put(e & _ellipsoid(x, y, z, (s * 72.0, 100.0, -15.0), (30.0, 25.0, 35.0)), None, tab["gland"])

    # thoracic cavity and lungs
    g = _cavity_scale(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        rc = (x / np.maximum(CAV_AX * g, 1e-3)) ** 2 + ((y - BODY_CY) / np.maximum(CAV_AY * g, 1e-3)) ** 2
    cavity = (rc <= 1.0) & ~below & (z < LUNG_APEX_Z + 5)
    band = np.abs(x) < MED_HALF_WIDTH
    if touching_lungs:
        band = band & ~((y > 35.0) & (z > 5.0) & (z < 90.0) & (np.abs(x) > 1.0))
    lung = cavity & ~band & (z < LUNG_APEX_Z)
    lung &= ~_ellipsoid(x, y, z, HEART_C, HEART_R)
    # spine and its paravertebral fat stay out of the lungs
    lung &= ~(((x - VERT_C[0]) ** 2 + (y - VERT_C[1]) ** 2) <= (VERT_R + 10.0) ** 2)
    put(cavity & ~lung, "mediastinal tissue", tab["fat"])
    right = x > 0
    for s, side in ((1, "right"), (-1, "left")):
        c, m = FISSURE_OBLIQUE[s]
        zf = c - m * (y - BODY_CY) + 0.08 * s * x
        lower = z < zf
        side_m = lung & (right if s == 1 else ~right)
        put(side_m & lower, f"{side} lung lower lobe", tab["lung"])
        if s == 1:
            zh = FISSURE_HORIZONTAL_Z + 0.1 * (y - BODY_CY)
            put(side_m & ~lower & (z >= zh), "right lung upper lobe", tab["lung"])
            put(side_m & ~lower & (z < zh), "right lung middle lobe", tab["lung"])
            if fissures:
                put(side_m & ~lower & (np.abs(z - zh) < 0.5 * spacing[2]), None, tab["fissure"])
        else:
            put(side_m & ~lower, "left lung upper lobe", tab["lung"])
        if fissures:
            # distance to the oblique plane measured along z, scaled to its normal
            put(side_m & (np.abs(z - zf) / np.sqrt(1 + m * m) < 0.5 * spacing[2]), None, tab["fissure"])
    # abdomen organs
    abd = body & below
    put(abd & _ellipsoid(x, y, z, LIVER_C, LIVER_R) & (x > -45.0) & inner, "liver", tab["liver"])
    put(abd & _ellipsoid(x, y, z, SPLEEN_C, SPLEEN_R) & inner, "spleen", tab["spleen"])
    st = abd & _ellipsoid(x, y, z, STOMACH_C, STOMACH_R) & inner
    put(st, "stomach", tab["stomach"])
    if stomach_gas:
        # the gas stays under the diaphragm muscle and the gastric wall (DIAPHRAGM_MM)
        gas = st & (z > dia - 22.0) & (z < dia - DIAPHRAGM_MM) & _ellipsoid(x, y, z, STOMACH_C, (30.0, 24.0, 40.0))
        put(gas, None, tab["air"])
    if abdomen:
        for s, side in ((1, "right"), (-1, "left")):
            put(abd & inner & _ellipsoid(x, y, z, KIDNEY_C[s], KIDNEY_R), f"{side} kidney", tab["kidney"])
        # the bladder has no RadGenome mask name: it stays abdominal tissue (fluid HU)
        put(abd & inner & _ellipsoid(x, y, z, BLADDER_C, BLADDER_R), None, tab["bladder"])
    heart = _ellipsoid(x, y, z, HEART_C, HEART_R) & (z > dia - 4.0)
    put(heart, "heart", tab["heart"])
    if "chamber" in tab:  # contrast-filled chambers inside an 8 mm enhanced wall
        put(heart & _ellipsoid(x, y, z, HEART_C, [r - 8.0 for r in HEART_R]), None, tab["chamber"])

    # bones: vertebrae (body + posterior arch), sternum, scapulae
    r_vert = np.sqrt((x - VERT_C[0]) ** 2 + (y - VERT_C[1]) ** 2)
    r_canal = np.sqrt((x - CANAL_C[0]) ** 2 + (y - CANAL_C[1]) ** 2)
    arch = (r_canal > CANAL_R) & (r_canal <= CANAL_R + 7.0) & (y < VERT_C[1] - VERT_R + 8.0)
    spinous = (np.abs(x) < 4.0) & (y < CANAL_C[1]) & (y > CANAL_C[1] - 24.0)
    transverse = (np.abs(y - (CANAL_C[1] + 2.0)) < 4.5) & (np.abs(x) < 30.0)
    zz = z[0, 0, :]
    for name, zc in _vertebra_levels(float(zz.min()) - 30.0, float(zz.max()) + 30.0):
        level = np.abs(z - zc) <= (VERT_PITCH - DISC_MM) / 2.0
        vb = (r_vert <= VERT_R) & level
        put(vb, name, tab["cortical"])
        put(
            vb & (r_vert <= VERT_R - 2.0) & (np.abs(z - zc) <= (VERT_PITCH - DISC_MM) / 2.0 - 2.0),
            None,
            tab["trabecular"],
        )
        post = (arch | spinous | transverse) & (np.abs(z - zc + 3.0) <= (VERT_PITCH - DISC_MM) / 2.0) & body
        put(post, name, 500.0)
    put((r_vert <= VERT_R) & ~np.isin(lab, [ids[n] for n in ids if "vertebrae" in n]) & body, None, tab["disc"])
    hu[(r_canal <= CANAL_R) & body] = tab["canal"]

    ys = BODY_CY + BODY_AY - 20.0  # subcutaneous: about 14-26 mm below the anterior skin
    sternum = (np.abs(x) < 15.0) & (np.abs(y - ys) < 6.0) & (z > -15.0) & (z < 135.0) & body
    put(sternum, "sternum", tab["cortical"])
    put(sternum & (np.abs(x) < 13.0) & (np.abs(y - ys) < 4.0), None, tab["trabecular"])

    if abdomen:
        _paint_pelvis(put, x, y, z, body, tab)

    sc_ax, sc_ay = CAV_AX + 24.0, CAV_AY + 24.0
    rs = np.sqrt((x / sc_ax) ** 2 + ((y - BODY_CY) / sc_ay) ** 2)
    phi = np.arctan2(np.abs(x), -(y - BODY_CY))
    for s, name in ((1, "right scapula"), (-1, "left scapula")):
        sd = (x * s > 0) & (np.abs(rs - 1.0) * min(sc_ax, sc_ay) < 3.5) & (phi > 0.45) & (phi < 1.45)
        sd = sd & (z > 20.0 + 40.0 * (phi - 0.45)) & (z < 138.0) & inner
        put(sd, name, 700.0)


def _paint_pelvis(
    put: Any, x: np.ndarray, y: np.ndarray, z: np.ndarray, body: np.ndarray, tab: dict[str, float]
) -> None:
    """Iliac wings (a shell of an ellipsoid, posterior-lateral), sacrum, pubic bones and femoral heads."""
    if float(np.min(z)) > ILIAC_CREST_Z + 10.0:
        return
    r = np.sqrt(
        ((x - ILIAC_C[0]) / ILIAC_R[0]) ** 2
        + ((y - ILIAC_C[1]) / ILIAC_R[1]) ** 2
        + ((z - ILIAC_C[2]) / ILIAC_R[2]) ** 2
    )
    shell = np.abs(r - 1.0) * min(ILIAC_R) < ILIAC_SHELL_MM / 2.0
    wing = shell & (np.abs(x) > 42.0) & (y < 45.0) & (z < ILIAC_CREST_Z) & (z > FEMUR_HEAD_C[2] + 10.0)
    # sacrum: a posterior midline wedge below S1, curving backwards
    zs = np.clip((-302.0 - z) / 100.0, 0.0, 1.0)
    sac = (z < -302.0) & (z > -400.0) & (np.abs(x) < 48.0 - 30.0 * zs)
    sac = sac & (y < -50.0 - 25.0 * zs) & (y > -78.0 - 30.0 * zs)
    # pubic bones: from the acetabula to the symphysis
    pub = (np.abs(z - (FEMUR_HEAD_C[2] - 8.0)) < 9.0) & (np.abs(y - (45.0 + 0.35 * (90.0 - np.abs(x)))) < 8.0)
    pub = pub & (np.abs(x) < 90.0)
    put((wing | sac | pub) & body, "bone", tab["pelvic_bone"])
    for s, side in ((1, "right"), (-1, "left")):
        c = (s * FEMUR_HEAD_C[0], FEMUR_HEAD_C[1], FEMUR_HEAD_C[2])
        head = _ellipsoid(x, y, z, c, (FEMUR_HEAD_R,) * 3) & body
        put(head, f"head of {side} femur", tab["femur"])
        # neck and shaft: down and out from the head
        t = np.clip((c[2] - z) / 80.0, 0.0, 1.0)
        shaft = ((x - (c[0] + s * 28.0 * t)) ** 2 + (y - c[1]) ** 2 <= 15.0**2) & (z < c[2] - 12.0) & body
        put(shaft & ~head, f"{side} femur", tab["femur"])


def _paint_abdomen_tubes(
    grid: _Grid,
    labelmap: np.ndarray,
    hu: np.ndarray,
    ids: dict[str, int],
    tab: dict[str, float],
    body: np.ndarray,
    gas: bool,
) -> None:
    """Colon, rectum and small bowel: wall, fluid and (with ``gas``) an air-fluid level in parts of them."""
    sb, sb_gas = _small_bowel_path()
    for label, pts, r, levels in (
        ("colon", np.array(_COLON), 22.0, _COLON_GAS),
        ("rectum", np.array(_RECTUM), 18.0, _RECTUM_GAS),
        ("small bowel", sb, 12.0, sb_gas),
    ):
        pts = pts.astype(np.float32)
        radii = np.full(len(pts), r, dtype=np.float32)
        _paint_tube(grid, labelmap, hu, pts, radii, ids[label], tab["bowel_wall"], only_where=body)
        lumen = np.maximum(radii - BOWEL_WALL_MM, 1.0)
        _paint_tube(grid, labelmap, hu, pts, lumen, ids[label], tab["bowel_fluid"], only_where=body)
        if not gas:
            continue
        for k, (box, dd, t) in enumerate(_capsule_fields(grid, pts, lumen)):
            la, lb = levels[k], levels[min(k + 1, len(levels) - 1)]
            if (la is None and lb is None) or dd.size == 0:
                continue
            level = np.float32(la if la is not None else lb) * (1 - t) + np.float32(lb if lb is not None else la) * t
            yc = pts[k, 1] + t * (pts[k + 1, 1] - pts[k, 1])
            _, y, _ = grid.coords(box)
            m = (dd <= 0) & (y - yc > level * lumen[k]) & body[box]
            hu[box][m] = tab["air"]


def _capsule_fields(
    grid: _Grid, pts: np.ndarray, radii: np.ndarray
) -> list[tuple[tuple[slice, slice, slice], np.ndarray, np.ndarray]]:
    """Per segment of a polyline tube: (index box, distance-minus-radius, position along the segment 0..1)."""
    out = []
    for a, b, ra, rb in zip(pts[:-1], pts[1:], radii[:-1], radii[1:], strict=True):
        rmax = max(ra, rb)
        box = grid.index_box(np.minimum(a, b) - rmax - 1, np.maximum(a, b) + rmax + 1)
        if box is None:
            out.append(((slice(0, 0), slice(0, 0), slice(0, 0)), np.zeros((0, 0, 0), np.float32), np.zeros(0)))
            continue
        x, y, z = grid.coords(box)
        ab = (b - a).astype(np.float32)
        L2 = float(ab @ ab) or 1e-6
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1] + (z - a[2]) * ab[2]) / L2, 0.0, 1.0)
        d = np.sqrt((x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 + (z - a[2] - t * ab[2]) ** 2)
        out.append((box, d - (ra + t * (rb - ra)), t))
    return out


def _paint_vessels(
    grid: _Grid, labelmap: np.ndarray, hu: np.ndarray, lung_ids: list[int], value: float, rng: np.random.Generator
) -> None:
    """Branching vessel trees from each hilum into the lung (HU only: the voxels keep their lobe label)."""
    lung = np.isin(labelmap, lung_ids)
    segments: list[tuple[np.ndarray, np.ndarray, float]] = []
    for s in (1, -1):
        hilum = np.array([s * 42.0, 0.0, 15.0])
        stack = []
        for d in ((s, 0.3, 0.8), (s, 0.5, 0.0), (s, -0.4, -0.6), (s, 0.4, -0.7), (s, -0.6, 0.4)):
            stack.append((hilum, np.array(d) / np.linalg.norm(d), 5.5, 0))
        while stack:
            start, direction, r, gen = stack.pop()
            length = 45.0 - 8.0 * gen
            end = start + direction * length
            segments.append((start, end, r))
            if gen < 3 and r > 1.6:
                for _ in range(2):
                    d = direction + rng.normal(0.0, 0.45, 3)
                    d[0] = abs(d[0]) * s  # keep heading away from the mediastinum
                    stack.append((end, d / np.linalg.norm(d), r * 0.7, gen + 1))
    for a, b, r in segments:
        pts = np.stack([a, b]).astype(np.float32)
        for box, dd in _capsule_boxes(grid, pts, np.array([r, r * 0.85], dtype=np.float32)):
            m = (dd <= 0) & lung[box]
            hu[box][m] = value


def _paint_table(grid: _Grid, labelmap: np.ndarray, hu: np.ndarray) -> None:
    """A curved carbon-fibre table top (dense shell + foam core) under the back, with a thin pad touching it."""
    x = grid.axes[0][:, None]
    y = grid.axes[1][None, :]
    back = BODY_CY - BODY_AY  # most posterior point of the body
    curve = back - 4.0 + 0.0015 * x * x  # the table bends up at the sides
    pad = (y <= curve + 4.0) & (y > curve) & (np.abs(x) < 140.0)  # a 4 mm pad the back rests on
    top = (y <= curve) & (y > curve - 30.0) & (np.abs(x) < 200.0)
    shell = top & ((y > curve - 3.0) | (y < curve - 27.0))
    free = labelmap == 0
    for m, v in ((pad, -60.0), (top & ~shell, -900.0), (shell, 350.0)):
        mm = np.broadcast_to(m[:, :, None], hu.shape) & free
        hu[mm] = v


def _effusion_mask(labelmap: np.ndarray, grid: _Grid, ids: dict[str, int], side: str, depth: float) -> np.ndarray:
    """Dependent (posterior, supine) fluid replacing the lung's lowest-lying part on one side."""
    if side not in ("left", "right"):
        raise ValueError(f"effusion side must be 'left' or 'right', not {side!r}")
    lobes = [ids[n] for n in LOBES if n.startswith(side)]
    lung = np.isin(labelmap, lobes)
    if not lung.any():
        return np.zeros_like(lung)
    y = grid.axes[1][None, :, None]
    z = grid.axes[2][None, None, :]
    ymin = np.where(lung, y, np.float32(1e9)).min(axis=1, keepdims=True)  # most posterior lung per (x, z)
    zlow = float(z[0, 0, np.nonzero(lung.any(axis=(0, 1)))[0][0]])
    # thicker at the base, tapering upwards
    taper = np.clip(1.0 - (z - zlow) / 120.0, 0.0, 1.0)
    return lung & (y - ymin < depth * taper)


def _nodule_mask(
    labelmap: np.ndarray, grid: _Grid, ids: dict[str, int], lobe: str, diameter: float
) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    if lobe not in ids or lobe not in LOBES:
        raise ValueError(f"nodule lobe must be one of {LOBES}, not {lobe!r}")
    m = labelmap == ids[lobe]
    if not m.any():
        raise ValueError(f"lobe {lobe!r} is not inside the phantom's field of view")
    step = max(1, round(6.0 / float(grid.spacing.min())))
    sub = m[::step, ::step, ::step]
    d = ndimage.distance_transform_edt(sub, sampling=grid.spacing * step)
    idx = np.array(np.unravel_index(int(np.argmax(d)), sub.shape)) * step
    centre = grid.origin + idx * grid.spacing
    box = grid.index_box(centre - diameter, centre + diameter)
    out = np.zeros_like(m)
    if box is not None:
        x, y, z = grid.coords(box)
        r = diameter / 2.0
        ball = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= r * r
        out[box] = ball & m[box]
        if not out.any():  # smaller than a voxel: mark the centre voxel
            out[tuple(idx)] = True
    return out, centre


def make_ctrate_sized(seed: int = 0, **options: Any) -> Phantom:
    """A phantom on a CT-RATE-like grid: 512×512×300 at 0.7×0.7×1.5 mm."""
    return make_phantom(shape=(512, 512, 300), spacing=(0.7, 0.7, 1.5), seed=seed, **options)


FOV_PRESETS: dict[str, tuple[float, float]] = {
    "chest": (-158.0, 158.0),
    "neck_to_pelvis": (-470.0, 200.0),
    "neck_to_mid_chest": (-10.0, 200.0),
    "neck_to_lung_bases": (-90.0, 200.0),
    "carina_to_upper_abdomen": (-170.0, 30.0),
    "mid_chest_to_upper_abdomen": (-180.0, 0.0),
    "abdomen_with_lung_bases": (-470.0, -50.0),
    "abdomen": (-470.0, -125.0),
}
"""Named fields of view: world z of the lowest and highest slice (see :func:`make_phantom` for landmarks).

``chest`` is the default grid (neck to upper abdomen); ``neck_to_mid_chest`` stops above the diaphragm (lung bases
cut); ``neck_to_lung_bases`` stops at the domes; ``carina_to_upper_abdomen`` starts 10 mm below the carina (no
trachea, lung apices cut); ``mid_chest_to_upper_abdomen`` starts at the hila; ``abdomen_with_lung_bases`` is an
abdominal CT from the pelvis to the lung bases; ``abdomen`` stops below the lungs (no lung in view)."""


def make_fov_phantom(
    fov: str | tuple[float, float],
    spacing: tuple[float, float, float] = (3.5, 3.5, 4.0),
    seed: int = 0,
    **options: Any,
) -> Phantom:
    """A phantom whose field of view is a :data:`FOV_PRESETS` name or a world z range (mm); in-plane the grid
    covers the pelvis (±182 mm x, ±168 mm y) whatever the spacing."""
    if isinstance(fov, str) and fov not in FOV_PRESETS:
        raise ValueError(f"unknown field of view {fov!r}; one of {sorted(FOV_PRESETS)}")
    z_range = FOV_PRESETS[fov] if isinstance(fov, str) else (float(fov[0]), float(fov[1]))
    nx = int(np.ceil(364.0 / spacing[0])) + 1
    ny = int(np.ceil(336.0 / spacing[1])) + 1
    return make_phantom(shape=(nx, ny, 2), spacing=spacing, seed=seed, z_range=z_range, **options)


# ---------------------------------------------------------------------------------------------------------
# Writing with any orientation
# ---------------------------------------------------------------------------------------------------------
def reorient_array(data: np.ndarray, affine: np.ndarray, orientation: str = "RAS") -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip ``data`` (on ``affine``) to the axis code ``orientation``; returns (array, new affine).

    The physical position of every voxel is unchanged: ``new_affine @ new_index == affine @ old_index``.
    """
    import nibabel as nib
    from nibabel import orientations as ornt

    code = tuple(orientation.upper())
    if len(code) != 3 or sorted(ornt.axcodes2ornt(code)[:, 0].tolist()) != [0, 1, 2]:
        raise ValueError(f"bad orientation code {orientation!r}")
    cur = ornt.io_orientation(affine)
    target = ornt.axcodes2ornt(code)
    transform = ornt.ornt_transform(cur, target)
    out = ornt.apply_orientation(data, transform)
    new_affine = affine @ ornt.inv_ornt_aff(transform, data.shape)
    _ = nib  # nibabel imported for its orientation module
    return np.ascontiguousarray(out), new_affine


def write_phantom_nifti(
    phantom: Phantom,
    path: str | Path,
    orientation: str = "RAS",
    labelmap_path: str | Path | None = None,
) -> np.ndarray:
    """Write the phantom CT (int16 HU) as NIfTI with the axis code ``orientation``; returns the affine used.

    With ``labelmap_path`` the label map is written on the same grid too.
    """
    import nibabel as nib

    data, aff = reorient_array(phantom.hu, phantom.affine, orientation)
    img = nib.Nifti1Image(data, aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
    if labelmap_path is not None:
        lab, aff2 = reorient_array(phantom.labelmap, phantom.affine, orientation)
        limg = nib.Nifti1Image(lab, aff2)
        limg.set_qform(aff2, code=1)
        limg.set_sform(aff2, code=1)
        nib.save(limg, str(labelmap_path))
    return aff
