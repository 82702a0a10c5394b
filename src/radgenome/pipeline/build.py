"""``radgenome build``: discover the corpus, run every case (locally or on Ray), then write the dataset.

Resumable: a case whose record ``OUT/cases/<stem>.json`` exists with the same input fingerprint (report text,
volume path/size/mtime, settings) is skipped — after a check of what it skips (the record parses, the label map's
header reads, the sidecar parses, the sizes match the manifest); a case that fails the check is rebuilt.
``force`` redoes everything. The dataset tables are always rewritten from all finished records in corpus (stem)
order, in one pass over them (each record read once), so a resumed build yields the same bytes as an
uninterrupted one.

One build at a time: the build holds an exclusive lock on OUT (:mod:`radgenome.pipeline.lock`), and, holding it,
removes the temporary files that killed atomic writes left behind. A manifest that is not a readable database is
moved aside and rebuilt from the records. Every fatal condition (OUT unwritable, a folder where a file must be or
the reverse, a full disk while writing the tables) is a :class:`BuildError` naming the path and the reason.

:func:`run_build` returns a :class:`~radgenome.model.BuildSummary` whose ``exit_code`` is 0 when every case was
built and 3 when some case failed or some report could not be paired / read (the rest written, every problem
listed). It raises :class:`BuildError` when nothing can be built (no reports, unwritable OUT, backend
unavailable) and lets ``KeyboardInterrupt`` through (finished cases are kept). It prints nothing: progress goes to
an optional :class:`BuildProgress`, the log to ``OUT/build.log``.

The text stage: a process-local backend (rules) runs in the workers, case by case; a batched backend (the LLM
ones) runs here, in the coordinating process, on batches of reports taken just before their cases are handed to
the workers, and each case's analysis travels with its job (see :mod:`radgenome.text.base`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from radgenome.atomic import atomic_write_text, remove_stale_temps
from radgenome.corpus.files import file_kind
from radgenome.corpus.layout import Corpus, CorpusError, Reconstructions, discover_corpus
from radgenome.corpus.volume import DEFAULT_MAX_VOXELS
from radgenome.model import (
    STAGES,
    BuildSummary,
    CaseFailure,
    CaseRecord,
    OutputLayout,
    ReportAnalysis,
    read_record,
)
from radgenome.pipeline.case import BuildSettings, CaseJob, CaseOutcome
from radgenome.pipeline.lock import OutputLock, OutputLockedError
from radgenome.pipeline.manifest import Manifest, open_manifest
from radgenome.text.base import TextBackend, TextBackendError, TextFailure, identity

EXIT_OK = 0
EXIT_SOME_FAILED = 3

FAILING_ISSUES = ("report_without_volume", "duplicate_volume", "unreadable_row", "unreadable_input",
                  "invalid_volume_name")
"""Corpus issues that make the exit status 3 (a report that could not be built); volumes without reports,
unreadable metadata and rows decoded with the legacy encoding are listed but do not."""

log = logging.getLogger("radgenome.build")


class BuildError(RuntimeError):
    """A fatal build error: nothing can be built (the message names the path or backend and the reason)."""


@dataclass
class BuildOptions:
    out: Path
    root: Path | None = None
    reports: list[Path] = field(default_factory=list)
    volumes: list[Path] = field(default_factory=list)
    metadata: list[Path] = field(default_factory=list)
    workers: int = 1
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    text_backend: str = "rules"
    """``rules``, ``llm`` or ``hybrid`` (:func:`radgenome.text.registry.get_text_backend`)."""
    text_options: dict[str, Any] = field(default_factory=dict)
    seg_backend: str = "classical"
    """``classical``, ``totalsegmentator``, ``sat`` or ``precomputed`` (:func:`radgenome.segmentation.registry
    .get_segmenter`)."""
    seg_options: dict[str, Any] = field(default_factory=dict)
    space: Literal["native", "sat"] = "native"
    radgenome_layout: bool = False
    reconstructions: Reconstructions = "first"
    split: str = "train"
    text_only: bool = False
    missing_volumes: Literal["report", "text"] = "report"
    """``text``: reports without volumes are also built, text-only (still listed)."""
    force: bool = False
    seed: int = 0
    max_voxels: int = DEFAULT_MAX_VOXELS
    """Volumes whose header declares more voxels are refused (per case) before decompressing."""

    def settings(self) -> BuildSettings:
        opts = tuple(sorted((str(k), str(v)) for k, v in self.seg_options.items() if v is not None))
        return BuildSettings(self.seg_backend, opts, self.space, self.text_only, self.split)


class BuildProgress:
    """Hooks a caller can watch a build through (this base class ignores them all)."""

    def cases(self, total: int) -> None:
        """``total`` cases are about to be built."""

    def case_done(self, job: CaseJob, outcome: CaseOutcome, mean_seconds: dict[str, float]) -> None:
        """A case finished (``mean_seconds``: per-stage means over the cases built so far)."""

    def text_batch(self, done: int, total: int) -> None:
        """A batched text backend has analysed ``done`` of ``total`` reports."""

    def finalizing(self) -> None:
        """Every case is done; the dataset tables are being written."""


# ------------------------------------------------------------------------------------------------ helpers
def os_error_text(exc: OSError) -> str:
    """``<path>: <reason>`` of an ``OSError`` (a full disk said in words)."""
    import errno

    reason = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".radgenome_write_test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise BuildError(f"output folder {out} is not writable: {exc.strerror or exc}") from exc


def _preflight(layout: OutputLayout) -> None:
    """Refuse an OUT whose folders are files or whose files are folders (nothing has been written yet)."""
    for folder in (layout.cases_dir, layout.masks_dir, layout.tables_dir, layout.dataset_dir):
        if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
            what = file_kind(folder.lstat().st_mode) if folder.exists() else "dangling symbolic link"
            raise BuildError(f"{folder}: must be a folder but is a {what}; move it away or choose another OUT")
    for path in (layout.summary, layout.report, layout.manifest, layout.build_log, layout.grounded_sentences,
                 layout.qa_pairs):
        if path.exists() and not path.is_file():
            raise BuildError(f"{path}: must be a file but is a {file_kind(path.stat().st_mode)}; move it away or "
                             "choose another OUT")


def _remove_stale(layout: OutputLayout) -> list[str]:
    """Remove what killed atomic writes left in OUT's folders (we hold the lock: nobody else is writing)."""
    removed: list[Path] = []
    for folder in (layout.root, layout.cases_dir, layout.masks_dir, layout.tables_dir, layout.dataset_dir):
        removed.extend(remove_stale_temps(folder))
    if not removed:
        return []
    names = ", ".join(str(p.relative_to(layout.root)) for p in removed[:5]) + (" ..." if len(removed) > 5 else "")
    return [f"removed {len(removed)} temporary file(s) left by interrupted writes: {names}"]


def _setup_log(layout: OutputLayout) -> logging.Handler:
    handler = logging.FileHandler(layout.build_log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def _jobs(corpus: Corpus, opts: BuildOptions, settings: BuildSettings, text: TextBackend) -> list[CaseJob]:
    text_settings = tuple(sorted((k, v) for k, v in text.provenance().items() if k not in ("backend", "version")))
    return [
        CaseJob(c.volume, c.stem, c.report, opts.out, settings, None if opts.text_only else c.volume_path,
                c.metadata, text_backend=text.name, text_settings=text_settings,
                volume_anchor=None if opts.text_only else c.volume_anchor, max_voxels=opts.max_voxels)
        for c in corpus.cases
    ]


def output_sizes(rec: CaseRecord | None, stem: str, layout: OutputLayout) -> dict[str, int]:
    """Byte sizes of a finished case's files (what the manifest keeps to check a resumed build against)."""
    sizes = {"record": layout.case_record(stem).stat().st_size}
    if rec is None or rec.masks.labelmap is not None:
        for key, path in (("labelmap", layout.labelmap(stem)), ("sidecar", layout.sidecar(stem))):
            if path.is_file():
                sizes[key] = path.stat().st_size
    return sizes


def _labelmap_problem(rec: CaseRecord, layout: OutputLayout) -> str | None:
    """Why the record's label map or sidecar cannot be used (None when both read)."""
    from radgenome.corpus.volume import VolumeReadError, parse_nifti_header
    from radgenome.dataset.mask_refs import read_case_sidecar

    if rec.masks.labelmap is None:
        return None
    path = layout.resolve(rec.masks.labelmap)
    try:
        if path.name.endswith(".gz"):
            from isal import igzip

            with igzip.open(path, "rb") as fh:
                head = fh.read(540)
        else:
            with path.open("rb") as fh:
                head = fh.read(540)
        parse_nifti_header(head, path)
    except (OSError, EOFError, VolumeReadError) as exc:
        return f"label map {rec.masks.labelmap} unreadable ({exc})"
    except Exception as exc:  # isal raises its own error type for corrupt data
        return f"label map {rec.masks.labelmap} unreadable ({type(exc).__name__}: {exc})"
    sidecar = read_case_sidecar(layout, rec)
    if sidecar is None or not isinstance(sidecar.get("labels"), dict):
        return f"sidecar {rec.masks.sidecar} missing or unreadable"
    return None


def _check_finished(
    job: CaseJob, fingerprint: str, manifest: Manifest, layout: OutputLayout
) -> tuple[bool, str]:
    """(True, "") when the case's outputs are in place, whole and made from these inputs; else (False, why they
    must be rebuilt — empty when the inputs simply changed or the case never finished)."""
    path = layout.case_record(job.stem)
    if not path.exists():
        return False, ""
    try:
        rec = read_record(path)
    except (OSError, ValueError) as exc:
        return False, f"record unreadable ({exc})"
    if rec.provenance.input_fingerprint != fingerprint:
        return False, ""
    recorded = manifest.sizes(job.stem)
    try:
        sizes = output_sizes(rec, job.stem, layout)
    except OSError as exc:
        return False, f"outputs unreadable ({os_error_text(exc)})"
    if recorded is not None:
        for key, size in sorted(recorded.items()):
            if sizes.get(key) != size:
                return False, f"{key} is {sizes.get(key, 'missing')} bytes, the manifest recorded {size}"
    problem = _labelmap_problem(rec, layout)
    if problem is not None:
        return False, problem
    try:
        if _refresh_paths(rec, job, layout):
            sizes = output_sizes(rec, job.stem, layout)
    except OSError as exc:
        return False, f"record not rewritable ({os_error_text(exc)})"
    if recorded != sizes:
        manifest.set_sizes(job.stem, sizes)
    return True, ""


def _refresh_paths(rec: CaseRecord, job: CaseJob, layout: OutputLayout) -> bool:
    """Put the record's CT paths in the current form (relative to OUT, and to the corpus folder): a record of an
    earlier version, or one whose corpus was given from another place, is rewritten — the fingerprint guarantees
    it is the same CT file. True when the record was rewritten."""
    from radgenome.model import write_record

    if job.volume_path is None:
        return False
    want = layout.ref(job.volume_path)
    corpus = layout.corpus_ref(job.volume_path, job.volume_anchor) if job.volume_anchor is not None else None
    if rec.volume_path == want and rec.volume_corpus_path == corpus:
        return False
    rec.volume_path, rec.volume_corpus_path = want, corpus
    write_record(rec, layout.case_record(job.stem))
    return True


def _remove_outputs(job: CaseJob, layout: OutputLayout) -> None:
    for p in (layout.case_record(job.stem), layout.labelmap(job.stem), layout.sidecar(job.stem)):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:  # a folder in its place: the case stays failed, the build goes on
            log.warning("cannot remove %s: %s", p, os_error_text(exc))


# ---------------------------------------------------------------------------------------------- the build
def run_build(opts: BuildOptions, progress: BuildProgress | None = None) -> BuildSummary:
    """Run a build (see the module doc): the summary, or :class:`BuildError` when nothing can be built."""
    t0 = time.perf_counter()
    _check_writable(opts.out)
    layout = OutputLayout(opts.out)
    lock = OutputLock(layout.lock, command="radgenome build")
    try:
        lock.acquire()
    except OutputLockedError as exc:
        raise BuildError(str(exc)) from None
    except OSError as exc:
        raise BuildError(f"cannot lock the output folder: {os_error_text(exc)}") from exc
    try:
        _preflight(layout)
        try:
            handler = _setup_log(layout)
        except OSError as exc:
            raise BuildError(os_error_text(exc)) from exc
        try:
            notices = _remove_stale(layout)
            for notice in notices:
                log.warning("%s", notice)
            return _build(opts, layout, progress or BuildProgress(), t0, notices)
        except BuildError as exc:
            log.error("fatal: %s", exc)
            raise
        except KeyboardInterrupt:
            log.warning("interrupted")
            raise
        except OSError as exc:
            log.error("fatal: %s", os_error_text(exc))
            raise BuildError(os_error_text(exc)) from exc
        except sqlite3.Error as exc:
            log.error("fatal: manifest %s: %s", layout.manifest, exc)
            raise BuildError(f"{layout.manifest}: {exc}") from exc
        finally:
            log.removeHandler(handler)
            handler.close()
    finally:
        lock.release()


def _text_engine(opts: BuildOptions) -> TextBackend:
    from radgenome.text.registry import get_text_backend

    try:
        return get_text_backend(opts.text_backend, **opts.text_options)
    except TextBackendError as exc:
        raise BuildError(f"text backend {opts.text_backend!r}: {exc}") from exc


def _build(
    opts: BuildOptions, layout: OutputLayout, progress: BuildProgress, t0: float, notices: list[str]
) -> BuildSummary:
    settings = opts.settings()
    log.info("build start: out=%s root=%s reports=%s volumes=%s engine=%s workers=%d text=%s settings=%s",
             opts.out, opts.root, opts.reports, opts.volumes, opts.engine, opts.workers, opts.text_backend, settings)
    try:
        corpus = discover_corpus(
            opts.root, reports=opts.reports or None, volumes=opts.volumes or None, metadata=opts.metadata or None,
            reconstructions=opts.reconstructions, text_only=opts.text_only, missing_volumes=opts.missing_volumes,
        )
    except CorpusError as exc:
        raise BuildError(str(exc)) from exc
    if not corpus.cases and not corpus.issues:
        raise BuildError(f"no reports found in {', '.join(str(f) for f in corpus.report_files)}")
    text = _text_engine(opts)
    try:
        text.set_log(layout.llm_log, append=True)  # a backend with a per-sentence log (LLM) keeps it here
        return _build_cases(opts, layout, progress, t0, settings, corpus, text, notices)
    finally:
        text.close()


def _build_cases(
    opts: BuildOptions,
    layout: OutputLayout,
    progress: BuildProgress,
    t0: float,
    settings: BuildSettings,
    corpus: Corpus,
    text: TextBackend,
    notices: list[str],
) -> BuildSummary:
    from radgenome.pipeline.case import _segmenter

    versions = f"text={identity(text)}"
    if not opts.text_only and corpus.cases:
        from radgenome.segmentation.base import BackendUnavailableError

        try:
            versions += f";seg={_segmenter(settings).version}"  # fail fast when the backend cannot run at all
        except (BackendUnavailableError, ValueError, TypeError) as exc:
            raise BuildError(f"segmentation backend {opts.seg_backend!r}: {exc}") from exc
    settings = dataclasses.replace(settings, versions=versions)
    for issue in corpus.issues:
        log.warning("%s: %s (%s): %s", issue.kind, issue.volume, issue.source, issue.reason)
    if corpus.skipped_reconstructions:
        log.info("%d volumes left out as later reconstructions of a scan (reconstructions=first): %s",
                 len(corpus.skipped_reconstructions), ", ".join(corpus.skipped_reconstructions))

    jobs = _jobs(corpus, opts, settings, text)
    outcomes: dict[str, CaseOutcome] = {}
    manifest, notice = open_manifest(layout.manifest)
    if notice is not None:
        log.warning("%s", notice)
        notices.append(notice)
    with manifest:
        manifest.replace_issues((i.kind, i.volume, i.source, i.reason) for i in corpus.issues)
        retired = manifest.retire_others(j.stem for j in jobs)
        if retired:
            log.info("%d cases of earlier runs are not in this corpus: marked skipped, their records unused", retired)
        run_id = manifest.start_run(json.dumps({**settings.__dict__, "engine": opts.engine,
                                                "text_backend": opts.text_backend}, default=str))
        todo: list[CaseJob] = []
        skipped: list[str] = []
        fingerprints = {j.stem: j.fingerprint() for j in jobs}
        rebuilt: list[str] = []
        for job in jobs:
            vp = layout.ref(job.volume_path) if job.volume_path else None
            ok, why = (False, "") if opts.force else _check_finished(job, fingerprints[job.stem], manifest, layout)
            if ok:
                skipped.append(job.stem)
                manifest.set_status(job.stem, job.volume, "done", volume_path=vp, fingerprint=fingerprints[job.stem],
                                    reason="unchanged since an earlier build")
            else:
                if why:
                    log.warning("rebuilding %s: %s", job.stem, why)
                    rebuilt.append(f"{job.stem} ({why})")
                todo.append(job)
                manifest.set_status(job.stem, job.volume, "pending", volume_path=vp, fingerprint=fingerprints[job.stem])
        if rebuilt:
            shown = "; ".join(rebuilt[:5]) + (f"; ... {len(rebuilt) - 5} more in the build log" if len(rebuilt) > 5
                                              else "")
            notices.append(f"{len(rebuilt)} finished case(s) failed their check and are rebuilt: {shown}")
        log.info("%d cases: %d to build, %d unchanged", len(jobs), len(todo), len(skipped))
        _run_cases(todo, opts, manifest, outcomes, fingerprints, layout, progress, text)
        done_now = sum(1 for o in outcomes.values() if o.status == "done")
        failed = {s: o for s, o in outcomes.items() if o.status == "failed"}
        manifest.finish_run(run_id, done_now, len(failed), len(skipped))
    text_stats = text.run_stats()
    verdict = text.verdict()
    if text_stats:
        log.info("text backend %s: %s", text.name, text_stats)
    if not verdict.ok:
        log.error("text backend %s: %s", text.name, verdict.message)

    seconds_cases = round(time.perf_counter() - t0, 2)
    progress.finalizing()
    t = time.perf_counter()
    from radgenome.dataset.report_html import write_report
    from radgenome.dataset.writers import finalize_build

    fin = finalize_build(layout.root, _records(jobs, failed, layout), default_split=opts.split, seed=opts.seed,
                         radgenome_layout=opts.radgenome_layout)
    seconds_finalize = round(time.perf_counter() - t, 2)
    for stem, (stage, reason) in fin.failures.items():  # records the dataset pass could not use: per case too
        failed[stem] = CaseOutcome(stem, "failed", f"{stage}: {reason}", stage=stage)
    summary = _summary(corpus, jobs, outcomes, skipped, failed)
    summary.records = fin.stats.n_records
    summary.mask_status = fin.stats.summary_mask_status()
    summary.flags = fin.stats.summary_flags()
    summary.seconds_cases = seconds_cases
    summary.seconds_finalize = seconds_finalize
    outputs = dict(fin.outputs)
    outputs[OutputLayout.REPORT] = write_report(layout.root, fin.stats.report_stats(summary), summary)
    log.info("dataset written in %.2fs: %s", time.perf_counter() - t, sorted(outputs))
    failing = set(FAILING_ISSUES) - ({"report_without_volume"} if opts.missing_volumes == "text" else set())
    failing_issues = [i for i in corpus.issues if i.kind in failing]
    summary.text_stats = text_stats
    summary.text_problem = verdict.message if not verdict.ok else ""
    summary.exit_code = EXIT_SOME_FAILED if failed or failing_issues or not verdict.ok else EXIT_OK
    summary.seconds_total = round(time.perf_counter() - t0, 2)
    summary.notices = list(notices)
    atomic_write_text(layout.summary, summary.to_json())
    log.info("build end: exit %d, done %d, failed %d, skipped %d", summary.exit_code, summary.done, summary.failed,
             summary.skipped)
    return summary


def _records(jobs: Sequence[CaseJob], failed: dict[str, CaseOutcome], layout: OutputLayout) -> Iterator[CaseRecord]:
    """The finished records in corpus order, each read once; an unreadable one fails its case."""
    for job in jobs:
        if job.stem in failed:
            continue
        try:
            rec = read_record(layout.case_record(job.stem))
        except (OSError, ValueError) as exc:
            failed[job.stem] = CaseOutcome(job.stem, "failed", f"record unreadable: {exc}", stage="write")
            continue
        yield rec


def _with_analyses(todo: Sequence[CaseJob], text: TextBackend, progress: BuildProgress) -> Iterator[CaseJob]:
    """The jobs with their analyses, made by a batched text backend one batch at a time, as the runner asks.

    A backend that cannot work (an LLM server failing its preflight) or gives up part-way (its circuit breaker
    opened) stops the build with :class:`BuildError` before the batch is handed on: no case is built on
    fallbacks a resumed build would not redo; the cases finished before are kept."""
    assert text.batch_size is not None
    done = 0
    for start in range(0, len(todo), text.batch_size):
        chunk = todo[start : start + text.batch_size]
        t = time.perf_counter()
        try:
            results = text.analyze_many([job.report for job in chunk])
        except TextBackendError as exc:
            raise BuildError(f"text backend {text.name!r}: {exc}") from exc
        verdict = text.verdict()
        if verdict.aborted:
            raise BuildError(f"text backend {text.name!r}: {verdict.message}. The cases finished before are kept: "
                             "run the same command again to resume")
        share = (time.perf_counter() - t) / len(chunk)
        done += len(chunk)
        progress.text_batch(done, len(todo))
        for job, res in zip(chunk, results, strict=True):
            if isinstance(res, ReportAnalysis):
                yield dataclasses.replace(job, analysis=res, text_seconds=share)
            else:
                assert isinstance(res, TextFailure)
                yield dataclasses.replace(job, text_error=res.reason, text_seconds=share)


def _run_cases(
    todo: Sequence[CaseJob],
    opts: BuildOptions,
    manifest: Manifest,
    outcomes: dict[str, CaseOutcome],
    fingerprints: dict[str, str],
    layout: OutputLayout,
    progress: BuildProgress,
    text: TextBackend,
) -> None:
    totals: Counter[str] = Counter()
    n_done = 0
    progress.cases(len(todo))
    jobs: Iterable[CaseJob] = todo if text.batch_size is None else _with_analyses(todo, text, progress)

    def on_start(job: CaseJob) -> None:
        manifest.set_status(job.stem, job.volume, "running", fingerprint=fingerprints[job.stem],
                            volume_path=layout.ref(job.volume_path) if job.volume_path else None, started=True)

    def on_done(job: CaseJob, outcome: CaseOutcome) -> None:
        nonlocal n_done
        outcomes[job.stem] = outcome
        if outcome.status == "done":
            n_done += 1
            totals.update(outcome.timings)
            try:
                sizes: dict[str, int] | None = output_sizes(None, job.stem, layout)
            except OSError as exc:  # the worker said done but its record is gone: the finalize pass will say so
                log.warning("%s: cannot stat its outputs: %s", job.stem, os_error_text(exc))
                sizes = None
            log.info("done %s in %.2fs %s", job.stem, sum(outcome.timings.values()),
                     {k: round(v, 3) for k, v in outcome.timings.items()})
        else:
            _remove_outputs(job, layout)  # never leave a stale record of an earlier build for a failed case
            log.error("failed %s: %s", job.stem, outcome.reason)
        manifest.set_status(job.stem, job.volume, outcome.status, reason=outcome.reason,
                            fingerprint=fingerprints[job.stem], timings=outcome.timings, finished=True,
                            volume_path=layout.ref(job.volume_path) if job.volume_path else None)
        if outcome.status == "done" and sizes is not None:
            manifest.set_sizes(job.stem, sizes)
        progress.case_done(job, outcome, {s: totals[s] / max(n_done, 1) for s in STAGES})

    if opts.engine == "ray":
        from radgenome.pipeline.ray_runner import RayUnavailableError, run_ray

        try:
            run_ray(jobs, opts.workers, on_done, on_start, address=opts.ray_address)
        except RayUnavailableError as exc:
            raise BuildError(str(exc)) from exc
    else:
        from radgenome.pipeline.runner import run_local

        run_local(jobs, opts.workers, on_done, on_start)


# ----------------------------------------------------------------------------------------------- summary
def _summary(
    corpus: Corpus,
    jobs: Sequence[CaseJob],
    outcomes: dict[str, CaseOutcome],
    skipped: Sequence[str],
    failed: dict[str, CaseOutcome],
) -> BuildSummary:
    stage_totals: Counter[str] = Counter()
    n_timed = 0
    for o in outcomes.values():
        if o.status == "done":
            stage_totals.update(o.timings)
            n_timed += 1
    issues = corpus.issues
    return BuildSummary(
        cases=len(jobs),
        done=sum(1 for o in outcomes.values() if o.status == "done"),
        skipped=len(skipped),
        failed=len(failed),
        failures=[CaseFailure(s, o.stage, o.reason) for s, o in sorted(failed.items())],
        reports_without_volumes=[i.volume for i in issues if i.kind == "report_without_volume"],
        volumes_without_reports=[i.volume for i in issues if i.kind == "volume_without_report"],
        issues=list(issues),
        skipped_reconstructions=len(corpus.skipped_reconstructions),
        seconds_per_stage={s: round(stage_totals[s], 3) for s in STAGES},
        mean_seconds_per_stage={s: round(stage_totals[s] / n_timed, 3) if n_timed else 0.0 for s in STAGES},
    )
