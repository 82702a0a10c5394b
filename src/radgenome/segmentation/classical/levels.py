"""Vertebrae and ribs by level: the column cut at its discs, the ribs traced, the level anchored on what is seen.

Order of work (all on the working grid):

1. the spine curve and its disc score (:mod:`~radgenome.segmentation.classical.vertebrae`);
2. the ribs of each side traced around the chest (:mod:`~radgenome.segmentation.classical.ribs`) — the rib
   masks of the bone step, plus thin rib-like bone the bone step left unassigned (the lowest ribs, below the
   lungs); each rib that leaves the spine gives a rib level;
3. the discs, placed with the rib levels (one rib per side per thoracic vertebra);
4. **anchors**, each from what the scan shows:

   - *first rib pair → T1*: the highest rib-bearing vertebra, with a rib-free vertebra (C7) seen above it;
   - *last rib pair → T12*: the lowest rib-bearing vertebra, with a rib-free vertebra (L1) seen below it;
   - *sacrum → L5/S1*: a disc-free stretch at the bottom of the column (fused sacral segments) between the iliac
     bones (bone plates on both sides): the vertebra above its top disc is L5;

   anchors that agree raise the confidence; when they disagree the most confident one is used (lowered, and
   said in the notes). **Without an anchor nothing is numbered**: the vertebrae stay ``vertebrae`` and the ribs
   ``left rib`` / ``right rib`` (and the sidecar says why);
5. the labels: every vertebra voxel by the disc interval its perpendicular plane falls in (partial vertebrae cut
   by the field of view keep their level), every rib voxel by its rib, the rib by the vertebra it leaves the spine
   at (``T k`` → rib ``k``), ribs without a posterior end in view by continuation or by counting down from above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cc3d
import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical import ribs as ribs_mod
from radgenome.segmentation.classical import vertebrae as vert_mod
from radgenome.segmentation.classical.grid import WorkGrid, bbox
from radgenome.segmentation.classical.thorax import BONE_HU, RIB_SECTION_MAX_MM2, Thorax

LEVEL_NAMES: tuple[str, ...] = (
    *(f"cervical vertebrae {k} (c{k})" for k in range(1, 8)),
    *(f"thoracic vertebrae {k} (t{k})" for k in range(1, 13)),
    *(f"lumbar vertebrae {k} (l{k})" for k in range(1, 6)),
    "sacral vertebrae 1 (s1)",
)
"""The column's levels (RadGenome's names), top to bottom: 6 = C7, 7 = T1, 18 = T12, 24 = S1."""
SHORT = tuple([f"C{k}" for k in range(1, 8)] + [f"T{k}" for k in range(1, 13)] + [f"L{k}" for k in range(1, 6)]
              + ["S1"])
C7, T1, T12, L5, S1 = 6, 7, 18, 23, 24
NUMBERED_LEVELS: tuple[str, ...] = LEVEL_NAMES[C7 : S1 + 1]
"""The levels this backend numbers: C7 (the rib-free vertebra that confirms T1) to S1. Cervical discs are thin and
the neck's column turns: C1-C6 are left unnumbered rather than counted on weak evidence."""
RIB_NAMES: tuple[str, ...] = tuple(f"{side} rib {k}" for side in ("left", "right") for k in range(1, 13))
CARTILAGE = "costal cartilage"

FULL_FRACTION = 1.0
SEED_DROP_MM = 3.0
SEEN_FRACTION = 0.5
SEEN_BELOW_FRACTION = 0.75
"""A rib-free neighbour vertebra cut by the field of view must still be seen over this many local heights (the
part a rib leaves it at, near its top, may lie just beyond the scan): a full one without lungs in view, half of
one when the lung apices (T1) or bases (T12) are in view and near the rib pair."""
RIB_HIT_TOLERANCE = 2
"""Rib voxels beside the spine allowed in a rib-free vertebra (noise)."""
NEAR_SPINE_MM = (25.0, 60.0)
NEAR_SPINE_PHI_DEG = 70.0
APEX_PITCHES = 2.0
BASE_PITCHES = 2.5
"""T1 lies within this many vertebral heights of the lung apex, T12 of the lowest lung (when the lungs show)."""
CONFIDENCE = {"T1": 0.8, "T12": 0.7, "sacrum": 0.7}
ONE_SIDE_FACTOR = 0.8
"""Confidence factor of a rib anchor seen on one side only."""
DECAY_PER_LEVEL = 0.98
PELVIS_LATERAL_MM = 40.0
SACRUM_TOP_PITCHES = 0.4
"""L5/S1 is the lowest disc above the highest sacral slice, or at most this many heights below it."""
SACRUM_PITCHES = 1.3
"""Below L5/S1, the column continues at least this many vertebral heights (the sacrum is long)."""
ARCH_SLOPE = 0.1
ARCH_FROM_MM = 15.0
"""Voxels more than ARCH_FROM_MM behind the spine curve count ARCH_SLOPE mm higher per mm further back."""
EDGE_SLICES = 2
END_PITCHES = 1.0
MIN_END_FRACTION = 0.5
"""A partial vertebra at either end of the column shorter than this many local heights is not named."""
T1_MAX = 1.25
"""C7 is named only when T1's interval is at most this many heights of T2's."""
C7_MIN, C7_MAX = 0.6, 1.05
"""C7's interval must be within these many heights of T1's to be named."""
LONG_FACTOR = 1.6
"""Counting away from the anchor stops at a vertebra this much taller than the vertebrae around it (a disc missed:
the levels beyond would all be off by one)."""
"""A partial vertebra at either end of the column is labelled over at most this many local heights."""


@dataclass(frozen=True)
class Anchor:
    kind: str
    """``T1`` (first rib pair), ``T12`` (last rib pair) or ``sacrum`` (L5/S1)."""
    vertebra: int
    """Index of the anchored vertebra, counted from the top of the column in view."""
    level: int
    """Its level (index into :data:`LEVEL_NAMES`)."""
    confidence: float
    detail: str

    @property
    def offset(self) -> int:
        return self.level - self.vertebra

    def as_dict(self) -> dict[str, Any]:
        return {"kind": ANCHOR_TEXT[self.kind], "level": SHORT[self.level], "confidence": round(self.confidence, 2),
                "detail": self.detail}


ANCHOR_TEXT = {"T1": "first rib pair -> T1", "T12": "last rib pair -> T12", "sacrum": "sacrum -> L5/S1"}


@dataclass
class BoneLevels:
    """The numbered bones of one scan."""

    masks: dict[str, np.ndarray]
    """Numbered vertebrae and ribs, what stays unnumbered (``vertebrae``, ``left rib``, ``right rib``)."""
    info: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Structure name -> (method, confidence) for the numbered structures."""
    anchor: Anchor | None = None
    anchors: list[Anchor] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outside: dict[str, str] = field(default_factory=dict)
    """Nodes (levels, ribs, groups) outside the field of view -> reason."""
    unsplit: dict[str, str] = field(default_factory=dict)
    """Nodes whose finer structures (levels) are not segmented in this case -> reason."""
    settings: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------
# Rib candidates and tracing
# --------------------------------------------------------------------------------------------------------
def _slice_centres(g: WorkGrid, body: np.ndarray, thorax: Thorax) -> tuple[np.ndarray, np.ndarray]:
    """Per slice: the spine's x and the body's centre y (the axis the ribs turn around)."""
    assert thorax.spine is not None
    y = g.axis_world(1).reshape(-1)
    area = body.sum(axis=(0, 1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cy = (y @ body.sum(axis=0)) / area
    cy = np.where(area > 0, cy, np.nan)
    ok = np.isfinite(cy)
    if ok.any() and not ok.all():
        idx = np.arange(len(cy))
        cy = np.interp(idx, idx[ok], cy[ok])
    return thorax.spine.centre[:, 0].astype(np.float64), cy


def _extra_rib_candidates(g: WorkGrid, unassigned: np.ndarray, side: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """Thin bone the bone step left unassigned on one side, reaching out beside the spine (the lowest ribs below
    the lungs); broad plates (the pelvis) and bone near the midline are left out."""
    out = np.zeros(unassigned.shape, dtype=bool)
    box = bbox(unassigned & side)
    if box is None:
        return out
    cand = unassigned[box] & np.broadcast_to(side, unassigned.shape)[box]
    lab, n = cc3d.connected_components(cand, connectivity=26, return_N=True)
    if n == 0:
        return out
    x = g.axis_world(0).reshape(-1)[box[0]]
    i, j, k = np.nonzero(lab)
    ids = lab[i, j, k].astype(np.int64)
    lat = np.abs(x[i] - cx[box[2]][k])
    far = np.zeros(n + 1)
    np.maximum.at(far, ids, lat)
    near = np.full(n + 1, np.inf)
    np.minimum.at(near, ids, lat)
    px = float(abs(g.spacing[0] * g.spacing[1]))
    nz = cand.shape[2]
    sec = np.bincount(ids * nz + k, minlength=(n + 1) * nz).reshape(n + 1, nz)
    widest = sec.max(axis=1) * px
    keep = (far >= ribs_mod.MIN_LATERAL_MM) & (near >= 12.0) & (widest <= RIB_SECTION_MAX_MM2)
    keep[0] = False
    out[box] = keep[lab]
    return out


def _trace_side(
    g: WorkGrid, mask: np.ndarray, side: str, cx: np.ndarray, cy: np.ndarray, front: np.ndarray | None = None
) -> tuple[ribs_mod.RibVoxels, list[ribs_mod.Rib], np.ndarray]:
    v = ribs_mod.rib_voxels(g, mask, cx, cy)
    traced = ribs_mod.trace_ribs(v, side, float(abs(g.spacing[2])))
    owner = ribs_mod.assign_voxels(v, traced)
    ribs_mod.add_seeds(v, traced, owner, front)
    return v, traced, owner


# --------------------------------------------------------------------------------------------------------
# Anchors
# --------------------------------------------------------------------------------------------------------
def _sacral_slices(
    g: WorkGrid, body: np.ndarray, bone: np.ndarray, curve: vert_mod.SpineCurve, ks: np.ndarray
) -> np.ndarray:
    """(nz,) bool: slices among ``ks`` where the spine's own bone section reaches broad bone plates on both sides
    (beyond PELVIS_LATERAL_MM, each over RIB_SECTION_MAX_MM2): the sacrum joined to the iliac bones at the
    sacroiliac joints (closed by one voxel of in-plane dilation). The lumbar vertebrae, the iliac wings beside them,
    do not touch them."""
    nz = g.shape[2]
    out = np.zeros(nz, dtype=bool)
    if not len(ks):
        return out
    x = g.axis_world(0).reshape(-1)
    y = g.axis_world(1).reshape(-1)
    px = float(abs(g.spacing[0] * g.spacing[1]))
    st = ndimage.generate_binary_structure(2, 1)
    # quick test first: broad bone beside the spine on both sides of the slice
    bk = bone[:, :, ks] & body[:, :, ks]
    lat = x[:, None] - curve.slice_point[ks, 0][None, :]
    per_x = bk.sum(axis=1)  # (nx, len(ks))
    right = (per_x * (lat > PELVIS_LATERAL_MM)).sum(axis=0) * px
    left = (per_x * (lat < -PELVIS_LATERAL_MM)).sum(axis=0) * px
    for k in ks[(right > RIB_SECTION_MAX_MM2) & (left > RIB_SECTION_MAX_MM2)]:
        sl = bone[:, :, k] & body[:, :, k]
        lab, n = ndimage.label(ndimage.binary_dilation(sl, st), structure=st)
        if n == 0:
            continue
        cx, cy = curve.slice_point[k, 0], curve.slice_point[k, 1]
        i0, j0 = int(np.argmin(np.abs(x - cx))), int(np.argmin(np.abs(y - cy)))
        win = lab[max(0, i0 - 3) : i0 + 4, max(0, j0 - 3) : j0 + 4]
        ids = win[win > 0]
        if not len(ids):
            continue
        own = lab == int(np.bincount(ids).argmax())
        ii = np.nonzero(own)[0]
        off = x[ii] - cx
        right = float((off > PELVIS_LATERAL_MM).sum()) * px
        left = float((off < -PELVIS_LATERAL_MM).sum()) * px
        out[k] = right > RIB_SECTION_MAX_MM2 and left > RIB_SECTION_MAX_MM2
    # the sacrum is one block of slices: keep the longest run (a rib pair joined to its vertebra in one slice is not)
    lab, n = ndimage.label(out)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        out = lab == int(np.argmax(sizes)) + 1
    return out


@dataclass
class LungEnds:
    """Where the lungs end, for the rib anchors (the apex lies at about T1, the posterior recesses at T11-L1)."""

    apex_s: float | None
    base_s: float | None
    apex_cut: bool
    base_cut: bool


def _find_anchors(
    col: vert_mod.Column,
    bounds: list[tuple[float, float]],
    bearing: list[dict[str, bool]],
    rib_hits: np.ndarray,
    sacral_s: np.ndarray,
    lungs: LungEnds | None,
    notes: list[str],
) -> list[Anchor]:
    """The anchors the scan shows (see the module docstring). ``rib_hits[i]``: rib voxels beside the spine (where
    a rib leaves it) projecting into vertebra ``i``: a vertebra with some is not rib-free, even when no rib was
    traced from it (a rib cut by the field of view)."""
    out: list[Anchor] = []
    nv = len(bounds)
    with_rib = [i for i in range(nv) if any(bearing[i].values())]

    def length(i: int) -> float:
        return bounds[i][1] - bounds[i][0]

    def mid(i: int) -> float:
        return 0.5 * (bounds[i][0] + bounds[i][1])

    def rib_free(i: int, ref: int) -> bool:
        """Vertebra ``i`` is seen enough (both discs; cut by the field of view: a full height, or, when the lungs'
        ends confirm the level, half of one above T1 and three quarters below T12 — a rib leaves its vertebra in
        the upper half, which the scan's bottom edge must not cut away) and no rib leaves the spine there."""
        below = SEEN_FRACTION if i < ref else SEEN_BELOW_FRACTION
        need = FULL_FRACTION if lungs is None else below
        seen = 0 < i < nv - 1 or length(i) >= need * col.pitch_at(mid(ref))
        return seen and not any(bearing[i].values()) and rib_hits[i] <= RIB_HIT_TOLERANCE

    if with_rib:
        a = with_rib[0]
        if a >= 1 and rib_free(a - 1, a):
            pitch = col.pitch_at(mid(a))
            if lungs is not None and (lungs.apex_cut or lungs.apex_s is None):
                notes.append("first rib pair not trusted as T1: the lung apices are cut by the top of the scan")
            elif lungs is not None and abs(mid(a) - lungs.apex_s) > APEX_PITCHES * pitch:  # type: ignore[operator]
                notes.append("first rib pair not trusted as T1: it lies far from the lung apices")
            else:
                both = all(bearing[a].values())
                conf = CONFIDENCE["T1"] * (1.0 if both else ONE_SIDE_FACTOR)
                sides = "both sides" if both else "one side"
                out.append(Anchor("T1", a, T1, conf, f"highest rib-bearing vertebra ({sides}) below a rib-free one"))
        b = with_rib[-1]
        if b + 1 < nv and rib_free(b + 1, b):
            pitch = col.pitch_at(mid(b))
            if lungs is not None and lungs.base_cut:
                notes.append("last rib pair not trusted as T12: the lung bases are cut by the bottom of the scan")
            elif lungs is not None and lungs.base_s is not None and abs(mid(b) - lungs.base_s) > BASE_PITCHES * pitch:
                notes.append("last rib pair not trusted as T12: it lies far from the lung bases")
            else:
                both = all(bearing[b].values())
                conf = CONFIDENCE["T12"] * (1.0 if both else ONE_SIDE_FACTOR)
                sides = "both sides" if both else "one side"
                out.append(Anchor("T12", b, T12, conf, f"lowest rib-bearing vertebra ({sides}) above a rib-free one"))
    # sacrum: the spine's section joined to the iliac bones (sacroiliac joints) below the L5/S1 disc; the fused
    # sacral segments below it are a long stretch (faint remnants of the S1/S2 disc may have been taken as discs)
    if nv >= 3 and len(sacral_s) >= 2:
        top = float(sacral_s.max())
        discs = [(i, bounds[i][1]) for i in range(1, nv)]  # the disc on top of vertebra i
        above = [(i, d) for i, d in discs if d >= top - SACRUM_TOP_PITCHES * col.pitch_at(d)]
        if above:
            i, d = min(above, key=lambda t: t[1])
            below = d - bounds[-1][0]
            if below >= SACRUM_PITCHES * col.pitch_at(bounds[i - 1][0]) and not any(bearing[i - 1].values()):
                out.append(Anchor("sacrum", i - 1, L5, CONFIDENCE["sacrum"],
                                  "the disc above the spine's junction with the iliac bones (sacrum)"))
    return out


def _choose(anchors: list[Anchor], notes: list[str]) -> tuple[Anchor | None, float]:
    if not anchors:
        return None, 0.0
    best = max(anchors, key=lambda a: a.confidence)
    agree = [a for a in anchors if a.offset == best.offset and a is not best]
    differ = [a for a in anchors if a.offset != best.offset]
    conf = best.confidence
    if agree:
        conf = min(0.95, conf + 0.1 * len(agree))
    if differ:
        conf *= 0.75
        for a in differ:
            notes.append(
                f"level anchors disagree: {ANCHOR_TEXT[a.kind]} would shift the numbering by "
                f"{a.offset - best.offset:+d} level(s); numbered from {ANCHOR_TEXT[best.kind]}"
            )
    return best, conf


# --------------------------------------------------------------------------------------------------------
# The whole step
# --------------------------------------------------------------------------------------------------------
def number_bones(
    g: WorkGrid,
    body: np.ndarray,
    masks: dict[str, np.ndarray],
    unassigned: np.ndarray | None,
    thorax: Thorax,
    sample: vert_mod.Sampler | None = None,
    lungs: np.ndarray | None = None,
) -> BoneLevels:
    """Numbered vertebrae and ribs from the bone step's ``vertebrae`` / ``left rib`` / ``right rib`` masks."""
    vert = masks.get("vertebrae")
    result = BoneLevels(masks={n: masks[n] for n in ("vertebrae", "left rib", "right rib") if n in masks})
    spine = thorax.spine
    if vert is None or spine is None or not vert.any():
        result.unsplit["vertebrae"] = "no vertebral column found"
        return result
    curve = vert_mod.spine_curve(g, spine)
    if curve is None:
        result.unsplit["vertebrae"] = "the vertebral column in view is too short to count levels"
        result.notes.append("not numbered: the vertebral column in view is too short to count levels")
        return result
    cx, cy = _slice_centres(g, body, thorax)
    x = g.axis_world(0)
    sides = {"right": x > cx[None, None, :], "left": x < cx[None, None, :]}
    # ribs
    traced: dict[str, tuple[ribs_mod.RibVoxels, list[ribs_mod.Rib], np.ndarray]] = {}
    rib_levels: dict[str, np.ndarray] = {}
    for side in ("right", "left"):
        base = masks.get(f"{side} rib", np.zeros_like(body))
        extra = _extra_rib_candidates(g, unassigned, sides[side], cx) if unassigned is not None else None
        m = base | extra if extra is not None else base
        traced[side] = _trace_side(g, m, side, cx, cy, curve.front)
        if extra is not None and extra.any():
            # unassigned bone is a rib only where it belongs to a traced rib (reaching out, spanning the side)
            v, tr, owner = traced[side]
            is_rib = np.array([r.is_rib for r in tr] + [False])
            keep = np.zeros_like(base)
            sel = is_rib[owner]
            keep[v.idx[0][sel], v.idx[1][sel], v.idx[2][sel]] = True
            base = base | (extra & keep)
        if base.any():
            result.masks[f"{side} rib"] = base
        lv = []
        for rib in traced[side][1]:
            if rib.seed is not None and rib.is_rib:
                # the seed is where the rib meets its vertebra's upper part: counted a little lower, so that a
                # disc placed a few mm low does not hand the rib to the vertebra above
                rib.level_s = float(curve.s_of(rib.seed[None, :], np.array([rib.seed_slice]))[0]) - SEED_DROP_MM
                lv.append(rib.level_s)
        rib_levels[side] = np.sort(np.asarray(lv, dtype=np.float64))
    # discs
    prof = vert_mod.profile(curve, sample or vert_mod.grid_sampler(g))
    step = float(curve.s[1] - curve.s[0])
    score, dark = vert_mod.disc_score(prof, step)
    discs = vert_mod.find_discs(curve.s, score, {k: v for k, v in rib_levels.items() if len(v)}, dark)
    col = vert_mod.Column(curve=curve, profile=prof, score=score, discs=discs, dark=dark)
    bounds = col.bounds()
    nv = len(bounds)

    def interval_of(s_val: float) -> int:
        for i, (lo, hi) in enumerate(bounds):
            if lo <= s_val <= hi:
                return i
        return 0 if s_val > bounds[0][1] else nv - 1

    bearing = [{"right": False, "left": False} for _ in range(nv)]
    rib_hits = np.zeros(nv, dtype=np.int64)
    edges = np.array([b[0] for b in bounds])  # lower ends, top to bottom (descending)
    for side in ("right", "left"):
        v, traced_ribs, owner = traced[side]
        for rib in traced_ribs:
            if rib.level_s is not None:
                bearing[interval_of(rib.level_s)][side] = True
        # rib voxels beside the spine that no traced rib with a level accounts for (a rib whose posterior end is
        # cut by the field of view, or was not traced)
        leveled = np.array([r.level_s is not None for r in traced_ribs] + [False])
        near = (v.phi < NEAR_SPINE_PHI_DEG) & (v.lateral >= NEAR_SPINE_MM[0]) & (v.lateral <= NEAR_SPINE_MM[1])
        near &= ~leveled[owner]
        near &= np.isfinite(curve.slice_s[v.k])
        if near.any():
            pts = np.stack([v.x[near], v.y[near], v.z[near]], axis=1)
            sv = curve.s_of(pts, v.k[near])
            idx = np.clip(np.searchsorted(-edges, -sv, side="right"), 0, nv - 1)
            np.add.at(rib_hits, idx, 1)
    # the sacrum joined to the iliac bones, in the lower part of the column
    sacral_s = np.zeros(0)
    if len(discs) >= 2:
        low = curve.s[0] + 0.5 * curve.length
        ks = np.nonzero(np.isfinite(curve.slice_s) & (curve.slice_s <= low))[0]
        sac = _sacral_slices(g, body, (g.hu > BONE_HU) & body, curve, ks)
        sacral_s = curve.slice_s[sac]
    anchors = _find_anchors(col, bounds, bearing, rib_hits, sacral_s, _lung_ends(g, body, lungs, curve),
                            result.notes)
    anchor, conf = _choose(anchors, result.notes)
    result.anchors = anchors
    result.anchor = anchor
    discs_z = np.interp(discs, curve.s, curve.points[:, 2])
    result.settings = {
        "method": "discs along the spine curve (profile across the anterior vertebral bodies, dynamic programming "
        "with rib levels); ribs traced around the chest from the spine; level anchored on the first rib pair (T1), "
        "the last rib pair (T12) or the sacrum (L5/S1)",
        "vertebrae_in_view": nv,
        "discs_z_mm": [round(float(v), 1) for v in discs_z],
        "rib_levels_z_mm": {s: [round(float(np.interp(v, curve.s, curve.points[:, 2])), 1) for v in lv]
                            for s, lv in rib_levels.items()},
        "anchors_seen": [a.as_dict() for a in anchors],
    }
    if anchor is None:
        why = _why_no_anchor(bearing, nv)
        result.unsplit["vertebrae"] = f"no level anchor in view: {why}"
        result.unsplit["rib"] = f"no level anchor in view: {why}"
        result.notes.append(f"not numbered: no level anchor in view ({why})")
        result.settings.update({"numbered": False, "anchor": None, "confidence": 0.0})
        return result
    levels = _count(bounds, anchor, result.notes)
    result.settings.update({"numbered": True, "anchor": ANCHOR_TEXT[anchor.kind], "confidence": round(conf, 2)})
    _label_vertebrae(g, vert, curve, col, bounds, levels, anchor, conf, result)
    _label_ribs(g, traced, bounds, levels, interval_of, anchor, conf, result)
    _outside(levels, result)
    result.settings["levels_found"] = [SHORT[lv] for lv in levels if lv is not None and LEVEL_NAMES[lv] in result.masks]
    return result


def _count(bounds: list[tuple[float, float]], anchor: Anchor, notes: list[str]) -> list[int | None]:
    """The level of every vertebra counted from the anchor (None: not numbered). Counting stops at a vertebra
    ``LONG_FACTOR`` times taller than the median of the vertebrae around it, and outside C7..S1."""
    nv = len(bounds)
    out: list[int | None] = [None] * nv
    out[anchor.vertebra] = anchor.level

    def length(i: int) -> float:
        return bounds[i][1] - bounds[i][0]

    def whole(i: int) -> bool:
        return 0 < i < nv - 1

    def ref(i: int) -> float | None:
        near = [length(j) for j in range(i - 3, i + 4) if j != i and whole(j)]
        return float(np.median(near)) if len(near) >= 2 else None

    for step in (-1, 1):
        i = anchor.vertebra + step
        while 0 <= i < nv:
            r = ref(i) if whole(i) else None
            if r is not None and length(i) > LONG_FACTOR * r:
                where = "above" if step < 0 else "below"
                notes.append(
                    f"counting stopped {where} {SHORT[anchor.level + i - step - anchor.vertebra]}: the next "
                    f"vertebra is {length(i) / r:.1f} times as tall as the ones around it (a disc may be missed)"
                )
                break
            out[i] = anchor.level + i - anchor.vertebra
            i += step
    out = [lv if lv is not None and C7 <= lv <= S1 else None for lv in out]
    # C7 only when seen whole, of a plausible height, above a T1 of plausible height (a taller "T1" holds C7 too,
    # a taller "C7" holds C6: the thin cervical discs are easily missed)
    if C7 in out:
        c7 = out.index(C7)
        t1, t2 = c7 + 1, c7 + 2
        ok = whole(c7) and t2 < nv and whole(t1) and whole(t2) and length(t1) <= T1_MAX * length(t2)
        if not (ok and C7_MIN * length(t1) <= length(c7) <= C7_MAX * length(t1)):
            out[c7] = None
    return out


def _lung_ends(
    g: WorkGrid, body: np.ndarray, lungs: np.ndarray | None, curve: vert_mod.SpineCurve
) -> LungEnds | None:
    """The lungs' highest and lowest slices on the spine curve, and whether the scan cuts them."""
    if lungs is None or not lungs.any():
        return None
    from radgenome.segmentation.classical.lungs import cut_ends

    top_cut, bottom_cut = cut_ends(g, lungs, body)
    z = g.axis_world(2).reshape(-1)
    ks = np.nonzero(lungs.any(axis=(0, 1)))[0]
    zk = z[ks]
    k_hi, k_lo = int(ks[np.argmax(zk)]), int(ks[np.argmin(zk)])

    def s_at(k: int) -> float | None:
        v = curve.slice_s[k]
        return float(v) if np.isfinite(v) else None

    return LungEnds(apex_s=s_at(k_hi), base_s=s_at(k_lo), apex_cut=top_cut, base_cut=bottom_cut)


def _why_no_anchor(bearing: list[dict[str, bool]], nv: int) -> str:
    with_rib = [i for i in range(nv) if any(bearing[i].values())]
    if not with_rib:
        return "no rib leaves the spine in view and no sacrum"
    parts = []
    if with_rib[0] == 0:
        parts.append("the highest rib-bearing vertebra is the first in view (is it T1?)")
    else:
        parts.append("no rib-free vertebra seen above the highest ribs")
    if with_rib[-1] == nv - 1:
        parts.append("the lowest rib-bearing vertebra is the last in view (is it T12?)")
    else:
        parts.append("no rib-free vertebra seen below the lowest ribs")
    return "; ".join(parts)


def _method(anchor: Anchor, distance: int) -> str:
    return (f"level counted {distance} vertebra(e) from the {ANCHOR_TEXT[anchor.kind]} anchor; discs along the "
            "spine curve (profile across the anterior bodies, dynamic programming with rib levels)")


def _label_vertebrae(
    g: WorkGrid,
    vert: np.ndarray,
    curve: vert_mod.SpineCurve,
    col: vert_mod.Column,
    bounds: list[tuple[float, float]],
    levels: list[int | None],
    anchor: Anchor,
    conf: float,
    result: BoneLevels,
) -> None:
    i, j, k = np.nonzero(vert)
    ok = np.isfinite(curve.slice_s[k])
    pts = np.stack([g.axis_world(0).reshape(-1)[i], g.axis_world(1).reshape(-1)[j],
                    g.axis_world(2).reshape(-1)[k]], axis=1).astype(np.float64)
    s = np.full(len(i), np.nan)
    s[ok] = curve.s_of(pts[ok], k[ok])
    # the neural arch slopes down behind its body (the spinous process most): voxels far behind the bodies
    # belong a little higher up the column than their plane says
    behind = curve.slice_point[k[ok], 1] - pts[ok, 1]
    s[ok] += ARCH_SLOPE * np.maximum(behind - ARCH_FROM_MM, 0.0)
    nv = len(bounds)
    lab = np.full(len(i), -1, dtype=np.int64)
    for n, (lo, hi) in enumerate(bounds):
        a, b = lo, hi
        if nv > 1 and n in (0, nv - 1) and hi - lo < MIN_END_FRACTION * col.pitch_at(0.5 * (lo + hi)):
            continue  # a sliver beyond the last disc: too little of the vertebra to name it
        if nv > 1 and n == 0:  # the partial vertebra at the top: at most END_PITCHES local heights
            b = lo + END_PITCHES * col.pitch_at(lo)
        if nv > 1 and n == nv - 1:
            a = hi - END_PITCHES * col.pitch_at(hi)
        # the last numbered vertebra before the count stops (C7 below the unnumbered neck, or a stop): at most
        # END_PITCHES heights of its numbered neighbour from the disc they share (a disc beyond may be missed)
        if levels[n] is not None and n > 0 and levels[n - 1] is None and n + 1 < nv and levels[n + 1] is not None:
            b = min(b, lo + END_PITCHES * (bounds[n + 1][1] - bounds[n + 1][0]))
        if levels[n] is not None and n + 1 < nv and levels[n + 1] is None and n > 0 and levels[n - 1] is not None:
            a = max(a, hi - END_PITCHES * (bounds[n - 1][1] - bounds[n - 1][0]))
        lab[(s >= a) & (s <= b) & (lab < 0)] = n
    rest = vert.copy()
    for n in range(nv):
        lv = levels[n]
        if lv is None:
            continue
        sel = lab == n
        if not sel.any():
            continue
        m = _mask(vert.shape, i[sel], j[sel], k[sel])
        name = LEVEL_NAMES[lv]
        result.masks[name] = m
        rest[i[sel], j[sel], k[sel]] = False
        d = abs(n - anchor.vertebra)
        result.info[name] = (_method(anchor, d), round(conf * DECAY_PER_LEVEL**d, 3))
    if rest.any():
        result.masks["vertebrae"] = rest
    else:
        result.masks.pop("vertebrae", None)


def _label_ribs(
    g: WorkGrid,
    traced: dict[str, tuple[ribs_mod.RibVoxels, list[ribs_mod.Rib], np.ndarray]],
    bounds: list[tuple[float, float]],
    levels: list[int | None],
    interval_of: Any,
    anchor: Anchor,
    conf: float,
    result: BoneLevels,
) -> None:
    for side, (v, traced_ribs, owner) in traced.items():
        for rib in traced_ribs:
            if rib.level_s is None:
                continue
            lv = levels[interval_of(rib.level_s)]
            if lv is not None and T1 <= lv <= T12:
                rib.number = lv - T1 + 1
        ribs_mod.number_unseeded(traced_ribs)
        # a rib seen only in the first or last slices of the scan is too little of it to name: what it meets
        # there are the cut ends of other ribs
        nz = g.shape[2]
        for n, rib in enumerate(traced_ribs):
            ks = v.k[owner == n]
            if rib.number is not None and len(ks) and (ks.max() < EDGE_SLICES or ks.min() >= nz - EDGE_SLICES):
                rib.number = None
        base = result.masks.get(f"{side} rib")
        leftover = base.copy() if base is not None else np.zeros(g.shape, dtype=bool)
        for n, rib in enumerate(traced_ribs):
            if rib.number is None:
                continue
            sel = owner == n
            if not sel.any():
                continue
            name = f"{side} rib {rib.number}"
            ii, jj, kk = v.idx[0][sel], v.idx[1][sel], v.idx[2][sel]
            m = result.masks.get(name)
            if m is None:
                result.masks[name] = _mask(g.shape, ii, jj, kk)
            else:
                m[ii, jj, kk] = True
            leftover[ii, jj, kk] = False
            vi = T1 + rib.number - 1
            d = abs(levels.index(vi) - anchor.vertebra) if vi in levels else 12
            how = "traced from the spine" if rib.seed is not None else "counted from the ribs beside it (head not seen)"
            method = (f"rib traced around the chest, numbered by its vertebra ({how}); "
                      f"{ANCHOR_TEXT[anchor.kind]} anchor")
            result.info[name] = (method, round(0.9 * conf * DECAY_PER_LEVEL**d, 3))
        if leftover.any():
            result.masks[f"{side} rib"] = leftover
        else:
            result.masks.pop(f"{side} rib", None)


def _mask(shape: tuple[int, int, int], i: np.ndarray, j: np.ndarray, k: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[i, j, k] = True
    return m


def _outside(levels: list[int | None], result: BoneLevels) -> None:
    """Levels and ribs beyond the ends of the column in view, when the count reaches that end (a column whose end
    is not numbered may show more levels there)."""
    groups = {"thoracic vertebrae": range(T1, T12 + 1), "lumbar vertebrae": range(T12 + 1, L5 + 1)}
    numbered = [lv for lv in levels if lv is not None]
    if not numbered:
        return
    top, bottom = levels[0], levels[-1]
    sides = []
    if top is not None:
        sides.append(([lv for lv in range(C7, S1 + 1) if lv < top], f"the scan starts at {SHORT[top]}"))
    if bottom is not None:
        sides.append(([lv for lv in range(C7, S1 + 1) if lv > bottom], f"the scan ends at {SHORT[bottom]}"))
    for lvs, where in sides:
        rest = set(lvs)
        for gname, rng in groups.items():
            if set(rng) <= rest:
                result.outside[gname] = where
                rest -= set(rng)
        for lv in sorted(rest):
            result.outside[LEVEL_NAMES[lv]] = where
    for k in range(1, 13):
        lv = T1 + k - 1
        if f"left rib {k}" in result.masks or f"right rib {k}" in result.masks:
            continue
        if bottom is not None and lv > bottom:
            result.outside[f"rib {k}"] = f"its vertebra {SHORT[lv]} lies below the scan"
        elif top is not None and lv <= top - 5:
            result.outside[f"rib {k}"] = f"its vertebra {SHORT[lv]} lies far above the scan"
