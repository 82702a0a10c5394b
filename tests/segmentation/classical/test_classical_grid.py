"""The classical segmenter's working grid and morphology helpers."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radgenome.segmentation.classical.grid import (
    block_factors,
    dilate,
    downsample,
    erode,
    fill_holes_2d,
    slice_hull,
    upsample_labels,
)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(3, 23), st.integers(3, 23), st.integers(3, 17)),
    spacing=st.tuples(
        st.sampled_from([0.5, 0.7, 1.0, 1.5, 3.0]),
        st.sampled_from([0.5, 0.7, 1.0, 1.5, 3.0]),
        st.sampled_from([0.6, 1.5, 2.5, 5.0]),
    ),
    seed=st.integers(0, 1000),
)
def test_down_up_sampling(shape: tuple[int, int, int], spacing: tuple[float, float, float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1000, 1000, shape).astype(np.int16)
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = rng.normal(0, 50, 3)
    g = downsample(hu, aff, 3.0)
    f = g.factors
    assert f == block_factors(spacing, 3.0)
    assert g.shape == tuple(-(-n // k) for n, k in zip(shape, f, strict=True))
    # first block: mean of its input voxels (edge-replicated), centred on them in world space
    blk = np.pad(hu, [(0, (-n) % k) for n, k in zip(shape, f, strict=True)], mode="edge")[: f[0], : f[1], : f[2]]
    assert np.isclose(g.hu[0, 0, 0], blk.mean(), atol=1e-3)
    centre_in = aff @ np.array([(f[0] - 1) / 2, (f[1] - 1) / 2, (f[2] - 1) / 2, 1.0])
    assert np.allclose(g.affine @ np.array([0, 0, 0, 1.0]), centre_in)
    lab = rng.integers(0, 5, g.shape).astype(np.uint8)
    up = upsample_labels(lab, f, g.full_shape)
    assert up.shape == shape
    ref = np.repeat(np.repeat(np.repeat(lab, f[0], 0), f[1], 1), f[2], 2)[: shape[0], : shape[1], : shape[2]]
    assert np.array_equal(up, ref)


def test_crop_keeps_world_positions() -> None:
    hu = np.zeros((20, 20, 20), np.int16)
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    g = downsample(hu, aff, 2.0)
    c = g.crop((slice(3, 10), slice(4, 12), slice(5, 9)))
    assert np.allclose(c.world(np.array([[0, 0, 0]])), g.world(np.array([[3, 4, 5]])))


def test_axis_percentile_matches_voxel_percentiles() -> None:
    rng = np.random.default_rng(3)
    g = downsample(np.zeros((30, 20, 25), np.int16), np.diag([2.0, 3.0, 4.0, 1.0]), 2.0)
    m = np.zeros(g.shape, bool)
    m[5:20, 3:15, 4:18] = rng.random((15, 12, 14)) > 0.5
    z = g.world(np.argwhere(m))[:, 2]
    assert np.isclose(g.axis_percentile(m, 2, 0.0), z.min())
    assert np.isclose(g.axis_percentile(m, 2, 100.0), z.max())
    assert abs(g.axis_percentile(m, 2, 50.0) - np.median(z)) <= 4.0
    assert np.allclose(g.centroid_world(m), g.world(np.argwhere(m)).mean(axis=0))


def test_near_ball_morphology() -> None:
    sp = np.array([2.8, 2.8, 3.0])
    a = np.zeros((41, 41, 41), bool)
    a[20, 20, 20] = True
    d = dilate(a, 14.0, sp)
    idx = np.argwhere(d) - 20
    r = np.sqrt(((idx * sp) ** 2).sum(axis=1))
    assert r.max() <= 14.0 * 1.25  # no farther than a quarter beyond the radius
    grid = np.argwhere(np.ones_like(a)) - 20
    rr = np.sqrt(((grid * sp) ** 2).sum(axis=1)).reshape(a.shape)
    assert d[rr <= 14.0 * 0.7].all()  # holds the inner ball
    # erosion is the dual: a ball eroded then dilated stays inside the ball and keeps most of it
    ball = rr <= 30.0
    opened = dilate(erode(ball, 10.0, sp), 10.0, sp) & ball
    assert opened.sum() > 0.8 * ball.sum()
    # the volume border does not erode
    full = np.ones((10, 10, 10), bool)
    assert erode(full, 5.0, sp).all()


def test_fill_holes_2d_per_slice() -> None:
    m = np.zeros((20, 20, 3), bool)
    m[5:15, 5:15, :] = True
    m[8:12, 8:12, 1] = False  # a hole in slice 1
    m[8:12, 8:12, 2] = False
    m[8:12, 0:12, 2] = False  # slice 2: the gap reaches the edge: not a hole
    out = fill_holes_2d(m)
    assert out[:, :, 1].sum() == 100
    assert not out[9, 9, 2]


def test_slice_hull_fills_concavities() -> None:
    m = np.zeros((40, 40, 2), bool)
    m[5:35, 5:10, 0] = True  # a "C"
    m[5:10, 5:35, 0] = True
    m[30:35, 5:35, 0] = True
    h = slice_hull(m, np.array([1.0, 1.0, 1.0]))
    assert h[20, 20, 0] and (h | ~m).all() and not h[:, :, 1].any()
    assert not h[2, 2, 0]
