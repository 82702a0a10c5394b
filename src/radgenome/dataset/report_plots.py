"""Matplotlib (Agg) figures of ``report.html``, returned as base64 PNG data URIs (the page stays one file)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from radgenome.dataset.report_stats import ReportStats

PALETTE = ("#2f6db5", "#e08a2c", "#4a9d5b", "#c4463a", "#8064a2", "#7f7f7f")
MAX_POINTS = 400
STATUS_COLOURS = {
    "ok": "#4a9d5b",
    "empty": "#c4463a",
    "outside_fov": "#e0b02c",
    "no_structure": "#9e9e9e",
    "not_segmented": "#cfcfcf",
}


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure on its own Agg canvas (no pyplot: no global backend state, thread-safe)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def hbar(values: Mapping[str, float], xlabel: str, *, colour: str = PALETTE[0], fmt: str = "{:g}") -> str | None:
    if not values:
        return None
    labels = list(values)[::-1]
    nums = [values[k] for k in labels]
    fig, ax = _figure(6.4, 0.32 * len(labels) + 0.9)
    bars = ax.barh(labels, nums, color=colour)
    ax.bar_label(bars, labels=[fmt.format(v) for v in nums], padding=3, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    _style(ax)
    return _uri(fig)


def stacked(
    rows: Mapping[str, Mapping[str, int]], xlabel: str, colours: Mapping[str, str] | None = None
) -> str | None:
    """Horizontal bars per row, stacked by the inner keys."""
    rows = {k: v for k, v in rows.items() if sum(v.values())}
    if not rows:
        return None
    labels = list(rows)[::-1]
    keys: list[str] = list(dict.fromkeys(k for v in rows.values() for k in v))
    fig, ax = _figure(6.4, 0.36 * len(labels) + 1.0)
    left = [0.0] * len(labels)
    for i, key in enumerate(keys):
        nums = [float(rows[label].get(key, 0)) for label in labels]
        colour = (colours or {}).get(key, PALETTE[i % len(PALETTE)])
        ax.barh(labels, nums, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, nums, strict=True)]
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:g}", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.12)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    _style(ax)
    return _uri(fig)


def boxes(values: Mapping[str, Sequence[float]], xlabel: str) -> str | None:
    if not values:
        return None
    labels = list(values)[::-1]
    fig, ax = _figure(6.4, 0.36 * len(labels) + 0.9)
    ax.boxplot(
        [list(values[k]) for k in labels],
        orientation="horizontal",
        widths=0.6,
        patch_artist=True,
        boxprops={"facecolor": "#cfe0f3", "edgecolor": PALETTE[0]},
        medianprops={"color": PALETTE[1]},
    )
    for y, label in enumerate(labels, 1):
        if len(values[label]) > MAX_POINTS:
            continue  # the box says enough; thousands of dots only slow the page down
        ax.scatter(values[label], [y] * len(values[label]), s=8, color=PALETTE[0], alpha=0.6, zorder=3)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    _style(ax)
    return _uri(fig)


def all_plots(stats: ReportStats) -> dict[str, str | None]:
    rates = {r: 100.0 * rate for r in stats.volumes_per_region if (rate := stats.abnormal_rate(r)) is not None}
    return {
        "volumes": hbar(
            {
                "in the dataset": stats.n_records,
                "built this run": stats.n_done,
                "unchanged / skipped": stats.n_skipped,
                "failed": stats.n_failed,
                "orphans / issues": len(stats.orphans),
            },
            "volumes",
            colour=PALETTE[0],
        ),
        "sentences": hbar(stats.sentences_per_region, "grounded sentences (a sentence counts in each of its regions)"),
        "abnormal": hbar(rates, "volumes with a stated abnormality (%)", colour=PALETTE[3], fmt="{:.0f}%"),
        "vqa": stacked(stats.qa_per_kind, "QA pairs"),
        "mask_ml": boxes(stats.mask_ml, "mask volume per case (ml, log scale)"),
        "mask_status": stacked({"linked nodes": stats.mask_status}, "grounded nodes", STATUS_COLOURS),
        "timing": hbar(
            {k: v["mean"] for k, v in stats.stage_seconds.items()},
            "mean seconds per case",
            colour=PALETTE[2],
            fmt="{:.2f}",
        ),
    }
