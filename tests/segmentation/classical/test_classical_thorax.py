"""Thorax landmarks (spine track, spinal canal, rib cage, diaphragm) and the patient frame, on phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radgenome.segmentation.classical.body import segment_body
from radgenome.segmentation.classical.frame import (
    RotatedGrid,
    estimate_rotation,
    lateral,
    right_direction_world,
    side_of,
    to_patient_frame,
)
from radgenome.segmentation.classical.grid import WorkGrid, bbox, downsample
from radgenome.segmentation.classical.thorax import Thorax, find_thorax, fit_diaphragm
from radgenome.synth import phantom as ph
from radgenome.synth.phantom import LOBES, Phantom, make_fov_phantom, make_phantom


def work(hu: np.ndarray, affine: np.ndarray) -> tuple[WorkGrid, np.ndarray]:
    g = to_patient_frame(downsample(hu, affine, 3.0))
    body = segment_body(g)
    box = bbox(body, margin=2)
    assert box is not None
    return g.crop(box), np.ascontiguousarray(body[box])


@pytest.fixture(scope="module")
def neck_to_pelvis() -> tuple[Phantom, WorkGrid, Thorax]:
    p = make_fov_phantom("neck_to_pelvis", seed=1)
    g, body = work(p.hu, p.affine)
    return p, g, find_thorax(g, body)


def test_spine_track_and_canal(neck_to_pelvis: tuple[Phantom, WorkGrid, Thorax]) -> None:
    _, g, th = neck_to_pelvis
    sp = th.spine
    assert sp is not None
    assert sp.seen.mean() > 0.75  # the discs are interpolated over
    assert np.all(np.abs(sp.centre[:, 0] - ph.VERT_C[0]) < 3.0)
    z = g.axis_world(2)[0, 0, :]
    chest = (z > -130.0) & (z < 130.0)  # thoracic spine: vertebral bodies' front at VERT_C + VERT_R
    assert np.all(np.abs(sp.front[chest] - (ph.VERT_C[1] + ph.VERT_R)) < 4.0)
    found = ~np.isnan(sp.canal[:, 0])
    assert found[chest].mean() > 0.5
    assert np.all(np.abs(sp.canal[found & chest] - np.array(ph.CANAL_C)) < 4.0)
    assert sp.canal_mask.any() and not (sp.canal_mask & sp.column).any()


def test_rib_cage_stops_at_the_last_ribs(neck_to_pelvis: tuple[Phantom, WorkGrid, Thorax]) -> None:
    p, g, th = neck_to_pelvis
    cage_z = th.cage_z(g)
    assert cage_z is not None
    ribs = p.mask_prefix("left rib ") | p.mask_prefix("right rib ")
    zr = p.affine[2, 3] + p.affine[2, 2] * np.nonzero(ribs.any(axis=(0, 1)))[0]
    assert abs(cage_z[0] - zr.min()) <= 12.0  # down to the 12th ribs, not into the pelvis
    assert cage_z[1] >= 120.0
    z = g.axis_world(2)[0, 0, :]
    assert not th.cage_slices[z < -200.0].any()  # the pelvic ring is no rib cage
    # the lungs lie inside the cage
    assert g.factors == (1, 1, 1)  # 3.5 mm phantom: the working grid is the input grid, cropped
    box = bbox(segment_body(to_patient_frame(downsample(p.hu, p.affine, 3.0))), margin=2)
    assert box is not None
    lungs = p.mask(*LOBES)[box]
    assert (th.cage & lungs).sum() > 0.9 * lungs.sum()


def test_diaphragm_domes_from_the_lung_bases() -> None:
    p = make_phantom(seed=2)
    g = to_patient_frame(downsample(p.hu, p.affine, 3.0))
    right = p.mask(*LOBES[:3])
    left = p.mask(*LOBES[3:])
    dia = fit_diaphragm(g, right, left, p.labelmap > 0)
    assert dia is not None
    assert abs(dia.dome_top["right"] - ph.DOME_TOP[1]) < 8.0
    assert abs(dia.dome_top["left"] - ph.DOME_TOP[-1]) < 8.0
    assert dice(dia.below, p.mask("liver") | p.mask("stomach")) < 1.0  # a region, not an organ
    assert (dia.below & p.mask("liver")).sum() > 0.9 * p.mask("liver").sum()
    assert fit_diaphragm(g, np.zeros_like(right), np.zeros_like(left), p.labelmap > 0) is None


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


def test_spine_is_tracked_when_tilted_in_the_grid() -> None:
    """A spine tilted 30 degrees in the sagittal plane moves ~17 mm per 30 mm of z: tracked, not lost."""
    p = make_phantom(seed=3)
    t = np.radians(30.0)
    r = np.eye(4)
    r[1:3, 1:3] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    m = np.linalg.inv(p.affine) @ r.T @ p.affine
    hu = ndimage.affine_transform(p.hu.astype(np.float32), m[:3, :3], m[:3, 3], order=1, cval=-1000.0)
    g, body = work(hu, p.affine)
    sp = find_thorax(g, body).spine
    assert sp is not None and sp.seen.mean() > 0.6
    z = g.axis_world(2)[0, 0, :]
    slope = np.polyfit(z[sp.seen], sp.centre[sp.seen, 1], 1)[0]
    # turned by +30 degrees about x, the patient's posterior spine moves back as z rises: dy/dz = -tan(30)
    assert abs(slope + np.tan(t)) < 0.15


# ------------------------------------------------------------------------------------------------ frame
def test_frame_follows_the_affine_signs_and_rotation() -> None:
    hu = np.zeros((20, 20, 10), np.float32)
    las = np.diag([-2.0, 2.0, 3.0, 1.0])
    g = to_patient_frame(downsample(hu, las, 2.0))
    assert np.allclose(right_direction_world(g), [1.0, 0.0, 0.0])
    x = g.axis_world(0)[:, 0, 0]
    assert x[0] > x[-1]  # stored right-to-left: the first voxel is the patient's rightmost
    m = np.zeros(hu.shape, bool)
    m[:5] = True
    assert side_of(g, m, float(x.mean())) == "right"
    assert (lateral(g, float(x.mean()))[:5] > 0).all()
    t = np.radians(40.0)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    g = to_patient_frame(downsample(hu, rot @ np.diag([2.0, 2.0, 3.0, 1.0]), 2.0))
    assert np.allclose(np.diag(g.affine)[:3], [2.0, 2.0, 3.0])  # frame: along the array axes
    assert np.allclose(right_direction_world(g), [np.cos(t), np.sin(t), 0.0])
    permuted = np.array([[0.0, 2.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match="canonical"):
        to_patient_frame(downsample(hu, permuted, 2.0))


def test_rotated_grid_round_trip() -> None:
    """Labels made on the body's own axes come back onto the source grid where they were."""
    p = make_phantom(seed=1)
    g, body = work(p.hu, p.affine)
    rot = RotatedGrid.build(g, body, 25.0)
    # the rotated grid's frame: same body centre line, x/y turned by 25 degrees
    assert np.allclose(g.to_world(g.centroid_world(body)), rot.grid.to_world(rot.grid.centroid_world(body_of(rot))),
                       atol=4.0)
    back = rot.labels_back(body_of(rot).astype(np.uint8))
    assert dice(back > 0, body) > 0.98
    est = estimate_rotation(g, body)
    assert abs(est.angle_deg) < 1.0 and not est.applied


def body_of(rot: RotatedGrid) -> np.ndarray:
    return segment_body(rot.grid)
