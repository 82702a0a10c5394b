"""``radgenome eval ...``: score outputs against gold files and print the results (the scorers live beside this
module and return typed results)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from radgenome.eval.agreement import AgreementReport


def register(eval_app: typer.Typer) -> None:
    """Add the scorers to ``radgenome eval``."""

    @eval_app.command("grounding")
    def eval_grounding(
        gold: Annotated[Path, typer.Argument(help="Gold region rows: Volumename,Anatomy,Sentence.")],
        pred: Annotated[
            Path, typer.Argument(help="Predicted region_report CSV, or a `radgenome text` output folder.")
        ],
        show: Annotated[int, typer.Option(help="Print this many disagreements.")] = 0,
    ) -> None:
        """Sentence-level grounding P/R/F1 over the (volume, region) pairs of the gold file."""
        raise typer.Exit(_grounding(gold, pred, show=show))

    @eval_app.command("labels")
    def eval_labels(
        gold: Annotated[
            Path, typer.Argument(help="Gold labels CSV (18 CT-RATE label columns; report_text or VolumeName).")
        ],
        pred: Annotated[
            Path | None,
            typer.Argument(help="Predicted abnormality_labels CSV (omit to label the gold's report_text)."),
        ] = None,
    ) -> None:
        """Per-label and macro P/R/F1 of the 18 CT-RATE abnormality labels."""
        raise typer.Exit(_labels(gold, pred))

    @eval_app.command("agreement")
    def eval_agreement(
        a: Annotated[Path, typer.Argument(help="First `radgenome text` output folder (e.g. rules).")],
        b: Annotated[Path, typer.Argument(help="Second output folder (e.g. llm).")],
        out: Annotated[
            Path | None, typer.Option("-o", "--out", help="Write the disagreeing sentences here (CSV).")
        ] = None,
    ) -> None:
        """Agreement between two text outputs per region, node and finding; disagreements as a review queue."""
        raise typer.Exit(_agreement(a, b, out))

    @eval_app.command("vqa")
    def eval_vqa(
        gold: Annotated[
            Path, typer.Argument(help="Folder with RadGenome's *_vqa_{abnormality,presence,size}.csv.")
        ],
        pred: Annotated[Path, typer.Argument(help="A `radgenome text`/`build` output folder.")],
    ) -> None:
        """Agreement with RadGenome's VQA rows: abnormal region sets, stated negatives, sizes."""
        raise typer.Exit(_vqa(gold, pred))

    @eval_app.command("negations")
    def eval_negations(
        out: Annotated[
            Path, typer.Argument(help="A `radgenome text`/`build` output folder (or its sentences.parquet).")
        ],
        show: Annotated[int, typer.Option(help="Print this many violations.")] = 20,
    ) -> None:
        """Audit stated negatives emitted as abnormalities (exit 3 when any is found)."""
        raise typer.Exit(_negations(out, show=show))

    @eval_app.command("seg")
    def eval_seg(
        pred: Annotated[Path, typer.Argument(help="Predicted label map (segment output).")],
        ref: Annotated[Path, typer.Argument(help="Reference label map.")],
        map_: Annotated[
            list[str] | None,
            typer.Option(
                "--map", "--labels-map", help="Reference ids to names: '1=right lung,2=left lung', '1+2=lung'."
            ),
        ] = None,
    ) -> None:
        """Dice per structure (by name when known, else by label id)."""
        raise typer.Exit(_seg(pred, ref, map_))


# --------------------------------------------------------------------------------------------------- grounding
def _grounding(gold: Path, pred: Path, show: int = 0) -> int:
    from rich.console import Console
    from rich.table import Table

    from radgenome.anatomy import TOP_LEVEL_REGIONS
    from radgenome.eval.grounding import format_rows, load_predictions, read_region_rows, score_grounding

    console = Console()
    try:
        score = score_grounding(read_region_rows(gold), load_predictions(pred))
    except (OSError, csv.Error) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    table = Table(title="Grounding (sentence triples over the gold's volume-region pairs)")
    for col in ("region", "precision", "recall", "F1", "gold sentences"):
        table.add_column(col)
    for row in format_rows(score, TOP_LEVEL_REGIONS):
        table.add_row(*row)
    table.add_row("micro", f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}",
                  str(score.tp + score.fn), style="bold")
    console.print(table)
    p, r, f = score.placed_prf()
    console.print(
        f"{score.fp_unplaced} of {score.fp} false positives are sentences the gold places in no region of that "
        f"volume (gold omissions); without them: P {p:.3f} R {r:.3f} F1 {f:.3f}"
    )
    if show:
        console.print(f"[bold]first {show} false positives[/bold]")
        for t in score.false_positives[:show]:
            console.print(f"  FP {t[0]} [{t[1]}] {t[2]}")
        console.print(f"[bold]first {show} false negatives[/bold]")
        for t in score.false_negatives[:show]:
            console.print(f"  FN {t[0]} [{t[1]}] {t[2]}")
    return 0


# ------------------------------------------------------------------------------------------------------ labels
def _labels(gold: Path, pred: Path | None = None) -> int:
    """Exit 0 ok, 1 nothing to score, 2 bad input."""
    from rich.console import Console
    from rich.table import Table

    from radgenome.eval.labels import LabelInputError, evaluate_labels

    try:
        ev = evaluate_labels(gold, pred)
    except (LabelInputError, OSError, ValueError, csv.Error) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    scores = ev.scores
    table = Table(title=f"18 CT-RATE labels: {ev.source} vs {gold.name} ({scores.n} reports)")
    for col in ("label", "support", "tp", "fp", "fn", "P", "R", "F1"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for s in scores.per_label:
        table.add_row(s.label, str(s.support), str(s.tp), str(s.fp), str(s.fn),
                      f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}")
    m = scores.micro
    table.add_section()
    table.add_row("micro", str(m.support), str(m.tp), str(m.fp), str(m.fn),
                  f"{m.precision:.3f}", f"{m.recall:.3f}", f"{m.f1:.3f}")
    table.add_row("macro", "", "", "", "", f"{scores.macro_precision:.3f}", f"{scores.macro_recall:.3f}",
                  f"{scores.macro_f1:.3f}")
    Console().print(table)
    if pred is not None:
        typer.echo(f"joined {ev.joined} of {ev.gold_rows} gold rows on VolumeName; {ev.unjoined} could not be joined")
    typer.echo(f"macro-F1 {scores.macro_f1:.4f}  micro-F1 {scores.micro_f1:.4f}  n={scores.n}")
    return 0 if scores.n else 1


# --------------------------------------------------------------------------------------------------- agreement
def _agreement(a: Path, b: Path, out: Path | None = None) -> int:
    """Print agreement, write the review queue."""
    from radgenome.eval.agreement import compare, read_sentences, write_queue

    try:
        rows_a, rows_b = read_sentences(Path(a)), read_sentences(Path(b))
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    rep = compare(rows_a, rows_b)
    _print_agreement(rep, Path(a), Path(b))
    if out is not None:
        write_queue(rep.queue, Path(out))
        typer.echo(f"review queue: {out} ({len(rep.queue)} rows)")
    return 0


def _fmt(x: float, pct: bool = False) -> str:
    if math.isnan(x):
        return "n/a"
    x = round(x, 1 if pct else 3) + 0.0  # no "-0.000"
    return f"{x:.1f}%" if pct else f"{x:.3f}"


def _print_agreement(rep: AgreementReport, a: Path, b: Path, top_nodes: int = 25) -> None:
    from radgenome.eval.agreement import POLARITIES

    p = typer.echo
    p(f"A: {a}\nB: {b}")
    p(
        f"sentences matched: {rep.matched}  only in A: {rep.only_a}  only in B: {rep.only_b}  "
        f"text differs: {rep.text_differs}"
    )
    if not rep.matched:
        return
    p(
        f"same finest nodes: {_fmt(100 * rep.exact_nodes / rep.matched, True)}   "
        f"same findings: {_fmt(100 * rep.exact_findings / rep.matched, True)}"
    )
    p("\nper top-level region (sentence-level)")
    p(f"  {'region':<22}{'A':>7}{'B':>7}{'both':>7}{'agree':>9}{'kappa':>8}")
    for r, agg in rep.regions.items():
        p(
            f"  {r:<22}{agg.both + agg.only_a:>7}{agg.both + agg.only_b:>7}{agg.both:>7}"
            f"{_fmt(agg.percent, True):>9}{_fmt(agg.kappa):>8}"
        )
    worst = sorted(rep.nodes.values(), key=lambda g: (-(g.only_a + g.only_b), g.label))[:top_nodes]
    p(f"\nper node (with ancestors), {len(rep.nodes)} nodes; the {len(worst)} with most disagreements")
    p(f"  {'node':<40}{'A':>7}{'B':>7}{'both':>7}{'agree':>9}{'kappa':>8}")
    for g in worst:
        p(
            f"  {g.label[:39]:<40}{g.both + g.only_a:>7}{g.both + g.only_b:>7}{g.both:>7}"
            f"{_fmt(g.percent, True):>9}{_fmt(g.kappa):>8}"
        )
    p(
        f"\nfindings: phrases both {rep.phrases_both}, only A {rep.phrases_only_a}, only B {rep.phrases_only_b}, "
        f"phrase F1 {_fmt(rep.phrase_f1)}, polarity agreement on shared phrases {_fmt(rep.polarity_agreement)}"
    )
    p("  polarity A\\B  " + "".join(f"{q:>11}" for q in POLARITIES))
    for pa in POLARITIES:
        p(f"  {pa:<13}" + "".join(f"{rep.polarity[(pa, pb)]:>11}" for pb in POLARITIES))
    p(f"\ndisagreeing sentences: {len(rep.queue)}")


# --------------------------------------------------------------------------------------------------------- vqa
def _vqa(gold_dir: Path, pred_dir: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from radgenome.anatomy import TOP_LEVEL_REGIONS
    from radgenome.eval.vqa_agreement import compare

    console = Console()
    try:
        res = compare(gold_dir, pred_dir)
    except (OSError, KeyError, csv.Error) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    console.print(f"{res.volumes} volumes in both")
    for title, agg in (
        ("abnormal top-level regions per volume (ours vs theirs)", res.abnormal),
        ("top-level regions with stated negatives per volume", res.negatives),
    ):
        table = Table(title=title)
        for col in ("region", "both", "ours only", "theirs only", "P", "R", "F1"):
            table.add_column(col)
        for region in TOP_LEVEL_REGIONS:
            c = agg.per_region.get(region)
            if not c:
                continue
            p, r, f = agg.prf(c["tp"], c["fp"], c["fn"])
            table.add_row(region, str(c["tp"]), str(c["fp"]), str(c["fn"]), f"{p:.3f}", f"{r:.3f}", f"{f:.3f}")
        p, r, f = agg.prf(agg.tp, agg.fp, agg.fn)
        table.add_row("micro", str(agg.tp), str(agg.fp), str(agg.fn), f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", style="bold")
        console.print(table)
    for name, agg in (("abnormal", res.abnormal_paths), ("stated-negative", res.negatives_paths)):
        p, r, f = agg.prf(agg.tp, agg.fp, agg.fn)
        console.print(f"{name} paths at every level: both {agg.tp}, ours only {agg.fp}, theirs only {agg.fn} "
                      f"(P {p:.3f} R {r:.3f} F1 {f:.3f})")
    console.print(
        f"sizes (mm, per volume): both {res.sizes_tp}, ours only {res.sizes_ours_only}, "
        f"theirs only {res.sizes_theirs_only}; their size strings we cannot read: {len(res.theirs_unparsed_sizes)}"
        + (f" (e.g. {', '.join(repr(s) for s in res.theirs_unparsed_sizes[:5])})" if res.theirs_unparsed_sizes else "")
    )
    top = ", ".join(f"{p} ({n})" for p, n in res.their_abnormal_we_state_absent.most_common(8))
    console.print(
        f"their abnormalities that our text states as absent: {sum(res.their_abnormal_we_state_absent.values())}"
        + (f" — {top}" if top else "")
    )
    return 0


# --------------------------------------------------------------------------------------------------- negations
def _negations(out: Path, show: int = 20) -> int:
    from rich.console import Console

    from radgenome.eval.negations import audit_negations

    console = Console()
    try:
        audit = audit_negations(out)
    except (OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] cannot read {out}: {exc}")
        return 1
    violations = audit.violations
    console.print(
        f"{audit.sentences} sentences, {audit.stated} stated findings: "
        f"[{'green' if not violations else 'red'}]{len(violations)} stated negatives emitted as abnormalities[/]"
    )
    for v in violations[:show]:
        console.print(f"  {v.volume}: [bold]{v.phrase}[/bold] ({v.polarity}) in: {v.sentence}")
    return 0 if not violations else 3


# --------------------------------------------------------------------------------------------------------- seg
def _seg(pred: Path, ref: Path, maps: list[str] | None = None) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from radgenome.eval.seg import evaluate_seg, parse_map

    console = Console()
    try:
        rows = evaluate_seg(pred, ref, parse_map(maps))
    except (OSError, ValueError, KeyError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        return 1
    table = Table(
        "structure", "dice", "pred voxels", "ref voxels", title=f"Dice: {Path(pred).name} vs {Path(ref).name}"
    )
    for r in rows:
        table.add_row(r.name, f"{r.dice:.4f}", str(r.pred_voxels), str(r.ref_voxels))
    if rows:
        table.add_row("[b]mean[/b]", f"{np.mean([r.dice for r in rows]):.4f}", "", "")
    console.print(table)
    return 0
