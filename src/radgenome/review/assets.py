"""Front-end files shipped inside the package: the page's static folder and the vendored NiiVue bundle.

NiiVue (``vendor/niivue.js``, its self-contained ES module build) is package data, pinned by ``package.json`` /
``package-lock.json`` and copied there by ``npm ci && npm run vendor-niivue``; ``vendor/niivue.json`` records the
version, the lockfile's integrity and the file's SHA-256, and ``vendor/LICENSES.txt`` the licences of NiiVue and
of the packages bundled into it. Nothing is fetched from a CDN or from ``node_modules`` at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_DIR = PACKAGE_DIR / "vendor"
NIIVUE_JS = VENDOR_DIR / "niivue.js"
NIIVUE_INFO = VENDOR_DIR / "niivue.json"
NIIVUE_LICENSES = VENDOR_DIR / "LICENSES.txt"


class MissingNiivueError(RuntimeError):
    """The package's NiiVue bundle is missing (a broken installation)."""


def niivue_path() -> Path:
    """The vendored NiiVue ES module; raises :class:`MissingNiivueError` when the installation lacks it."""
    if not NIIVUE_JS.is_file():
        raise MissingNiivueError(
            f"NiiVue is missing from the installed package ({NIIVUE_JS}); reinstall radgenome with the [review] "
            "extra, or in a source checkout run `npm ci && npm run vendor-niivue`"
        )
    return NIIVUE_JS


def niivue_info() -> dict[str, Any]:
    """``vendor/niivue.json``: package, version, lockfile integrity, SHA-256 of the bundle, bundled packages."""
    return dict(json.loads(NIIVUE_INFO.read_text(encoding="utf-8")))
