"""``radgenome review`` (serve, add-user, stats) and ``radgenome export-verified`` through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from radgenome.review.cli import register
from radgenome.review.store import Store, user_by_token


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:
        """test app"""

    register(app)
    return app


def test_cli_review_group(sqlite_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app, runner = _app(), CliRunner()
    url, out = sqlite_env["url"], str(sqlite_env["out"])
    r = runner.invoke(app, ["review", "--help"])
    assert r.exit_code == 0 and "add-user" in r.output and "stats" in r.output
    r = runner.invoke(app, ["review", "add-user", "carol", "--role", "admin", "--db", url])
    assert r.exit_code == 0, r.output
    store = Store(url)
    with store.read() as s:
        user = user_by_token(s, r.output.strip())
        assert user is not None and user.name == "carol" and user.role == "admin"
    store.dispose()
    r = runner.invoke(app, ["review", "add-user", "dave", "--role", "boss", "--db", url])
    assert r.exit_code == 2
    r = runner.invoke(app, ["review", "add-user", "erin"])
    assert r.exit_code == 2 and "--db" in r.output

    calls: list[dict] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: calls.append({"app": app_, **kw}))
    r = runner.invoke(app, ["review", out, "--db", url, "--port", "8123", "--secure-cookies", "--lease-minutes", "5"])
    assert r.exit_code == 0, r.output
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8123 and calls[-1]["proxy_headers"]
    ctx = calls[-1]["app"].state.ctx
    assert ctx.auth.secure_cookies is True and ctx.lease_minutes == 5
    r = runner.invoke(app, ["review", "--db", url, out])  # options before OUT work too
    assert r.exit_code == 0, r.output
    assert calls[-1]["app"].state.ctx.auth.secure_cookies is None  # proxy-aware default
    r = runner.invoke(app, ["review", str(tmp_path / "nothing"), "--db", url])
    assert r.exit_code == 1 and "fatal:" in r.output and "not a `radgenome build` output" in r.output

    r = runner.invoke(app, ["review", "stats", out, "--db", url])
    assert r.exit_code == 0, r.output
    assert "kappa" in r.output and "carol" in r.output
    r = runner.invoke(app, ["export-verified", out, "--db", url, "-o", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "v" / "provenance.csv").exists()


def test_cli_review_without_niivue_fails_clearly(sqlite_env: dict, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    from radgenome.review import assets

    monkeypatch.setattr(assets, "NIIVUE_JS", tmp_path / "missing.js")
    r = CliRunner().invoke(_app(), ["review", str(sqlite_env["out"]), "--db", sqlite_env["url"]])
    assert r.exit_code == 1 and r.output.startswith("fatal: NiiVue is missing") and "Traceback" not in r.output
