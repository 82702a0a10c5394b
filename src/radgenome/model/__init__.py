"""The types every layer shares (the bottom layer: it imports nothing of ours but ``anatomy`` and ``atomic``).

- reports and their analysis: :class:`Report`, :class:`Section`, :class:`Sentence`, :class:`Finding`,
  :class:`Measurement`, :class:`Polarity`, :class:`ReportAnalysis` (``model.report``);
- imaging: :class:`CTVolume`, :class:`Segmentation`, :class:`StructureInfo` (``model.imaging``);
"""

from radgenome.model.imaging import CTVolume, Segmentation, StructureInfo
from radgenome.model.report import Finding, Measurement, Polarity, Report, ReportAnalysis, Section, Sentence

__all__ = [
    "CTVolume",
    "Finding",
    "Measurement",
    "Polarity",
    "Report",
    "ReportAnalysis",
    "Section",
    "Segmentation",
    "Sentence",
    "StructureInfo",
]
