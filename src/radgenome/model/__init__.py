"""The types every layer shares (the bottom of the package: it imports only ``anatomy`` and ``atomic``).

- reports and their analysis (``model.report``): :class:`Report`, :class:`Section`, :class:`Sentence`,
  :class:`Finding`, :class:`Measurement`, :class:`SizeKind`, :class:`Polarity`, :class:`ReportAnalysis`;
- imaging (``model.imaging``): :class:`CTVolume`, :class:`Segmentation`, :class:`StructureInfo`;
- the per-case record and its JSON (``model.record``): :class:`CaseRecord`, :class:`MaskLink`, :class:`MaskRef`,
  :class:`CaseFlag`, :class:`CaseProvenance`, :func:`read_record`, :func:`write_record`;
- a build's outcome (``model.summary``): :class:`BuildSummary`, :class:`CaseFailure`, :class:`CorpusIssue`;
- :class:`OutputLayout` (``model.layout``): the one place the files and folders of an output folder are named.
"""

from radgenome.model.imaging import CTVolume, Segmentation, StructureInfo
from radgenome.model.layout import OutputLayout
from radgenome.model.record import (
    MASK_STATUSES,
    CaseFlag,
    CaseProvenance,
    CaseRecord,
    MaskLink,
    MaskRef,
    MaskStatus,
    RecordError,
    read_record,
    write_record,
)
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
from radgenome.model.summary import STAGES, BuildSummary, CaseFailure, CorpusIssue, IssueKind

__all__ = [
    "MASK_STATUSES",
    "STAGES",
    "BuildSummary",
    "CTVolume",
    "CaseFailure",
    "CaseFlag",
    "CaseProvenance",
    "CaseRecord",
    "CorpusIssue",
    "Finding",
    "IssueKind",
    "MaskLink",
    "MaskRef",
    "MaskStatus",
    "Measurement",
    "OutputLayout",
    "Polarity",
    "RecordError",
    "Report",
    "ReportAnalysis",
    "Section",
    "Segmentation",
    "Sentence",
    "SizeKind",
    "StructureInfo",
    "read_record",
    "write_record",
]
