"""The per-case record: everything `radgenome build` knows about one volume, as one JSON file.

``OUT/cases/<stem>.json`` is written atomically when a case finishes; the dataset writers read only these
files (in manifest order) to produce every table, so a resumed build yields byte-identical outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from radgenome.atomic import atomic_write_bytes
from radgenome.model import Finding, Measurement, Polarity, Report, ReportAnalysis, Section, Sentence

SCHEMA_VERSION = 1

MaskStatus = Literal["ok", "empty", "outside_fov", "no_structure", "not_segmented"]
"""How a grounded node is backed by the label map:

- ``ok``: the union of the node's structures is non-empty;
- ``empty``: the backend segments those structures but found nothing (e.g. a mask that failed);
- ``outside_fov``: the structures are expected outside this scan's field of view (e.g. kidneys in a chest CT
  that stops at the diaphragm) — judged from the body's extent;
- ``no_structure``: the backend has no structure for this node (``others``, a nodule, or a node the backend does
  not segment);
- ``not_segmented``: the case has no label map (text-only build).
"""


class MaskLink(BaseModel):
    node: str
    status: MaskStatus
    voxels: int = 0
    structures: list[str] = Field(default_factory=list)
    """Structures of the label map whose union is this node's mask."""


class CaseFlag(BaseModel):
    kind: str
    """``empty_mask`` (a sentence about an organ whose mask is empty), ``laterality_conflict``, ..."""
    detail: str = ""
    sentence_index: int | None = None
    node: str | None = None


class MaskRef(BaseModel):
    labelmap: str | None = None
    """Path of the label map relative to OUT (``masks/<stem>.nii.gz``), None for a text-only case."""
    sidecar: str | None = None
    backend: str | None = None
    version: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class CaseRecord(BaseModel):
    schema_version: int = SCHEMA_VERSION
    volume: str
    """VolumeName as written in the reports table."""
    stem: str
    split: str
    volume_path: str | None = None
    report: dict[str, Any]
    """The :class:`~radgenome.model.Report` fields."""
    sentences: list[dict[str, Any]]
    """One dict per sentence, the same fields as a ``sentences.parquet`` row (see :func:`sentence_dict`)."""
    disorders: list[str] = Field(default_factory=list)
    labels: dict[str, int] = Field(default_factory=dict)
    masks: MaskRef = Field(default_factory=MaskRef)
    node_masks: dict[str, MaskLink] = Field(default_factory=dict)
    """Every node a sentence or finding is grounded to (and ``others``), with its mask status."""
    flags: list[CaseFlag] = Field(default_factory=list)
    provenance: dict[str, Any] = Field(default_factory=dict)
    """Text backend and version, segmentation backend/version/settings, radgenome version."""
    timings: dict[str, float] = Field(default_factory=dict)
    """Seconds per stage: load, segment, text, link, write."""


# ---------------------------------------------------------------------------------------------- sentences
def _measurement_dict(m: Measurement) -> dict[str, Any]:
    return {
        "text": m.text,
        "values": list(m.values),
        "unit": m.unit,
        "values_mm": list(m.values_mm),
        "largest_mm": m.largest_mm,
        "start": m.start,
        "end": m.end,
    }


def _measurement(d: dict[str, Any]) -> Measurement:
    return Measurement(
        text=d["text"],
        values=tuple(d["values"]),
        unit=d["unit"],
        values_mm=tuple(d["values_mm"]),
        largest_mm=d["largest_mm"],
        start=d["start"],
        end=d["end"],
    )


def sentence_dict(s: Sentence) -> dict[str, Any]:
    return {
        "section": s.section.value,
        "index": s.index,
        "text": s.text,
        "start": s.start,
        "end": s.end,
        "marker": s.marker,
        "nodes": list(s.nodes),
        "grounding_confidence": s.grounding_confidence,
        "polarity": s.polarity.value if s.polarity else None,
        "findings": [
            {
                "phrase": f.phrase,
                "polarity": f.polarity.value,
                "nodes": list(f.nodes),
                "attributes": list(f.attributes),
                "measurements": [_measurement_dict(m) for m in f.measurements],
            }
            for f in s.findings
        ],
        "measurements": [_measurement_dict(m) for m in s.measurements],
        "flags": list(s.flags),
        "backend": s.backend,
    }


def sentence_from_dict(volume: str, d: dict[str, Any]) -> Sentence:
    return Sentence(
        volume=volume,
        section=Section(d["section"]),
        index=d["index"],
        text=d["text"],
        start=d["start"],
        end=d["end"],
        marker=d.get("marker", ""),
        nodes=tuple(d["nodes"]),
        grounding_confidence=d["grounding_confidence"],
        findings=[
            Finding(
                phrase=f["phrase"],
                polarity=Polarity(f["polarity"]),
                nodes=tuple(f["nodes"]),
                measurements=tuple(_measurement(m) for m in f["measurements"]),
                attributes=tuple(f["attributes"]),
            )
            for f in d["findings"]
        ],
        measurements=tuple(_measurement(m) for m in d["measurements"]),
        flags=tuple(d.get("flags", ())),
        backend=d.get("backend", "rules"),
    )


def report_dict(r: Report) -> dict[str, Any]:
    return {
        "volume": r.volume,
        "findings": r.findings,
        "impressions": r.impressions,
        "clinical": r.clinical,
        "technique": r.technique,
        "row": r.row,
    }


def analysis_from_record(rec: CaseRecord) -> ReportAnalysis:
    """Rebuild the text analysis of a case (for the RadGenome table writers)."""
    report = Report(**rec.report)
    return ReportAnalysis(
        report=report,
        sentences=[sentence_from_dict(report.volume, d) for d in rec.sentences],
        disorders=list(rec.disorders),
        labels=dict(rec.labels),
        backend=str(rec.provenance.get("text_backend", "rules")),
        version=str(rec.provenance.get("text_version", "")),
    )


def record_from_analysis(analysis: ReportAnalysis, *, stem: str, split: str, **fields: Any) -> CaseRecord:
    """A record holding the text side of a case; mask fields are filled by the pipeline."""
    provenance = {"text_backend": analysis.backend, "text_version": analysis.version}
    provenance.update(fields.pop("provenance", {}))
    return CaseRecord(
        volume=analysis.volume,
        stem=stem,
        split=split,
        report=report_dict(analysis.report),
        sentences=[sentence_dict(s) for s in analysis.sentences],
        disorders=list(analysis.disorders),
        labels=dict(analysis.labels),
        provenance=provenance,
        **fields,
    )


# ------------------------------------------------------------------------------------------------- files
def write_record(rec: CaseRecord, path: Path) -> None:
    """Atomic write (temp file in the same folder, fsync, rename): a killed build never leaves half a record."""
    atomic_write_bytes(path, rec.model_dump_json(indent=None).encode("utf-8"), fsync=True)


def read_record(path: Path) -> CaseRecord:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: case record schema {raw.get('schema_version')} (expected {SCHEMA_VERSION})")
    return CaseRecord.model_validate(raw)
