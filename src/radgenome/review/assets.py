"""Front-end files: the page's own static folder and NiiVue from the project's ``node_modules`` (``npm ci``)."""

from __future__ import annotations

import os
from pathlib import Path

STATIC_DIR = Path(__file__).with_name("static")
REPO_ROOT = Path(__file__).resolve().parents[3]
NIIVUE_DIST = Path("@niivue") / "niivue" / "dist" / "index.js"
"""NiiVue's self-contained ES module build (no further imports)."""


class MissingNiivueError(RuntimeError):
    pass


def node_modules_candidates() -> list[Path]:
    found = []
    env = os.environ.get("RADGENOME_NODE_MODULES")
    if env:
        found.append(Path(env))
    found += [Path.cwd() / "node_modules", REPO_ROOT / "node_modules"]
    return found


def niivue_path() -> Path:
    """The NiiVue ES module to serve; raises :class:`MissingNiivueError` saying how to install it."""
    for base in node_modules_candidates():
        path = base / NIIVUE_DIST
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in node_modules_candidates())
    raise MissingNiivueError(
        f"NiiVue is not installed (looked in {looked}). Run `npm ci` in the radgenome repository "
        f"({REPO_ROOT}) to install it from package-lock.json, or set RADGENOME_NODE_MODULES to a node_modules "
        "folder holding @niivue/niivue."
    )
