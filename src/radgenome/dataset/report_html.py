"""``OUT/report.html``: one self-contained page of build statistics and plots (jinja2 + matplotlib Agg)."""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from pathlib import Path

import jinja2

from radgenome.atomic import atomic_write_text
from radgenome.dataset.report_stats import ReportStats
from radgenome.model import BuildSummary, OutputLayout

FIRST_FLAGS = 50


def template_environment(package: str) -> jinja2.Environment:
    """Autoescaping, strict Jinja2 templates from ``<package>/data/`` (the build's and the audit's HTML reports)."""
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files(package).joinpath("data", name).read_text("utf-8")
        ),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_report(out: Path, stats: ReportStats, summary: BuildSummary) -> str:
    from radgenome import __version__
    from radgenome.dataset.report_plots import all_plots

    template = template_environment("radgenome.dataset").get_template("report.html.j2")
    return template.render(
        stats=stats,
        plots=all_plots(stats),
        out=str(out),
        version=__version__,
        generated=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        summary_extra={
            "cases": summary.cases,
            "records": summary.records,
            "skipped_reconstructions": summary.skipped_reconstructions,
            "seconds_cases": summary.seconds_cases,
            "seconds_finalize": summary.seconds_finalize,
        },
        first_flags=FIRST_FLAGS,
    )


def write_report(out: Path, stats: ReportStats, summary: BuildSummary) -> Path:
    """Write ``OUT/report.html`` atomically."""
    path = OutputLayout(out).report
    atomic_write_text(path, render_report(Path(out), stats, summary))
    return path
