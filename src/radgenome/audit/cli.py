"""``radgenome audit``: check RadGenome's published tables against their reports; ``register(app)`` adds it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def audit(
    release: Annotated[
        Path, typer.Argument(help="Folder with RadGenome's released tables ({split}_vqa_*.csv, {split}_region_report"
                                  "*.csv, {split}_case_disorders.csv).")
    ],
    reports: Annotated[Path, typer.Option("--reports", help="CT-RATE reports CSV (VolumeName, Findings_EN, ...).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
    review: Annotated[
        bool, typer.Option("--review", help="Also write contradicted and unsupported rows as a review queue CSV.")
    ] = False,
    show: Annotated[int, typer.Option(help="Print this many problems (unreadable rows, missing reports).")] = 20,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")] = False,
) -> None:
    """Audit and repair RadGenome's published tables against their reports: a verdict for every row,
    corrected tables, changes.csv, audit.html (exit 3 when some rows could not be read)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from radgenome.audit import AuditInputError, run_audit

    console = Console(stderr=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("auditing rows", total=None)
            result = run_audit(release, reports, out, review=review,
                               progress=lambda _stage, done, total: bar.update(task, completed=done, total=total))
    except AuditInputError as exc:
        typer.echo(f"fatal: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except OSError as exc:
        if debug:
            raise
        typer.echo(f"fatal: {exc.filename or out}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        if debug:
            raise
        typer.echo(f"fatal: {out}: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                   err=True)
        raise typer.Exit(1) from None
    s = result.summary
    order = ("supported", "contradicted", "unsupported", "not_checked")
    width = max([len(n) for n in s["files"]] + [4])
    heads = (*order, "removed", "fixed", "added")
    typer.echo(f"{'file':<{width}}  " + "  ".join(f"{h:>12}" for h in heads))
    for name, d in s["files"].items():
        t = s["tables"].get(name, {})
        cells = [*(d["verdicts"][v] for v in order), *(t.get(k, "") for k in ("removed", "fixed", "added"))]
        typer.echo(f"{name:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    total = [*(s["verdicts"][v] for v in order), "", "", s["added_negatives"]]
    typer.echo(f"{'all':<{width}}  " + "  ".join(f"{c:>12}" for c in total))
    v = s["volumes"]
    typer.echo(f"{v['in_release']} volumes: {v['with_report']} with a report ({v['with_findings']} with findings), "
               f"{v['without_report']} without (their rows not_checked, listed in summary.json)")
    typer.echo(f"wrote {out}/audit.csv, changes.csv, audit.html, summary.json, radgenome_files/"
               + (f", review_queue.csv ({s['review_queue']['items']} items)" if s.get("review_queue") else ""))
    if result.problems:
        typer.echo(f"{len(result.problems)} problem(s): rows or files that could not be read", err=True)
        for problem in result.problems[:show]:
            typer.echo(f"  {problem}", err=True)
        if len(result.problems) > show:
            typer.echo(f"  ... and {len(result.problems) - show} more in summary.json", err=True)
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command()(audit)
