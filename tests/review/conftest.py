"""Fixtures of the review app tests: a small build-like output, and a fresh store per test on SQLite and on
PostgreSQL.

PostgreSQL runs when ``RADGENOME_TEST_PG_URL`` names a database the tests may create schemas in (``.ci/postgres.sh``
prints it); each test gets its own schema, dropped afterwards, so parallel workers never share tables. Without
the variable the PostgreSQL cases are skipped, or fail with ``RADGENOME_REQUIRE_PG=1`` (which ``.ci/postgres.sh``
also prints, so CI can never skip them quietly).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from radgenome.review.app import create_app
from radgenome.review.store import Store, add_user, utcnow

from .sample_output import write_sample_output

PG_ENV = "RADGENOME_TEST_PG_URL"
REQUIRE_PG = os.environ.get("RADGENOME_REQUIRE_PG") == "1"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sample_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("review_out")
    write_sample_output(out)
    return out


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with every connection's search_path set to ``schema``."""
    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty store URL: a SQLite file, or a fresh schema of the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'review.sqlite'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        if REQUIRE_PG:
            pytest.fail(f"{PG_ENV} is not set but RADGENOME_REQUIRE_PG=1")
        pytest.skip(f"{PG_ENV} is not set (.ci/postgres.sh prints it)")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield pg_schema_url(base, schema)
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class Clock:
    """A settable clock for the store: tests move leases and sessions forward without waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _env(out: Path, url: str) -> dict[str, Any]:
    store = Store(url)
    tokens = {"admin": add_user(store, "admin", "admin"), "ann": add_user(store, "ann"), "bob": add_user(store, "bob")}
    store.dispose()
    return {"out": out, "url": url, "tokens": tokens}


@pytest.fixture
def review_env(sample_out: Path, db_url: str) -> dict[str, Any]:
    """The shared sample output, a new store (SQLite, then PostgreSQL), an admin and two reviewers."""
    return _env(sample_out, db_url)


@pytest.fixture
def sqlite_env(sample_out: Path, tmp_path: Path) -> dict[str, Any]:
    """As ``review_env`` on SQLite only (for tests of the HTTP layer, not of the store)."""
    return _env(sample_out, f"sqlite:///{tmp_path / 'review.sqlite'}")


def _client(env: dict[str, Any], clock: Clock) -> Iterator[TestClient]:
    app = create_app(env["out"], env["url"], double_fraction=0.5, clock=clock, max_open=200)
    with TestClient(app) as c:
        yield c
    app.state.ctx.store.dispose()


@pytest.fixture
def client(review_env: dict[str, Any], clock: Clock) -> Iterator[TestClient]:
    yield from _client(review_env, clock)


@pytest.fixture
def sqlite_client(sqlite_env: dict[str, Any], clock: Clock) -> Iterator[TestClient]:
    yield from _client(sqlite_env, clock)


@pytest.fixture
def bearer() -> Callable[[str], dict[str, str]]:
    return lambda token: {"Authorization": f"Bearer {token}"}


def have_browser() -> bool:
    return Path("/usr/bin/chromium").exists()
