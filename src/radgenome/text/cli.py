"""``radgenome text``, and the one definition of the text-backend options (``--backend`` and ``--llm-*``) that
``radgenome text`` and ``radgenome build`` share (:func:`text_backend_options`)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TextBackendChoice:
    """The text backend the command line asked for: a registry name and its options."""

    name: str = "rules"
    options: dict[str, Any] = field(default_factory=dict)


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_OPTIONS: tuple[inspect.Parameter, ...] = (
    _param("backend", Annotated[str, typer.Option(help="Text backend: rules, llm or hybrid.")], "rules"),
    _param(
        "llm_base_url",
        Annotated[str | None, typer.Option(help="OpenAI-compatible API root, e.g. http://localhost:8000/v1.")],
        None,
    ),
    _param("llm_model", Annotated[str | None, typer.Option(help="Model name as the server knows it.")], None),
    _param(
        "llm_api_key_env",
        Annotated[str, typer.Option(help="Environment variable holding the API key.")],
        "OPENAI_API_KEY",
    ),
    _param("llm_concurrency", Annotated[int, typer.Option(help="Requests in flight at once.")], 8),
    _param(
        "llm_timeout",
        Annotated[float, typer.Option(help="Total time one request may take, to the last byte of the answer (s).")],
        60.0,
    ),
    _param(
        "llm_deadline",
        Annotated[
            float | None,
            typer.Option(help="Time budget of the LLM pass (s); default scaled to the work: every request may "
                              "use its whole timeout, in waves of --llm-concurrency, plus half as much again."),
        ],
        None,
    ),
    _param("llm_max_retries", Annotated[int, typer.Option(help="Retries on 429, 5xx, timeouts.")], 4),
    _param(
        "llm_max_errors",
        Annotated[
            int,
            typer.Option(help="Abort the LLM pass after this many failed requests in a row (connection errors, "
                              "timeouts, HTTP errors but 429)."),
        ],
        5,
    ),
    _param(
        "llm_min_success",
        Annotated[
            float,
            typer.Option(help="Exit 3 unless the model's answer was used for at least this share of the sentences "
                              "sent to it (0-1)."),
        ],
        0.95,
    ),
    _param(
        "no_llm_preflight",
        Annotated[
            bool,
            typer.Option("--no-llm-preflight", help="Skip the server check (GET /models and one tiny request)."),
        ],
        False,
    ),
    _param(
        "llm_cache",
        Annotated[Path | None, typer.Option(help="Answer cache folder (default ~/.cache/radgenome/llm).")],
        None,
    ),
    _param("no_llm_cache", Annotated[bool, typer.Option("--no-llm-cache", help="Do not cache answers.")], False),
    _param(
        "llm_threshold", Annotated[float, typer.Option(help="Hybrid: send sentences grounded below this.")], 0.7
    ),
    _param(
        "llm_structured_output",
        Annotated[str, typer.Option(help="json_schema, json_object or none (what the server supports).")],
        "json_schema",
    ),
    _param(
        "llm_max_tokens",
        Annotated[int, typer.Option(help="Completion token limit per sentence (raise it for reasoning models).")],
        1024,
    ),
)
_NAMES = tuple(p.name for p in _OPTIONS)


def text_backend_options(fn: F) -> F:
    """Add ``--backend`` and the ``--llm-*`` options to a command; it receives them as ``text_backend``
    (a validated :class:`TextBackendChoice`; a bad choice exits with status 1 and one ``error:`` line)."""
    sig = inspect.signature(fn, eval_str=True)
    kept = [p for p in sig.parameters.values() if p.name != "text_backend"]
    params = [*kept, *_OPTIONS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _NAMES if name in kwargs}
        kwargs["text_backend"] = text_backend_choice(**values)
        return fn(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
    return wrapper  # type: ignore[return-value]


def text_backend_choice(
    backend: str = "rules",
    llm_base_url: str | None = None,
    llm_model: str | None = None,
    llm_api_key_env: str = "OPENAI_API_KEY",
    llm_concurrency: int = 8,
    llm_timeout: float = 60.0,
    llm_deadline: float | None = None,
    llm_max_retries: int = 4,
    llm_max_errors: int = 5,
    llm_min_success: float = 0.95,
    no_llm_preflight: bool = False,
    llm_cache: Path | None = None,
    no_llm_cache: bool = False,
    llm_threshold: float = 0.7,
    llm_structured_output: str = "json_schema",
    llm_max_tokens: int = 1024,
) -> TextBackendChoice:
    """The backend and its validated options, or exit 1 naming the flag at fault."""
    from radgenome.text.registry import TEXT_BACKENDS

    if backend not in TEXT_BACKENDS:
        _fail(f"--backend must be one of {', '.join(TEXT_BACKENDS)} (the segmentation backend of `build` is "
              "--seg-backend)")
    if backend == "rules":
        return TextBackendChoice("rules")
    try:
        from pydantic import ValidationError

        from radgenome.text.llm.settings import DEFAULT_CACHE_DIR, LLMSettings
    except ModuleNotFoundError as exc:
        _fail(f"the LLM backend needs the [llm] extra (pip install 'radgenome[llm]'): {exc}")
    if not llm_base_url or not llm_model:
        _fail("--backend llm/hybrid needs --llm-base-url and --llm-model")
    try:
        settings = LLMSettings(
            base_url=llm_base_url, model=llm_model, api_key_env=llm_api_key_env, mode=backend,  # type: ignore[arg-type]
            concurrency=llm_concurrency, timeout_s=llm_timeout, deadline_s=llm_deadline, max_retries=llm_max_retries,
            max_consecutive_errors=llm_max_errors, min_success=llm_min_success, preflight=not no_llm_preflight,
            cache_dir=None if no_llm_cache else (llm_cache or DEFAULT_CACHE_DIR), confidence_threshold=llm_threshold,
            structured_output=llm_structured_output, max_tokens=llm_max_tokens,  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        _fail(f"invalid LLM settings: {exc}")
    return TextBackendChoice(backend, {"settings": settings})


def say(console: Any, label: str, style: str, message: str) -> None:
    """One ``label: message`` line on ``console`` (the message printed as is, never read as markup)."""
    from rich.text import Text

    console.print(Text.assemble((f"{label}: ", style), message), soft_wrap=True)


def llm_line(stats: dict[str, Any]) -> str:
    """One line of an LLM backend's statistics."""
    return (f"{stats.get('answered', 0)} of {stats.get('sentences_sent', 0)} sentences answered by the model, "
            f"{stats.get('requests', 0)} requests, {stats.get('cache_hits', 0)} cache hits")


def _fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def task_progress(console: Any) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(task, done, total)`` callback drawing one rich bar per task (transient; silent off a
    terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(task, total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield progress


def register(app: typer.Typer) -> None:
    """Add ``text`` to the main app."""

    @app.command()
    @text_backend_options
    def text(
        reports: Annotated[Path, typer.Argument(help="CT-RATE-style reports CSV (VolumeName, Findings_EN, ...).")],
        out: Annotated[Path, typer.Option("-o", "--out", help="Output folder.")],
        split: Annotated[str, typer.Option(help="Split prefix for VolumeNames not starting train_/valid_.")] = "train",
        *,
        text_backend: TextBackendChoice,
    ) -> None:
        """Text stages only: sentences -> regions -> findings -> VQA rows -> labels.

        Exit status: 0 done; 3 some rows or reports could not be analysed, or the LLM backend answered fewer than
        --llm-min-success of the sentences sent to it or aborted (outputs written all the same, the affected
        sentences flagged; OUT/llm_log.jsonl has one line per question); 1 fatal (unreadable table, an LLM server
        that fails its preflight); 130 interrupted (nothing written; the LLM answer cache keeps what came back).
        """
        from rich.console import Console

        from radgenome.corpus.reports import ReportTableError
        from radgenome.model import OutputLayout
        from radgenome.pipeline.text_run import run_text
        from radgenome.text.base import TextBackendError

        console = Console(stderr=True)
        try:
            with task_progress(console) as progress:
                run = run_text(reports, out, backend=text_backend.name, backend_options=text_backend.options,
                               split=split, progress=progress)
        except (ReportTableError, TextBackendError, ValueError) as exc:  # OSError: one fatal line from the main app
            say(console, "fatal", "red", str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            say(console, "interrupted", "yellow", "nothing written; the LLM answers received so far are cached")
            raise typer.Exit(130) from None
        layout = OutputLayout(out)
        n_sent = sum(len(a.sentences) for a in run.analyses)
        rate = len(run.analyses) / run.seconds if run.seconds else 0.0
        console.print(
            f"[green]wrote[/green] {layout.tables_dir} and {layout.sentences}: {len(run.analyses)} reports, "
            f"{n_sent} sentences in {run.seconds:.2f} s ({rate:,.0f} reports/s)"
        )
        for w in run.row_warnings:
            say(console, "note", "cyan", str(w))
        problems = [str(e) for e in run.row_errors] + [f"{f.volume}: {f.reason}" for f in run.failed]
        for line in problems:
            say(console, "skipped", "yellow", line)
        stats = run.provenance.get("llm_stats")
        if stats:
            say(console, "llm", "cyan", llm_line(stats) + (f"; log: {run.log}" if run.log else ""))
        if not run.verdict.ok:
            say(console, "aborted" if run.verdict.aborted else "fell short", "red", run.verdict.message)
        raise typer.Exit(3 if problems or not run.verdict.ok else 0)
