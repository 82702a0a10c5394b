"""Anatomical sanity of the synthetic phantom (positions in world RAS, HU ranges, orientation writing)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from radgenome.anatomy import is_mask_name
from radgenome.synth.phantom import LOBES, Phantom, make_phantom, reorient_array, write_phantom_nifti


@pytest.fixture(scope="module")
def ph() -> Phantom:
    return make_phantom(female=True)


def _centroid_mm(p: Phantom, mask: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask).mean(axis=0)
    return (p.affine @ np.append(idx, 1.0))[:3]


def test_contract(ph: Phantom) -> None:
    assert ph.hu.dtype == np.int16 and ph.labelmap.dtype == np.uint8
    assert ph.hu.shape == ph.labelmap.shape == (96, 96, 80)
    assert np.allclose(np.diag(ph.affine)[:3], (3.5, 3.5, 4.0))
    for name in ph.labels.values():
        assert is_mask_name(name) or name == "body", name
    assert set(np.unique(ph.labelmap)) - {0} == set(ph.labels)
    # body centre near world 0
    c = _centroid_mm(ph, ph.labelmap > 0)
    assert np.all(np.abs(c) < 40), c


def test_positions(ph: Phantom) -> None:
    left = _centroid_mm(ph, ph.mask("left lung upper lobe", "left lung lower lobe"))
    right = _centroid_mm(ph, ph.mask("right lung upper lobe", "right lung middle lobe", "right lung lower lobe"))
    assert left[0] < -40 < 40 < right[0]  # patient's left at negative x
    heart = _centroid_mm(ph, ph.mask("heart"))
    assert heart[0] < 0 and heart[1] > 0  # left-anterior
    liver = _centroid_mm(ph, ph.mask("liver"))
    assert liver[0] > 0 and liver[2] < heart[2]
    trachea = _centroid_mm(ph, ph.mask("trachea"))
    eso = _centroid_mm(ph, ph.mask("esophagus"))
    assert eso[1] < trachea[1]
    spine = _centroid_mm(ph, ph.mask_prefix("thoracic vertebrae"))
    assert abs(spine[0]) < 5 and spine[1] < eso[1]
    thyroid = _centroid_mm(ph, ph.mask("left thyroid", "right thyroid"))
    assert thyroid[1] > trachea[1] and thyroid[2] > 100
    for side, sign in (("left", -1), ("right", 1)):
        assert _centroid_mm(ph, ph.mask(f"{side} breast"))[0] * sign > 30
        assert _centroid_mm(ph, ph.mask_prefix(f"{side} rib"))[0] * sign > 50
    # descending aorta left-posterior of the trachea, below the arch
    z = ph.affine[2, 3] + ph.affine[2, 2] * np.arange(ph.hu.shape[2])
    k = int(np.argmin(np.abs(z - 0.0)))
    ao = np.argwhere(ph.labelmap[:, :, k] == ph.ids["aorta"]).mean(axis=0)
    assert ao[0] < ph.hu.shape[0] / 2 and ao[1] < ph.hu.shape[1] / 2
    upper = _centroid_mm(ph, ph.mask("left lung upper lobe"))
    lower = _centroid_mm(ph, ph.mask("left lung lower lobe"))
    assert upper[2] > lower[2] and upper[1] > lower[1]


def test_hu(ph: Phantom) -> None:
    def med(*names: str) -> float:
        return float(np.median(ph.hu[ph.mask(*names)]))

    assert -900 < med(*LOBES) < -800
    assert med("trachea") < -950
    assert 30 < med("heart") < 60 and 50 < med("liver") < 70
    assert med("left rib 5") > 300
    assert ph.hu[0, 0, 0] < -950


def test_contrast_option() -> None:
    p = make_phantom(contrast=True)
    assert np.median(p.hu[p.mask("aorta")]) > 200
    assert 80 < np.median(p.hu[p.mask("liver")]) < 130


def test_male_has_no_breasts() -> None:
    p = make_phantom()
    assert "left breast" not in p.labels.values()


def test_lesions() -> None:
    p = make_phantom(nodule=("right lung lower lobe", 12.0), effusion="left")
    nod = p.lesions["lung nodule"]
    vol = nod.sum() * np.prod(p.spacing)
    assert 0.4 * (4 / 3) * np.pi * 6**3 < vol < 1.6 * (4 / 3) * np.pi * 6**3
    assert _centroid_mm(p, nod)[0] > 0
    eff = p.lesions["lung effusion"]
    assert eff.any() and _centroid_mm(p, eff)[0] < 0
    assert p.findings[0]["side"] == "left"
    with pytest.raises(ValueError):
        make_phantom(nodule=("no such lobe", 5.0))


@pytest.mark.parametrize("code", ["RAS", "LPS", "PIR", "LAS", "SRA"])
def test_write_orientation(tmp_path, ph: Phantom, code: str) -> None:
    path = tmp_path / f"p_{code}.nii.gz"
    aff = write_phantom_nifti(ph, path, code, labelmap_path=tmp_path / f"l_{code}.nii.gz")
    img = nib.load(str(path))
    assert "".join(nib.aff2axcodes(img.affine)) == code
    assert np.allclose(img.affine, aff)
    canon = nib.as_closest_canonical(img)
    assert np.array_equal(np.asarray(canon.dataobj), ph.hu)
    assert np.allclose(canon.affine, ph.affine)
    lab = nib.as_closest_canonical(nib.load(str(tmp_path / f"l_{code}.nii.gz")))
    assert np.array_equal(np.asarray(lab.dataobj), ph.labelmap)


def test_reorient_keeps_world_positions(ph: Phantom) -> None:
    data, aff = reorient_array(ph.labelmap, ph.affine, "LPI")
    i = np.argwhere(data == ph.ids["heart"]).mean(axis=0)
    assert np.allclose((aff @ np.append(i, 1))[:3], _centroid_mm(ph, ph.mask("heart")), atol=1e-6)
