"""``OUT/audit.html``: one self-contained page — counts per file, verdict, reason and region, plots, examples
with their evidence sentences, volumes without a report, rows that could not be read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from radgenome.atomic import atomic_path
from radgenome.audit.tally import Tally, verdict_order
from radgenome.dataset.report_html import template_environment

VERDICT_COLOURS = {
    "contradicted": "#c4463a",
    "unsupported": "#e0b02c",
    "not_checked": "#9e9e9e",
    "supported": "#4a9d5b",
}
TOP_REASONS = 12
LISTED_VOLUMES = 200


def _plots(summary: Mapping[str, Any]) -> dict[str, str | None]:
    from radgenome.dataset.report_plots import PALETTE, hbar, stacked

    order = verdict_order()

    def by_verdict(counts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        return {k: {v: int(c.get(v, 0)) for v in order} for k, c in counts.items()}

    files = by_verdict({f: d["verdicts"] for f, d in summary["files"].items()})
    regions = by_verdict(summary["regions"])
    return {
        "files": stacked(files, "released rows", VERDICT_COLOURS),
        "regions": stacked(regions, "released rows (by the row's top-level region)", VERDICT_COLOURS),
        "contradicted": hbar(dict(list(summary["reasons"]["contradicted"].items())[:TOP_REASONS]),
                             "contradicted rows by reason", colour=PALETTE[3]),
        "unsupported": hbar(dict(list(summary["reasons"]["unsupported"].items())[:TOP_REASONS]),
                            "unsupported rows by reason", colour="#e0b02c"),
    }


def render_audit_html(summary: Mapping[str, Any], tally: Tally) -> str:
    order = verdict_order()
    return template_environment("radgenome.audit").get_template("audit.html.j2").render(
        summary=summary,
        order=order,
        colours=VERDICT_COLOURS,
        plots=_plots(summary),
        examples={v: tally.examples(v) for v in order},
        added=tally.added_examples(),
        file_reasons={
            f: sorted(((v, r, n) for (v, r), n in c.items()), key=lambda t: (order.index(t[0]), -t[2], t[1]))
            for f, c in sorted(tally.file_reasons.items())
        },
        listed_volumes=LISTED_VOLUMES,
    )


def write_audit_html(path: Path, summary: Mapping[str, Any], tally: Tally) -> Path:
    text = render_audit_html(summary, tally)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
