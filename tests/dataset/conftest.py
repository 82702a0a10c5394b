"""Case records for the dataset tests: rules-engine text analyses and small phantom CTs with label maps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from radgenome.anatomy import load_hierarchy
from radgenome.corpus.volume import read_ct
from radgenome.model import (
    CaseFlag,
    CaseProvenance,
    CaseRecord,
    MaskLink,
    MaskRef,
    Report,
    Segmentation,
    StructureInfo,
)
from radgenome.regions import NotAMaskError, member_ids, region_status
from radgenome.segmentation.io import write_segmentation
from radgenome.synth.phantom import Phantom, make_phantom, write_phantom_nifti
from radgenome.text.engine import RulesBackend

REPORTS: dict[str, tuple[str, str]] = {
    "train_1_a_1": (
        "Trachea and both main bronchi are open. No pleural effusion. There is a 6x4 mm nodule in the left lung "
        "upper lobe. A 1.2 cm nodule in the right lower lobe. Heart size is normal. Emphysematous changes in "
        "both lungs. No pneumothorax.",
        "Emphysema. Pulmonary nodules.",
    ),
    "train_2_a_1": (
        "Mediastinal structures are normal. Minimal pleural effusion on the right. Atelectasis in the right lung "
        "lower lobe. No nodule is seen in the left lung. The thyroid gland is normal.",
        "Right pleural effusion with atelectasis.",
    ),
    "valid_1_a_1": (
        "Both lungs are clear. Heart size is enlarged. No pericardial effusion.",
        "Cardiomegaly.",
    ),
}
SEGMENTED = ("train_1_a_1", "train_2_a_1")


def small_phantom(seed: int) -> Phantom:
    return make_phantom(shape=(40, 40, 32), spacing=(8.0, 8.0, 10.0), seed=seed)


def _link(labelmap: np.ndarray, labels: dict[int, str], node: str) -> MaskLink:
    try:
        status = region_status(labelmap, labels, node)
        ids = member_ids(labels, node)
    except (NotAMaskError, KeyError):
        return MaskLink(node=node, status="no_structure")
    if status == "no structure":
        return MaskLink(node=node, status="no_structure")
    voxels = int(np.isin(labelmap, ids).sum())
    return MaskLink(node=node, status=status, voxels=voxels, structures=sorted(labels[i] for i in ids))


def make_case(out: Path, volume: str, *, segmented: bool, seed: int = 0) -> CaseRecord:
    findings, impressions = REPORTS[volume]
    analysis = RulesBackend().analyze(Report(volume=volume, findings=findings, impressions=impressions))
    split = "validation" if volume.startswith("valid_") else "train"
    if not segmented:
        return CaseRecord(stem=volume, split=split, analysis=analysis)
    phantom = small_phantom(seed)
    ct_path = out / "volumes" / f"{volume}.nii.gz"
    ct_path.parent.mkdir(parents=True, exist_ok=True)
    write_phantom_nifti(phantom, ct_path, orientation="LPS")
    ct = read_ct(ct_path)
    seg = Segmentation(
        labelmap=phantom.labelmap,
        labels=dict(phantom.labels),
        info={n: StructureInfo("phantom", 1.0, extra=n == "body") for n in phantom.labels.values()},
        backend="phantom",
        version="1",
    )
    write_segmentation(seg, ct, out / "masks", stem=volume)
    nodes = {n for s in analysis.sentences for n in s.nodes} | {
        n for s in analysis.sentences for f in s.findings for n in f.nodes
    }
    node_masks = {n: _link(phantom.labelmap, phantom.labels, n) for n in sorted(nodes)}
    flags = [
        CaseFlag(kind="empty_mask", detail=f"{n} has no mask", node=n, sentence_index=s.index)
        for s in analysis.sentences
        for n in s.nodes
        if node_masks[n].status != "ok"
    ][:2]
    return CaseRecord(
        stem=volume,
        split=split,
        analysis=analysis,
        volume_path=str(ct_path),
        masks=MaskRef(
            labelmap=f"masks/{volume}.nii.gz", sidecar=f"masks/{volume}.json", backend="phantom", version="1"
        ),
        node_masks=node_masks,
        flags=flags,
        provenance=CaseProvenance(seg_backend="phantom", seg_version="1", radgenome_version="0.1.0"),
        timings={"load": 0.1, "segment": 0.5, "text": 0.01, "link": 0.02, "write": 0.05},
    )


@pytest.fixture(scope="session")
def phantom0() -> Phantom:
    """The phantom of the first case (``train_1_a_1``), in canonical RAS array order."""
    return small_phantom(0)


@pytest.fixture(scope="session")
def hierarchy_paths() -> frozenset[str]:
    return frozenset(load_hierarchy().all_paths())


@pytest.fixture
def make_records(tmp_path: Path) -> Callable[[], tuple[Path, list[CaseRecord]]]:
    def build() -> tuple[Path, list[CaseRecord]]:
        out = tmp_path / "out"
        records = [make_case(out, v, segmented=v in SEGMENTED, seed=i) for i, v in enumerate(REPORTS)]
        return out, records

    return build


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[CaseRecord]]:
    """One OUT folder with the three cases (two segmented, one text-only) and finalize_build run once."""
    from radgenome.dataset.writers import finalize_build

    out = tmp_path_factory.mktemp("build") / "out"
    records = [make_case(out, v, segmented=v in SEGMENTED, seed=i) for i, v in enumerate(REPORTS)]
    finalize_build(out, records, seed=0)
    return out, records
