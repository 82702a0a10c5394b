from __future__ import annotations

import csv
from pathlib import Path

from radgenome.eval.vqa_agreement import compare


def _write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _tables(folder: Path, abn: list[list[str]], pres: list[list[str]], size: list[list[str]]) -> None:
    _write(folder, "train_vqa_abnormality.csv", ["Volumename", "Anatomy", "Abnormality"], abn)
    _write(folder, "train_vqa_presence.csv", ["Volumename", "Anatomy", "Finding", "Presence"], pres)
    _write(folder, "train_vqa_size.csv", ["Volumename", "Anatomy", "Abnormality", "Size"], size)


def test_compare_counts_regions_negatives_sizes_and_polarity_conflicts(tmp_path: Path) -> None:
    gold, pred = tmp_path / "gold", tmp_path / "pred" / "radgenome_files"
    _tables(
        gold,
        [
            ["v1.nii.gz", "heart", "pericardial effusion"],
            ["v1.nii.gz", "lung", "nodule"],
            ["v2.nii.gz", "lung", "no findings"],
        ],
        [["v1.nii.gz", "lung", "mass", "No."]],
        [["v1.nii.gz", "lung", "nodule", "14mm"], ["v1.nii.gz", "lung/lung", "nodule", "14mm"]],
    )
    _tables(
        pred,
        [["v1.nii.gz", "heart", "no findings"], ["v1.nii.gz", "lung", "nodule"], ["v2.nii.gz", "bone", "fracture"]],
        [["v1.nii.gz", "heart", "pericardial effusion", "No."], ["v1.nii.gz", "lung", "mass", "No."]],
        [["v1.nii.gz", "lung", "nodule", "1.4 cm"]],
    )
    res = compare(gold, tmp_path / "pred")
    assert res.volumes == 2
    assert (res.abnormal.tp, res.abnormal.fp, res.abnormal.fn) == (1, 1, 1)
    assert (res.negatives.tp, res.negatives.fp, res.negatives.fn) == (1, 1, 0)
    assert res.sizes_tp == 1 and res.sizes_ours_only == 0 and res.sizes_theirs_only == 0
    assert res.their_abnormal_we_state_absent["pericardial effusion"] == 1
