"""CT and region masks served by id: the mask is the region's union on the CT's grid, with its centroid."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
from fastapi.testclient import TestClient

from radgenome.regions import region_mask
from radgenome.segment.io import read_segmentation


def _nifti(data: bytes) -> nib.Nifti1Image:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return nib.Nifti1Image.from_bytes(raw)


def test_mask_matches_region_union_on_ct_grid(client: TestClient, review_env: dict, sample_out) -> None:
    h = {"Authorization": f"Bearer {review_env['tokens']['ann']}"}
    items = client.get("/api/queue", headers=h, params={"kind": "sentence", "limit": 200}).json()["items"]
    item = next(i for i in items if i["node"] == "left lung upper lobe")
    ct = _nifti(client.get(f"/api/cases/{item['case_id']}/ct.nii.gz", headers=h).content)
    mask = _nifti(client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h).content)
    assert mask.shape == ct.shape
    assert np.allclose(mask.affine, ct.affine)
    labelmap, _, labels, _ = read_segmentation(sample_out / "masks" / f"{item['case_id']}.nii.gz")
    expected = region_mask(labelmap, labels, item["path"])
    got = np.asarray(mask.dataobj).astype(bool)
    assert got.sum() > 0 and np.array_equal(got, expected)
    info = client.get(f"/api/items/{item['id']}/mask-info", headers=h).json()
    assert info["voxels"] == int(expected.sum())
    ijk = np.array([*(idx.mean() for idx in np.nonzero(expected)), 1.0])
    assert np.allclose(info["centroid_mm"], (ct.affine @ ijk)[:3], atol=0.01)
    # a chosen region previews its own mask; an unknown one is refused; 'others' has none
    left = _nifti(client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h, params={"node": "left lung"}).content)
    assert np.asarray(left.dataobj).sum() > got.sum()
    r = client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h, params={"node": "elbow"})
    assert r.status_code in (404, 422)
    r = client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h, params={"node": "others"})
    assert r.status_code == 404
