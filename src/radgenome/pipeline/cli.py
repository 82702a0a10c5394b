"""``radgenome build`` and ``radgenome demo`` (added to the main app by ``register(app)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _backend_options(
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
        backend: Annotated[str, typer.Option(help="classical | totalsegmentator | sat | precomputed")] = "classical",
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
    ) -> None:
        """The whole pipeline over a corpus: masks, grounded reports, VQA, tables, report.html (resumable)."""
        from radgenome.pipeline.build import BuildOptions, run_build

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
        if root is None and not reports:
            typer.echo("error: give a CT-RATE ROOT or --reports CSV", err=True)
            raise typer.Exit(1)
        opts = BuildOptions(
            out=out, root=root, reports=list(reports or []), volumes=list(volumes or []),
            metadata=list(metadata or []), workers=max(1, workers), engine=engine,  # type: ignore[arg-type]
            ray_address=ray_address, backend=backend,
            backend_options=_backend_options(backend, precomputed_dir, label_table, list(seg_option or [])),
            space=space, radgenome_layout=radgenome_layout,  # type: ignore[arg-type]
            reconstructions=reconstructions, split=split, text_only=text_only,  # type: ignore[arg-type]
            missing_volumes=missing_volumes, force=force, seed=seed, progress=not no_progress,  # type: ignore[arg-type]
        )
        raise typer.Exit(run_build(opts).exit_code)

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option("-o", "--out", help="Folder for corpus/ and out/.")] = Path("radgenome_demo"),
        cases: Annotated[int, typer.Option(help="Number of phantom cases.")] = 6,
        workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
        seed: Annotated[int, typer.Option(help="Seed of the phantoms and reports.")] = 0,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    ) -> None:
        """Make a small synthetic CT-RATE-layout corpus (phantom CTs + matching reports) and build it."""
        from radgenome.pipeline.build import BuildOptions, run_build
        from radgenome.synth.corpus import make_demo_corpus

        corpus = out / "corpus"
        typer.echo(f"demo: writing {cases} phantom cases to {corpus} ...", err=True)
        make_demo_corpus(corpus, n_cases=cases, seed=seed)
        result = run_build(BuildOptions(out=out / "out", root=corpus, workers=max(1, workers), seed=seed,
                                        progress=not no_progress))
        o = out / "out"
        typer.echo(
            "\n".join([
                f"demo corpus (CT-RATE layout): {corpus / 'dataset'}",
                f"built dataset:                {o}",
                f"  RadGenome tables:           {o / 'radgenome_files'}",
                f"  label maps (+ .json):       {o / 'masks'}",
                f"  Parquet (grounded, QA):     {o / 'dataset'}",
                f"  per-case records:           {o / 'cases'}",
                f"  statistics report:          {o / 'report.html'}",
                f"  manifest, log, summary:     {o / 'manifest.sqlite'}, {o / 'build.log'}, {o / 'summary.json'}",
                f"load it: datasets.load_dataset('parquet', data_files='{o / 'dataset'}/qa_pairs.parquet')",
            ])
        )
        raise typer.Exit(result.exit_code)
