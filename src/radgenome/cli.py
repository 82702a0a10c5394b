"""The ``radgenome`` command line: a thin typer app; each area registers its commands from its own ``cli.py``
(parsing, printing and exit codes live only in ``cli.py`` modules; the work is a library call)."""

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


@app.command("example-reports")
def example_reports(
    out: Annotated[Path, typer.Option("-o", "--out", help="CSV to write (CT-RATE columns).")] = Path(
        "demo/reports.csv"
    ),
    n: Annotated[int, typer.Option("-n", help="Number of reports.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (report i depends only on seed and i).")] = 0,
    prefix: Annotated[str, typer.Option(help="VolumeName prefix: train or valid.")] = "train",
    quirk_rate: Annotated[float, typer.Option(help="Rate of CT-RATE quirks (decimals, missing spaces, ...).")] = 0.1,
) -> None:
    """Write generated CT-RATE-style reports with known truth (CSV + truth JSONL beside it)."""
    from radgenome.synth.reports import generate_reports, write_reports_csv, write_truth_jsonl

    reports = generate_reports(n, seed=seed, volume_prefix=prefix, quirk_rate=quirk_rate)
    write_reports_csv(reports, out)
    truth = out.with_suffix(".truth.jsonl")
    write_truth_jsonl(reports, truth)
    typer.echo(f"wrote {len(reports)} reports to {out} and their truth to {truth}")


def _register_subcommands() -> None:
    from radgenome.audit.cli import register as register_audit
    from radgenome.eval.cli import register as register_eval
    from radgenome.pipeline.cli import register as register_build
    from radgenome.review.cli import register as register_review
    from radgenome.segmentation.cli import register as register_imaging
    from radgenome.text.cli import register as register_text

    register_text(app)  # text
    register_imaging(app)  # segment, mask
    register_build(app)  # build, demo
    register_review(app)  # review (serve, add-user, stats), export-verified
    register_audit(app)  # audit
    register_eval(eval_app)  # eval grounding, labels, agreement, vqa, negations, seg


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    app()
