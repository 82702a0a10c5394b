"""``radgenome build``: discover the corpus, run every case (locally or on Ray), then write the dataset.

Resumable: a case whose record ``OUT/cases/<stem>.json`` exists with the same input fingerprint (report text,
volume path/size/mtime, settings) is skipped; ``force`` redoes everything. The dataset tables are always
rewritten from all finished records in corpus (stem) order, so a resumed build yields the same bytes as an
uninterrupted one. Exit status: 0 all cases built; 3 some case failed or some report could not be paired /
read (the rest written, every problem listed); 1 fatal (no reports, unwritable OUT, backend unavailable);
130 interrupted (Ctrl-C; finished cases are kept).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from radgenome.corpus.layout import Corpus, CorpusError, Reconstructions, discover_corpus
from radgenome.pipeline.case import STAGES, BuildSettings, CaseJob, CaseOutcome, mask_paths, record_path
from radgenome.pipeline.manifest import Manifest
from radgenome.pipeline.record import CaseRecord, read_record

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_SOME_FAILED = 3
EXIT_INTERRUPTED = 130

FAILING_ISSUES = ("report_without_volume", "duplicate_volume", "unreadable_row", "unreadable_input")
"""Corpus issues that make the exit status 3 (a report that could not be built); volumes without reports and
unreadable metadata are listed but do not."""

log = logging.getLogger("radgenome.build")


class BuildError(RuntimeError):
    """A fatal build error (exit status 1)."""


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
    backend: str = "classical"
    backend_options: dict[str, Any] = field(default_factory=dict)
    space: Literal["native", "sat"] = "native"
    radgenome_layout: bool = False
    reconstructions: Reconstructions = "first"
    split: str = "train"
    text_only: bool = False
    missing_volumes: Literal["report", "text"] = "report"
    """``text``: reports without volumes are also built, text-only (still listed)."""
    force: bool = False
    seed: int = 0
    progress: bool = True

    def settings(self) -> BuildSettings:
        opts = tuple(sorted((str(k), str(v)) for k, v in self.backend_options.items() if v is not None))
        return BuildSettings(self.backend, opts, self.space, self.text_only, self.split)


@dataclass
class BuildResult:
    exit_code: int
    summary: dict[str, Any]
    outputs: dict[str, Path] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ helpers
def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".radgenome_write_test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise BuildError(f"output folder {out} is not writable: {exc.strerror or exc}") from exc


def _setup_log(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "build.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler


def _jobs(corpus: Corpus, opts: BuildOptions, settings: BuildSettings) -> list[CaseJob]:
    return [
        CaseJob(c.volume, c.stem, c.report, opts.out, settings, None if opts.text_only else c.volume_path,
                c.metadata)
        for c in corpus.cases
    ]


def _finished(job: CaseJob, fingerprint: str, manifest: Manifest) -> bool:
    """True when the case's record is in place with this fingerprint (trusting the record over the manifest)."""
    path = record_path(job.out, job.stem)
    if not path.exists():
        return False
    state = manifest.state(job.stem)
    if state is not None and state == ("done", fingerprint):
        return True
    try:
        rec = read_record(path)
    except (OSError, ValueError):
        return False
    return rec.provenance.get("input_fingerprint") == fingerprint


def _remove_outputs(job: CaseJob) -> None:
    record_path(job.out, job.stem).unlink(missing_ok=True)
    for p in mask_paths(job.out, job.stem):
        p.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- the build
def run_build(opts: BuildOptions) -> BuildResult:
    """Run a build; returns the exit status and the summary (raises nothing for bad cases)."""
    from rich.console import Console

    console = Console(stderr=True)
    t0 = time.perf_counter()
    try:
        _check_writable(opts.out)
    except BuildError as exc:
        console.print(f"[red]fatal:[/red] {exc}")
        return BuildResult(EXIT_FATAL, {"fatal": str(exc)})
    handler = _setup_log(opts.out)
    try:
        return _build(opts, console, t0)
    except BuildError as exc:
        log.error("fatal: %s", exc)
        console.print(f"[red]fatal:[/red] {exc}")
        return BuildResult(EXIT_FATAL, {"fatal": str(exc)})
    except KeyboardInterrupt:
        log.warning("interrupted")
        console.print("[yellow]interrupted:[/yellow] finished cases are kept; run the same command again to resume")
        return BuildResult(EXIT_INTERRUPTED, {"interrupted": True})
    finally:
        log.removeHandler(handler)
        handler.close()


def _build(opts: BuildOptions, console: Any, t0: float) -> BuildResult:
    settings = opts.settings()
    log.info("build start: out=%s root=%s reports=%s volumes=%s engine=%s workers=%d settings=%s",
             opts.out, opts.root, opts.reports, opts.volumes, opts.engine, opts.workers, settings)
    try:
        corpus = discover_corpus(
            opts.root, reports=opts.reports or None, volumes=opts.volumes or None, metadata=opts.metadata or None,
            reconstructions=opts.reconstructions, text_only=opts.text_only, missing_volumes=opts.missing_volumes,
        )
    except CorpusError as exc:
        raise BuildError(str(exc)) from exc
    if not corpus.cases and not corpus.issues:
        raise BuildError(f"no reports found in {', '.join(str(f) for f in corpus.report_files)}")
    from radgenome.pipeline.case import _segmenter, _text_backend

    versions = f"text={_text_backend().version}"
    if not opts.text_only and corpus.cases:
        from radgenome.segment.base import BackendUnavailableError

        try:
            versions += f";seg={_segmenter(settings).version}"  # fail fast when the backend cannot run at all
        except (BackendUnavailableError, ValueError, TypeError) as exc:
            raise BuildError(f"segmentation backend {opts.backend!r}: {exc}") from exc
    settings = dataclasses.replace(settings, versions=versions)
    for issue in corpus.issues:
        log.warning("%s: %s (%s): %s", issue.kind, issue.volume, issue.source, issue.reason)

    jobs = _jobs(corpus, opts, settings)
    outcomes: dict[str, CaseOutcome] = {}
    with Manifest(opts.out / "manifest.sqlite") as manifest:
        manifest.replace_issues((i.kind, i.volume, i.source, i.reason) for i in corpus.issues)
        retired = manifest.retire_others(j.stem for j in jobs)
        if retired:
            log.info("%d cases of earlier runs are not in this corpus: marked skipped, their records unused", retired)
        run_id = manifest.start_run(json.dumps({**settings.__dict__, "engine": opts.engine}, default=str))
        todo: list[CaseJob] = []
        skipped: list[str] = []
        fingerprints = {j.stem: j.fingerprint() for j in jobs}
        for job in jobs:
            vp = str(job.volume_path) if job.volume_path else None
            if not opts.force and _finished(job, fingerprints[job.stem], manifest):
                skipped.append(job.stem)
                manifest.set_status(job.stem, job.volume, "done", volume_path=vp, fingerprint=fingerprints[job.stem],
                                    reason="unchanged since an earlier build")
            else:
                todo.append(job)
                manifest.set_status(job.stem, job.volume, "pending", volume_path=vp, fingerprint=fingerprints[job.stem])
        log.info("%d cases: %d to build, %d unchanged", len(jobs), len(todo), len(skipped))
        _run_cases(todo, opts, manifest, outcomes, fingerprints, console)
        done_now = sum(1 for o in outcomes.values() if o.status == "done")
        failed = {s: o for s, o in outcomes.items() if o.status == "failed"}
        manifest.finish_run(run_id, done_now, len(failed), len(skipped))

    records: list[CaseRecord] = []
    for job in jobs:
        if job.stem in failed:
            continue
        try:
            records.append(read_record(record_path(opts.out, job.stem)))
        except (OSError, ValueError) as exc:
            failed[job.stem] = CaseOutcome(job.stem, "failed", f"record unreadable: {exc}", stage="write")
    summary = build_summary(corpus, jobs, outcomes, skipped, failed, records, time.perf_counter() - t0)
    outputs = _finalize(opts, records, summary, console)
    summary["seconds_total"] = round(time.perf_counter() - t0, 2)
    (opts.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    failing = set(FAILING_ISSUES) - ({"report_without_volume"} if opts.missing_volumes == "text" else set())
    failing_issues = [i for i in corpus.issues if i.kind in failing]
    code = EXIT_SOME_FAILED if failed or failing_issues else EXIT_OK
    summary["exit_code"] = code
    print_summary(summary, console, opts.out)
    log.info("build end: exit %d, %s", code, {k: summary[k] for k in ("done", "failed", "skipped")})
    return BuildResult(code, summary, outputs)


def _run_cases(
    todo: Sequence[CaseJob],
    opts: BuildOptions,
    manifest: Manifest,
    outcomes: dict[str, CaseOutcome],
    fingerprints: dict[str, str],
    console: Any,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    totals: Counter[str] = Counter()
    n_done = 0
    columns = (TextColumn("build"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, disable=not opts.progress, transient=False) as bar:
        task = bar.add_task("", total=len(todo))

        def on_start(job: CaseJob) -> None:
            manifest.set_status(job.stem, job.volume, "running", fingerprint=fingerprints[job.stem],
                                volume_path=str(job.volume_path) if job.volume_path else None, started=True)

        def on_done(job: CaseJob, outcome: CaseOutcome) -> None:
            nonlocal n_done
            outcomes[job.stem] = outcome
            if outcome.status == "done":
                n_done += 1
                totals.update(outcome.timings)
                log.info("done %s in %.2fs %s", job.stem, sum(outcome.timings.values()),
                         {k: round(v, 3) for k, v in outcome.timings.items()})
            else:
                _remove_outputs(job)  # never leave a stale record of an earlier build for a failed case
                log.error("failed %s: %s", job.stem, outcome.reason)
            manifest.set_status(job.stem, job.volume, outcome.status, reason=outcome.reason,
                                fingerprint=fingerprints[job.stem], timings=outcome.timings, finished=True,
                                volume_path=str(job.volume_path) if job.volume_path else None)
            means = " ".join(f"{s} {totals[s] / max(n_done, 1):.2f}s" for s in STAGES)
            bar.update(task, advance=1, description=f"{job.stem} | mean {means}")

        if opts.engine == "ray":
            from radgenome.pipeline.ray_runner import RayUnavailableError, run_ray

            try:
                run_ray(todo, opts.workers, on_done, on_start, address=opts.ray_address)
            except RayUnavailableError as exc:
                raise BuildError(str(exc)) from exc
        else:
            from radgenome.pipeline.runner import run_local

            run_local(todo, opts.workers, on_done, on_start)


def _finalize(opts: BuildOptions, records: list[CaseRecord], summary: dict[str, Any], console: Any) -> dict[str, Path]:
    from radgenome.dataset.report_html import write_report
    from radgenome.dataset.writers import finalize_build

    t = time.perf_counter()
    with console.status("writing dataset tables"):
        outputs = dict(finalize_build(opts.out, records, default_split=opts.split, seed=opts.seed,
                                      radgenome_layout=opts.radgenome_layout))
        summary["seconds_finalize"] = round(time.perf_counter() - t, 2)
        outputs["report.html"] = write_report(opts.out, records, summary)
    log.info("dataset written in %.2fs: %s", time.perf_counter() - t, sorted(outputs))
    return outputs


# ----------------------------------------------------------------------------------------------- summary
def build_summary(
    corpus: Corpus,
    jobs: Sequence[CaseJob],
    outcomes: dict[str, CaseOutcome],
    skipped: Sequence[str],
    failed: dict[str, CaseOutcome],
    records: Sequence[CaseRecord],
    seconds: float,
) -> dict[str, Any]:
    stage_totals: Counter[str] = Counter()
    n_timed = 0
    for o in outcomes.values():
        if o.status == "done":
            stage_totals.update(o.timings)
            n_timed += 1
    status_counts: Counter[str] = Counter()
    flag_counts: Counter[str] = Counter()
    for r in records:
        status_counts.update(m.status for m in r.node_masks.values())
        flag_counts.update(f.kind for f in r.flags)
    issues = corpus.issues
    return {
        "cases": len(jobs),
        "done": sum(1 for o in outcomes.values() if o.status == "done"),
        "skipped": len(skipped),
        "failed": len(failed),
        "records": len(records),
        "failures": [{"volume": s, "stage": o.stage, "reason": o.reason} for s, o in sorted(failed.items())],
        "reports_without_volumes": [i.volume for i in issues if i.kind == "report_without_volume"],
        "volumes_without_reports": [i.volume for i in issues if i.kind == "volume_without_report"],
        "issues": [{"kind": i.kind, "volume": i.volume, "source": i.source, "reason": i.reason} for i in issues],
        "skipped_reconstructions": len(corpus.skipped_reconstructions),
        "seconds_per_stage": {s: round(stage_totals[s], 3) for s in STAGES},
        "mean_seconds_per_stage": {s: round(stage_totals[s] / n_timed, 3) if n_timed else 0.0 for s in STAGES},
        "mask_status": dict(sorted(status_counts.items())),
        "flags": dict(sorted(flag_counts.items())),
        "seconds_cases": round(seconds, 2),
    }


def print_summary(summary: dict[str, Any], console: Any, out: Path) -> None:
    from rich.table import Table

    t = Table(title="radgenome build", show_header=False)
    t.add_row("cases built", str(summary["done"]))
    t.add_row("cases unchanged (skipped)", str(summary["skipped"]))
    t.add_row("cases failed", str(summary["failed"]))
    t.add_row("reports without volumes", str(len(summary["reports_without_volumes"])))
    t.add_row("volumes without reports", str(len(summary["volumes_without_reports"])))
    other = [i for i in summary["issues"] if i["kind"] not in ("report_without_volume", "volume_without_report")]
    t.add_row("other corpus issues", str(len(other)))
    t.add_row("mask status (grounded nodes)", ", ".join(f"{k} {v}" for k, v in summary["mask_status"].items()))
    if summary["flags"]:
        t.add_row("consistency flags", ", ".join(f"{k} {v}" for k, v in summary["flags"].items()))
    t.add_row("time per stage (s, total)",
              ", ".join(f"{k} {v:.2f}" for k, v in summary["seconds_per_stage"].items()))
    t.add_row("total time (s)", f"{summary.get('seconds_total', 0):.1f}")
    console.print(t)
    problems = [(f["volume"], f"{f['reason']}") for f in summary["failures"]]
    problems += [(i["volume"] or "-", f"{i['kind']}: {i['reason']} [{i['source']}]") for i in summary["issues"]]
    if problems:
        pt = Table("volume", "problem", title="problems")
        for v, reason in problems[:200]:
            pt.add_row(v, reason)
        console.print(pt)
        if len(problems) > 200:
            console.print(f"... {len(problems) - 200} more in {out / 'summary.json'} and {out / 'build.log'}")
