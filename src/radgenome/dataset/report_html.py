"""``OUT/report.html``: one self-contained page of build statistics and plots (jinja2 + matplotlib Agg)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from radgenome.atomic import atomic_write_text
from radgenome.dataset.report_stats import compute_stats
from radgenome.pipeline.record import CaseRecord

REPORT_FILE = "report.html"
FIRST_FLAGS = 50
_COUNTS = frozenset({"done", "failed", "skipped"})


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("radgenome.dataset").joinpath("data", name).read_text("utf-8")
        ),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_report(out: Path, records: Sequence[CaseRecord], summary: Mapping[str, Any]) -> str:
    from radgenome import __version__
    from radgenome.dataset.report_plots import all_plots

    stats = compute_stats(Path(out), records, summary, first_flags=FIRST_FLAGS)
    template = _environment().get_template("report.html.j2")
    return template.render(
        stats=stats,
        plots=all_plots(stats),
        out=str(out),
        version=__version__,
        generated=str(summary.get("finished") or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        summary_extra={k: v for k, v in summary.items() if isinstance(v, str | int | float) and k not in _COUNTS},
        first_flags=FIRST_FLAGS,
    )


def write_report(out: Path, records: Sequence[CaseRecord], summary: dict[str, Any]) -> Path:
    """Write ``OUT/report.html`` atomically; ``summary`` may hold ``done``/``failed``/``skipped`` (counts, or
    lists of cases with reasons), ``orphans``, ``stage_seconds``, ``seed`` — every key is optional."""
    out = Path(out)
    html = render_report(out, records, summary or {})
    path = out / REPORT_FILE
    atomic_write_text(path, html)
    return path
