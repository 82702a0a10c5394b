"""The per-case record: everything ``radgenome build`` knows about one volume, and its JSON form.

``OUT/cases/<stem>.json`` is written atomically when a case finishes; the dataset writers read only these files
(in corpus order) to produce every table, so a resumed build yields byte-identical outputs. In memory the record
holds the text analysis itself (:class:`~radgenome.model.ReportAnalysis`: report, sentences, findings, sizes), so
a case's analysis goes from the text stage to the tables without a conversion; :meth:`CaseRecord.to_json` and
:meth:`CaseRecord.from_json` are the only translation, one each way.

JSON (``schema_version`` 1)::

    {"schema_version": 1, "volume", "stem", "split", "volume_path", ["volume_corpus_path"],
     "report": {volume, findings, impressions, clinical, technique, row},
     "sentences": [{section, index, text, start, end, marker, nodes, node_paths, grounding_confidence, polarity,
                    findings: [{phrase, polarity, nodes, attributes, measurements}], measurements, flags, backend}],
     "disorders", "labels", "masks": {labelmap, sidecar, backend, version, settings},
     "node_masks": {node: {node, status, voxels, structures}},
     "flags": [{kind, detail, sentence_index, node}],
     "provenance": {text_backend, text_version, [text_settings], seg_backend, [seg_version, seg_settings],
                    radgenome_version, input_fingerprint, report_row, [volume_missing], [seg_warnings]},
     "timings": {stage: seconds}}

The bytes are pydantic-core's compact JSON (the serializer the record has always been written with).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from radgenome.atomic import atomic_write_bytes
from radgenome.model.report import (
    Finding,
    Measurement,
    Polarity,
    Report,
    ReportAnalysis,
    Section,
    Sentence,
    SizeKind,
)

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
MASK_STATUSES: tuple[MaskStatus, ...] = get_args(MaskStatus)

JSONValue = Any
"""A value that JSON can hold (backend settings are open mappings of such values)."""


class RecordError(ValueError):
    """A case record that cannot be read (the message names the file and the problem)."""


@dataclass(slots=True)
class MaskLink:
    """A grounded node of a case and how the label map backs it."""

    node: str
    status: MaskStatus
    voxels: int = 0
    structures: list[str] = field(default_factory=list)
    """Structures of the label map whose union is this node's mask."""

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "status": self.status, "voxels": self.voxels, "structures": list(self.structures)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MaskLink:
        link = cls(**d)
        if link.status not in MASK_STATUSES:
            raise ValueError(f"unknown mask status {link.status!r}")
        return link


@dataclass(slots=True)
class CaseFlag:
    """A text↔mask consistency problem of a case."""

    kind: str
    """``empty_mask`` (a sentence about an organ whose mask is empty), ``laterality_conflict``, ..."""
    detail: str = ""
    sentence_index: int | None = None
    node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "sentence_index": self.sentence_index, "node": self.node}


@dataclass(slots=True)
class MaskRef:
    """The case's label map (paths relative to OUT) and the backend that made it."""

    labelmap: str | None = None
    """Path of the label map relative to OUT (``masks/<stem>.nii.gz``), None for a text-only case."""
    sidecar: str | None = None
    backend: str | None = None
    version: str | None = None
    settings: dict[str, JSONValue] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"labelmap": self.labelmap, "sidecar": self.sidecar, "backend": self.backend,
                "version": self.version, "settings": self.settings}


@dataclass(slots=True)
class CaseProvenance:
    """Who made a case (the text side's backend and version are the analysis' own)."""

    seg_backend: str | None = None
    """None for a case without a label map."""
    seg_version: str | None = None
    seg_settings: dict[str, JSONValue] = field(default_factory=dict)
    radgenome_version: str = ""
    input_fingerprint: str = ""
    """Report text, volume path/size/mtime and settings hash: a finished case with the same one is not redone."""
    report_row: int = 0
    volume_missing: bool = False
    """Built text-only because its volume is missing."""
    seg_warnings: list[str] = field(default_factory=list)
    text_settings: dict[str, JSONValue] = field(default_factory=dict)
    """Settings of a text backend that has any (model, prompt version, ... of the LLM backends)."""

    def to_dict(self, analysis: ReportAnalysis) -> dict[str, Any]:
        d: dict[str, Any] = {"text_backend": analysis.backend, "text_version": analysis.version}
        if self.text_settings:
            d["text_settings"] = self.text_settings
        d["seg_backend"] = self.seg_backend
        if self.seg_backend is not None:
            d["seg_version"] = self.seg_version
            d["seg_settings"] = self.seg_settings
        d["radgenome_version"] = self.radgenome_version
        d["input_fingerprint"] = self.input_fingerprint
        d["report_row"] = self.report_row
        if self.volume_missing:
            d["volume_missing"] = True
        if self.seg_warnings:
            d["seg_warnings"] = list(self.seg_warnings)
        return d


@dataclass(slots=True)
class CaseRecord:
    """One case of a build: its text analysis, label map, node ↔ mask links, flags, provenance and timings."""

    stem: str
    split: str
    analysis: ReportAnalysis
    volume_path: str | None = None
    masks: MaskRef = field(default_factory=MaskRef)
    node_masks: dict[str, MaskLink] = field(default_factory=dict)
    """Every node a sentence or finding is grounded to (and its top-level regions), with its mask status."""
    flags: list[CaseFlag] = field(default_factory=list)
    provenance: CaseProvenance = field(default_factory=CaseProvenance)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage: load, segment, text, link, write."""
    schema_version: int = SCHEMA_VERSION
    volume_corpus_path: str | None = None
    """The CT's path relative to the corpus folder it was found under (the CT-RATE root, or the volumes folder):
    with a new corpus root it finds the CT of a moved corpus. ``volume_path`` itself is relative to OUT."""

    @property
    def volume(self) -> str:
        """VolumeName as written in the reports table."""
        return self.analysis.volume

    @property
    def report(self) -> Report:
        return self.analysis.report

    @property
    def sentences(self) -> list[Sentence]:
        return self.analysis.sentences

    @property
    def disorders(self) -> list[str]:
        return self.analysis.disorders

    @property
    def labels(self) -> dict[str, int]:
        return self.analysis.labels

    # ------------------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {
            "schema_version": self.schema_version,
            "volume": self.volume,
            "stem": self.stem,
            "split": self.split,
            "volume_path": self.volume_path,
            **({"volume_corpus_path": self.volume_corpus_path} if self.volume_corpus_path is not None else {}),
            "report": _report_dict(a.report),
            "sentences": [_sentence_dict(s) for s in a.sentences],
            "disorders": list(a.disorders),
            "labels": dict(a.labels),
            "masks": self.masks.to_dict(),
            "node_masks": {k: v.to_dict() for k, v in self.node_masks.items()},
            "flags": [f.to_dict() for f in self.flags],
            "provenance": self.provenance.to_dict(a),
            "timings": dict(self.timings),
        }

    def to_json(self) -> bytes:
        """Compact JSON (UTF-8)."""
        return _serializer().dump_json(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseRecord:
        """Raises ``KeyError``/``TypeError``/``ValueError`` for a malformed record (see :func:`read_record`)."""
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"case record schema {d.get('schema_version')} (expected {SCHEMA_VERSION})")
        prov = dict(d.get("provenance") or {})
        report = Report(**d["report"])
        if report.volume != d["volume"]:
            raise ValueError(f"volume {d['volume']!r} differs from the report's {report.volume!r}")
        analysis = ReportAnalysis(
            report=report,
            sentences=[_sentence(report.volume, s) for s in d["sentences"]],
            disorders=[str(x) for x in d.get("disorders", [])],
            labels={str(k): int(v) for k, v in d.get("labels", {}).items()},
            backend=str(prov.pop("text_backend", "rules")),
            version=str(prov.pop("text_version", "")),
        )
        return cls(
            stem=str(d["stem"]),
            split=str(d["split"]),
            analysis=analysis,
            volume_path=d.get("volume_path"),
            masks=MaskRef(**(d.get("masks") or {})),
            node_masks={str(k): MaskLink.from_dict(v) for k, v in (d.get("node_masks") or {}).items()},
            flags=[CaseFlag(**f) for f in d.get("flags", [])],
            provenance=CaseProvenance(**prov),
            timings={str(k): float(v) for k, v in (d.get("timings") or {}).items()},
            volume_corpus_path=d.get("volume_corpus_path"),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> CaseRecord:
        return cls.from_dict(json.loads(data))


@cache
def _serializer() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Any)


def write_record(rec: CaseRecord, path: Path) -> None:
    """Atomic write (temp file in the same folder, fsync, rename): a killed build never leaves half a record."""
    atomic_write_bytes(path, rec.to_json(), fsync=True)


def read_record(path: Path) -> CaseRecord:
    """Read one record; raises ``OSError`` when unreadable and :class:`RecordError` (a ``ValueError``) when the
    file is not a complete record of this schema."""
    data = Path(path).read_bytes()
    try:
        return CaseRecord.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RecordError(f"{path}: not a readable case record: {what}") from exc


# --------------------------------------------------------------------------------------- report and sentences
def _report_dict(r: Report) -> dict[str, Any]:
    return {
        "volume": r.volume,
        "findings": r.findings,
        "impressions": r.impressions,
        "clinical": r.clinical,
        "technique": r.technique,
        "row": r.row,
    }


def _measurement_dict(m: Measurement) -> dict[str, Any]:
    return {
        "text": m.text,
        "values": list(m.values),
        "unit": m.unit,
        "values_mm": list(m.values_mm),
        "largest_mm": m.largest_mm,
        "start": m.start,
        "end": m.end,
        "kind": m.kind.value,
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
        kind=SizeKind(d.get("kind", SizeKind.MEASURED)),
    )


def _sentence_dict(s: Sentence) -> dict[str, Any]:
    polarity = s.polarity
    return {
        "section": s.section.value,
        "index": s.index,
        "text": s.text,
        "start": s.start,
        "end": s.end,
        "marker": s.marker,
        "nodes": list(s.nodes),
        "node_paths": list(s.chosen_paths()),
        "grounding_confidence": s.grounding_confidence,
        "polarity": polarity.value if polarity else None,
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


def _sentence(volume: str, d: dict[str, Any]) -> Sentence:
    return Sentence(
        volume=volume,
        section=Section(d["section"]),
        index=d["index"],
        text=d["text"],
        start=d["start"],
        end=d["end"],
        marker=d.get("marker", ""),
        nodes=tuple(d["nodes"]),
        node_paths=tuple(d.get("node_paths", ())),
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
