"""``radgenome segment``: discover inputs, segment each case (in worker processes), write §1.2 outputs.

One bad input never stops the others: each case ends ``done``, ``skipped`` (outputs already there, no
``force``) or ``failed`` with its reason (:class:`SegmentRun`); :class:`SegmentRunError` when nothing can be done
(backend unavailable, no inputs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from radgenome.corpus.inputs import InputCase, discover_inputs
from radgenome.corpus.metadata import MetadataRow, read_metadata, volume_stem
from radgenome.corpus.volume import DEFAULT_MAX_VOXELS
from radgenome.model import OutputLayout
from radgenome.segmentation.base import BackendUnavailableError, SegmentationError, Segmenter

Status = Literal["done", "skipped", "failed"]


@dataclass
class CaseResult:
    case: str
    status: Status
    message: str = ""
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SegmentJob:
    backend: str
    options: dict[str, Any]
    out_dir: Path
    space: Literal["native", "sat"] = "native"
    force: bool = False
    min_voxels: int = 16
    dicom_series: Literal["error", "largest"] = "error"
    layout: bool = False
    """Also write RadGenome's seg_<stem>/ mask layout next to the label map."""
    max_voxels: int = DEFAULT_MAX_VOXELS
    """Volumes declaring more voxels are refused before decompressing (:func:`radgenome.corpus.volume.read_ct`)."""


_SEGMENTERS: dict[tuple[str, str], Segmenter] = {}


def _segmenter(job: SegmentJob) -> Segmenter:
    from radgenome.segmentation.registry import get_segmenter

    key = (job.backend, repr(sorted(job.options.items())))
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = get_segmenter(job.backend, **job.options)
    return _SEGMENTERS[key]


def segment_case(job: SegmentJob, case: InputCase, row: MetadataRow | None = None) -> CaseResult:
    """Read, segment and write one case; never raises for a bad case."""
    from radgenome.corpus.volume import VolumeReadError, read_ct
    from radgenome.segmentation.io import SegmentationContractError, output_paths, write_segmentation

    t0 = time.perf_counter()
    nii, side = output_paths(job.out_dir, case.stem)
    if not job.force and nii.exists() and side.exists():
        return CaseResult(case.stem, "skipped", "outputs exist (force to redo)", 0.0, [str(nii), str(side)])
    try:
        volume = read_ct(case.path, row, min_voxels=job.min_voxels, dicom_series=job.dicom_series,
                         max_voxels=job.max_voxels)
        seg = _segmenter(job).segment(volume)
        written = write_segmentation(seg, volume, job.out_dir, space=job.space, stem=case.stem)
        outputs = [str(written.labelmap), str(written.sidecar)]
        if job.layout:
            from radgenome.segmentation.io import read_segmentation
            from radgenome.segmentation.radgenome_layout import write_radgenome_layout

            labelmap, affine, labels, _ = read_segmentation(written.labelmap)
            seg_dir = job.out_dir / OutputLayout.seg_dir_name(case.stem)
            write_radgenome_layout(labelmap, affine, labels, seg_dir)
            outputs.append(str(seg_dir))
    except (VolumeReadError, SegmentationError, SegmentationContractError, BackendUnavailableError) as exc:
        return CaseResult(case.stem, "failed", str(exc), time.perf_counter() - t0)
    except (OSError, ValueError, MemoryError) as exc:
        return CaseResult(case.stem, "failed", f"{exc.__class__.__name__}: {exc}", time.perf_counter() - t0)
    except Exception as exc:  # a backend bug on one odd volume must not stop the run
        where = ""
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" at {Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"
        message = f"unexpected {exc.__class__.__name__}{where}: {exc}"
        return CaseResult(case.stem, "failed", message, time.perf_counter() - t0)
    n = len(seg.labels)
    return CaseResult(case.stem, "done", f"{n} structures", time.perf_counter() - t0, outputs)


def segment_file(
    path: str | Path,
    out_dir: str | Path,
    *,
    backend: str = "classical",
    options: dict[str, Any] | None = None,
    space: Literal["native", "sat"] = "native",
    metadata_row: MetadataRow | None = None,
    force: bool = False,
    min_voxels: int = 16,
    layout: bool = False,
) -> CaseResult:
    """Segment one NIfTI file or DICOM folder into ``out_dir`` (the per-case step of ``radgenome build``).

    Never raises for a bad case: the result says ``done``/``skipped``/``failed`` and why. The backend is built
    once per process and reused.
    """
    p = Path(path)
    kind: Literal["nifti", "dicom"] = "dicom" if p.is_dir() else "nifti"
    case = InputCase(p, p.name if p.is_dir() else volume_stem(p.name), kind)
    job = SegmentJob(backend, dict(options or {}), Path(out_dir), space, force, min_voxels, "error", layout)
    return segment_case(job, case, metadata_row)


class SegmentRunError(RuntimeError):
    """Nothing can be segmented: the backend cannot run, the metadata table is unreadable, or there are no inputs."""


@dataclass
class SegmentRun:
    """One result per input case (``done``, ``skipped`` or ``failed`` with its reason), inputs problems first."""

    results: list[CaseResult]
    out_dir: Path

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "failed"]


SegmentProgress = Callable[[str, int, int], None]
"""``progress(stem, done, total)``: called as each case finishes."""


def run_segment(
    inputs: list[Path],
    out_dir: Path,
    *,
    backend: str = "classical",
    options: dict[str, Any] | None = None,
    space: Literal["native", "sat"] = "native",
    workers: int = 1,
    metadata: Path | None = None,
    force: bool = False,
    min_voxels: int = 16,
    dicom_series: Literal["error", "largest"] = "error",
    layout: bool = False,
    progress: SegmentProgress | None = None,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> SegmentRun:
    """``radgenome segment``: every input case segmented into ``out_dir``; raises :class:`SegmentRunError` when
    nothing can be done (a bad case is a ``failed`` result, never an exception)."""
    job = SegmentJob(backend, dict(options or {}), Path(out_dir), space, force, min_voxels, dicom_series, layout,
                     max_voxels)
    try:
        _segmenter(job)  # fail fast when the backend cannot run at all
    except (BackendUnavailableError, ValueError, TypeError) as exc:
        raise SegmentRunError(str(exc)) from exc
    rows: dict[str, MetadataRow] = {}
    if metadata is not None:
        try:
            rows = read_metadata(metadata)
        except (OSError, ValueError) as exc:
            raise SegmentRunError(f"metadata: {exc}") from exc
    cases, problems = discover_inputs(list(inputs))
    results = [CaseResult(p.path, "failed", p.message) for p in problems]
    if not cases and not results:
        raise SegmentRunError("no inputs")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    done = 0

    def finished(stem: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(stem, done, len(cases))

    if workers <= 1 or len(cases) <= 1:
        for case in cases:
            results.append(segment_case(job, case, rows.get(case.stem)))
            finished(case.stem)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: dict[Future[CaseResult], InputCase] = {
                pool.submit(segment_case, job, c, rows.get(c.stem)): c for c in cases
            }
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    case = pending.pop(fut)
                    try:
                        results.append(fut.result())
                    except Exception as exc:  # a worker died (e.g. killed for memory)
                        results.append(CaseResult(case.stem, "failed", f"worker crashed: {exc!r}"))
                    finished(case.stem)
    return SegmentRun(results, Path(out_dir))
