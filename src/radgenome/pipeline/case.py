"""The per-case job of ``radgenome build``: load → segment → text → link → write, never raising for a bad case.

A job is a small picklable value (:class:`CaseJob`), so it runs the same in-process, in a
``ProcessPoolExecutor`` worker (spawn) or as a Ray task. Outputs: ``OUT/masks/<stem>.nii.gz`` + ``.json``
(§1.2, through :func:`radgenome.segmentation.io.write_segmentation`) and ``OUT/cases/<stem>.json`` (the
:class:`~radgenome.model.CaseRecord`, written atomically last: a case is finished exactly when its record is in
place). Within a case everything travels in memory: the analysis goes into the record as it is, and linking reads
the sidecar the writer made (never the file back).

The text stage runs in the worker with a process-local backend (rules), unless the job already carries its
analysis: a batched backend (the LLM ones) analyses the cases in the coordinating process (see
:mod:`radgenome.text.base`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from radgenome.corpus.metadata import MetadataRow
from radgenome.corpus.volume import DEFAULT_MAX_VOXELS
from radgenome.model import STAGES, OutputLayout, Report, ReportAnalysis

__all__ = ["STAGES", "BuildSettings", "CaseError", "CaseJob", "CaseOutcome", "run_case"]


@dataclass(frozen=True)
class BuildSettings:
    """Everything that changes a case's outputs (hashed into its fingerprint)."""

    backend: str = "classical"
    """The segmentation backend (the text backend's identity is part of ``versions``)."""
    backend_options: tuple[tuple[str, str], ...] = ()
    space: Literal["native", "sat"] = "native"
    text_only: bool = False
    default_split: str = "train"
    min_voxels: int = 16
    versions: str = ""
    """Text and segmentation backend identities (set by the build, see :func:`radgenome.text.base.identity`): a
    new engine version or text backend re-runs every case."""

    def options(self) -> dict[str, Any]:
        return dict(self.backend_options)

    def digest(self) -> str:
        from radgenome import __version__

        blob = json.dumps({**asdict(self), "radgenome": __version__}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CaseJob:
    volume: str
    stem: str
    report: Report
    out: Path
    settings: BuildSettings
    volume_path: Path | None = None
    metadata: MetadataRow | None = None
    text_backend: str = "rules"
    """The process-local text backend the worker builds (when the job carries no ``analysis``)."""
    text_settings: tuple[tuple[str, str], ...] = ()
    """The text backend's provenance beyond name and version (recorded in the case's provenance)."""
    analysis: ReportAnalysis | None = None
    """The report's analysis, made in the coordinating process by a batched backend."""
    text_error: str = ""
    """Why the batched backend could not analyse the report (the case fails at its text stage)."""
    text_seconds: float = 0.0
    """This case's share of the coordinating process's text time."""
    volume_anchor: Path | None = None
    """The corpus folder the volume was found under (its record stores the path relative to it too)."""
    max_voxels: int = DEFAULT_MAX_VOXELS
    """Volumes declaring more voxels are refused before decompressing (not part of the fingerprint: it changes
    which cases can be read, never what a read case yields)."""

    def fingerprint(self) -> str:
        """Report text hash + volume path/size/mtime + settings hash."""
        r = self.report
        h = hashlib.sha256()
        for part in (r.volume, r.clinical, r.technique, r.findings, r.impressions):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        if self.volume_path is not None and not self.settings.text_only:
            try:
                st = self.volume_path.stat()
                h.update(f"{self.volume_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
            except OSError:
                h.update(f"{self.volume_path}|missing".encode())
        if self.metadata is not None:
            h.update(repr(self.metadata).encode())
        h.update(self.settings.digest().encode())
        return h.hexdigest()[:24]


@dataclass
class CaseOutcome:
    stem: str
    status: Literal["done", "failed"]
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    stage: str = ""
    """The stage that failed."""


class CaseError(RuntimeError):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


_CACHE: dict[str, Any] = {}


def _segmenter(settings: BuildSettings) -> Any:
    from radgenome.segmentation.registry import get_segmenter

    key = f"seg:{settings.backend}:{settings.backend_options!r}"
    if key not in _CACHE:
        _CACHE[key] = get_segmenter(settings.backend, **settings.options())
    return _CACHE[key]


def _text_backend(name: str) -> Any:
    from radgenome.text.registry import get_text_backend

    key = f"text:{name}"
    if key not in _CACHE:
        _CACHE[key] = get_text_backend(name)
    return _CACHE[key]


def _describe(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb is not None else ""
    return f"{exc.__class__.__name__}{where}: {exc}"


def run_case(job: CaseJob) -> CaseOutcome:
    """Build one case; a bad case returns ``failed`` with the stage and reason, it never raises."""
    timings: dict[str, float] = {}
    try:
        return _run(job, timings)
    except CaseError as exc:
        return CaseOutcome(job.stem, "failed", f"{exc.stage}: {exc}", timings, exc.stage)
    except Exception as exc:  # a bug on one odd case must not stop the run
        stage = next((s for s in STAGES if s not in timings), "write")
        return CaseOutcome(job.stem, "failed", f"{stage}: {_describe(exc)}", timings, stage)


def _run(job: CaseJob, timings: dict[str, float]) -> CaseOutcome:
    from radgenome import __version__
    from radgenome.corpus.volume import VolumeReadError, read_ct
    from radgenome.dataset.tables import split_of
    from radgenome.model import CaseProvenance, CaseRecord, MaskRef, write_record
    from radgenome.pipeline.link import LabelInfo, link_case
    from radgenome.segmentation.base import BackendUnavailableError, SegmentationError
    from radgenome.segmentation.io import SegmentationContractError, write_segmentation

    layout = OutputLayout(job.out)
    r = job.report
    if not (r.findings.strip() or r.impressions.strip()):
        raise CaseError("text", "empty report (no findings and no impressions text)")
    settings = job.settings
    sidecar: dict[str, Any] | None = None
    volume = seg = None
    t = time.perf_counter()
    if not settings.text_only and job.volume_path is not None:
        try:
            volume = read_ct(job.volume_path, job.metadata, min_voxels=settings.min_voxels,
                             max_voxels=job.max_voxels)
        except (VolumeReadError, OSError, ValueError, EOFError) as exc:
            raise CaseError("load", f"{job.volume_path.name}: {exc}") from exc
    timings["load"] = time.perf_counter() - t

    t = time.perf_counter()
    if volume is not None:
        try:
            seg = _segmenter(settings).segment(volume)
        except (SegmentationError, BackendUnavailableError, ValueError, MemoryError) as exc:
            raise CaseError("segment", f"{exc.__class__.__name__}: {exc}") from exc
    timings["segment"] = time.perf_counter() - t

    t = time.perf_counter()
    if job.text_error:
        raise CaseError("text", job.text_error)
    analysis = job.analysis if job.analysis is not None else _text_backend(job.text_backend).analyze(r)
    if not analysis.sentences:
        raise CaseError("text", "no sentences found in the report")
    timings["text"] = job.text_seconds + (time.perf_counter() - t)

    t_write = 0.0
    masks = MaskRef()
    provenance = CaseProvenance(text_settings=dict(job.text_settings))
    if seg is not None and volume is not None:
        t = time.perf_counter()
        try:
            written = write_segmentation(seg, volume, layout.masks_dir, space=settings.space, stem=job.stem)
        except SegmentationContractError as exc:
            raise CaseError("write", f"segmentation breaks the output contract: {exc}") from exc
        sidecar = written.sidecar_data
        t_write += time.perf_counter() - t
        masks = MaskRef(
            labelmap=layout.labelmap_ref(job.stem),
            sidecar=layout.sidecar_ref(job.stem),
            backend=seg.backend,
            version=seg.version,
            settings={**seg.settings, "space": settings.space},
        )
        provenance.seg_backend, provenance.seg_version = seg.backend, seg.version
        provenance.seg_settings = masks.settings

    t = time.perf_counter()
    info = LabelInfo.from_sidecar(sidecar) if sidecar is not None else None
    node_masks, flags = link_case(analysis, info)
    timings["link"] = time.perf_counter() - t

    t = time.perf_counter()
    provenance.radgenome_version = __version__
    provenance.input_fingerprint = job.fingerprint()
    provenance.report_row = r.row
    provenance.volume_missing = not settings.text_only and job.volume_path is None  # built text-only
    if sidecar is not None and sidecar.get("warnings"):
        provenance.seg_warnings = list(sidecar["warnings"])
    rec = CaseRecord(
        stem=job.stem,
        split=split_of(job.volume, settings.default_split),
        analysis=analysis,
        volume_path=layout.ref(job.volume_path) if job.volume_path is not None else None,
        volume_corpus_path=(
            layout.corpus_ref(job.volume_path, job.volume_anchor)
            if job.volume_path is not None and job.volume_anchor is not None else None
        ),
        masks=masks,
        node_masks=node_masks,
        flags=flags,
        provenance=provenance,
    )
    timings["write"] = t_write + (time.perf_counter() - t)
    rec.timings = {k: round(v, 4) for k, v in timings.items()}
    write_record(rec, layout.case_record(job.stem))
    return CaseOutcome(job.stem, "done", f"{sum(1 for m in node_masks.values() if m.status == 'ok')} masks ok",
                       timings)
