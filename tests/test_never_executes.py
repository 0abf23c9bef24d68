"""The product never calls a deserialiser or renderer that runs model content.

The corpus tests prove it dynamically with canary payloads; this test proves it statically: no module of
``weightwarden/`` calls ``pickle.load(s)``, ``torch.load``, ``joblib.load``, ``np.load(allow_pickle=True)``,
``keras``'s ``load_model``, ``marshal.loads``, ``exec``/``eval``, or renders a Jinja template.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "weightwarden"

FORBIDDEN_ATTRIBUTE_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("_pickle", "load"),
    ("_pickle", "loads"),
    ("torch", "load"),
    ("joblib", "load"),
    ("marshal", "loads"),
    ("dill", "loads"),
    ("cloudpickle", "loads"),
}
FORBIDDEN_METHODS = {"load_model", "Unpickler"}
JINJA_RENDERING = {"render", "render_async", "from_string", "generate", "stream"}  # in modules that use jinja2
FORBIDDEN_NAMES = {"exec", "eval", "Unpickler", "load_model", "__import__"}


def _imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    uses_jinja = "jinja2" in _imported_modules(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{path.name}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
            found.append(f"{where} calls {func.id}()")
        elif isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if (owner, func.attr) in FORBIDDEN_ATTRIBUTE_CALLS:
                found.append(f"{where} calls {owner}.{func.attr}()")
            elif func.attr in FORBIDDEN_METHODS or (uses_jinja and func.attr in JINJA_RENDERING):
                found.append(f"{where} calls .{func.attr}()")
            elif func.attr == "load" and owner in {"np", "numpy"} and any(
                kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
                for kw in node.keywords
            ):
                found.append(f"{where} calls {owner}.load(allow_pickle=...)")
    return found


def test_no_module_calls_an_executing_loader():
    violations = [v for path in sorted(PACKAGE.rglob("*.py")) for v in _violations(path)]
    assert not violations, "\n".join(violations)


def test_the_checker_catches_what_it_claims(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import pickle, jinja2, numpy as np\n"
        "pickle.loads(b'')\nnp.load('x', allow_pickle=True)\nenv.from_string('t').render()\neval('1')\n"
    )
    assert len(_violations(bad)) == 5
