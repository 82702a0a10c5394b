"""A small synthetic corpus in CT-RATE's layout: phantom CTs and reports whose findings match their lesions.

:func:`make_demo_corpus` writes::

    DIR/dataset/{train,valid}_fixed/<patient>/<patient>_a/<patient>_a_1.nii.gz
    DIR/dataset/radiology_text_reports/{train,validation}_reports.csv
    DIR/dataset/metadata/{train,validation}_metadata.csv
    DIR/dataset/multi_abnormality_labels/{train,validation}_predicted_labels.csv   (the reports' true labels)
    DIR/truth.jsonl       the reports' sentence-level truth (radgenome.synth.reports)
    DIR/phantoms.json     each phantom's options and lesions (nodule lobe/diameter/centroid, effusion side)

Cases vary in sex (breasts), in-plane voxel size (so body size relative to the field of view), orientation
on disk (RAS / LPS) and lesions: a nodule of the phantom's size in its lobe, a pleural effusion on its side,
both or none. Each report states exactly these findings (sizes as drawn) plus normal statements and stated
negatives that do not contradict them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radgenome.csvcells import SafeWriter
from radgenome.synth.phantom import LOBES, make_phantom, write_phantom_nifti
from radgenome.synth.reports import FindingSpec, SyntheticReport, generate_report, write_reports_csv, write_truth_jsonl

SPLIT_DIRS = {"train": ("train_fixed", "train"), "valid": ("valid_fixed", "validation")}


@dataclass(frozen=True)
class DemoCase:
    volume: str
    split: str
    nodule: tuple[str, float] | None
    effusion: str | None
    female: bool
    spacing: tuple[float, float, float]
    orientation: str


def plan_cases(n_cases: int, seed: int = 0) -> list[DemoCase]:
    """Deterministic case plan: alternating valid/train names, lesions cycling nodule / effusion / both / none."""
    out: list[DemoCase] = []
    counters = {"valid": 0, "train": 0}
    for i in range(n_cases):
        split = "valid" if i % 2 == 0 else "train"
        counters[split] += 1
        kind = (i + seed) % 4
        lobe = LOBES[(i + seed) % len(LOBES)]
        diameter = float(8 + 3 * ((i + seed) % 5))
        nodule = (lobe, diameter) if kind in (0, 2) else None
        effusion = ("right" if (i + seed) % 2 == 0 else "left") if kind in (1, 2) else None
        xy = (3.3, 3.5, 3.7)[(i + seed) % 3]
        out.append(
            DemoCase(
                volume=f"{split}_{counters[split]}_a_1.nii.gz",
                split=split,
                nodule=nodule,
                effusion=effusion,
                female=(i + seed) % 2 == 1,
                spacing=(xy, xy, 4.0),
                orientation="RAS" if i % 2 == 0 else "LPS",
            )
        )
    return out


def _specs(case: DemoCase) -> list[FindingSpec]:
    specs: list[FindingSpec] = []
    if case.nodule is not None:
        specs.append(FindingSpec("lung nodule", node=case.nodule[0], size_mm=case.nodule[1]))
    if case.effusion is not None:
        specs.append(FindingSpec("pleural effusion", side=case.effusion))
    return specs


def _volume_path(root: Path, case: DemoCase) -> Path:
    stem = case.volume.removesuffix(".nii.gz")
    patient = stem.rsplit("_", 2)[0]  # valid_1
    scan = stem.rsplit("_", 1)[0]  # valid_1_a
    return root / "dataset" / SPLIT_DIRS[case.split][0] / patient / scan / case.volume


def make_demo_corpus(
    directory: str | Path,
    n_cases: int = 6,
    seed: int = 0,
    shape: tuple[int, int, int] = (96, 96, 80),
) -> list[Path]:
    """Write the corpus into ``directory`` (see the module doc); returns the volume paths."""
    from radgenome.text.labels import LABELS

    root = Path(directory)
    plan = plan_cases(n_cases, seed)
    reports: dict[str, list[SyntheticReport]] = {"train": [], "valid": []}
    phantoms: list[dict[str, Any]] = []
    paths: list[Path] = []
    for i, case in enumerate(plan):
        ph = make_phantom(shape, case.spacing, seed=seed * 1000 + i, female=case.female,
                          nodule=case.nodule, effusion=case.effusion)
        path = _volume_path(root, case)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_phantom_nifti(ph, path, orientation=case.orientation)
        paths.append(path)
        rep = generate_report(
            seed, index=i, volume=case.volume, findings=_specs(case), skip_slots=() if case.female else ("breast",)
        )
        reports[case.split].append(rep)
        phantoms.append({"volume": case.volume, "orientation": case.orientation, **ph.options,
                         "lesions": ph.findings})
    ds = root / "dataset"
    for split, (_, csv_split) in SPLIT_DIRS.items():
        reps = reports[split]
        if not reps:
            continue
        write_reports_csv(reps, ds / "radiology_text_reports" / f"{csv_split}_reports.csv")
        meta = ds / "metadata" / f"{csv_split}_metadata.csv"
        meta.parent.mkdir(parents=True, exist_ok=True)
        with meta.open("w", encoding="utf-8", newline="") as fh:
            w = SafeWriter(fh)
            w.writerow(["VolumeName", "RescaleSlope", "RescaleIntercept", "XYSpacing", "ZSpacing"])
            for c in plan:
                if c.split == split:
                    w.writerow([c.volume, 1, 0, f"[{c.spacing[0]}, {c.spacing[1]}]", c.spacing[2]])
        labels = ds / "multi_abnormality_labels" / f"{csv_split}_predicted_labels.csv"
        labels.parent.mkdir(parents=True, exist_ok=True)
        with labels.open("w", encoding="utf-8", newline="") as fh:
            w = SafeWriter(fh)
            w.writerow(["VolumeName", *LABELS])
            for r in reps:
                w.writerow([r.volume, *(int(r.truth.labels.get(k, 0)) for k in LABELS)])
    write_truth_jsonl([r for s in ("valid", "train") for r in reports[s]], root / "truth.jsonl")
    (root / "phantoms.json").write_text(json.dumps(phantoms, indent=1, default=list) + "\n", encoding="utf-8")
    return paths
