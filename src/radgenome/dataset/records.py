"""Dataset rows as pydantic records: grounded sentences and QA pairs, each with its mask reference and provenance.

Both flatten to one Parquet row (:meth:`GroundedSentence.row`, :meth:`QAPair.row`) with the column order of
:data:`radgenome.dataset.schemas.SENTENCE_SCHEMA` / :data:`~radgenome.dataset.schemas.QA_SCHEMA`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from radgenome.model import MaskStatus

QAKind = Literal["abnormality", "location", "presence", "size", "disorders"]
QAVariant = Literal["open", "given_region"]
QA_KINDS: tuple[str, ...] = ("abnormality", "location", "presence", "size", "disorders")


class Provenance(BaseModel):
    """Where a row comes from: text engine, segmentation backend, radgenome version, VQA seed."""

    text_backend: str = ""
    text_version: str = ""
    seg_backend: str | None = None
    seg_version: str | None = None
    radgenome_version: str = ""
    seed: int | None = None

    def columns(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MaskReference(BaseModel):
    """A region mask of one volume: the label map (relative to OUT) and the node whose union is the mask.

    ``labelmap`` is None when the case has no label map or the node has no mask (``status`` says why).
    """

    node: str | None
    status: MaskStatus
    labelmap: str | None = None
    voxels: int = 0
    structures: list[str] = Field(default_factory=list)


class FindingRow(BaseModel):
    phrase: str
    polarity: str
    nodes: list[str]
    attributes: list[str]
    sizes: list[str]
    """Measurements as written (``6x4 mm``, ``1.2 cm``)."""
    sizes_mm: list[float]
    """Largest dimension of each measurement, in mm."""
    size_kinds: list[str]
    """Kind of each measurement (``measured``, ``upper_bound``, ``lower_bound``, ``prior``): only ``measured``
    sizes are the finding's current size."""


class GroundedSentence(BaseModel):
    """One report sentence with its regions and a mask reference per grounded node."""

    volume: str
    stem: str
    split: str
    section: str
    sentence_index: int
    text: str
    start: int
    end: int
    in_region_report: bool
    """True when the sentence feeds ``{split}_region_report.csv`` (findings, or the impression without them)."""
    nodes: list[str]
    node_paths: list[str]
    """The RadGenome paths that end at the sentence's nodes (a node may have several)."""
    paths: list[str]
    """``node_paths`` and every ancestor path (the rows of the region report this sentence appears in)."""
    masks: list[MaskReference]
    """One per node, in ``nodes`` order."""
    labelmap: str | None
    polarity: str | None
    grounding_confidence: float
    findings: list[FindingRow]
    flags: list[str]
    """The sentence's own text flags plus the case flags raised on this sentence (``kind: detail``)."""
    volume_path: str | None
    """The CT, relative to OUT (absolute only when no relative path exists)."""
    volume_corpus_path: str | None = None
    """The CT relative to the corpus folder it was found under (the loader's ``corpus_root`` re-anchors it)."""
    provenance: Provenance

    def row(self) -> dict[str, Any]:
        """The Parquet row (a shallow conversion: the fields are plain values, lists and small models)."""
        data = dict(self.__dict__)
        data["masks"] = [dict(m.__dict__) for m in self.masks]
        data["findings"] = [dict(f.__dict__) for f in self.findings]
        data.update(data.pop("provenance").columns())
        data.pop("seed")
        return data


class QAPair(BaseModel):
    """One question-answer pair, with the region it is about and that region's mask reference."""

    qa_id: str
    volume: str
    stem: str
    split: str
    kind: QAKind
    variant: QAVariant
    """``open``: the region is named in words; ``given_region``: it is named and its mask is given as input."""
    question: str
    answer: str
    path: str | None
    """RadGenome path of the region (None for case-level disorders)."""
    node: str | None
    region: str | None
    """Readable region name used in the question."""
    finding: str | None
    answer_paths: list[str]
    """For ``location``: every region path in the answer."""
    size_mm: float | None
    mask: MaskReference | None
    """None for case-level questions."""
    sentence_indices: list[int]
    template_id: str
    volume_path: str | None
    """The CT, relative to OUT (absolute only when no relative path exists)."""
    volume_corpus_path: str | None = None
    """The CT relative to the corpus folder it was found under (the loader's ``corpus_root`` re-anchors it)."""
    labelmap: str | None
    """The case's label map (None for a text-only case), whatever this question's mask status."""
    provenance: Provenance

    def row(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        del data["mask"]
        m = self.mask
        data["mask_labelmap"] = m.labelmap if m else None
        data["mask_node"] = m.node if m else None
        data["mask_status"] = m.status if m else None
        data["mask_voxels"] = m.voxels if m else None
        data.update(data.pop("provenance").columns())
        return data
