"""The vertebral column cut into vertebrae: a curve through the vertebral bodies, the discs along it.

Works on the working grid (patient frame: x towards the patient's right, y anterior, z superior, mm) from the
thorax's spine track (:class:`~radgenome.segmentation.classical.thorax.Spine`):

1. **Body front** (:func:`body_front`): per slice, along the ray through the spine's centre line towards the
   front, the most anterior run of tissue denser than ``FRONT_HU`` that is at least ``FRONT_MIN_MM`` long — the
   vertebral body, also when it is osteopenic (trabecular bone below the 180 HU bone threshold: the spine track
   then sits on the neural arch); median-smoothed along z.
2. **Curve** (:class:`SpineCurve`): ``BODY_DEPTH_MM`` behind the front, smoothed, sampled by arc length ``s``
   (from the bottom of the column up), with its tangent and its anterior normal.
3. **Profile**: mean HU of a patch across the anterior body, perpendicular to the curve (so the kyphotic upper
   thoracic spine is cut along its discs, not obliquely), sampled from the full-resolution CT when a sampler is
   given (the discs are 4–10 mm: thin-slice data resolves them better than the working grid).
4. **Disc score**: how much brighter than the bodies around it (a low running percentile) the profile is,
   smoothed, plus how much darker. Endplates are cortical bone: a thin disc between two endplates is a bright
   band at any slice thickness (at 3-5 mm slices the band is all one sees); a thick lumbar disc is a dark gap
   between two bright lines, so its darkness puts the peak at its centre; the bodies' trabecular bone is the
   plateau in between.
5. **Discs** (:func:`find_discs`): dynamic programming over positions on the curve: every chosen disc earns
   its normalised score minus ``DISC_COST`` (away from a score peak it costs ``GAP_COST``); consecutive
   vertebral heights may change only smoothly (a squared log-ratio penalty) within ``[MIN_PITCH_MM,
   MAX_PITCH_MM]``, so a faint disc between two clear ones is still placed and a spurious peak inside a body is
   not; the inside of a vertebra must not be darker than the bodies (two picks on the endplates around one thick
   disc); with rib levels (the level each rib leaves the spine at, per side), a vertebra between the highest and
   the lowest rib carries exactly one rib per side (none or two are penalised).

The vertebrae are the intervals between consecutive discs, plus the partial ones at both ends of the curve
(cut by the field of view, or the sacrum's fused segments).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from radgenome.segmentation.classical.grid import WorkGrid
from radgenome.segmentation.classical.thorax import Spine

FRONT_HU = 110.0
"""Vertebral bodies (also osteopenic ones) are denser than this; the fat and muscle in front of them are not."""
FRONT_MIN_MM = 10.0
FRONT_REACH_MM = 70.0
"""The body's front is searched up to this far in front of the spine track's centre."""
FRONT_BEYOND_MM = 45.0
"""... and at most this far in front of the column's own front (bone above 180 HU; with osteopenic bodies, the
neural arch's) or 15 mm in front of its centre."""
BODY_DEPTH_MM = 10.0
"""The curve runs this far behind the bodies' front."""
CURVE_SMOOTH_MM = 20.0
LABEL_SMOOTH_MM = 30.0
"""Extra smoothing (along the curve) of the tangent that orients the planes between vertebrae."""
PATCH_HALF_WIDTH_MM = 8.0
PATCH_DEPTH_MM = (3.0, 18.0)
"""The profile patch: from 3 to 18 mm behind the front (the anterior body), 16 mm wide."""
BASELINE_MM = 30.0
BASELINE_PERCENTILE = 25.0
DARK_SMOOTH_MM = 1.5
SCORE_SMOOTH_MM = 4.0
MIN_PITCH_MM = 14.0
MAX_PITCH_MM = 48.0
DISC_COST = 0.15
"""A disc position earns its normalised score minus this (faint positions cost, clear ones pay)."""
RATIO_PENALTY = 4.0
"""Weight of the squared log-ratio of consecutive vertebral heights."""
MERGE_FRACTION = 0.65
"""Two discs closer than this fraction of the neighbouring vertebral heights, dark between them, merge."""
DARK_MARGIN_MM = 4.5
DARK_FREE = 0.6
DARK_PENALTY = 3.0
"""A vertebra whose inside (``DARK_MARGIN_MM`` from its discs) is darker than the bodies (a thick disc between
the two bright endplates chosen as if they were two discs) pays this per unit of darkness above ``DARK_FREE``."""
SNAP_MM = 6.0
SNAP_DARK = 0.5
"""A disc peak moves to the darkest point within ``SNAP_MM`` when that is at least this dark."""
EDGE_MM = 8.0
EXTEND_RANGE = (0.55, 1.35)
EXTEND_MIN = 0.25
MAX_EXTEND = 2
"""At the ends of the chain: a score peak of at least ``EXTEND_MIN`` between 0.55 and 1.35 vertebral heights beyond
the last disc is a disc (at most ``MAX_EXTEND`` more at each end)."""
GAP_COST = 1.2
"""A disc placed where the score has no peak (of its own within half ``MIN_PITCH_MM``) costs this whatever the score
there: placed only when the vertebral heights around demand it (a faint disc), never on the flank of a peak."""
RIB_PENALTY = 0.6
"""Per side: a vertebra of the rib-bearing stretch with none or two rib levels pays this per rib off."""


Sampler = Callable[[np.ndarray], np.ndarray]
"""Maps (N, 3) patient-frame points (mm) to HU (linear interpolation)."""


@dataclass
class SpineCurve:
    """A smooth curve through the vertebral bodies, sampled by arc length (bottom to top)."""

    s: np.ndarray
    """(n,) arc length (mm), increasing upwards."""
    points: np.ndarray
    """(n, 3) frame coordinates (mm)."""
    tangent: np.ndarray
    """(n, 3) unit tangent (pointing up)."""
    normal: np.ndarray
    """(n, 3) unit normal in the sagittal plane, pointing anterior."""
    slice_s: np.ndarray
    """(nz,) s of the curve at each working slice's z (NaN outside the curve)."""
    slice_point: np.ndarray
    """(nz, 3) the curve's point at each slice (NaN outside)."""
    slice_tangent: np.ndarray
    """(nz, 3) the tangent at each slice."""
    front: np.ndarray
    """(nz,) y of the vertebral bodies' anterior surface per slice (median-filtered; NaN outside the column)."""
    shift: np.ndarray
    """(n,) the local front minus the smoothed one along the curve (mm, anterior): the profile patch follows the
    bodies' own front where the column's outline steps (smaller cervical bodies) faster than the curve bends."""

    def s_of(self, pts: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Arc length of the plane perpendicular to the curve through each point (points of working slice
        ``k``; first order in the distance from the curve)."""
        d = pts - self.slice_point[k]
        return self.slice_s[k] + np.einsum("ij,ij->i", d, self.slice_tangent[k])

    @property
    def length(self) -> float:
        return float(self.s[-1] - self.s[0]) if len(self.s) else 0.0


@dataclass
class Column:
    """The column along its curve: profile, disc score and the discs chosen."""

    curve: SpineCurve
    profile: np.ndarray
    score: np.ndarray
    """Normalised disc score on ``curve.s``."""
    discs: np.ndarray
    """s of the discs chosen, ascending (bottom to top)."""
    dark: np.ndarray | None = None
    """Normalised darkness below the bodies' level on ``curve.s`` (thick discs are dark between endplates)."""

    def darkness(self, s_val: float, half_mm: float = 4.0) -> float:
        """The darkest point within ``half_mm`` of ``s_val`` (0 without a darkness profile)."""
        if self.dark is None:
            return 0.0
        near = np.abs(self.curve.s - s_val) <= half_mm
        return float(self.dark[near].max()) if near.any() else 0.0

    def bounds(self) -> list[tuple[float, float]]:
        """(s_low, s_high) of every vertebra, **top to bottom**, the partial ones at the curve's ends included."""
        edges = [float(self.curve.s[0]), *[float(d) for d in self.discs], float(self.curve.s[-1])]
        out = [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
        return [b for b in reversed(out) if b[1] - b[0] > 1e-6]

    def pitch_at(self, s: float) -> float:
        """The local vertebral height (mm): the gap between the discs around ``s`` (median when far)."""
        d = self.discs
        if len(d) < 2:
            return 25.0
        gaps = np.diff(d)
        mids = (d[:-1] + d[1:]) / 2.0
        return float(gaps[int(np.argmin(np.abs(mids - s)))])


# --------------------------------------------------------------------------------------------------------
# 1-2. Body front and curve
# --------------------------------------------------------------------------------------------------------
def body_front(g: WorkGrid, spine: Spine) -> np.ndarray:
    """(nz,) y of the vertebral body's anterior surface per slice (NaN where no body is seen)."""
    nz, nx, ny = g.shape[2], g.shape[0], g.shape[1]
    x = g.axis_world(0).reshape(-1)
    y = g.axis_world(1).reshape(-1)
    dy = float(g.spacing[1])  # signed: the frame's y axis may run either way along the array
    half = max(1, round(5.0 / float(abs(g.spacing[0]))))
    min_run = max(2, round(FRONT_MIN_MM / abs(dy)))
    near = np.convolve(spine.seen.astype(np.int64), np.ones(5, dtype=np.int64), mode="same") > 0
    ks = np.flatnonzero(near)
    out = np.full(nz, np.nan)
    if not len(ks):
        return out
    # per slice, the ray from 10 mm behind the column's centre to FRONT_REACH_MM in front of it (anterior order)
    steps = np.arange(-round(10.0 / abs(dy)), round(FRONT_REACH_MM / abs(dy)) + 1)
    cx, cy = spine.centre[ks, 0], spine.centre[ks, 1]
    i0 = np.clip(np.rint((cx - x[0]) / float(g.spacing[0])).astype(np.int64), 0, nx - 1)
    j0 = np.rint((cy - y[0]) / dy).astype(np.int64)
    jj = j0[:, None] + (1 if dy > 0 else -1) * steps[None, :]  # anterior = +y
    valid = (jj >= 0) & (jj < ny)
    jc = np.clip(jj, 0, ny - 1)
    cols = [np.clip(i0 + d, 0, nx - 1) for d in range(-half, half + 1)]
    lines = np.stack([g.hu[c[:, None], jc, ks[:, None]] for c in cols], axis=0)
    # the median across the columns: a contrast-filled aorta beside the body does not extend it
    line = np.median(lines, axis=0)
    dense = (line > FRONT_HU) & valid
    yy = y[jc]
    reach = np.maximum(spine.front[ks], cy + 15.0) + FRONT_BEYOND_MM
    for r in range(len(ks)):
        # runs of dense voxels: the most anterior one long enough that ends within reach of the column's own
        # front and inside the window (a contrast-filled heart or aorta further ahead is not the body)
        edges = np.diff(np.concatenate([[0], dense[r].astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        end_y = yy[r, ends - 1]
        ok = (ends - starts >= min_run) & (end_y <= reach[r]) & (ends < int(valid[r].sum()) + int(np.argmax(valid[r])))
        long = np.flatnonzero(ok)
        if len(long):
            out[ks[r]] = float(end_y[long[-1]])
    return out


def _fill(v: np.ndarray, ok: np.ndarray) -> np.ndarray:
    idx = np.arange(len(v))
    return np.interp(idx, idx[ok], v[ok])


def spine_curve(g: WorkGrid, spine: Spine, step_mm: float = 1.5) -> SpineCurve | None:
    """The curve through the bodies over the slices where the spine was seen (None: too short)."""
    nz = g.shape[2]
    z = g.axis_world(2).reshape(-1).astype(np.float64)
    dz = float(abs(g.spacing[2]))
    seen = np.nonzero(spine.seen)[0]
    if len(seen) < 2:
        return None
    k0, k1 = int(seen[0]), int(seen[-1])
    front = body_front(g, spine)
    ok = np.isfinite(front)
    ok[:k0] = False
    ok[k1 + 1 :] = False
    if ok.sum() < 3:
        fy = spine.front.astype(np.float64).copy()
    else:
        fy = _fill(front, ok)
        fy[ok] = ndimage.median_filter(front[ok], size=5, mode="nearest")
        fy = _fill(fy, ok)
    sig = max(1.0, CURVE_SMOOTH_MM / dz)
    cx = ndimage.gaussian_filter1d(spine.centre[:, 0].astype(np.float64), sig, mode="nearest")
    cy = ndimage.gaussian_filter1d(fy - BODY_DEPTH_MM, sig, mode="nearest")
    ks = np.arange(k0, k1 + 1)
    ks = ks[np.argsort(z[ks])]  # bottom to top
    pts = np.stack([cx[ks], cy[ks], z[ks]], axis=1)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    sk = np.concatenate([[0.0], np.cumsum(seg)])
    if sk[-1] < 2 * MIN_PITCH_MM:
        return None
    s = np.arange(0.0, sk[-1] + 1e-6, step_mm)
    p = np.stack([np.interp(s, sk, pts[:, a]) for a in range(3)], axis=1)
    t = np.gradient(p, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    n = np.cross(t, np.array([1.0, 0.0, 0.0]))
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    n *= np.where(n[:, 1:2] < 0, -1.0, 1.0)
    slice_s = np.full(nz, np.nan)
    slice_s[ks] = sk
    slice_p = np.full((nz, 3), np.nan)
    slice_p[ks] = pts
    slice_t = np.full((nz, 3), np.nan)
    # the planes that cut the vertebrae apart lean with the column's long course (a local bend of the outline,
    # e.g. smaller cervical bodies, does not tilt a whole vertebra)
    t_long = ndimage.gaussian_filter1d(t, LABEL_SMOOTH_MM / step_mm, axis=0, mode="nearest")
    t_long /= np.maximum(np.linalg.norm(t_long, axis=1, keepdims=True), 1e-9)
    slice_t[ks] = np.stack([np.interp(sk, s, t_long[:, a]) for a in range(3)], axis=1)
    fr = np.full(nz, np.nan)
    fr[k0 : k1 + 1] = fy[k0 : k1 + 1]
    shift = np.interp(s, sk, (fy - BODY_DEPTH_MM - cy)[ks])
    return SpineCurve(s=s, points=p, tangent=t, normal=n, slice_s=slice_s, slice_point=slice_p,
                      slice_tangent=slice_t, front=fr, shift=shift)


def grid_sampler(g: WorkGrid) -> Sampler:
    """Linear interpolation of the working grid itself."""
    inv = np.linalg.inv(g.affine)

    def sample(pts: np.ndarray) -> np.ndarray:
        idx = pts @ inv[:3, :3].T + inv[:3, 3]
        return ndimage.map_coordinates(g.hu, idx.T, order=1, mode="nearest")

    return sample


# --------------------------------------------------------------------------------------------------------
# 3-4. Profile and disc score
# --------------------------------------------------------------------------------------------------------
def profile(curve: SpineCurve, sample: Sampler) -> np.ndarray:
    """Mean HU of the anterior-body patch perpendicular to the curve, per curve sample."""
    e = np.cross(curve.normal, curve.tangent)
    us = np.arange(-PATCH_HALF_WIDTH_MM, PATCH_HALF_WIDTH_MM + 1e-6, 2.0)
    # v: along the normal, relative to the curve (which runs BODY_DEPTH_MM behind the front)
    vs = np.arange(BODY_DEPTH_MM - PATCH_DEPTH_MM[1], BODY_DEPTH_MM - PATCH_DEPTH_MM[0] + 1e-6, 2.5)
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    uu, vv = uu.ravel(), vv.ravel()
    v = vv[None, :] + curve.shift[:, None]
    pts = curve.points[:, None, :] + uu[None, :, None] * e[:, None, :] + v[:, :, None] * curve.normal[:, None, :]
    vals = sample(pts.reshape(-1, 3)).reshape(len(curve.s), -1)
    return vals.mean(axis=1)


def disc_score(prof: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(bright, dark): how much brighter than the bodies beside it the profile is (smoothed), and how much darker
    (lightly smoothed), both normalised by the 90th percentile of ``bright``; the body level is a low running
    percentile of the profile."""
    w = max(3, round(BASELINE_MM / step_mm) | 1)
    base = ndimage.percentile_filter(prof, BASELINE_PERCENTILE, size=w, mode="nearest")
    bright = ndimage.gaussian_filter1d(np.maximum(prof - base, 0.0), SCORE_SMOOTH_MM / step_mm, mode="nearest")
    dark = ndimage.gaussian_filter1d(np.maximum(base - prof, 0.0), DARK_SMOOTH_MM / step_mm, mode="nearest")
    ref = float(np.percentile(bright, 90)) if len(bright) else 0.0
    if ref <= 1e-6:
        return np.zeros_like(bright), np.zeros_like(dark)
    return bright / ref, dark / ref


# --------------------------------------------------------------------------------------------------------
# 5. Discs by dynamic programming
# --------------------------------------------------------------------------------------------------------
def _rib_term(s: np.ndarray, ribs: dict[str, np.ndarray], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Penalty of the vertebra intervals (s[lo], s[hi]) for the rib levels they hold: per side, an interval
    reaching into that side's rib-bearing stretch with n rib levels pays |n - 1| (no reward for one: closing
    the partial vertebra at the end of the column with a disc would otherwise pay)."""
    out = np.zeros(np.broadcast(lo, hi).shape)
    a, b = s[lo], s[hi]
    for levels in ribs.values():
        if len(levels) < 2:
            continue
        lv = np.sort(levels)
        count = np.searchsorted(lv, b) - np.searchsorted(lv, a)
        spans = (a < lv[-1]) & (b > lv[0])
        out -= np.where(spans, np.abs(count - 1.0), 0.0)
    return RIB_PENALTY * out


def _peaks(score: np.ndarray, radius: int) -> np.ndarray:
    """Local maxima of ``score`` that are the highest within ``radius`` samples either side (boolean)."""
    top = ndimage.maximum_filter1d(score, size=2 * radius + 1, mode="nearest")
    return (score >= top) & (score > 0)


def _dark_inside(dark: np.ndarray, offs: np.ndarray, margin: int) -> np.ndarray:
    """(n, len(offs)): the darkest point strictly inside the interval ``(j - offs[a], j)``, ``margin`` samples in
    from both ends (0 for intervals too short to have an inside)."""
    n = len(dark)
    out = np.zeros((n, len(offs)))
    j = np.arange(n)
    for a, o in enumerate(offs):
        length = int(o) - 2 * margin + 1
        if length <= 0 or length > n:
            continue
        wmax = np.lib.stride_tricks.sliding_window_view(dark, length).max(axis=1)
        start = j - int(o) + margin
        ok = (start >= 0) & (start < len(wmax))
        out[ok, a] = wmax[start[ok]]
    return out


def find_discs(
    s: np.ndarray, score: np.ndarray, ribs: dict[str, np.ndarray] | None = None, dark: np.ndarray | None = None
) -> np.ndarray:
    """The disc positions (s, ascending) maximising the objective described in the module docstring."""
    n = len(s)
    if n < 3:
        return np.zeros(0)
    step = float(s[1] - s[0])
    gmin, gmax = max(1, int(np.ceil(MIN_PITCH_MM / step))), int(MAX_PITCH_MM / step)
    offs = np.arange(gmin, gmax + 1)
    w = len(offs)
    dark = np.zeros(n) if dark is None else dark
    # a thick disc: much darker than the bodies between its two bright endplates (a body's core, a little darker
    # than the running baseline at coarse slices, does not count)
    score = score + np.maximum(dark - DARK_FREE, 0.0)
    peaks = _peaks(score, max(1, gmin // 2))
    gains = np.where(peaks, score - DISC_COST, -GAP_COST)
    # a bright peak is flat-topped over a disc and its two endplates: the disc itself is where the profile is
    # darkest between them (a sharp minimum when the slices resolve it)
    snap = max(1, round(SNAP_MM / step))
    for j in np.flatnonzero(peaks):
        lo, hi = max(0, j - snap), min(n, j + snap + 1)
        k = lo + int(np.argmax(dark[lo:hi]))
        if k != j and dark[k] >= SNAP_DARK and not peaks[k]:
            gains[k], gains[j] = gains[j], -GAP_COST
            peaks[k], peaks[j] = True, False
    edge = round(EDGE_MM / step)
    gains[:edge] = -np.inf  # the profile's ends are half windows: no disc placed there
    gains[max(0, n - edge) :] = -np.inf
    # the terms of a vertebra from i = j - offs[a] to j: rib levels it holds; the inside of a vertebra is a body,
    # not a dark disc (two picks on the bright endplates around one thick disc)
    jj = np.arange(n)[:, None]
    ii = jj - offs[None, :]
    valid = ii >= 0
    ic = np.clip(ii, 0, n - 1)
    margin = max(1, round(DARK_MARGIN_MM / step))
    term = -DARK_PENALTY * np.maximum(_dark_inside(dark, offs, margin) - DARK_FREE, 0.0)
    if ribs:
        term += _rib_term(s, ribs, ic, np.broadcast_to(jj, ic.shape))
    # consecutive heights change smoothly: penalty of (current gap a, previous gap b); none for the first gap
    pen = RATIO_PENALTY * np.log(offs[:, None] / offs[None, :]) ** 2
    pen = np.concatenate([pen, np.zeros((w, 1))], axis=1)
    neg = -np.inf
    # best[j, a]: best value with the last disc at j and the previous one at j - offs[a] (a = w: j is the first)
    best = np.full((n, w + 1), neg)
    back = np.full((n, w + 1), -1, dtype=np.int64)
    best[:, w] = gains
    for j in range(gmin, n):
        ok = valid[j]
        if not np.isfinite(gains[j]):
            continue
        prev = best[j - offs[ok]]  # (m, w+1): predecessor states of each i
        total = prev - pen[ok]
        b = np.argmax(total, axis=1)
        val = total[np.arange(len(b)), b] + gains[j] + term[j, ok]
        best[j, :w][ok] = val
        back[j, :w][ok] = b
    flat = int(np.argmax(best))
    j, a = divmod(flat, w + 1)
    if not np.isfinite(best[j, a]) or best[j, a] <= 0:
        return np.zeros(0)
    chosen = [j]
    while a != w:
        i = j - int(offs[a])
        a = int(back[j, a])
        j = i
        chosen.append(j)
    merged = _merge_thick(sorted(chosen), dark)
    ends = _extend_ends(merged, score, np.isfinite(gains) & peaks, step)
    return s[_split_by_ribs(list(ends), s, score, ribs, edge)]


def _split_by_ribs(
    idx: list[int], s: np.ndarray, score: np.ndarray, ribs: dict[str, np.ndarray] | None, edge: int
) -> list[int]:
    """A partial vertebra at either end of the chain holding two rib levels of one side is two vertebrae: a disc at
    the best score a fifth to a half of the way from the lower rib level to the upper one."""
    n = len(s)
    out = sorted(idx)
    if not out or not ribs:
        return out
    for _ in range(4):
        grown = False
        for top in (True, False):
            last = out[-1] if top else out[0]
            for levels in ribs.values():
                beyond = np.sort(levels[levels > s[last]]) if top else np.sort(levels[levels < s[last]])[::-1]
                if len(beyond) < 2:
                    continue
                # a rib leaves its vertebra near the top: the disc lies a third of the way up to the next rib
                a, b = sorted((float(beyond[0]), float(beyond[1])))
                win = np.flatnonzero((s > a + 0.2 * (b - a)) & (s < a + 0.5 * (b - a)))
                win = win[(win >= edge) & (win < n - edge)]
                if not len(win):
                    continue
                k = int(win[np.argmax(score[win])])
                if top:
                    out.append(k)
                else:
                    out.insert(0, k)
                grown = True
                break
        if not grown:
            break
    return sorted(out)


def _merge_thick(idx: list[int], dark: np.ndarray) -> list[int]:
    """Two discs much closer together than the vertebrae around them, with a dark band between them, are the two
    bright endplates of one thick disc: one disc at the darkest point between them."""
    out = list(idx)
    changed = True
    while changed and len(out) >= 3:
        changed = False
        gaps = np.diff(out)
        for a in range(len(gaps)):
            around = [gaps[b] for b in (a - 1, a + 1) if 0 <= b < len(gaps)]
            if not around or gaps[a] >= MERGE_FRACTION * float(np.median(around)):
                continue
            lo, hi = out[a], out[a + 1]
            inner = dark[lo + 1 : hi]
            if len(inner) and float(inner.max()) > DARK_FREE:
                out[a : a + 2] = [lo + 1 + int(np.argmax(inner))]
                changed = True
                break
    return out


def _extend_ends(idx: list[int], score: np.ndarray, allowed: np.ndarray, step: float) -> np.ndarray:
    """Discs the chain stopped short of: while the stretch beyond the last disc at either end is longer than one
    vertebra, the best score peak (above ``EXTEND_MIN``) about one vertebral height further is a disc too. The
    chain's objective does not see the partial vertebrae at the ends, so a faint disc there is otherwise lost."""
    n = len(score)
    out = list(idx)
    for _ in range(2 * MAX_EXTEND):
        if len(out) < 2:
            break
        grown = False
        for top in (True, False):
            last, prev = (out[-1], out[-2]) if top else (out[0], out[1])
            pitch = abs(last - prev)
            room = (n - 1 - last) if top else last
            if room <= pitch:
                continue
            lo, hi = round(EXTEND_RANGE[0] * pitch), round(EXTEND_RANGE[1] * pitch)
            cand = np.arange(last + lo, last + hi + 1) if top else np.arange(last - hi, last - lo + 1)
            cand = cand[(cand >= 0) & (cand < n)]
            cand = cand[allowed[cand] & (score[cand] >= EXTEND_MIN)]
            if not len(cand):
                continue
            best = int(cand[np.argmax(score[cand])])
            if top:
                out.append(best)
            else:
                out.insert(0, best)
            grown = True
        if not grown:
            break
    _ = step
    return np.asarray(out, dtype=np.int64)


def analyse_column(
    g: WorkGrid, spine: Spine, sample: Sampler | None = None, ribs: dict[str, np.ndarray] | None = None
) -> Column | None:
    """Curve, profile, disc score and discs of the column (None when no column of two vertebrae is seen)."""
    curve = spine_curve(g, spine)
    if curve is None:
        return None
    prof = profile(curve, sample or grid_sampler(g))
    step = float(curve.s[1] - curve.s[0])
    score, dark = disc_score(prof, step)
    discs = find_discs(curve.s, score, ribs, dark)
    return Column(curve=curve, profile=prof, score=score, discs=discs, dark=dark)
