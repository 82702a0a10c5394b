"""The phantom's numbered skeleton: vertebral levels with heights and discs, ribs on their own vertebra, costal
cartilages, the sacrum's S1, and the spine's variation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from radgenome.anatomy import is_mask_name
from radgenome.synth.phantom import Phantom, make_fov_phantom, make_phantom
from radgenome.synth.spine import LEVEL_NAMES, S1_INDEX, T1_INDEX, T1_Z, spine_levels, thoracic


def _z(p: Phantom) -> np.ndarray:
    return p.affine[2, 3] + p.affine[2, 2] * np.arange(p.hu.shape[2])


@pytest.fixture(scope="module")
def long() -> Phantom:
    return make_fov_phantom("neck_to_pelvis", seed=0)


def test_level_table() -> None:
    lv = spine_levels()
    assert [v.name for v in lv] == list(LEVEL_NAMES) and all(is_mask_name(n) for n in LEVEL_NAMES)
    assert lv[T1_INDEX].centre == T1_Z and lv[S1_INDEX].disc_below == 0.0
    for upper, lower in itertools.pairwise(lv):
        assert upper.bottom - upper.disc_below == pytest.approx(lower.top)  # the disc fills the gap exactly
    heights = [thoracic(lv, k).height for k in range(1, 13)]
    assert heights == sorted(heights) and heights[-1] > heights[0] + 4  # thoracic bodies grow downwards
    assert min(v.disc_below for v in lv[19:24]) > max(v.disc_below for v in lv[7:19])  # thick lumbar discs


def test_variation_moves_the_levels_but_not_t1() -> None:
    a, b = spine_levels(0.15, seed=3), spine_levels(0.15, seed=4)
    assert a[T1_INDEX].centre == b[T1_INDEX].centre == T1_Z
    assert not np.allclose([v.height for v in a], [v.height for v in b])
    base = spine_levels()
    ratio = np.array([v.height for v in a]) / np.array([v.height for v in base])
    assert np.all((ratio >= 0.85 - 1e-9) & (ratio <= 1.15 + 1e-9))
    assert spine_levels(0.15, seed=3) == a  # drawn from the seed: reproducible


def test_every_level_lies_in_its_z_range(long: Phantom) -> None:
    z = _z(long)
    ranges = long.options["levels"]
    for name in LEVEL_NAMES:
        m = long.mask(name)
        if not m.any():
            continue
        zk = z[m.any(axis=(0, 1))]
        lo, hi = ranges[name]
        assert zk.min() >= lo - 4.0 - 1e-6 and zk.max() <= hi + 1e-6, name  # the arch hangs 3 mm lower
    # discs between the bodies: lower HU than the bodies at the body's centre line
    x0 = int(np.argmin(np.abs(long.affine[0, 3] + long.affine[0, 0] * np.arange(long.hu.shape[0]))))
    y0 = int(np.argmin(np.abs(long.affine[1, 3] + long.affine[1, 1] * np.arange(long.hu.shape[1]) + 60.0)))
    col = long.hu[x0, y0, :].astype(float)
    t6, t7 = ranges["thoracic vertebrae 6 (t6)"], ranges["thoracic vertebrae 7 (t7)"]
    disc = (z < t6[0]) & (z > t7[1])
    assert disc.any() and col[disc].min() < col[(z > t6[0] + 4) & (z < t6[1] - 4)].mean()


def test_rib_k_leaves_the_spine_at_vertebra_k(long: Phantom) -> None:
    z = _z(long)
    x = long.affine[0, 3] + long.affine[0, 0] * np.arange(long.hu.shape[0])
    ranges = long.options["levels"]
    for k in range(1, 13):
        for side in ("left", "right"):
            m = long.mask(f"{side} rib {k}")
            i, _, kk = np.nonzero(m)
            near = np.abs(x[i]) < 40.0  # the head and the neck
            assert near.any(), (side, k)
            lo, hi = ranges[f"thoracic vertebrae {k} (t{k})"]
            zr = z[kk[near]]
            assert lo - 8.0 <= np.median(zr) <= hi + 4.0, (side, k, np.median(zr), lo, hi)
            assert zr.max() <= hi + 6.0  # never above the disc over its vertebra


def test_costal_cartilage_joins_the_ribs_to_the_sternum() -> None:
    p = make_phantom(seed=0)
    cart = p.mask("costal cartilage")
    assert cart.sum() * np.prod(p.spacing) / 1000.0 > 20.0  # ml, both sides
    assert 100 < np.median(p.hu[cart]) < 140  # denser than muscle, not bone
    from scipy import ndimage

    grown = ndimage.binary_dilation(cart, iterations=2)
    assert (grown & p.mask("sternum")).any()
    for side in ("left", "right"):
        assert (grown & p.mask(f"{side} rib 5")).any() and not (grown & p.mask(f"{side} rib 12")).any()


def test_sacrum_and_lumbar_spine(long: Phantom) -> None:
    names = set(long.labels.values())
    assert {"lumbar vertebrae 5 (l5)", "sacral vertebrae 1 (s1)", "bone"} <= names
    assert "lumbar vertebrae 6 (l6)" not in names
    z = _z(long)
    s1 = long.mask("sacral vertebrae 1 (s1)")
    l5 = long.mask("lumbar vertebrae 5 (l5)")
    assert z[s1.any(axis=(0, 1))].max() < z[l5.any(axis=(0, 1))].min()
    # S1 with its alae is wider than L5's body (the sacrum joins the iliac bones)
    x = long.affine[0, 3] + long.affine[0, 0] * np.arange(long.hu.shape[0])
    assert np.ptp(x[np.nonzero(s1)[0]]) > 80.0


def test_chest_field_of_view_has_no_sacrum() -> None:
    p = make_fov_phantom((-250.0, 0.0), seed=0, spine_variation=0.1)
    assert "sacral vertebrae 1 (s1)" not in p.labels.values()
    assert "lumbar vertebrae 3 (l3)" in p.labels.values()
