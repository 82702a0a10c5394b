"""Fixtures of the review app tests: a small build-like output and a fresh store per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from radgenome.review.app import create_app
from radgenome.review.sample import write_sample_output
from radgenome.review.store import Base, Store, add_user


@pytest.fixture(scope="session")
def sample_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("review_out")
    write_sample_output(out)
    return out


@pytest.fixture
def review_env(sample_out: Path, tmp_path: Path) -> dict[str, object]:
    """The shared sample output, a new store, an admin and two reviewers.

    The store is a new SQLite file, or the database ``RADGENOME_REVIEW_TEST_DB`` names (e.g. PostgreSQL),
    emptied first.
    """
    url = os.environ.get("RADGENOME_REVIEW_TEST_DB") or f"sqlite:///{tmp_path / 'review.sqlite'}"
    store = Store(url)
    if not url.startswith("sqlite"):  # a server database given for the run: start each test empty
        Base.metadata.drop_all(store.engine)
        Base.metadata.create_all(store.engine)
    tokens = {"admin": add_user(store, "admin", "admin"), "ann": add_user(store, "ann"), "bob": add_user(store, "bob")}
    return {"out": sample_out, "url": url, "tokens": tokens}


@pytest.fixture
def client(review_env: dict[str, object]) -> Iterator[TestClient]:
    app = create_app(review_env["out"], review_env["url"], double_fraction=0.5)  # type: ignore[arg-type]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def bearer() -> object:
    return lambda token: {"Authorization": f"Bearer {token}"}


def have_browser() -> bool:
    from radgenome.review.assets import MissingNiivueError, niivue_path

    try:
        niivue_path()
    except MissingNiivueError:
        return False
    return Path("/usr/bin/chromium").exists()
