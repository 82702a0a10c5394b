"""Imports point down the layers only, and no two modules import each other (directly or round a loop).

The layers, bottom first (ARCHITECTURE §2; a package may import its own modules and any lower layer):

0. ``atomic``, ``csvcells`` — small utilities (atomic file writes, safe CSV cells);
1. ``anatomy`` — region hierarchy, RadGenome paths, mask vocabulary;
2. ``model`` — the shared types (they speak in anatomy's nodes and paths);
3. ``corpus`` — reports tables, CT-RATE layout discovery, volume I/O;
4. ``text`` | ``segmentation`` (with ``regions``, the region-mask unions it writes statistics with) — siblings
   that never import each other;
5. ``dataset`` | ``synth`` (phantoms and reports with known truth: it uses the text vocabularies);
6. ``pipeline``;
7. ``eval`` | ``review`` | ``audit`` | ``testing`` — the top: they read what the lower layers write.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``. Exempt: ``cli.py`` modules and the
root ``radgenome/__init__.py`` (the Python API), which wire the layers together; and ``from radgenome import
__version__``, which the root package defines without importing anything of ours.

Run as a script to list the violations: ``python3 tests/test_layers.py [SRC_DIR]``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("atomic", "csvcells"),
    ("anatomy",),
    ("model",),
    ("corpus",),
    ("text", "segmentation"),
    ("dataset", "synth"),
    ("pipeline",),
    ("eval", "review", "audit", "testing"),
)
GROUP_OF: dict[str, str] = {"regions": "segmentation"}
"""Top-level modules that belong to another package's group (``radgenome.regions`` sits with ``segmentation``)."""


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(src: Path) -> dict[str, Path]:
    return {module_name(p, src): p for p in sorted((src / "radgenome").rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module prefix of ``name`` (``radgenome.text.model.Report`` -> ``radgenome.text.model``)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        cand = ".".join(parts[:n])
        if cand in modules:
            return cand
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of one of our modules, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target is not None:
                    yield Import(module, target, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if not mod.startswith("radgenome"):
                continue
            for alias in node.names:
                if mod == "radgenome" and alias.name == "__version__":
                    continue  # version metadata, defined by the root package without importing anything of ours
                target = _resolve(f"{mod}.{alias.name}", modules) or _resolve(mod, modules)
                if target is not None:
                    yield Import(module, target, node.lineno)


def all_imports(src: Path = SRC) -> list[Import]:
    modules = _modules(src)
    return list(dict.fromkeys(imp for m, p in modules.items() for imp in imports_of(m, p, modules)))


def group(module: str) -> str | None:
    """The package group of a module (``radgenome.text.llm.backend`` -> ``text``); None for the root package."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    return GROUP_OF.get(parts[1], parts[1])


def rank(group_name: str) -> int:
    for i, layer in enumerate(LAYERS):
        if group_name in layer:
            return i
    raise KeyError(f"radgenome.{group_name} is in no layer: add it to LAYERS in {__file__}")


def exempt(module: str) -> bool:
    return module == "radgenome" or module.endswith(".cli")


def upward_imports(src: Path = SRC) -> list[Import]:
    """Imports that do not point strictly down (a sibling package of the same layer counts too)."""
    bad = []
    for imp in all_imports(src):
        if exempt(imp.source):
            continue
        src_group, dst_group = group(imp.source), group(imp.target)
        if src_group == dst_group:
            continue
        if dst_group is None or src_group is None or rank(dst_group) >= rank(src_group):
            bad.append(imp)
    return bad


def cycles(src: Path = SRC) -> list[list[str]]:
    """Strongly connected module groups of size > 1 (Tarjan), each sorted."""
    edges: dict[str, set[str]] = {}
    for imp in all_imports(src):
        if imp.source != imp.target:
            edges.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_every_package_has_a_layer() -> None:
    for module in _modules(SRC):
        g = group(module)
        if g is not None and not exempt(module):
            rank(g)


def test_imports_point_down() -> None:
    bad = upward_imports()
    assert not bad, f"{len(bad)} imports do not point down the layers:\n" + "\n".join(map(str, bad))


def test_no_import_cycles() -> None:
    loops = cycles()
    assert not loops, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in loops)


TERMINAL_MODULES = frozenset({"rich", "typer", "click", "argparse"})


def terminal_use(src: Path = SRC) -> list[str]:
    """Non-cli modules that print, import a terminal/flag library or choose an exit status."""
    found = []
    for module, path in _modules(src).items():
        if exempt(module):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module.split(".")[0]]
            if any(n in TERMINAL_MODULES for n in names):
                found.append(f"{module}:{node.lineno} imports {', '.join(names)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{module}:{node.lineno} calls print()")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "sys":
                found.append(f"{module}:{node.lineno} calls sys.exit()")
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "SystemExit":
                found.append(f"{module}:{node.lineno} raises SystemExit")
    return found


def test_only_cli_modules_print_parse_flags_or_exit() -> None:
    found = terminal_use()
    assert not found, "only cli.py modules print, parse flags or choose exit codes:\n" + "\n".join(found)


def test_checker_sees_function_level_and_upward_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "radgenome"
    for sub in ("corpus", "text", "pipeline"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "text" / "model.py").write_text("from radgenome.corpus import reader\n")
    (pkg / "corpus" / "reader.py").write_text("def f():\n    from radgenome.text.model import X\n")
    (pkg / "pipeline" / "cli.py").write_text("from radgenome.text import model\n")
    bad = upward_imports(tmp_path)
    assert [str(b) for b in bad] == ["radgenome.corpus.reader:2 imports radgenome.text.model"]
    assert cycles(tmp_path) == [["radgenome.corpus.reader", "radgenome.text.model"]]
    (pkg / "text" / "run.py").write_text("import sys\nfrom rich.console import Console\ndef f():\n    print(1)\n"
                                         "    sys.exit(3)\n")
    (pkg / "text" / "cli.py").write_text("import typer\nprint(2)\n")
    assert terminal_use(tmp_path) == ["radgenome.text.run:2 imports rich", "radgenome.text.run:4 calls print()",
                                      "radgenome.text.run:5 calls sys.exit()"]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    violations = upward_imports(root)
    for v in violations:
        print(f"upward: {v}")
    loops = cycles(root)
    for c in loops:
        print("cycle: " + " <-> ".join(c))
    print(f"{len(violations)} upward imports, {len(loops)} import cycles")
