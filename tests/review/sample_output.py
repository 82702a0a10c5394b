"""Test and benchmark support: a small build-like output to try the review app on.

Phantom CTs with their label maps, case records from the rules text engine, and the dataset tables written by
the build's own writer (:func:`radgenome.dataset.writers.finalize_build`: ``dataset/grounded_sentences.parquet``,
``dataset/qa_pairs.parquet``, ``radgenome_files/``), so tests and ``benchmarks/bench_review.py`` run without
a full build (no segmentation).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from radgenome.dataset.writers import finalize_build
from radgenome.model import CaseFlag, CaseRecord, MaskLink, MaskRef, Report, write_record
from radgenome.regions import NotAMaskError, member_ids, region_mask
from radgenome.synth.phantom import make_phantom, write_phantom_nifti
from radgenome.text.engine import RulesBackend

SAMPLE_REPORTS = (
    "There is a 6 mm nodule in the left lung upper lobe. No pleural or pericardial effusion. "
    "Heart size is normal. The trachea is open. Mild emphysema in both lungs.",
    "Ground glass opacity in the right lung lower lobe. Thyroid is unremarkable. "
    "Atelectasis <script>alert('x')</script><img src=x onerror=alert(1)> in the left lung lower lobe. "
    "Thoracic vertebrae show degenerative changes.",
    "A 12x8 mm nodule in the right lung middle lobe. Esophagus is normal. Calcified plaques in the aorta. "
    "Minimal pleural effusion on the left.",
)


def _node_link(labelmap: np.ndarray, labels: dict[int, str], node: str) -> MaskLink:
    try:
        ids = member_ids(labels, node)
    except (NotAMaskError, KeyError):
        return MaskLink(node=node, status="no_structure")
    if not ids:
        return MaskLink(node=node, status="no_structure")
    voxels = int(region_mask(labelmap, labels, node).sum())
    names = sorted({labels[i] for i in ids})
    return MaskLink(node=node, status="ok" if voxels else "empty", voxels=voxels, structures=names)


def write_sample_output(
    out: Path,
    n_cases: int = 3,
    shape: tuple[int, int, int] = (64, 64, 48),
    spacing: tuple[float, float, float] = (5.0, 5.0, 6.0),
) -> list[str]:
    """Write ``n_cases`` phantom cases and the dataset tables under ``out``; returns their stems."""
    out = Path(out)
    (out / "volumes").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    backend = RulesBackend()
    records: list[CaseRecord] = []
    for i in range(n_cases):
        stem = f"valid_{i + 1}_a_1"
        phantom = make_phantom(shape=shape, spacing=spacing, seed=i)
        ct = out / "volumes" / f"{stem}.nii.gz"
        lm = out / "masks" / f"{stem}.nii.gz"
        write_phantom_nifti(phantom, ct, labelmap_path=lm)
        (out / "masks" / f"{stem}.json").write_text(
            json.dumps({"labels": {str(k): v for k, v in phantom.labels.items()}, "backend": "phantom"}),
            encoding="utf-8",
        )
        text = SAMPLE_REPORTS[i % len(SAMPLE_REPORTS)]
        analysis = backend.analyze(Report(volume=stem, findings=text, impressions="Findings as described."))
        nodes = sorted({n for s in analysis.sentences for n in s.nodes})
        links = {n: _node_link(phantom.labelmap, phantom.labels, n) for n in nodes}
        flags = [
            CaseFlag(kind="empty_mask", detail=f"{n} mask is empty", sentence_index=s.index, node=n)
            for s in analysis.sentences for n in s.nodes if links[n].status == "empty"
        ]
        if i == 0:
            flags.append(CaseFlag(kind="laterality_conflict", detail="sample flag", sentence_index=0,
                                  node=analysis.sentences[0].nodes[0]))
        rec = CaseRecord(
            stem=stem, split="validation", analysis=analysis, volume_path=f"volumes/{stem}.nii.gz",
            masks=MaskRef(labelmap=f"masks/{stem}.nii.gz", sidecar=f"masks/{stem}.json", backend="phantom"),
            node_masks=links, flags=flags,
        )
        write_record(rec, out / "cases" / f"{stem}.json")
        records.append(rec)
    finalize_build(out, records, default_split="validation")
    return [r.stem for r in records]
