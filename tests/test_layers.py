"""The one-way import map of DESIGN.md §3: no package imports one above it.

core ← picklevm ← artifact ← {scan, integrity, lineage, evals} ← risk ← audit ← report ← {registry,
indicators} ← cli. Every import is checked, including the lazy ones inside functions (they are how a cycle
hides), on the AST of every module of the package. Analyses sit side by side; the only sideways edge allowed is
to ``scan`` (convert and the eval backends scan a model before they read it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "weightwarden"

RANK = {
    "core": 0,
    "schemas": 0,
    "picklevm": 1,
    "artifact": 2,
    "scan": 3,
    "integrity": 3,
    "lineage": 3,
    "evals": 3,
    "risk": 4,
    "audit": 5,
    "report": 6,
    "registry": 7,
    "indicators": 7,
    "cli": 8,
}
SIDEWAYS_ALLOWED = {"scan"}
TOP_LEVEL_NAMES = {"__version__"}  # ``from weightwarden import __version__`` is allowed everywhere


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first component below ``weightwarden``) of every import of ours in ``path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("weightwarden."):
                    found.append((node.lineno, alias.name.split(".")[1]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "weightwarden":
                found.extend((node.lineno, a.name) for a in node.names if a.name not in TOP_LEVEL_NAMES)
            elif node.module.startswith("weightwarden."):
                found.append((node.lineno, node.module.split(".")[1]))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            pytest.fail(f"{path}:{node.lineno}: relative import; write the absolute module path")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == (
            "import_module"
        ):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("weightwarden."):
                found.append((node.lineno, arg.value.split(".")[1]))
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                head = str(arg.values[0].value)
                if head.startswith("weightwarden.") and "." in head[len("weightwarden."):]:
                    found.append((node.lineno, head.split(".")[1]))
    return found


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer_of(path)
        if layer == "__init__" or layer == "__main__":
            continue
        if layer not in RANK:
            problems.append(f"{path.relative_to(PACKAGE)}: package {layer!r} has no place in the layer map")
            continue
        for line, target in _imports(path):
            if target == layer or target not in RANK:
                if target not in RANK and target != layer:
                    problems.append(f"{path.relative_to(PACKAGE)}:{line}: imports unknown package {target!r}")
                continue
            above = RANK[target] > RANK[layer]
            sideways = RANK[target] == RANK[layer] and target not in SIDEWAYS_ALLOWED
            if above or sideways:
                problems.append(f"{path.relative_to(PACKAGE)}:{line}: {layer} imports {target}, which is above it")
    return problems


def test_no_package_imports_one_above_it() -> None:
    problems = _violations()
    assert not problems, "\n".join(problems)


def test_core_imports_nothing_of_ours_but_core() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        assert {t for _, t in _imports(path)} <= {"core"}, path


def test_the_checker_sees_lazy_and_aliased_imports(tmp_path: Path) -> None:
    """The check itself can fail: a lazy import inside a function and importlib are both caught."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib\n"
        "def f():\n"
        "    from weightwarden.cli.main import main\n"
        "    import weightwarden.report.sarif as s\n"
        "    importlib.import_module('weightwarden.audit.runner')\n"
    )
    assert [t for _, t in _imports(probe)] == ["cli", "report", "audit"]
