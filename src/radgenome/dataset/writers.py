"""Build outputs from case records (ARCHITECTURE §1.4): RadGenome CSVs, Parquet tables, RadGenome mask layout.

:func:`finalize_build` is called by the pipeline at the end of every build (also after a resume, over every
finished record, in manifest order). Outputs depend only on the records, their order, the label-map sidecars
and the seed, and every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radgenome.anatomy import Hierarchy, load_hierarchy
from radgenome.atomic import FILE_MODE
from radgenome.dataset.mask_refs import MaskResolver, resolve_path
from radgenome.dataset.records import FindingRow, GroundedSentence, QAPair
from radgenome.dataset.schemas import QA_SCHEMA, SENTENCE_SCHEMA
from radgenome.dataset.tables import grounded_sentences, split_of, write_radgenome_tables
from radgenome.dataset.vqa import case_qa_pairs, provenance_of
from radgenome.model import ReportAnalysis
from radgenome.pipeline.record import CaseRecord, analysis_from_record

log = logging.getLogger(__name__)

SENTENCES_FILE = "dataset/grounded_sentences.parquet"
QA_FILE = "dataset/qa_pairs.parquet"
LAYOUT_MARKER = ".radgenome_layout.json"


# ------------------------------------------------------------------------------------------ grounded sentences
def case_sentences(
    rec: CaseRecord, analysis: ReportAnalysis, masks: MaskResolver, *, split: str, hierarchy: Hierarchy
) -> list[GroundedSentence]:
    """One row per sentence grounded to at least one node, in report order."""
    prov = provenance_of(rec, None)
    in_report = {s.index for s in grounded_sentences(analysis)}
    case_flags: dict[int, list[str]] = {}
    for flag in rec.flags:
        if flag.sentence_index is not None:
            text = f"{flag.kind}: {flag.detail}" if flag.detail else flag.kind
            case_flags.setdefault(flag.sentence_index, []).append(text)
    rows = []
    for s in analysis.sentences:
        if not s.nodes:
            continue
        rows.append(
            GroundedSentence(
                volume=rec.volume,
                stem=rec.stem,
                split=split,
                section=s.section.value,
                sentence_index=s.index,
                text=s.text,
                start=s.start,
                end=s.end,
                in_region_report=s.index in in_report,
                nodes=list(s.nodes),
                node_paths=[p for n in s.nodes for p in hierarchy.paths(n)],
                paths=list(hierarchy.expand_paths(s.nodes)),
                masks=[masks.ref(n) for n in s.nodes],
                labelmap=rec.masks.labelmap,
                polarity=s.polarity.value if s.polarity else None,
                grounding_confidence=s.grounding_confidence,
                findings=[
                    FindingRow(
                        phrase=f.phrase,
                        polarity=f.polarity.value,
                        nodes=list(f.nodes),
                        attributes=list(f.attributes),
                        sizes=[m.text for m in f.measurements],
                        sizes_mm=[m.largest_mm for m in f.measurements],
                    )
                    for f in s.findings
                ],
                flags=[*s.flags, *case_flags.get(s.index, [])],
                volume_path=rec.volume_path,
                provenance=prov,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------------- files
ROW_GROUP_ROWS = 65_536


class ParquetStream:
    """Rows appended in order and written in row groups of ``row_group`` rows to a temporary file, renamed into
    place by :meth:`commit` (memory stays bounded on CT-RATE-sized builds; same rows -> same bytes)."""

    def __init__(self, path: Path, schema: pa.Schema, row_group: int = ROW_GROUP_ROWS) -> None:
        self.path, self.schema, self.row_group = Path(path), schema, row_group
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        self._pending: list[dict[str, object]] = []
        self.rows = 0

    def add(self, rows: Iterable[dict[str, object]]) -> None:
        self._pending.extend(rows)
        while len(self._pending) >= self.row_group:
            self._flush(self._pending[: self.row_group])
            del self._pending[: self.row_group]

    def _flush(self, rows: list[dict[str, object]]) -> None:
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema), row_group_size=self.row_group)
        self.rows += len(rows)

    def commit(self) -> int:
        if self._pending or not self.rows:
            self._flush(self._pending)
            self._pending = []
        self._writer.close()
        os.chmod(self.tmp, FILE_MODE)
        os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        self._writer.close()
        self.tmp.unlink(missing_ok=True)


def case_rows(
    out: Path, rec: CaseRecord, analysis: ReportAnalysis, *, split: str, seed: int, hierarchy: Hierarchy
) -> tuple[list[GroundedSentence], list[QAPair]]:
    """The grounded-sentence and QA rows of one case."""
    masks = MaskResolver(out, rec)
    return (
        case_sentences(rec, analysis, masks, split=split, hierarchy=hierarchy),
        case_qa_pairs(rec, analysis, masks, split=split, seed=seed, hierarchy=hierarchy),
    )


def dataset_rows(
    out: Path, records: Sequence[CaseRecord], *, default_split: str = "train", seed: int = 0
) -> tuple[list[GroundedSentence], list[QAPair]]:
    """The grounded-sentence and QA rows of ``records`` (in record order), in memory."""
    h = load_hierarchy()
    sentences: list[GroundedSentence] = []
    qa: list[QAPair] = []
    for rec in records:
        s, q = case_rows(
            out, rec, analysis_from_record(rec), split=split_of(rec.volume, default_split), seed=seed, hierarchy=h
        )
        sentences.extend(s)
        qa.extend(q)
    return sentences, qa


# ---------------------------------------------------------------------------------------- RadGenome layout
def _file_signature(path: Path) -> str:
    """Size and modification time of the label map: a rewritten label map (atomic replace) gets a new one,
    without hashing every label map of a large build at each finalize."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _sat_labels(
    out: Path, rec: CaseRecord, labelmap: np.ndarray, affine: np.ndarray, sidecar: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The label map on RadGenome's SAT grid (RAS, 1x1x3 mm, body crop of the CT)."""
    from radgenome.corpus.volume import VolumeReadError, read_ct
    from radgenome.model import CTVolume
    from radgenome.segment.satspace import resample_labels, sat_grid

    if sidecar.get("space") == "sat":
        return labelmap, affine
    volume: CTVolume | None = None
    if rec.volume_path:
        try:
            volume = read_ct(resolve_path(out, rec.volume_path))
        except (VolumeReadError, OSError) as exc:
            log.warning("%s: CT unreadable for the SAT crop (%s); cropping to the label map", rec.stem, exc)
    if volume is None:  # crop to the labelled body instead of the CT's body
        hu = np.where(labelmap > 0, 0.0, -1024.0).astype(np.float32)
        volume = CTVolume(case_id=rec.stem, hu=hu, affine=affine)
    grid = sat_grid(volume)
    return resample_labels(labelmap, affine, grid.shape, grid.affine), grid.affine


def write_layout(out: Path, rec: CaseRecord) -> Path | None:
    """``OUT/seg_<stem>/<name>.nii.gz`` in SAT space; skipped when already written from the same label map."""
    from radgenome.segment.io import read_segmentation
    from radgenome.segment.radgenome_layout import write_radgenome_layout

    if rec.masks.labelmap is None:
        return None
    nii = out / rec.masks.labelmap
    target = out / f"seg_{rec.stem}"
    signature = _file_signature(nii)
    marker = target / LAYOUT_MARKER
    if marker.exists():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("labelmap_signature") == signature:
                return target
        except ValueError:
            pass
    labelmap, affine, labels, sidecar = read_segmentation(nii)
    sat, sat_affine = _sat_labels(out, rec, labelmap, affine, sidecar)
    tmp = Path(tempfile.mkdtemp(prefix=f".seg_{rec.stem}.", dir=out))
    try:
        write_radgenome_layout(sat, sat_affine, labels, tmp)
        info = {"labelmap": rec.masks.labelmap, "labelmap_signature": signature, "space": "sat"}
        (tmp / LAYOUT_MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# -------------------------------------------------------------------------------------------------- entry
def finalize_build(
    out: Path,
    records: Sequence[CaseRecord],
    *,
    default_split: str = "train",
    seed: int = 0,
    radgenome_layout: bool = False,
) -> dict[str, Path]:
    """Write every dataset output of a build from its finished case records (in the caller's order).

    Returns the written paths keyed by their path relative to ``out``: ``radgenome_files/{split}_*.csv``,
    ``dataset/grounded_sentences.parquet``, ``dataset/qa_pairs.parquet`` and, with ``radgenome_layout``,
    ``seg_<stem>`` folders.
    """
    out = Path(out)
    h = load_hierarchy()
    written: dict[str, Path] = {}
    sentences = ParquetStream(out / SENTENCES_FILE, SENTENCE_SCHEMA)
    qa = ParquetStream(out / QA_FILE, QA_SCHEMA)

    def analyses() -> Iterator[ReportAnalysis]:
        """One text analysis per record, shared by the CSV writer and the Parquet rows (a single pass)."""
        for rec in records:
            analysis = analysis_from_record(rec)
            s, q = case_rows(out, rec, analysis, split=split_of(rec.volume, default_split), seed=seed, hierarchy=h)
            sentences.add(row.row() for row in s)
            qa.add(row.row() for row in q)
            yield analysis

    try:
        tables = write_radgenome_tables(analyses(), out / "radgenome_files", default_split)
        sentences.commit()
        qa.commit()
    except BaseException:
        sentences.abort()
        qa.abort()
        raise
    for name, path in tables.items():
        written[f"radgenome_files/{name}"] = path
    written[SENTENCES_FILE] = out / SENTENCES_FILE
    written[QA_FILE] = out / QA_FILE
    if radgenome_layout:
        for rec in records:
            target = write_layout(out, rec)
            if target is not None:
                written[target.name] = target
    return written
