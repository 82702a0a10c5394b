"""The per-case job of ``radgenome build``: load → segment → text → link → write, never raising for a bad case.

A job is a small picklable value (:class:`CaseJob`), so it runs the same in-process, in a
``ProcessPoolExecutor`` worker (spawn) or as a Ray task. Outputs: ``OUT/masks/<stem>.nii.gz`` + ``.json``
(§1.2, through :func:`radgenome.segment.io.write_segmentation`) and ``OUT/cases/<stem>.json`` (the
:class:`~radgenome.pipeline.record.CaseRecord`, written atomically last: a case is finished exactly when its
record is in place).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from radgenome.corpus.metadata import MetadataRow
from radgenome.model import Report

STAGES: tuple[str, ...] = ("load", "segment", "text", "link", "write")


@dataclass(frozen=True)
class BuildSettings:
    """Everything that changes a case's outputs (hashed into its fingerprint)."""

    backend: str = "classical"
    backend_options: tuple[tuple[str, str], ...] = ()
    space: Literal["native", "sat"] = "native"
    text_only: bool = False
    default_split: str = "train"
    min_voxels: int = 16
    versions: str = ""
    """Text and segmentation backend versions (set by the build): a new engine version re-runs every case."""

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


def record_path(out: Path, stem: str) -> Path:
    return Path(out) / "cases" / f"{stem}.json"


def mask_paths(out: Path, stem: str) -> tuple[Path, Path]:
    return Path(out) / "masks" / f"{stem}.nii.gz", Path(out) / "masks" / f"{stem}.json"


_CACHE: dict[str, Any] = {}


def _segmenter(settings: BuildSettings) -> Any:
    from radgenome.segment.registry import get_segmenter

    key = f"seg:{settings.backend}:{settings.backend_options!r}"
    if key not in _CACHE:
        _CACHE[key] = get_segmenter(settings.backend, **settings.options())
    return _CACHE[key]


def _text_backend() -> Any:
    from radgenome.text.engine import RulesBackend

    if "text" not in _CACHE:
        _CACHE["text"] = RulesBackend()
    return _CACHE["text"]


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
    from radgenome.pipeline.link import LabelInfo, link_case
    from radgenome.pipeline.record import MaskRef, record_from_analysis, write_record
    from radgenome.segment.base import BackendUnavailableError, SegmentationError
    from radgenome.segment.io import SegmentationContractError, write_segmentation

    r = job.report
    if not (r.findings.strip() or r.impressions.strip()):
        raise CaseError("text", "empty report (no findings and no impressions text)")
    settings = job.settings
    seg_dict: dict[str, Any] | None = None
    seg_provenance: dict[str, Any] = {"seg_backend": None}
    volume = seg = None
    t = time.perf_counter()
    if not settings.text_only and job.volume_path is not None:
        try:
            volume = read_ct(job.volume_path, job.metadata, min_voxels=settings.min_voxels)
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
    analysis = _text_backend().analyze(r)
    if not analysis.sentences:
        raise CaseError("text", "no sentences found in the report")
    timings["text"] = time.perf_counter() - t

    t_write = 0.0
    masks = MaskRef()
    if seg is not None and volume is not None:
        t = time.perf_counter()
        try:
            nii, side = write_segmentation(seg, volume, Path(job.out) / "masks", space=settings.space, stem=job.stem)
        except SegmentationContractError as exc:
            raise CaseError("write", f"segmentation breaks the output contract: {exc}") from exc
        seg_dict = json.loads(side.read_text(encoding="utf-8"))
        t_write += time.perf_counter() - t
        masks = MaskRef(
            labelmap=f"masks/{nii.name}",
            sidecar=f"masks/{side.name}",
            backend=seg.backend,
            version=seg.version,
            settings={**seg.settings, "space": settings.space},
        )
        seg_provenance = {"seg_backend": seg.backend, "seg_version": seg.version,
                          "seg_settings": masks.settings}

    t = time.perf_counter()
    info = LabelInfo.from_sidecar(seg_dict) if seg_dict is not None else None
    node_masks, flags = link_case(analysis, info)
    timings["link"] = time.perf_counter() - t

    t = time.perf_counter()
    from radgenome.dataset.tables import split_of

    provenance = {
        **seg_provenance,
        "radgenome_version": __version__,
        "input_fingerprint": job.fingerprint(),
        "report_row": r.row,
    }
    if not settings.text_only and job.volume_path is None:
        provenance["volume_missing"] = True  # built text-only (--missing-volumes text)
    if seg_dict is not None and seg_dict.get("warnings"):
        provenance["seg_warnings"] = list(seg_dict["warnings"])
    rec = record_from_analysis(
        analysis,
        stem=job.stem,
        split=split_of(job.volume, settings.default_split),
        volume_path=str(job.volume_path) if job.volume_path is not None else None,
        masks=masks,
        node_masks=node_masks,
        flags=flags,
        provenance=provenance,
    )
    timings["write"] = t_write + (time.perf_counter() - t)
    rec.timings = {k: round(v, 4) for k, v in timings.items()}
    write_record(rec, record_path(job.out, job.stem))
    return CaseOutcome(job.stem, "done", f"{sum(1 for m in node_masks.values() if m.status == 'ok')} masks ok",
                       timings)
