"""Build outputs from case records (ARCHITECTURE §1.4): RadGenome CSVs, Parquet tables, RadGenome mask layout,
and the statistics of ``report.html`` — all in one pass over the records.

:func:`finalize_build` is called by the pipeline at the end of every build (also after a resume, over every
finished record, in corpus order). Each record is taken once: its sidecar is read once, its path contents are
computed once, and the CSV rows, Parquet rows and statistics all come from that. Outputs depend only on the
records, their order, the label-map sidecars and the seed, and every file is written to a temporary name and
renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from radgenome.anatomy import Hierarchy, load_hierarchy
from radgenome.atomic import FILE_MODE, TEMP_SUFFIX, temp_prefix
from radgenome.dataset.mask_refs import MaskResolver, read_case_sidecar
from radgenome.dataset.records import FindingRow, GroundedSentence
from radgenome.dataset.report_stats import StatsCollector
from radgenome.dataset.schemas import QA_SCHEMA, SENTENCE_SCHEMA
from radgenome.dataset.tables import RadGenomeTables, grounded_sentences, path_contents, split_of, volume_rows
from radgenome.dataset.vqa import case_qa_pairs, provenance_of
from radgenome.model import CaseRecord, OutputLayout

log = logging.getLogger(__name__)

LAYOUT_MARKER = ".radgenome_layout.json"


# ------------------------------------------------------------------------------------------ grounded sentences
def case_sentences(rec: CaseRecord, masks: MaskResolver, *, split: str, hierarchy: Hierarchy) -> list[GroundedSentence]:
    """One row per sentence grounded to at least one node, in report order."""
    analysis = rec.analysis
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
                node_paths=list(s.chosen_paths()),
                paths=list(s.expanded_paths()),
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
                        size_kinds=[m.kind.value for m in f.measurements],
                    )
                    for f in s.findings
                ],
                flags=[*s.flags, *case_flags.get(s.index, [])],
                volume_path=rec.volume_path,
                volume_corpus_path=rec.volume_corpus_path,
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
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(self.path.name), suffix=TEMP_SUFFIX, dir=self.path.parent)
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


# ---------------------------------------------------------------------------------------- RadGenome layout
def _file_signature(path: Path) -> str:
    """Size and modification time of the label map: a rewritten label map (atomic replace) gets a new one,
    without hashing every label map of a large build at each finalize."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _sat_labels(
    layout: OutputLayout, rec: CaseRecord, labelmap: np.ndarray, affine: np.ndarray, sidecar: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The label map on RadGenome's SAT grid (RAS, 1x1x3 mm, body crop of the CT)."""
    from radgenome.corpus.volume import VolumeReadError, read_ct
    from radgenome.model import CTVolume
    from radgenome.segmentation.satspace import resample_labels, sat_grid

    if sidecar.get("space") == "sat":
        return labelmap, affine
    volume: CTVolume | None = None
    if rec.volume_path:
        try:
            volume = read_ct(layout.resolve(rec.volume_path))
        except (VolumeReadError, OSError) as exc:
            log.warning("%s: CT unreadable for the SAT crop (%s); cropping to the label map", rec.stem, exc)
    if volume is None:  # crop to the labelled body instead of the CT's body
        hu = np.where(labelmap > 0, 0.0, -1024.0).astype(np.float32)
        volume = CTVolume(case_id=rec.stem, hu=hu, affine=affine)
    grid = sat_grid(volume)
    return resample_labels(labelmap, affine, grid.shape, grid.affine), grid.affine


def write_layout(out: Path, rec: CaseRecord, sidecar: dict[str, Any] | None = None) -> Path | None:
    """``OUT/seg_<stem>/<name>.nii.gz`` in SAT space; skipped when already written from the same label map.

    ``sidecar``: the label map's sidecar when the caller has read it (else it is read here).
    """
    from radgenome.segmentation.io import read_labelmap
    from radgenome.segmentation.radgenome_layout import write_radgenome_layout

    if rec.masks.labelmap is None:
        return None
    layout = OutputLayout(out)
    nii = layout.root / rec.masks.labelmap
    target = layout.seg_dir(rec.stem)
    signature = _file_signature(nii)
    marker = target / LAYOUT_MARKER
    if marker.exists():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("labelmap_signature") == signature:
                return target
        except ValueError:
            pass
    if sidecar is None:
        sidecar = read_case_sidecar(layout, rec) or {}
    labelmap, affine = read_labelmap(nii)
    labels = {int(k): str(v) for k, v in sidecar.get("labels", {}).items()}
    sat, sat_affine = _sat_labels(layout, rec, labelmap, affine, sidecar)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), suffix=TEMP_SUFFIX, dir=layout.root))
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
@dataclass
class Finalized:
    """What :func:`finalize_build` wrote, and the statistics it gathered on the way."""

    outputs: dict[str, Path]
    """Written paths keyed by their path relative to OUT."""
    stats: StatsCollector
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Stem -> (stage, reason) of the records that could not be finalised: ``dataset`` (its rows could not be made:
    the record is left out of every table) or ``layout`` (its RadGenome mask layout could not be written: its rows
    are in the tables). One bad record never stops the others."""


def finalize_build(
    out: Path,
    records: Iterable[CaseRecord],
    *,
    default_split: str = "train",
    seed: int = 0,
    radgenome_layout: bool = False,
) -> Finalized:
    """Write every dataset output of a build from its finished case records (in the caller's order), in one pass.

    Outputs (keys of :attr:`Finalized.outputs`): ``radgenome_files/{split}_*.csv``,
    ``dataset/grounded_sentences.parquet``, ``dataset/qa_pairs.parquet`` and, with ``radgenome_layout``,
    ``seg_<stem>`` folders. ``records`` may be a generator: each record is used once and then let go.
    """
    layout = OutputLayout(out)
    h = load_hierarchy()
    written: dict[str, Path] = {}
    failures: dict[str, tuple[str, str]] = {}
    tables = RadGenomeTables(default_split)
    stats = StatsCollector(hierarchy=h)
    sentences = ParquetStream(layout.grounded_sentences, SENTENCE_SCHEMA)
    qa = ParquetStream(layout.qa_pairs, QA_SCHEMA)
    try:
        for rec in records:
            try:  # every row of the record is made before any is added: a record is in all tables or in none
                sidecar = read_case_sidecar(layout, rec)
                masks = MaskResolver(rec, sidecar)
                contents = path_contents(rec.analysis, h)
                split = split_of(rec.volume, default_split)
                qa_rows = case_qa_pairs(rec, masks, split=split, seed=seed, hierarchy=h, contents=contents)
                sentence_rows = [row.row() for row in case_sentences(rec, masks, split=split, hierarchy=h)]
                qa_dicts = [row.row() for row in qa_rows]
                table_rows = volume_rows(rec.analysis, h, contents)
            except Exception as exc:  # a bug on one odd record must not stop the dataset
                log.error("%s: left out of the dataset: %s: %s", rec.stem, type(exc).__name__, exc)
                failures[rec.stem] = ("dataset", f"rows could not be made ({type(exc).__name__}: {exc})")
                continue
            sentences.add(sentence_rows)
            qa.add(qa_dicts)
            tables.add_rows(rec.volume, table_rows)
            stats.add(rec, contents, sidecar, qa_rows)
            if radgenome_layout:
                try:
                    target = write_layout(layout.root, rec, sidecar)
                except Exception as exc:  # its rows stay: only the optional mask layout is missing
                    log.error("%s: RadGenome layout not written: %s: %s", rec.stem, type(exc).__name__, exc)
                    failures[rec.stem] = ("layout", f"RadGenome mask layout not written ({type(exc).__name__}: "
                                                    f"{exc})")
                    continue
                if target is not None:
                    written[target.name] = target
        csvs = tables.write(layout.tables_dir)
        sentences.commit()
        qa.commit()
    except BaseException:
        sentences.abort()
        qa.abort()
        raise
    outputs = {f"{OutputLayout.TABLES}/{name}": path for name, path in csvs.items()}
    outputs[OutputLayout.GROUNDED_SENTENCES] = layout.grounded_sentences
    outputs[OutputLayout.QA_PAIRS] = layout.qa_pairs
    outputs.update(written)
    return Finalized(outputs, stats, failures)
