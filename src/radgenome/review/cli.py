"""``radgenome review ...`` and ``radgenome export-verified``; ``register(app)`` adds them to the main CLI.

``review`` is a group whose default command is ``serve``: ``radgenome review OUT [--db URL]`` is
``radgenome review serve OUT [--db URL]``, while ``add-user`` and ``stats`` are ordinary subcommands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

DB_ENV = "RADGENOME_REVIEW_DB"


class ReviewGroup(TyperGroup):
    """A group that runs ``serve`` when the first argument is not one of its subcommands."""

    default_command = "serve"

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


review_app = typer.Typer(
    cls=ReviewGroup,
    help="Verification web app: `radgenome review OUT` serves it; add-user and stats manage it.",
    no_args_is_help=True,
)


def _db_url(out: Path | None, db: str | None) -> str:
    from radgenome.review.store import default_db_url

    url = db or os.environ.get(DB_ENV)
    if url:
        return url
    if out is None:
        typer.echo(f"error: give --db URL or --out OUT (the default store is OUT/review.sqlite), or set {DB_ENV}",
                   err=True)
        raise typer.Exit(2)
    return default_db_url(out)


def _out_dir(out: Path) -> Path:
    if not (out / "cases").is_dir():
        typer.echo(f"fatal: {out}: not a `radgenome build` output (no cases/ folder)", err=True)
        raise typer.Exit(1)
    return out


DbOpt = Annotated[
    str | None, typer.Option("--db", help=f"SQLAlchemy URL (default sqlite OUT/review.sqlite; env {DB_ENV}).")
]


@review_app.command("serve")
def serve(
    out: Annotated[Path, typer.Argument(help="A `radgenome build` output folder.")],
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback unless you mean it).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    double_fraction: Annotated[float, typer.Option(help="Fraction of items read by two reviewers.")] = 0.2,
    seed: Annotated[str, typer.Option(help="Seed of the double-reading draw.")] = "",
    lease_minutes: Annotated[float, typer.Option(help="How long a claimed, undecided item stays a reader's.")] = 60.0,
    max_open: Annotated[int, typer.Option(help="Most undecided items one reader may hold.")] = 100,
    secure_cookies: Annotated[
        bool | None,
        typer.Option("--secure-cookies/--no-secure-cookies",
                     help="Force the session cookie's Secure flag (default: set it on HTTPS requests, including "
                          "X-Forwarded-Proto from --forwarded-allow-ips)."),
    ] = None,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies trusted for X-Forwarded-Proto/For (comma-separated IPs, or '*').")
    ] = "127.0.0.1",
    session_hours: Annotated[float, typer.Option(help="Sessions end this many hours after sign-in.")] = 12.0,
) -> None:
    """Serve the review app for OUT."""
    import uvicorn

    from radgenome.review.app import create_app
    from radgenome.review.assets import MissingNiivueError
    from radgenome.review.sources import NotABuildError

    out = _out_dir(out)
    url = _db_url(out, db)
    try:
        app = create_app(out, url, double_fraction=double_fraction, seed=seed, lease_minutes=lease_minutes,
                         max_open=max_open, secure_cookies=secure_cookies, session_hours=session_hours)
    except (MissingNiivueError, NotABuildError) as exc:
        typer.echo(f"fatal: {exc}", err=True)
        raise typer.Exit(1) from exc
    problems = app.state.ctx.problems
    if problems:
        typer.echo(f"warning: {len(problems)} rows of {out} could not become review items:", err=True)
        for line in problems[:10]:
            typer.echo(f"  {line}", err=True)
    typer.echo(f"radgenome review: http://{host}:{port}/  (store {_redact(url)})")
    typer.echo(f"add reviewers with: radgenome review add-user NAME --db '{_redact(url)}'")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


@review_app.command("add-user")
def add_user_cmd(
    name: Annotated[str, typer.Argument(help="Reviewer name.")],
    role: Annotated[str, typer.Option(help="reviewer or admin.")] = "reviewer",
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Build output (its default store).")] = None,
) -> None:
    """Create a user (or give them a new token) and print the login token (shown once, stored hashed)."""
    from radgenome.review.store import Store, add_user

    url = _db_url(out, db)
    try:
        token = add_user(Store(url), name, role)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(token)


@review_app.command("stats")
def stats(
    out: Annotated[Path, typer.Argument(help="A `radgenome build` output folder.")],
    db: DbOpt = None,
) -> None:
    """Progress per reviewer and Cohen's kappa per item kind and region."""
    from rich.console import Console
    from rich.table import Table

    from radgenome.review.agreement import agreement_report
    from radgenome.review.progress import item_states, reviewers_progress, totals
    from radgenome.review.store import Store

    store = Store(_db_url(out, db))
    with store.read() as s:
        rows, tot, agree = reviewers_progress(s, store.now()), {**totals(s), **item_states(s)}, agreement_report(s)
    console = Console()
    console.print(f"items {tot['items']}  complete {tot['complete']}  reads {tot['reads_done']}/"
                  f"{tot['reads_required']}  double-read {tot['double_read']}  disagreements open "
                  f"{tot['disagreements_open']}  adjudicated {tot['adjudicated']}")
    columns = ("reviewer", "role", "open", "decided", "decisions", "adjudications")
    t = Table(title="Progress")
    for col in columns:
        t.add_column(col, justify="right" if col not in ("reviewer", "role") else "left")
    for r in rows:
        t.add_row(*(str(r[c]) for c in columns))
    console.print(t)
    k = Table(title=f"Agreement (Cohen's kappa, {agree['pairs']} items read by two reviewers)")
    for col in ("group", "name", "items", "agree", "kappa"):
        k.add_column(col)
    for r in agree["rows"]:
        kappa = "n/a" if r["kappa"] is None else f"{r['kappa']:.3f}"
        k.add_row(r["group"], r["name"], str(r["items"]), str(r["agree"]), kappa)
    console.print(k)


def export_verified_cmd(
    out: Annotated[Path, typer.Argument(help="A `radgenome build` output folder.")],
    dest: Annotated[Path, typer.Option("-o", "--out", help="Folder for the verified tables.")],
    db: DbOpt = None,
    split: Annotated[str, typer.Option(help="Split prefix for VolumeNames not starting train_/valid_.")] = "train",
) -> None:
    """Write RadGenome-layout tables with only accepted or corrected items, plus provenance.csv."""
    from radgenome.review.export import export_verified

    summary = export_verified(_out_dir(out), _db_url(out, db), dest, split)
    typer.echo(
        f"exported {summary.exported} items ({summary.qa_pairs} QA pairs) to {dest}; left out: "
        f"{summary.rejected} rejected, {summary.disagreements} with disagreeing readers (not adjudicated), "
        f"{summary.incomplete} still missing a read, {summary.undecided} undecided"
    )


def register(app: Any) -> None:
    """Add ``review`` (serve/add-user/stats) and ``export-verified`` to the main typer app."""
    app.add_typer(review_app, name="review")
    app.command("export-verified")(export_verified_cmd)


if __name__ == "__main__":  # pragma: no cover - `python -m radgenome.review.cli OUT ...` (tests, benchmarks)
    review_app()
