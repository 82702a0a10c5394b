"""The ``radgenome`` command line: a thin typer app; each area registers its commands from its own ``cli.py``
(parsing, printing and exit codes live only in ``cli.py`` modules; the work is a library call).

Errors: a command that meets a fatal condition prints one ``fatal: <path>: <reason>`` line and exits 1. Anything a
command did not expect is caught here, at the top, and printed the same way (:func:`fatal_text`) — no traceback
reaches the user unless they ask for it with the global ``--debug`` (``radgenome --debug build ...``, or
``RADGENOME_DEBUG=1``). Ctrl-C exits 130.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

EXIT_FATAL = 1
EXIT_INTERRUPTED = 130
DEBUG_ENV = "RADGENOME_DEBUG"


_DEBUG = False
"""Set by the main callback from ``--debug`` (one CLI invocation per process)."""


def debug_enabled() -> bool:
    """Whether the user asked for tracebacks (``--debug`` on the main command, or ``RADGENOME_DEBUG=1``)."""
    return _DEBUG or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _control_flow() -> tuple[type[BaseException], ...]:
    """The exceptions typer (and the click it uses or vendors) raise to exit, abort or report a usage error: they
    are not failures of ours."""
    usage = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return (typer.Exit, typer.Abort, usage)


def fatal_text(exc: BaseException) -> str:
    """One line naming the path (when the error has one) and the reason, for a ``fatal:`` message."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "no space left on device"
        where = exc.filename if exc.filename is not None else None
        if exc.filename2 is not None:
            where = f"{exc.filename} -> {exc.filename2}"
        return f"{where}: {reason}" if where is not None else reason
    if isinstance(exc, sqlite3.DatabaseError):
        return f"database error: {exc}"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ValueError | LookupError | RuntimeError) and text and type(exc).__module__.startswith(
        "radgenome"
    ):
        return text  # our own errors name the path and the reason
    return f"unexpected {type(exc).__name__}: {text} (run with --debug for the traceback)"


class MainGroup(TyperGroup):
    """The main command group: turns any error a command lets through into one ``fatal:`` line (exit 1)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _control_flow():
            raise
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if debug_enabled():
                raise
            typer.echo(f"fatal: {fatal_text(exc)}", err=True)
            raise typer.Exit(EXIT_FATAL) from None


app = typer.Typer(
    name="radgenome",
    cls=MainGroup,
    help="Build RadGenome-Chest CT-style grounded vision-language datasets from chest CTs and their reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
eval_app = typer.Typer(help="Score outputs against gold files.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the traceback of an error (also {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """radgenome command line."""
    global _DEBUG
    _DEBUG = debug


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
    truth = out.with_suffix(".truth.jsonl")
    try:
        write_reports_csv(reports, out)
        write_truth_jsonl(reports, truth)
    except OSError as exc:
        if debug_enabled():
            raise
        typer.echo(f"fatal: {fatal_text(exc)}", err=True)
        raise typer.Exit(EXIT_FATAL) from None
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
