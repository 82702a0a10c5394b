"""The phantom's fields of view: abdomen and pelvis below the chest, bowel gas, chest CTs stopping at any level."""

from __future__ import annotations

import numpy as np
import pytest

from radgenome.anatomy import is_mask_name
from radgenome.synth.phantom import FOV_PRESETS, LOBES, Phantom, make_fov_phantom, make_phantom


def _z(p: Phantom) -> np.ndarray:
    return p.affine[2, 3] + p.affine[2, 2] * np.arange(p.hu.shape[2])


def _z_extent(p: Phantom, mask: np.ndarray) -> tuple[float, float]:
    z = _z(p)[mask.any(axis=(0, 1))]
    return float(z.min()), float(z.max())


@pytest.fixture(scope="module")
def abdominal() -> Phantom:
    return make_fov_phantom("abdomen_with_lung_bases", seed=1)


def test_z_range_sets_the_field_of_view() -> None:
    p = make_phantom(shape=(40, 40, 2), spacing=(8.0, 8.0, 5.0), z_range=(-300.0, -100.0))
    z = _z(p)
    assert p.hu.shape[2] == 41 and z[0] == -300.0 and z[-1] == -100.0
    assert p.options["z_range"] == (-300.0, -100.0) and p.options["abdomen"]
    with pytest.raises(ValueError, match="unknown field of view"):
        make_fov_phantom("no such fov")


def test_default_chest_grid_has_no_abdomen() -> None:
    p = make_phantom()
    assert not p.options["abdomen"]
    assert not {"colon", "left kidney", "urinary bladder"} & set(p.labels.values())


def test_abdominal_ct_from_pelvis_to_lung_bases(abdominal: Phantom) -> None:
    p = abdominal
    names = set(p.labels.values())
    for n in ("colon", "small bowel", "rectum", "left kidney", "right kidney", "liver", "stomach",
              "head of left femur", "head of right femur", "lumbar vertebrae 3 (l3)", "sacral vertebrae 1 (s1)"):
        assert n in names, n
    assert all(is_mask_name(n) or n == "body" for n in names)
    lo, hi = FOV_PRESETS["abdomen_with_lung_bases"]
    assert _z_extent(p, p.labelmap > 0) == (lo, hi)
    # only the lung bases: nothing of the lungs above the domes' level, and lower lobes dominate
    lungs = p.mask(*LOBES)
    assert lungs.any() and _z_extent(p, lungs)[0] > -120.0
    lower = p.mask("left lung lower lobe", "right lung lower lobe").sum()
    assert lower > 0.9 * lungs.sum()
    # kidneys on their side (world x), the right one lower
    for side, sign in (("left", -1), ("right", 1)):
        idx = np.argwhere(p.mask(f"{side} kidney")).mean(axis=0)
        assert (p.affine @ np.append(idx, 1.0))[0] * sign > 40
    assert _z_extent(p, p.mask("right kidney"))[0] < _z_extent(p, p.mask("left kidney"))[0]
    assert 25 < np.median(p.hu[p.mask("left kidney")]) < 40
    assert np.median(p.hu[p.mask("head of left femur")]) > 400


def test_bowel_gas_has_air_fluid_levels(abdominal: Phantom) -> None:
    p = abdominal
    y = p.affine[1, 3] + p.affine[1, 1] * np.arange(p.hu.shape[1])
    for organ in ("colon", "small bowel", "rectum"):
        m = p.mask(organ)
        gas = m & (p.hu < -900)
        fluid = m & (p.hu > -100) & (p.hu < 60)
        assert gas.sum() > 20, organ
        # supine: gas rises to the front (+y) of the fluid in the same loops
        assert y[np.nonzero(gas)[1]].mean() > y[np.nonzero(fluid)[1]].mean(), organ
    # the gastric gas stays below the diaphragm layer: never touching lung
    from scipy import ndimage

    gastric = p.mask("stomach") & (p.hu < -900)
    assert gastric.any()
    assert not (ndimage.binary_dilation(gastric) & p.mask(*LOBES)).any()
    no_gas = make_fov_phantom("abdomen_with_lung_bases", seed=1, bowel_gas=False)
    assert not (no_gas.mask("colon", "small bowel", "rectum") & (no_gas.hu < -900)).any()


@pytest.mark.parametrize(
    ("fov", "lungs", "apex", "bases"),
    [
        ("abdomen", False, False, False),
        ("neck_to_mid_chest", True, True, False),
        ("carina_to_upper_abdomen", True, False, True),
        ("mid_chest_to_upper_abdomen", True, False, True),
    ],
)
def test_presets_cut_where_they_say(fov: str, lungs: bool, apex: bool, bases: bool) -> None:
    p = make_fov_phantom(fov, spacing=(7.0, 7.0, 6.0))
    m = p.mask(*LOBES)
    assert m.any() == lungs
    if lungs:  # a lung end in view does not touch the first/last slice
        assert (not m[:, :, -1].any()) == apex
        assert (not m[:, :, 0].any()) == bases
    if fov in ("carina_to_upper_abdomen", "mid_chest_to_upper_abdomen"):
        assert not p.mask("trachea").any()  # the scan starts below the carina
