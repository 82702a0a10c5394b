"""CT and region masks served by id: the mask is the region's union on the CT's grid, with its centroid."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
from fastapi.testclient import TestClient

from radgenome.regions import region_mask
from radgenome.segmentation.io import read_segmentation


def _nifti(data: bytes) -> nib.Nifti1Image:
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return nib.Nifti1Image.from_bytes(raw)


def test_mask_matches_region_union_on_ct_grid(sqlite_client: TestClient, sqlite_env: dict, sample_out) -> None:
    client = sqlite_client
    h = {"Authorization": f"Bearer {sqlite_env['tokens']['ann']}"}
    items = client.post("/api/queue/claim", headers=h, json={"kind": "sentence", "limit": 100}).json()["items"]
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
    left = _nifti(client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h,
                             params={"path": "lung/lung/left lung"}).content)
    assert np.asarray(left.dataobj).sum() > got.sum()
    r = client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h, params={"path": "lung/elbow"})
    assert r.status_code == 422
    r = client.get(f"/api/items/{item['id']}/mask.nii.gz", headers=h, params={"path": "others"})
    assert r.status_code == 404
    # the left lung is on the patient's left: negative x in RAS world coordinates
    info = client.get(f"/api/items/{item['id']}/mask-info", headers=h, params={"path": "lung/lung/left lung"}).json()
    assert info["centroid_mm"][0] < 0


def _write_dicom_series(folder, hu: np.ndarray, spacing: float = 4.0) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    series = generate_uid()
    cols, rows, n = hu.shape
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.Modality, ds.SeriesInstanceUID, ds.SOPInstanceUID = "CT", series, meta.MediaStorageSOPInstanceUID
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, spacing * k]
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = spacing
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (hu[:, :, k].T + 1024).astype(np.int16).tobytes()
        ds.save_as(str(folder / f"{k:03d}.dcm"), enforce_file_format=True)


def test_dicom_series_ct_is_served_as_nifti(sample_out, tmp_path) -> None:
    import dataclasses
    import shutil

    from radgenome.model import read_record, write_record
    from radgenome.review.sources import CaseIndex
    from radgenome.review.volumes import Volumes

    out = tmp_path / "out"
    shutil.copytree(sample_out / "cases", out / "cases")
    rec = read_record(out / "cases" / "valid_1_a_1.json")
    hu = np.full((24, 20, 16), -1000, dtype=np.int16)
    hu[6:18, 5:15, 4:12] = 40
    _write_dicom_series(tmp_path / "series", hu)
    write_record(dataclasses.replace(rec, stem="dcm", volume_path=str(tmp_path / "series")),
                 out / "cases" / "dcm.json")
    vols = Volumes(out, CaseIndex(out))
    img = _nifti(vols.ct_dicom_bytes("dcm"))
    data = np.asarray(img.dataobj)
    assert data.shape == (24, 20, 16)
    assert int(data.max()) == 40 and int(data.min()) == -1000
    assert vols.ct_dicom_bytes("dcm") is vols.ct_dicom_bytes("dcm")  # cached
