"""RadGenomeDataset: numpy core without torch (shapes, crop, errors), tensors when torch is installed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from radgenome.corpus.volume import read_ct, to_canonical
from radgenome.dataset.torch_dataset import MaskUnavailableError, RadGenomeDataset
from radgenome.dataset.writers import finalize_build
from radgenome.model import CaseRecord, Segmentation, StructureInfo
from radgenome.segmentation.io import read_segmentation, write_segmentation
from radgenome.synth.phantom import Phantom

Built = tuple[Path, list[CaseRecord]]


def _index(ds: RadGenomeDataset, **match: object) -> int:
    return next(i for i, r in enumerate(ds.rows) if all(r[k] == v for k, v in match.items()))


def test_sentence_item_image_and_mask_share_the_grid(built: Built, phantom0: Phantom) -> None:
    out, _ = built
    ds = RadGenomeDataset(out, "sentences", split="train")
    assert len(ds) and {r["split"] for r in ds.rows} == {"train"}
    item = ds.load_item(_index(ds, volume="train_1_a_1", nodes=["left lung upper lobe"]))
    assert item["image"].dtype == np.float32 and item["image"].ndim == 4 and item["image"].shape[0] == 1
    assert item["mask"].dtype == np.uint8 and item["mask"].shape == item["image"].shape
    assert item["mask"].sum() > 0 and item["path"] == "lung/lung/left lung/left lung upper lobe"
    assert "nodule" in item["text"] and item["mask_status"] == ["ok"]
    # the CT was written in LPS: image and mask come back in canonical RAS, voxel for voxel the phantom's
    np.testing.assert_array_equal(item["mask"][0], phantom0.mask("left lung upper lobe"))
    np.testing.assert_allclose(item["image"][0], phantom0.hu)
    # lung voxels are air-like in HU
    assert float(np.median(item["image"][item["mask"] > 0])) < -500


def test_crop_to_region(built: Built) -> None:
    out, _ = built
    full = RadGenomeDataset(out, "sentences", split="train")
    crop = RadGenomeDataset(out, "sentences", split="train", crop_to_region=True, margin_mm=16.0)
    i = _index(full, volume="train_1_a_1", nodes=["left lung upper lobe"])
    a, b = full.load_item(i), crop.load_item(i)
    assert b["image"].shape == b["mask"].shape and b["image"].size < a["image"].size
    assert b["mask"].sum() == a["mask"].sum(), "the crop keeps the whole region"
    lo, hi = b["bbox"][:3], b["bbox"][3:]
    region = tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))
    np.testing.assert_array_equal(b["image"][0], a["image"][0][region])
    # margin: 16 mm at 8 mm voxels = 2 voxels of background on each side that is inside the volume
    nz = np.nonzero(b["mask"][0])
    for axis in range(3):
        assert nz[axis].min() == min(2, int(np.nonzero(a["mask"][0])[axis].min()))
    np.testing.assert_allclose(b["affine"][:3, 3], a["affine"][:3, :3] @ lo + a["affine"][:3, 3])


def test_mask_status_other_than_ok_raises_unless_allowed(built: Built) -> None:
    out, _ = built
    ds = RadGenomeDataset(out, "sentences", split="train")
    i = _index(ds, volume="train_1_a_1", nodes=["pleura"])
    with pytest.raises(MaskUnavailableError, match="no_structure"):
        ds.load_item(i)
    lenient = RadGenomeDataset(out, "sentences", split="train", allow_missing_masks=True)
    item = lenient.load_item(i)
    assert item["mask"] is None and item["mask_status"] == ["no_structure"]
    assert item["image"].shape[0] == 1


def test_qa_rows(built: Built) -> None:
    out, _ = built
    ds = RadGenomeDataset(out, "qa", split="train", kinds=["size", "disorders"])
    assert {r["kind"] for r in ds.rows} == {"size", "disorders"}
    item = ds.load_item(_index(ds, kind="size", variant="given_region"))
    assert item["answer"].endswith("mm") or item["answer"].endswith("mm)")
    assert item["mask"] is not None and item["mask"].sum() > 0
    case = ds.load_item(_index(ds, kind="disorders"))
    assert case["mask"] is None and case["question"] and case["answer"]


def test_text_only_case_raises(built: Built) -> None:
    out, _ = built
    ds = RadGenomeDataset(out, "sentences", split="validation")
    with pytest.raises(FileNotFoundError, match="no CT volume path"):
        ds.load_item(0)


def test_missing_volume_or_label_map_raises(make_records: Callable[[], Built]) -> None:
    out, records = make_records()
    finalize_build(out, records[:1])
    ds = RadGenomeDataset(out, "sentences", allow_missing_masks=True)
    ds.load_item(0)
    shutil.move(out / "masks" / f"{records[0].stem}.nii.gz", out / "lm.nii.gz")
    with pytest.raises(FileNotFoundError, match="label map"):
        RadGenomeDataset(out, "sentences").load_item(0)
    shutil.move(out / "lm.nii.gz", out / "masks" / f"{records[0].stem}.nii.gz")
    Path(str(records[0].volume_path)).unlink()
    with pytest.raises(FileNotFoundError, match="CT volume"):
        RadGenomeDataset(out, "sentences").load_item(0)


def test_missing_table_and_bad_arguments(tmp_path: Path, built: Built) -> None:
    with pytest.raises(FileNotFoundError, match="radgenome build"):
        RadGenomeDataset(tmp_path, "qa")
    with pytest.raises(ValueError, match="table"):
        RadGenomeDataset(built[0], "reports")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="qa table"):
        RadGenomeDataset(built[0], "sentences", kinds=["size"])


def test_torch_tensors_and_dataloader(built: Built) -> None:
    torch = pytest.importorskip("torch")
    out, _ = built
    ds = RadGenomeDataset(out, "qa", split="train", kinds=["presence"], crop_to_region=True, allow_missing_masks=False)
    ds.rows = [r for r in ds.rows if r["mask_status"] == "ok"]
    item = ds[0]
    assert item["image"].dtype == torch.float32 and item["mask"].dtype == torch.uint8
    assert item["image"].shape == item["mask"].shape
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False)
    batch = next(iter(loader))
    assert batch["image"].shape[:2] == (1, 1) and batch["question"][0] == ds.rows[0]["question"]
    flipped = RadGenomeDataset(
        out,
        "sentences",
        split="train",
        allow_missing_masks=True,
        transform=lambda d: {**d, "image": d["image"].flip(1)},
    )
    assert flipped[0]["image"].shape[0] == 1


def test_sat_space_label_map_gets_the_ct_resampled_onto_its_grid(make_records: Callable[[], Built]) -> None:
    out, records = make_records()
    rec = records[0]
    lm_path = out / str(rec.masks.labelmap)
    labelmap, affine, labels, _ = read_segmentation(lm_path)
    seg = Segmentation(
        labelmap=np.asarray(to_canonical(labelmap, affine)[0]),
        labels=labels,
        info={n: StructureInfo("phantom", 1.0, extra=n == "body") for n in labels.values()},
        backend="phantom",
        version="1",
    )
    write_segmentation(seg, read_ct(str(rec.volume_path)), out / "masks", space="sat", stem=rec.stem)
    finalize_build(out, records[:1])
    ds = RadGenomeDataset(out, "sentences")
    item = ds.load_item(_index(ds, nodes=["left lung upper lobe"]))
    assert item["image"].shape == item["mask"].shape
    np.testing.assert_allclose(np.sqrt((item["affine"][:3, :3] ** 2).sum(axis=0)), (1.0, 1.0, 3.0))
    lung = item["image"][item["mask"] > 0]
    assert lung.size and float(np.median(lung)) < -500
