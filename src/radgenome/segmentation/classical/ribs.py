"""Ribs one by one: traced around the chest from the spine, then numbered by the vertebra they leave it at.

Each side's rib voxels (working grid, patient frame) are seen in cylindrical coordinates around the slice's
spine centre line: ``phi`` = the angle from straight behind (0°) over the side (90°) to straight in front
(180°), and ``z``. A rib is a curve ``z(phi)`` there — descending from its posterior end at the transverse process
towards the front — and neighbouring ribs never cross. :func:`trace_ribs` sweeps ``phi`` in ``PHI_STEP_DEG``
bins: in every bin the rib sections are runs along z; runs are matched to the ribs already traced by their
predicted height (assignment problem, tolerance ``MATCH_MM``; a rib never climbs by more than
``MAX_RISE_MM_PER_DEG``), a run no rib claims starts a new one, a rib unseen for ``MAX_MISSES`` bins ends.
Touching ribs (one run claimed by two predictions) and runs taller than ``PLATE_MM`` (a plate such as a scapula
edge taken for rib) leave the ribs in them on their predicted heights. Every rib voxel then goes to the rib whose
curve passes nearest at its angle.

A rib traced from behind the side whose medial end lies within ``SEED_LATERAL_MM`` of the spine centre and
``SEED_BEHIND_MM`` behind the vertebral bodies' front has a **seed**: the point where it leaves the spine;
projected onto the spine curve it is a rib level (:mod:`vertebrae` uses those levels to place the discs, and the
vertebra holding a rib level bears that rib). A rib must reach ``MIN_LATERAL_MM`` beside the
spine and span ``MIN_SPAN_DEG`` to count (lumbar and C7 transverse processes do neither).

Ribs without a seed (their posterior part above the field of view, or lost) are numbered when the anatomy
allows: a curve continuing a numbered rib beyond a gap joins it; one lying ``k`` rib spacings above the nearest
numbered rib below it (at the same angles) is that rib's number minus ``k`` — so a rib cut by the field of view
keeps its number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from radgenome.segmentation.classical.grid import WorkGrid

PHI_STEP_DEG = 6.0
MATCH_MM = 10.0
"""A run continues a rib when its height is within this of the rib's predicted height (and less than half the
distance to the neighbouring rib)."""
MAX_MISSES = 3
SEED_LATERAL_MM = 60.0
"""A rib whose medial end lies within this distance beside the spine centre starts at the spine (a seed)."""
SEED_MAX_PHI_DEG = 50.0
SEED_START_PHI_DEG = 70.0
"""A rib with a seed was traced from behind the side (its curve starts at most this far round)."""
SEED_BEHIND_MM = 22.0
"""A seed lies at least this far behind the vertebral bodies' front (or, where the front is unknown, within
``SEED_MAX_PHI_DEG`` of straight behind): a rib leaves the spine at the transverse process, behind the body; the
front end of the first rib, curving back towards the spine at the thoracic inlet, does not."""
MIN_LATERAL_MM = 50.0
MIN_SPAN_DEG = 24.0
ASSIGN_MM = 12.0
PLATE_MM = 30.0
MAX_RISE_MM_PER_DEG = 1.5
MAX_DROP_MM_PER_DEG = 2.0
"""Ribs run down (or level) from the back round the side: a continuation may rise at most this much."""


@dataclass
class Rib:
    """One traced rib (a curve ``z(phi)`` on one side)."""

    side: str
    phi: list[float] = field(default_factory=list)
    z: list[float] = field(default_factory=list)
    observed: list[bool] = field(default_factory=list)
    slope: float = 0.0
    misses: int = 0
    seed: np.ndarray | None = None
    """Frame point (x, y, z mm) where the rib leaves the spine (None: no posterior end in view)."""
    seed_slice: int = -1
    lateral_mm: float = 0.0
    number: int | None = None
    level_s: float | None = None
    """The seed projected onto the spine curve (arc length), when it has a seed."""

    @property
    def span_deg(self) -> float:
        obs = [p for p, o in zip(self.phi, self.observed, strict=True) if o]
        return float(max(obs) - min(obs)) + PHI_STEP_DEG if obs else 0.0

    @property
    def is_rib(self) -> bool:
        return self.lateral_mm >= MIN_LATERAL_MM and self.span_deg >= MIN_SPAN_DEG

    def z_at(self, phi: np.ndarray) -> np.ndarray:
        """Height of the curve at ``phi`` (linear; constant slope extrapolation one bin beyond the ends)."""
        p = np.asarray(self.phi)
        z = np.asarray(self.z)
        out = np.interp(phi, p, z)
        lo, hi = phi < p[0], phi > p[-1]
        out = np.where(lo, z[0] - self.slope * (p[0] - phi), out)
        return np.where(hi, z[-1] + self.slope * (phi - p[-1]), out)


@dataclass
class RibVoxels:
    """The rib voxels of one side in cylindrical coordinates."""

    idx: tuple[np.ndarray, np.ndarray, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    phi: np.ndarray
    lateral: np.ndarray
    k: np.ndarray


def rib_voxels(g: WorkGrid, mask: np.ndarray, centre_x: np.ndarray, centre_y: np.ndarray) -> RibVoxels:
    """Voxels of ``mask`` with their angle around the per-slice centre ``(centre_x[k], centre_y[k])``."""
    i, j, k = np.nonzero(mask)
    x = g.axis_world(0).reshape(-1)[i].astype(np.float64)
    y = g.axis_world(1).reshape(-1)[j].astype(np.float64)
    z = g.axis_world(2).reshape(-1)[k].astype(np.float64)
    lat = np.abs(x - centre_x[k])
    phi = np.degrees(np.arctan2(lat, -(y - centre_y[k])))
    return RibVoxels((i, j, k), x, y, z, phi, lat, k)


def _runs(z_sorted: np.ndarray, dz: float) -> list[tuple[float, float, float]]:
    """(centre, low, high) of the runs of ``z`` values no more than one slice apart."""
    if not len(z_sorted):
        return []
    cut = np.nonzero(np.diff(z_sorted) > 1.5 * dz)[0] + 1
    out = []
    for part in np.split(z_sorted, cut):
        out.append((float(part.mean()), float(part[0]), float(part[-1])))
    return out


def trace_ribs(v: RibVoxels, side: str, dz: float) -> list[Rib]:
    """Sweep ``phi`` from the back to the front; see the module docstring."""
    if not len(v.phi):
        return []
    bins = np.floor(v.phi / PHI_STEP_DEG).astype(np.int64)
    active: list[Rib] = []
    done: list[Rib] = []
    for b in range(int(bins.min()), int(bins.max()) + 1):
        sel = bins == b
        phi_b = (b + 0.5) * PHI_STEP_DEG
        all_runs = _runs(np.sort(v.z[sel]), dz) if sel.any() else []
        # a run taller than PLATE_MM is not one rib (several touching, or a plate such as the scapula taken as
        # rib): ribs passing through it keep their predicted heights, none starts there
        runs = [r for r in all_runs if r[2] - r[1] <= PLATE_MM]
        pred = np.array([r.z[-1] + r.slope * (phi_b - r.phi[-1]) for r in active])
        matched_run: dict[int, int] = {}
        if len(active) and runs:
            rz = np.array([r[0] for r in runs])
            cost = np.abs(pred[:, None] - rz[None, :])
            last_z = np.array([r.z[-1] for r in active])
            last_phi = np.array([r.phi[-1] for r in active])
            rise = (rz[None, :] - last_z[:, None]) / np.maximum(phi_b - last_phi, 1e-6)[:, None]
            cost = np.where(rise <= MAX_RISE_MM_PER_DEG, cost, np.inf)  # ribs do not climb round the side
            order = np.argsort(pred)
            gaps = np.full(len(active), np.inf)
            if len(active) > 1:
                ps = pred[order]
                d = np.diff(ps)
                nearest = np.minimum(np.concatenate([[np.inf], d]), np.concatenate([d, [np.inf]]))
                gaps[order] = nearest
            tol = np.minimum(MATCH_MM, 0.5 * gaps)
            big = 1e6
            c = np.where(cost <= tol[:, None], cost, big)
            ri, ci = linear_sum_assignment(c)
            for a, r in zip(ri, ci, strict=True):
                if c[a, r] < big:
                    matched_run[int(a)] = int(r)
        claimed = set(matched_run.values())
        still: list[Rib] = []
        for a, rib in enumerate(active):
            if a in matched_run:
                zc = runs[matched_run[a]][0]
                step = (zc - rib.z[-1]) / max(phi_b - rib.phi[-1], 1e-6)
                rib.slope = step if len(rib.z) == 1 else 0.5 * rib.slope + 0.5 * step
                rib.slope = float(np.clip(rib.slope, -MAX_DROP_MM_PER_DEG, MAX_RISE_MM_PER_DEG))
                rib.phi.append(phi_b)
                rib.z.append(zc)
                rib.observed.append(True)
                rib.misses = 0
                still.append(rib)
                continue
            # touching ribs: the prediction lies inside a run another rib claimed -> keep the prediction
            inside = any(lo - dz <= pred[a] <= hi + dz for (_, lo, hi) in all_runs)
            rib.misses = 0 if inside else rib.misses + 1
            if rib.misses <= MAX_MISSES:
                rib.phi.append(phi_b)
                rib.z.append(float(pred[a]))
                rib.observed.append(inside)
                still.append(rib)
            else:
                done.append(rib)
        for r, run in enumerate(runs):
            if r not in claimed:
                still.append(Rib(side=side, phi=[phi_b], z=[run[0]], observed=[True]))
        active = still
    ribs = done + active
    for rib in ribs:  # drop trailing predictions
        while rib.observed and not rib.observed[-1]:
            rib.phi.pop()
            rib.z.pop()
            rib.observed.pop()
    return [r for r in ribs if r.phi]


def assign_voxels(v: RibVoxels, ribs: list[Rib]) -> np.ndarray:
    """Index into ``ribs`` of the rib passing nearest each voxel at its angle (-1: none within ``ASSIGN_MM`` or
    half the distance to the next rib)."""
    out = np.full(len(v.phi), -1, dtype=np.int64)
    if not ribs or not len(v.phi):
        return out
    best = np.full(len(v.phi), np.inf)
    zz = np.full((len(ribs), len(v.phi)), np.nan)
    for n, rib in enumerate(ribs):
        p0, p1 = rib.phi[0] - PHI_STEP_DEG, rib.phi[-1] + PHI_STEP_DEG
        cover = (v.phi >= p0) & (v.phi <= p1)
        zz[n, cover] = rib.z_at(v.phi[cover])
    d = np.abs(zz - v.z[None, :])
    d = np.where(np.isnan(d), np.inf, d)
    if len(ribs) > 1:
        srt = np.sort(d, axis=0)
        second = srt[1]
    else:
        second = np.full(len(v.phi), np.inf)
    best = d.min(axis=0)
    arg = d.argmin(axis=0)
    # the gap to the next rib at that angle bounds the tolerance (touching ribs split at the middle)
    ok = (best <= ASSIGN_MM) & (best <= second)
    out[ok] = arg[ok]
    return out


def add_seeds(v: RibVoxels, ribs: list[Rib], owner: np.ndarray, front: np.ndarray | None = None) -> None:
    """Seed (posterior end near the spine) and lateral reach of every rib. ``front``: y of the vertebral bodies'
    front per slice (NaN unknown): a rib leaves the spine behind it (costotransverse joint), never in front."""
    for n, rib in enumerate(ribs):
        mine = owner == n
        if not mine.any():
            continue
        rib.lateral_mm = float(v.lateral[mine].max())
        if rib.phi[0] > SEED_START_PHI_DEG:
            continue  # traced from the side or the front: not a rib's posterior start
        # the posterior part (not the front end, sternum, cartilage): behind the vertebral bodies, or (front
        # unknown) well behind the side
        if front is not None:
            fk = front[v.k]
            behind = np.where(np.isfinite(fk), v.y < fk - SEED_BEHIND_MM, v.phi <= SEED_MAX_PHI_DEG)
        else:
            behind = v.phi <= SEED_MAX_PHI_DEG
        back = mine & behind
        if not back.any():
            continue
        q = int(np.flatnonzero(back)[np.argmin(v.lateral[back])])
        if v.lateral[q] > SEED_LATERAL_MM:
            continue  # no end beside the spine
        # the medial end: this rib's voxels within 12 mm of its most medial one
        d2 = (v.x - v.x[q]) ** 2 + (v.y - v.y[q]) ** 2 + (v.z - v.z[q]) ** 2
        end = mine & (d2 <= 12.0**2)
        rib.seed = np.array([v.x[end].mean(), v.y[end].mean(), v.z[end].mean()])
        ks = v.k[end]
        rib.seed_slice = int(np.bincount(ks).argmax())


def _spacing(numbered: list[Rib]) -> float | None:
    """Median height difference between consecutively numbered ribs at the angles they share (mm per rib)."""
    by_n = {int(r.number): r for r in numbered if r.number is not None}
    diffs = []
    for n, r in by_n.items():
        below = by_n.get(n + 1)
        if below is None:
            continue
        p = np.asarray(r.phi)
        q = np.asarray(below.phi)
        common = p[(p >= q[0]) & (p <= q[-1])]
        if len(common):
            diffs.append(float(np.median(r.z_at(common) - below.z_at(common))))
    return float(np.median(diffs)) if diffs else None


def number_unseeded(ribs: list[Rib]) -> None:
    """Numbers for ribs without a seed: continuation of a numbered rib, or counted above the highest numbered
    one at the same angles (a rib whose posterior part lies above the field of view). Repeated while it numbers
    more ribs (the lowest unnumbered first)."""
    changed = True
    while changed:
        changed = False
        numbered = [r for r in ribs if r.number is not None]
        if not numbered:
            return
        spacing = _spacing(numbered)
        todo = [r for r in ribs if r.number is None and r.seed is None and r.phi]
        for rib in sorted(todo, key=lambda r: float(np.median(r.z))):
            number = _continuation(rib, numbered) or _counted_above(rib, numbered, spacing)
            if number is not None:
                rib.number = number
                numbered.append(rib)
                changed = True


def _continuation(rib: Rib, numbered: list[Rib]) -> int | None:
    """The number of a numbered rib that ends before this one starts and extrapolates onto it."""
    best: tuple[float, int] | None = None
    for other in numbered:
        if other.phi[-1] < rib.phi[0]:
            zp = float(other.z_at(np.array([rib.phi[0]]))[0])
            d = abs(zp - rib.z[0])
            if d <= MATCH_MM and (best is None or d < best[0]):
                best = (d, int(other.number))  # type: ignore[arg-type]
    return best[1] if best is not None else None


def _counted_above(rib: Rib, numbered: list[Rib], spacing: float | None) -> int | None:
    """The number by whole rib spacings from the nearest numbered rib below this one at its angles (``n - k``),
    checked against the nearest numbered rib above it when there is one (a gap of untraced ribs)."""
    phi = np.asarray(rib.phi)
    zr = np.asarray(rib.z)
    heights = []
    for other in numbered:
        o_phi = np.asarray(other.phi)
        common = (phi >= o_phi[0]) & (phi <= o_phi[-1])
        if common.any():
            heights.append((int(other.number), float(np.median(other.z_at(phi[common]))),  # type: ignore[arg-type]
                            float(np.median(zr[common]))))
    if not heights:
        return None
    heights.sort()
    if len(heights) >= 2:
        d_n = np.diff([h[0] for h in heights])
        d_z = np.diff([h[1] for h in heights])
        ok = d_n > 0
        if ok.any():
            local = float(np.median(-d_z[ok] / d_n[ok]))
            spacing = local if local > 5.0 else spacing
    if spacing is None or spacing <= 5.0:
        return None
    mine = heights[0][2]
    below = [h for h in heights if h[1] < mine]
    above = [h for h in heights if h[1] > mine]
    taken = {h[0] for h in heights}
    if not below:
        return None  # below every numbered rib: a rib with its posterior part in view would have been traced
    n_b, z_b, _ = max(below, key=lambda h: h[1])
    k = (mine - z_b) / spacing
    kk = round(k)
    if kk == 0 or abs(k - kk) > 0.35:
        return None
    number = n_b - kk
    if not 1 <= number <= 12 or number in taken:
        return None
    if above and below:
        n_a = min(above, key=lambda h: h[1])[0]
        if not n_a < number < n_b:
            return None
    return number
