"""NiiVue ships inside the package: the vendored bundle is the pinned version, intact, with its licences."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from radgenome.review.assets import NIIVUE_INFO, NIIVUE_JS, NIIVUE_LICENSES, PACKAGE_DIR, niivue_info

ROOT = Path(__file__).resolve().parents[2]


def test_vendored_bundle_is_the_pinned_version() -> None:
    info = niivue_info()
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/@niivue/niivue"]
    pinned = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["dependencies"]["@niivue/niivue"]
    assert info["package"] == "@niivue/niivue"
    assert info["version"] == locked["version"] == pinned  # an exact pin, no range
    assert info["integrity"] == locked["integrity"]
    assert hashlib.sha256(NIIVUE_JS.read_bytes()).hexdigest() == info["sha256"]
    head = NIIVUE_JS.read_bytes()[:4096].decode("utf-8")
    assert "import " not in head.split("\n", 1)[0]  # self-contained: the bundle imports nothing at its top
    assert b"\nexport {" in NIIVUE_JS.read_bytes()[-20000:]


def test_licences_alongside() -> None:
    text = NIIVUE_LICENSES.read_text(encoding="utf-8")
    info = niivue_info()
    assert f"@niivue/niivue {info['version']} (BSD-2-Clause)" in text and "Copyright (c) 2021, Niivue" in text
    for pkg in info["bundled"]:
        assert f"{pkg['name']} {pkg['version']} ({pkg['license']})" in text


def test_node_modules_copy_matches_when_installed() -> None:
    """After `npm ci`, the vendored file is byte for byte the lockfile's dist/index.js."""
    installed = ROOT / "node_modules" / "@niivue" / "niivue" / "dist" / "index.js"
    if not installed.is_file():
        pytest.skip("no node_modules (npm ci) to compare the vendored copy with")
    assert installed.read_bytes() == NIIVUE_JS.read_bytes()


def test_wheel_ships_the_bundle() -> None:
    """pyproject's package data names every vendored file (checked against setuptools' glob rules)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["radgenome.review"]
    for path in (NIIVUE_JS, NIIVUE_INFO, NIIVUE_LICENSES):
        rel = path.relative_to(PACKAGE_DIR).as_posix()
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel
    assert not any(fnmatch.fnmatch("vendor/update.mjs", p) for p in patterns)  # the updater stays in the repo
