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
    backend: Annotated[str, typer.Option(help="Text backend: rules, llm or hybrid.")] = "rules",
    split: Annotated[str, typer.Option(help="Split prefix for VolumeNames not starting train_/valid_.")] = "train",
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible API root, e.g. http://localhost:8000/v1.")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name as the server knows it.")] = None,
    llm_api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key.")] = "OPENAI_API_KEY",
    llm_concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 8,
    llm_timeout: Annotated[float, typer.Option(help="Per-request timeout (s).")] = 60.0,
    llm_deadline: Annotated[float | None, typer.Option(help="Total time budget of the LLM pass (s).")] = None,
    llm_max_retries: Annotated[int, typer.Option(help="Retries on 429, 5xx, timeouts.")] = 4,
    llm_cache: Annotated[
        Path | None, typer.Option(help="Answer cache folder (default ~/.cache/radgenome/llm).")
    ] = None,
    no_llm_cache: Annotated[bool, typer.Option("--no-llm-cache", help="Do not cache answers.")] = False,
    llm_threshold: Annotated[float, typer.Option(help="Hybrid: send sentences grounded below this.")] = 0.7,
    llm_structured_output: Annotated[
        str, typer.Option(help="json_schema, json_object or none (what the server supports).")
    ] = "json_schema",
) -> None:
    """Text stages only: sentences -> regions -> findings -> VQA rows -> labels."""
    from radgenome.text.run import run_text_command

    llm = None
    if backend in ("llm", "hybrid"):
        llm = _llm_settings(
            backend, llm_base_url, llm_model, llm_api_key_env, llm_concurrency, llm_timeout, llm_deadline,
            llm_max_retries, llm_cache, no_llm_cache, llm_threshold, llm_structured_output,
        )
    raise typer.Exit(run_text_command(reports, out, backend=backend, split=split, llm=llm))


def _llm_settings(
    mode: str, base_url: str | None, model: str | None, api_key_env: str, concurrency: int, timeout: float,
    deadline: float | None, max_retries: int, cache: Path | None, no_cache: bool, threshold: float,
    structured_output: str,
) -> object:
    try:
        from pydantic import ValidationError

        from radgenome.text.llm.settings import DEFAULT_CACHE_DIR, LLMSettings
    except ModuleNotFoundError as exc:
        typer.echo(f"error: the LLM backend needs the [llm] extra (pip install 'radgenome[llm]'): {exc}", err=True)
        raise typer.Exit(1) from exc
    if not base_url or not model:
        typer.echo("error: --backend llm/hybrid needs --llm-base-url and --llm-model", err=True)
        raise typer.Exit(1)
    try:
        return LLMSettings(
            base_url=base_url, model=model, api_key_env=api_key_env, mode=mode, concurrency=concurrency,
            timeout_s=timeout, deadline_s=deadline, max_retries=max_retries,
            cache_dir=None if no_cache else (cache or DEFAULT_CACHE_DIR), confidence_threshold=threshold,
            structured_output=structured_output,
        )
    except ValidationError as exc:
        typer.echo(f"error: invalid LLM settings: {exc}", err=True)
        raise typer.Exit(1) from exc


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


@eval_app.command("agreement")
def eval_agreement(
    a: Annotated[Path, typer.Argument(help="First `radgenome text` output folder (e.g. rules).")],
    b: Annotated[Path, typer.Argument(help="Second output folder (e.g. llm).")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write the disagreeing sentences here (CSV).")] = None,
) -> None:
    """Agreement between two text outputs per region, node and finding; disagreements as a review queue."""
    from radgenome.eval.agreement import run_agreement_eval

    raise typer.Exit(run_agreement_eval(a, b, out))


@eval_app.command("vqa")
def eval_vqa(
    gold: Annotated[Path, typer.Argument(help="Folder with RadGenome's *_vqa_{abnormality,presence,size}.csv.")],
    pred: Annotated[Path, typer.Argument(help="A `radgenome text`/`build` output folder.")],
) -> None:
    """Agreement with RadGenome's VQA rows: abnormal region sets, stated negatives, sizes."""
    from radgenome.eval.vqa_agreement import run_vqa_agreement

    raise typer.Exit(run_vqa_agreement(gold, pred))


@eval_app.command("negations")
def eval_negations(
    out: Annotated[Path, typer.Argument(help="A `radgenome text`/`build` output folder (or its sentences.parquet).")],
    show: Annotated[int, typer.Option(help="Print this many violations.")] = 20,
) -> None:
    """Audit stated negatives emitted as abnormalities (exit 3 when any is found)."""
    from radgenome.eval.negations import run_negation_audit

    raise typer.Exit(run_negation_audit(out, show=show))


@app.command()
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


def _register_subcommands() -> None:
    from radgenome.pipeline.cli import register as register_build
    from radgenome.review.cli import register as register_review
    from radgenome.segment.cli import register as register_imaging

    register_imaging(app, eval_app)  # segment, mask, eval seg
    register_build(app)  # build, demo
    register_review(app)  # review (serve, add-user, stats), export-verified


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    app()
