"""The ``radgenome`` command line: a thin typer app, one function call per command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="radgenome",
    help="Build RadGenome-Chest CT-style grounded vision-language datasets from chest CTs and their reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
eval_app = typer.Typer(help="Score outputs against gold files.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@app.callback()
def _main() -> None:
    """radgenome command line."""


@app.command()
def text(
    reports: Annotated[Path, typer.Argument(help="CT-RATE-style reports CSV (VolumeName, Findings_EN, ...).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    backend: Annotated[str, typer.Option(help="Text backend: rules.")] = "rules",
    split: Annotated[str, typer.Option(help="Split prefix for VolumeNames not starting train_/valid_.")] = "train",
) -> None:
    """Text stages only: sentences -> regions -> findings -> VQA rows -> labels."""
    from radgenome.text.run import run_text_command

    raise typer.Exit(run_text_command(reports, out, backend=backend, split=split))


@eval_app.command("grounding")
def eval_grounding(
    gold: Annotated[Path, typer.Argument(help="Gold region rows: Volumename,Anatomy,Sentence.")],
    pred: Annotated[Path, typer.Argument(help="Predicted region_report CSV, or a `radgenome text` output folder.")],
    show: Annotated[int, typer.Option(help="Print this many disagreements.")] = 0,
) -> None:
    """Sentence-level grounding P/R/F1 over the (volume, region) pairs of the gold file."""
    from radgenome.eval.grounding import run_grounding_eval

    raise typer.Exit(run_grounding_eval(gold, pred, show=show))


@eval_app.command("labels")
def eval_labels(
    gold: Annotated[
        Path, typer.Argument(help="Gold labels CSV (18 CT-RATE label columns; report_text or VolumeName).")
    ],
    pred: Annotated[
        Path | None, typer.Argument(help="Predicted abnormality_labels CSV (omit to label the gold's report_text).")
    ] = None,
) -> None:
    """Per-label and macro P/R/F1 of the 18 CT-RATE abnormality labels."""
    from radgenome.eval.labels import run_labels_eval

    raise typer.Exit(run_labels_eval(gold, pred))


# imaging commands (segment, mask, eval seg) register themselves here
def _register_optional() -> None:
    try:
        from radgenome.segment.cli import register
    except ModuleNotFoundError as exc:  # pragma: no cover - only while the module is being written
        if exc.name != "radgenome.segment.cli":
            raise
        return
    register(app, eval_app)


_register_optional()


if __name__ == "__main__":  # pragma: no cover
    app()
