"""``radgenome build`` and ``radgenome demo`` (added to the main app by ``register(app)``): flags in, a call to
:func:`radgenome.pipeline.build.run_build`, progress and the summary table out, and the exit status."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from radgenome.corpus.volume import DEFAULT_MAX_VOXELS
from radgenome.text.cli import TextBackendChoice, text_backend_options

if TYPE_CHECKING:
    from radgenome.model import BuildSummary
    from radgenome.pipeline.build import BuildOptions

EXIT_FATAL = 1
EXIT_INTERRUPTED = 130


def _seg_options(
    backend: str, precomputed_dir: Path | None, label_table: Path | None, seg_option: list[str]
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if backend == "precomputed":
        options = {"source_dir": precomputed_dir, "label_table": label_table}
    for item in seg_option:
        if "=" not in item:
            raise typer.BadParameter(f"--seg-option wants KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        options[key.strip().replace("-", "_")] = value.strip()
    return {k: v for k, v in options.items() if v is not None}


def register(app: typer.Typer) -> None:
    """Add ``build`` and ``demo`` to the main app."""

    @app.command()
    @text_backend_options
    def build(
        root: Annotated[
            Path | None, typer.Argument(help="CT-RATE download (the folder holding dataset/, or dataset/ itself).")
        ] = None,
        out: Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (required).")] = None,
        reports: Annotated[
            list[Path] | None, typer.Option(help="Reports CSV (CT-RATE columns); repeatable; overrides ROOT's.")
        ] = None,
        volumes: Annotated[
            list[Path] | None,
            typer.Option(help="Folder of volumes (searched recursively: .nii/.nii.gz, DICOM series); repeatable."),
        ] = None,
        metadata: Annotated[list[Path] | None, typer.Option(help="CT-RATE metadata CSV; repeatable.")] = None,
        workers: Annotated[int, typer.Option(help="Cases at once (local processes, or Ray CPUs).")] = 1,
        engine: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
        ray_address: Annotated[
            str | None, typer.Option(help="Ray cluster to join (default: start a local Ray).")
        ] = None,
        seg_backend: Annotated[
            str, typer.Option(help="Segmentation backend: classical | totalsegmentator | sat | precomputed.")
        ] = "classical",
        space: Annotated[
            str, typer.Option(help="Label maps on the input grid (native) or SAT's grid (sat).")
        ] = "native",
        radgenome_layout: Annotated[
            bool, typer.Option("--radgenome-layout", help="Also write seg_<stem>/<name>.nii.gz (SAT space).")
        ] = False,
        reconstructions: Annotated[
            str, typer.Option(help="first (RadGenome: reconstruction 1 of each scan) or all.")
        ] = "first",
        split: Annotated[str, typer.Option(help="Split for VolumeNames not starting train_/valid_.")] = "train",
        text_only: Annotated[
            bool, typer.Option("--text-only", help="No imaging: build every report without masks.")
        ] = False,
        missing_volumes: Annotated[
            str, typer.Option(help="Reports without volumes: report (list them, default) or text (also build them "
                                   "without masks).")
        ] = "report",
        force: Annotated[bool, typer.Option("--force", help="Redo every case, even unchanged finished ones.")] = False,
        seed: Annotated[int, typer.Option(help="Seed for VQA question phrasing.")] = 0,
        precomputed_dir: Annotated[Path | None, typer.Option(help="precomputed backend: masks folder.")] = None,
        label_table: Annotated[Path | None, typer.Option(help="precomputed backend: label table.")] = None,
        seg_option: Annotated[
            list[str] | None, typer.Option(help="Extra backend option KEY=VALUE; repeatable.")
        ] = None,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
        max_voxels: Annotated[
            int, typer.Option(help="Refuse (per case, before decompressing) volumes declaring more voxels; "
                                   f"default {DEFAULT_MAX_VOXELS:,} = 512x512x2048.")
        ] = DEFAULT_MAX_VOXELS,
        *,
        text_backend: TextBackendChoice,
    ) -> None:
        """The whole pipeline over a corpus: masks, grounded reports, VQA, tables, report.html (resumable)."""
        from radgenome.pipeline.build import BuildOptions

        if out is None:
            raise typer.BadParameter("-o/--out OUT is required", param_hint="-o")
        if engine not in ("local", "ray"):
            raise typer.BadParameter("--engine must be local or ray")
        if space not in ("native", "sat"):
            raise typer.BadParameter("--space must be native or sat")
        if missing_volumes not in ("report", "text"):
            raise typer.BadParameter("--missing-volumes must be report or text")
        if reconstructions not in ("first", "all"):
            raise typer.BadParameter("--reconstructions must be first or all")
        if seg_backend == "precomputed" and precomputed_dir is None and not text_only:
            typer.echo("fatal: --seg-backend precomputed needs --precomputed-dir DIR", err=True)
            raise typer.Exit(1)
        if root is None and not reports:
            typer.echo("error: give a CT-RATE ROOT or --reports CSV", err=True)
            raise typer.Exit(1)
        opts = BuildOptions(
            out=out, root=root, reports=list(reports or []), volumes=list(volumes or []),
            metadata=list(metadata or []), workers=max(1, workers), engine=engine,  # type: ignore[arg-type]
            ray_address=ray_address, text_backend=text_backend.name, text_options=text_backend.options,
            seg_backend=seg_backend,
            seg_options=_seg_options(seg_backend, precomputed_dir, label_table, list(seg_option or [])),
            space=space, radgenome_layout=radgenome_layout,  # type: ignore[arg-type]
            reconstructions=reconstructions, split=split, text_only=text_only,  # type: ignore[arg-type]
            missing_volumes=missing_volumes, force=force, seed=seed,  # type: ignore[arg-type]
            max_voxels=max_voxels,
        )
        raise typer.Exit(_run(opts, progress=not no_progress).exit_code)

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option("-o", "--out", help="Folder for corpus/ and out/.")] = Path("radgenome_demo"),
        cases: Annotated[int, typer.Option(help="Number of phantom cases.")] = 6,
        workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
        seed: Annotated[int, typer.Option(help="Seed of the phantoms and reports.")] = 0,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    ) -> None:
        """Make a small synthetic CT-RATE-layout corpus (phantom CTs + matching reports) and build it."""
        from radgenome.model import OutputLayout
        from radgenome.pipeline.build import BuildOptions
        from radgenome.synth.corpus import make_demo_corpus

        corpus = out / "corpus"
        typer.echo(f"demo: writing {cases} phantom cases to {corpus} ...", err=True)
        make_demo_corpus(corpus, n_cases=cases, seed=seed)
        summary = _run(BuildOptions(out=out / "out", root=corpus, workers=max(1, workers), seed=seed),
                       progress=not no_progress)
        o = OutputLayout(out / "out")
        typer.echo(
            "\n".join([
                f"demo corpus (CT-RATE layout): {corpus / 'dataset'}",
                f"built dataset:                {o.root}",
                f"  RadGenome tables:           {o.tables_dir}",
                f"  label maps (+ .json):       {o.masks_dir}",
                f"  Parquet (grounded, QA):     {o.dataset_dir}",
                f"  per-case records:           {o.cases_dir}",
                f"  statistics report:          {o.report}",
                f"  manifest, log, summary:     {o.manifest}, {o.build_log}, {o.summary}",
                f"load it: datasets.load_dataset('parquet', data_files='{o.qa_pairs}')",
            ])
        )
        raise typer.Exit(summary.exit_code)


def _run(opts: BuildOptions, *, progress: bool) -> BuildSummary:
    """Run the build with a progress bar and the summary table on stderr; exits 1 (fatal) or 130 (Ctrl-C)."""
    from rich.console import Console

    from radgenome.pipeline.build import BuildError, run_build

    console = Console(stderr=True)
    try:
        with _RichProgress(console, enabled=progress) as bar:
            summary = run_build(opts, bar)
    except BuildError as exc:
        typer.echo(f"fatal: {exc}", err=True)
        raise typer.Exit(EXIT_FATAL) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/yellow] finished cases are kept; run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    print_summary(summary, console, opts.out)
    return summary


class _RichProgress:
    """A rich progress bar over the build's cases (and the text batches of a batched text backend)."""

    def __init__(self, console: Any, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.fields[name]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"))
        self.console = console
        self.bar = Progress(*columns, console=console, disable=not enabled, transient=False)
        self.task: Any = None
        self.text_task: Any = None
        self.status: Any = None

    def __enter__(self) -> _RichProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)
        self.bar.__exit__(None, None, None)

    def cases(self, total: int) -> None:
        self.task = self.bar.add_task("", total=total, name="build")

    def case_done(self, job: Any, outcome: Any, mean_seconds: dict[str, float]) -> None:
        means = " ".join(f"{s} {v:.2f}s" for s, v in mean_seconds.items())
        self.bar.update(self.task, advance=1, description=f"{job.stem} | mean {means}")

    def text_batch(self, done: int, total: int) -> None:
        if self.text_task is None:
            self.text_task = self.bar.add_task("", total=total, name="text")
        self.bar.update(self.text_task, completed=done)

    def finalizing(self) -> None:
        self.bar.stop()
        self.status = self.console.status("writing dataset tables")
        self.status.__enter__()


def print_summary(summary: BuildSummary, console: Any, out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from radgenome.model import OutputLayout

    t = Table(title="radgenome build", show_header=False)
    t.add_row("cases built", str(summary.done))
    t.add_row("cases unchanged (skipped)", str(summary.skipped))
    t.add_row("cases failed", str(summary.failed))
    t.add_row("reports without volumes", str(len(summary.reports_without_volumes)))
    t.add_row("volumes without reports", str(len(summary.volumes_without_reports)))
    if summary.skipped_reconstructions:
        t.add_row("later reconstructions left out", f"{summary.skipped_reconstructions} (named in the build log)")
    other = [i for i in summary.issues if i.kind not in ("report_without_volume", "volume_without_report")]
    t.add_row("other corpus issues", str(len(other)))
    t.add_row("mask status (grounded nodes)", ", ".join(f"{k} {v}" for k, v in summary.mask_status.items()))
    if summary.flags:
        t.add_row("consistency flags", ", ".join(f"{k} {v}" for k, v in summary.flags.items()))
    t.add_row("time per stage (s, total)", ", ".join(f"{k} {v:.2f}" for k, v in summary.seconds_per_stage.items()))
    t.add_row("total time (s)", f"{summary.seconds_total:.1f}")
    if summary.text_stats:
        from radgenome.text.cli import llm_line

        t.add_row("text backend (LLM)", llm_line(summary.text_stats))
    console.print(t)
    from radgenome.text.cli import say

    for notice in summary.notices:
        say(console, "note", "cyan", notice)
    if summary.text_problem:
        say(console, "text backend fell short", "red", summary.text_problem)
    problems = [(f.volume, f.reason) for f in summary.failures]
    problems += [(i.volume or "-", f"{i.kind}: {i.reason} [{i.source}]") for i in summary.issues]
    if problems:
        pt = Table(title="problems")
        pt.add_column("volume", overflow="fold")  # long names wrap, never end in an ellipsis
        pt.add_column("problem", overflow="fold")
        for v, reason in problems[:200]:
            pt.add_row(escape(v), escape(reason))
        console.print(pt)
        if len(problems) > 200:
            layout = OutputLayout(out)
            console.print(f"... {len(problems) - 200} more in {layout.summary} and {layout.build_log}")
