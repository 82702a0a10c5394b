"""Imaging commands for the ``radgenome`` CLI: ``segment`` and ``mask`` (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    """Add ``segment`` and ``mask`` to the main app."""

    @app.command()
    def segment(
        inputs: Annotated[list[Path], typer.Argument(help="NIfTI files, folders of them, or DICOM series folders.")],
        out: Annotated[Path, typer.Option("-o", "--out", help="Output folder for <stem>.nii.gz + <stem>.json.")],
        backend: Annotated[str, typer.Option(help="classical | totalsegmentator | sat | precomputed")] = "classical",
        space: Annotated[str, typer.Option(help="native (input grid) or sat (RAS 1x1x3 mm, body crop).")] = "native",
        workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
        metadata: Annotated[
            Path | None, typer.Option(help="CT-RATE metadata CSV (applied only to raw, non-HU volumes).")
        ] = None,
        precomputed_dir: Annotated[
            Path | None, typer.Option(help="precomputed: folder with seg_<stem>/, <stem>.nii.gz + table, ...")
        ] = None,
        label_table: Annotated[
            Path | None,
            typer.Option(help="precomputed: one label table (JSON {id: name} or TSV) for all cases."),
        ] = None,
        name_map: Annotated[str, typer.Option(help="precomputed: auto | totalseg | none.")] = "auto",
        task: Annotated[str, typer.Option(help="totalsegmentator: task.")] = "total",
        fast: Annotated[bool, typer.Option(help="totalsegmentator: 3 mm fast model.")] = False,
        device: Annotated[str, typer.Option(help="totalsegmentator: cpu | gpu | mps.")] = "cpu",
        sat_dir: Annotated[Path | None, typer.Option(help="sat: SAT checkout (with inference.py).")] = None,
        sat_checkpoint: Annotated[Path | None, typer.Option(help="sat: SAT model checkpoint.")] = None,
        sat_text_encoder: Annotated[Path | None, typer.Option(help="sat: text encoder checkpoint.")] = None,
        sat_backbone: Annotated[str, typer.Option(help="sat: UNET-L (SAT-Pro) or UNET (SAT-Nano).")] = "UNET-L",
        layout: Annotated[bool, typer.Option(help="Also write RadGenome's seg_<stem>/<name>.nii.gz layout.")] = False,
        dicom_series: Annotated[str, typer.Option(help="Folder with several DICOM series: error | largest.")] = "error",
        min_size: Annotated[int, typer.Option(help="Reject volumes with fewer voxels along an axis.")] = 16,
        force: Annotated[bool, typer.Option(help="Redo cases whose outputs exist.")] = False,
        max_voxels: Annotated[
            int, typer.Option(help="Refuse (per case, before decompressing) volumes declaring more voxels; "
                                   "default 536,870,912 = 512x512x2048.")
        ] = 512 * 512 * 2048,
    ) -> None:
        """Segment CT volumes into one label map + JSON sidecar per volume."""
        from radgenome.segmentation.run import run_segment

        if space not in ("native", "sat"):
            raise typer.BadParameter("--space must be native or sat")
        if backend == "precomputed" and precomputed_dir is None:
            typer.echo("fatal: --backend precomputed needs --precomputed-dir DIR", err=True)
            raise typer.Exit(1)
        if backend == "sat" and None in (sat_dir, sat_checkpoint, sat_text_encoder):
            typer.echo("fatal: --backend sat needs --sat-dir, --sat-checkpoint and --sat-text-encoder (paths to a "
                       "SAT checkout and checkpoints)", err=True)
            raise typer.Exit(1)
        if dicom_series not in ("error", "largest"):
            raise typer.BadParameter("--dicom-series must be error or largest")
        options: dict[str, Any] = {}
        if backend == "precomputed":
            options = {"source_dir": precomputed_dir, "label_table": label_table, "name_map": name_map}
        elif backend == "totalsegmentator":
            options = {"task": task, "fast": fast, "device": device}
        elif backend == "sat":
            options = {
                "sat_dir": sat_dir,
                "checkpoint": sat_checkpoint,
                "text_encoder_checkpoint": sat_text_encoder,
                "vision_backbone": sat_backbone,
            }
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from radgenome.segmentation.run import SegmentRunError

        console = Console(stderr=True)
        columns = (TextColumn("segment"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"))
        try:
            with Progress(*columns, console=console, transient=False) as bar:
                task = bar.add_task("", total=None)

                def progress(stem: str, done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total, description=stem)

                run = run_segment(
                    inputs,
                    out,
                    backend=backend,
                    options={k: v for k, v in options.items() if v is not None},
                    space=space,  # type: ignore[arg-type]
                    workers=workers,
                    metadata=metadata,
                    force=force,
                    min_voxels=min_size,
                    dicom_series=dicom_series,  # type: ignore[arg-type]
                    layout=layout,
                    progress=progress,
                    max_voxels=max_voxels,
                )
        except SegmentRunError as exc:
            typer.echo(f"fatal: {exc}", err=True)
            raise typer.Exit(1) from None
        console.print(
            f"segment: {run.count('done')} done, {run.count('skipped')} skipped, {run.count('failed')} failed -> {out}"
        )
        if run.failed:
            table = Table(title="failed cases", show_lines=False)
            table.add_column("case", overflow="fold")  # a long path wraps, never ends in an ellipsis
            table.add_column("reason", overflow="fold")
            for r in run.failed:
                table.add_row(escape(r.case), escape(r.message))
            console.print(table)
            raise typer.Exit(3)

    @app.command()
    def mask(
        labelmap: Annotated[Path, typer.Argument(help="A segment output <stem>.nii.gz (sidecar JSON next to it).")],
        path: Annotated[str, typer.Argument(help="Node, RadGenome path (lung/lung/left lung) or top-level region.")],
        out: Annotated[Path, typer.Option("-o", "--out", help="Output binary mask .nii.gz.")],
    ) -> None:
        """Write the binary mask of a hierarchy node / region (union of its structures)."""
        from rich.console import Console

        from radgenome.anatomy import UnknownNodeError
        from radgenome.regions import NotAMaskError
        from radgenome.segmentation.io import write_region_mask

        console = Console(stderr=True)
        try:
            written = write_region_mask(labelmap, path, out)
        except (NotAMaskError, UnknownNodeError, ValueError) as exc:
            where = "" if str(labelmap) in str(exc) or isinstance(exc, NotAMaskError | UnknownNodeError) else (
                f"{labelmap}: ")
            typer.echo(f"fatal: {where}{exc}", err=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            where = exc.filename if exc.filename is not None else out
            typer.echo(f"fatal: {where}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        console.print(f"{path}: {written.status}, {written.voxels} voxels -> {written.path}")
