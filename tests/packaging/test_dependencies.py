"""Every third-party module the package imports is a declared requirement of the install that needs it.

Two checks, so that ``pip install -e .`` followed by ``radgenome ...`` can never fail on an undeclared import:
- statically, every ``import`` in ``src/radgenome`` (function-level ones included) names a distribution that
  pyproject.toml declares directly, in the base set or in the extra that owns the module;
- dynamically, in a fresh interpreter where only the base requirements (and what they require) can be
  imported, every base module imports and every CLI command answers ``--help``.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PACKAGE = SRC / "radgenome"

EXTRA_OF: dict[str, str] = {
    "radgenome.review": "review",
    "radgenome.text.llm": "llm",
    "radgenome.pipeline.ray_runner": "ray",
    "radgenome.dataset.torch_dataset": "torch",
    "radgenome.segmentation.totalseg": "totalseg",
}
"""Modules (or packages) whose third-party imports come from an optional extra rather than the base set."""

IMPORT_ALIASES = {"totalsegmentator": "totalsegmentator", "torch": "torch"}
"""Import names of extras that may not be installed in the test environment (so metadata cannot map them)."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert m, req
    return _norm(m.group(1))


@cache
def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _declared(extra: str | None) -> set[str]:
    project = _pyproject()["project"]
    names = {_req_name(r) for r in project["dependencies"]}
    if extra:
        names |= {_req_name(r) for r in project["optional-dependencies"][extra]}
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _extra_of(module: str) -> str | None:
    if module.endswith(".cli") or (module in EXTRA_OF and _is_package(module)):
        return None  # the command line and package __init__s are loaded by the base install's CLI
    for prefix, extra in EXTRA_OF.items():
        if module == prefix or module.startswith(prefix + "."):
            return extra
    return None


def _is_package(module: str) -> bool:
    return (SRC / module.replace(".", "/") / "__init__.py").is_file()


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("radgenome", "__future__")}


def _all_declared() -> set[str]:
    return set().union(*(_declared(extra) for extra in _pyproject()["project"]["optional-dependencies"]))


@cache
def _dist_of_import() -> dict[str, set[str]]:
    return {k: {_norm(d) for d in v} for k, v in md.packages_distributions().items()}


def _dists(import_name: str) -> set[str]:
    return _dist_of_import().get(import_name) or {_norm(IMPORT_ALIASES.get(import_name, import_name))}


def test_every_import_is_declared_where_it_is_needed() -> None:
    missing: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        extra = _extra_of(module)
        allowed = _declared(extra)
        names = _imports(path)
        if module.endswith(".cli"):
            # A command's own body may import its extra (it says which one when it is missing); the module
            # itself must load on the base install, which the base-install test below proves.
            names = _imports(path, module_level_only=True) | {n for n in names if not _dists(n) & _all_declared()}
        for name in sorted(names):
            dists = _dists(name)
            if not dists & allowed:
                where = f"[{extra}]" if extra else "the base dependencies"
                missing.append(f"{path.relative_to(REPO)} imports {name!r} ({'/'.join(sorted(dists))}), "
                               f"not declared in {where}")
    assert not missing, "\n".join(missing)


def test_extras_are_real_extras() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    assert set(EXTRA_OF.values()) <= set(extras)
    assert "all" in extras


# ------------------------------------------------------------------------------------------ base install
def _requirement_closure(names: set[str]) -> set[str]:
    """Distributions reachable from ``names`` through their own (non-extra) requirements."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for req in reqs:
            if "extra ==" in req.replace('extra=="', 'extra == "'):
                continue
            todo.append(_req_name(req))
    return seen


def _base_modules() -> list[str]:
    return sorted(m for m in map(_module_name, PACKAGE.rglob("*.py")) if _extra_of(m) is None)


BLOCKER = r"""
import importlib.abc, importlib.machinery, json, sys
allowed = set(json.loads(sys.argv[1]))
modules = json.loads(sys.argv[2])

class Block(importlib.abc.MetaPathFinder):
    # Hide every installed third-party top-level package that the base requirements do not bring.

    def find_spec(self, name, path=None, target=None):
        if "." in name or name in allowed:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name)
        locations = list(getattr(spec, "submodule_search_locations", None) or [])
        origin = str(getattr(spec, "origin", None) or (locations[0] if locations else ""))
        if spec is not None and ("site-packages" in origin or "dist-packages" in origin):
            raise ModuleNotFoundError(f"No module named {name!r} (not in the base install)", name=name)
        return None

sys.meta_path.insert(0, Block())
failures = []
for m in modules:
    try:
        __import__(m)
    except Exception as exc:
        failures.append(f"import {m}: {exc!r}")

import typer.main
from typer.testing import CliRunner
from radgenome.cli import app

def walk(cmd, prefix):
    yield prefix
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from walk(sub, [*prefix, name])

runner = CliRunner()
for args in walk(typer.main.get_command(app), []):
    res = runner.invoke(app, [*args, "--help"])
    if res.exit_code != 0:
        failures.append(f"radgenome {' '.join(args)} --help: exit {res.exit_code}: {res.output[-500:]} "
                        f"{res.exception!r}")
print(json.dumps(failures))
"""


def test_base_install_imports_and_every_command_helps() -> None:
    dists = _requirement_closure(_declared(None))
    importable = {"radgenome", "_distutils_hack"}
    for name, owners in _dist_of_import().items():
        if owners & dists:
            importable.add(name)
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER, json.dumps(sorted(importable)), json.dumps(_base_modules())],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(failures)
