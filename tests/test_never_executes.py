"""The product never calls a deserialiser or renderer that runs model content.

The adversarial corpus proves it dynamically with canary payloads; this test proves it statically, on the
AST rather than on spellings: every reference in ``weightwarden/`` is resolved through the module's imports
(``import pickle as pk``, ``from pickle import loads as L``, ``from pickle import *``), attribute chains,
``getattr(module, ...)``, ``importlib.import_module`` / ``__import__`` and simple assignments, and the
resolved dotted name is checked: pickle/_pickle/dill/cloudpickle/marshal/shelve loaders and Unpicklers,
``torch.load``, ``joblib.load``, ``yaml.load``/``unsafe_load``/``full_load``, Keras ``load_model``,
``exec``/``eval``/``compile``/``__import__``, ``np.load`` unless ``allow_pickle`` is the literal ``False``
(``np.load(**kw)`` counts as allowing it), and Jinja rendering in modules that use jinja2.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "weightwarden"

# Modules whose every loading entry point runs code; listed names of those modules are forbidden.
FORBIDDEN = {
    "pickle": {"load", "loads", "Unpickler", "_Unpickler", "_load", "_loads"},
    "_pickle": {"load", "loads", "Unpickler"},
    "dill": None,  # None: everything
    "dill._dill": None,
    "cloudpickle": None,
    "marshal": {"load", "loads"},
    "shelve": {"open", "Shelf", "DbfilenameShelf"},
    "torch": {"load"},
    "torch.serialization": {"load", "_load", "_legacy_load"},
    "torch.jit": {"load"},
    "joblib": {"load"},
    "joblib.numpy_pickle": {"load"},
    "yaml": {"load", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "full_load_all"},
    "pandas": {"read_pickle"},
    "keras.models": {"load_model"},
    "keras.saving": {"load_model"},
    "tensorflow.keras.models": {"load_model"},
    "builtins": {"exec", "eval", "compile", "__import__"},
    "runpy": None,
    "code": None,
    "importlib": {"import_module", "__import__"},
}
FORBIDDEN_METHOD_NAMES = {"load_model", "Unpickler", "unsafe_load"}
JINJA_RENDERING = {"render", "render_async", "from_string", "generate", "stream", "compile_expression"}
BUILTIN_NAMES = {"exec", "eval", "compile", "__import__", "getattr", "open"}


def _forbidden(dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    if not module:
        return False
    for mod, names in FORBIDDEN.items():
        if module == mod and (names is None or name in names):
            return True
        if names is None and (dotted == mod or dotted.startswith(mod + ".")):
            return True
    return False


class _Resolver(ast.NodeVisitor):
    """Resolve names to dotted paths using the module's imports and simple assignments (flow-insensitive:
    an alias assigned anywhere counts everywhere, which errs on the side of reporting)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {name: f"builtins.{name}" for name in BUILTIN_NAMES}
        self.star_modules: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                self.aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.module:
            return
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.add(node.module)
            else:
                self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def visit_Assign(self, node: ast.Assign) -> None:
        value = self.resolve(node.value)
        if value is not None:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.aliases[target.id] = value
        self.generic_visit(node)

    def resolve(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            func = self.resolve(node.func)
            if func in ("importlib.import_module", "builtins.__import__") and node.args:
                arg = node.args[0]
                return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else "<dynamic-module>"
            if func == "builtins.getattr" and len(node.args) >= 2:
                base = self.resolve(node.args[0])
                attr = node.args[1]
                if base and isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    return f"{base}.{attr.value}"
                if base:
                    return f"{base}.<dynamic>"
        return None


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    resolver = _Resolver()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            resolver.visit(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            resolver.visit_Assign(node)
    uses_jinja = any(a.split(".")[0] == "jinja2" for a in resolver.aliases.values())
    found: list[str] = []
    for module in resolver.star_modules:
        if module in FORBIDDEN:
            found.append(f"{path.name}: from {module} import *")
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = resolver.resolve(node)
            if dotted in ("importlib.import_module", "yaml.load"):
                continue  # judged at the call (below): own modules only / a safe Loader only
            if dotted and _forbidden(dotted):
                found.append(f"{where} references {dotted}")
            elif dotted and dotted.endswith(".<dynamic>") and dotted.split(".")[0] in {m.split(".")[0] for m in FORBIDDEN if m != "builtins"}:
                found.append(f"{where} fetches a computed attribute of {dotted}")
        if not isinstance(node, ast.Call):
            continue
        func = resolver.resolve(node.func)
        if func == "builtins.getattr" and len(node.args) >= 2:
            inner = resolver.resolve(node)
            if inner and (_forbidden(inner) or (inner.endswith(".<dynamic>") and inner.split(".")[0] in FORBIDDEN)):
                found.append(f"{where} getattr reaches {inner}")
        if func in ("importlib.import_module", "builtins.__import__") and not _own_module(node):
            found.append(f"{where} imports a module at run time ({resolver.resolve(node)})")
        if func == "yaml.load" and not _safe_yaml_loader(node, resolver):
            found.append(f"{where} calls yaml.load without a safe Loader")
        if func in ("numpy.load",) and _np_load_may_unpickle(node):
            found.append(f"{where} calls numpy.load without allow_pickle=False")
        if isinstance(node.func, ast.Attribute):
            if node.func.attr in FORBIDDEN_METHOD_NAMES:
                found.append(f"{where} calls .{node.func.attr}()")
            elif uses_jinja and node.func.attr in JINJA_RENDERING:
                found.append(f"{where} calls .{node.func.attr}() in a module that uses jinja2")
    return sorted(set(found))


# Run-time imports of the product's own modules (lazy loading): the argument is a constant prefix
# "weightwarden." or the lookup table named here, whose values the test checks are weightwarden modules.
OWN_MODULE_TABLES = {"weightwarden.integrity": "_EXPORTS", "weightwarden.artifact": "_EXPORTS",
                     "weightwarden.core": "_EXPORTS"}  # package -> its table


def _own_module(call: ast.Call) -> bool:
    if not call.args:
        return False
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value.startswith("weightwarden.")
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value).startswith("weightwarden.")
    return isinstance(arg, ast.Name) and arg.id == "module"  # a package's __getattr__: module = _EXPORTS.get(name)


def _safe_yaml_loader(call: ast.Call, resolver: _Resolver) -> bool:
    for kw in call.keywords:
        if kw.arg == "Loader":
            loader = resolver.resolve(kw.value) or ""
            return loader in ("yaml.SafeLoader", "yaml.CSafeLoader")
    return False


def test_lazy_import_tables_name_only_our_modules() -> None:
    import importlib

    for module, table in OWN_MODULE_TABLES.items():
        values = getattr(importlib.import_module(module), table).values()
        assert values and all(str(v).startswith("weightwarden.") for v in values)


def _np_load_may_unpickle(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg is None:
            return True  # np.load(path, **kw): allow_pickle may be in kw
        if kw.arg == "allow_pickle":
            return not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
    return len(call.args) >= 3  # positional allow_pickle


def test_no_module_calls_an_executing_loader() -> None:
    violations = [v for path in sorted(PACKAGE.rglob("*.py")) for v in _violations(path)]
    assert not violations, "\n".join(violations)


PROBES = {
    "alias": "import pickle as pk\npk.loads(b'')\n",
    "from_import": "from pickle import loads\nloads(b'')\n",
    "from_import_as": "from pickle import loads as parse\nparse(b'')\n",
    "star": "from pickle import *\n",
    "getattr_const": "import pickle\ngetattr(pickle, 'loads')(b'')\n",
    "getattr_dynamic": "import pickle\nname = 'lo' + 'ads'\ngetattr(pickle, name)(b'')\n",
    "importlib": "import importlib\nimportlib.import_module('pickle').loads(b'')\n",
    "dunder_import": "__import__('pickle').loads(b'')\n",
    "yaml_unsafe": "import yaml\nyaml.unsafe_load('a: 1')\n",
    "yaml_load": "import yaml as y\ny.load('a: 1')\n",
    "yaml_full_loader": "import yaml\nyaml.load('a: 1', Loader=yaml.FullLoader)\n",
    "exec": "exec('1')\n",
    "eval": "eval('1')\n",
    "builtins_exec": "import builtins\nbuiltins.exec('1')\n",
    "np_kwargs": "import numpy as np\nkw = {}\nnp.load('x', **kw)\n",
    "np_allow": "from numpy import load\nload('x', allow_pickle=True)\n",
    "torch_alias": "import torch as T\nT.load('x')\n",
    "joblib_from": "from joblib import load as jl\njl('x')\n",
    "assigned_alias": "import pickle\nf = pickle.loads\nf(b'')\n",
    "marshal": "import marshal\nmarshal.loads(b'')\n",
    "jinja_render": "import jinja2\njinja2.Environment().from_string('x').render()\n",
    "unpickler": "import pickle, io\npickle.Unpickler(io.BytesIO(b'')).load()\n",
    "keras": "import keras\nkeras.models.load_model('x')\n",
}
CLEAN = (
    "import numpy as np\nimport pickletools\nnp.load('x', allow_pickle=False)\npickletools.genops(b'')\n"
    "import re\nre.compile('x')\nimport yaml\nyaml.load('a', Loader=yaml.SafeLoader)\n"
    "import importlib\nimportlib.import_module('weightwarden.scan')\n"
)


def test_the_checker_catches_every_disguise(tmp_path) -> None:
    missed = []
    for name, source in PROBES.items():
        probe = tmp_path / f"{name}.py"
        probe.write_text(source)
        if not _violations(probe):
            missed.append(name)
    assert not missed, missed
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN)
    assert not _violations(clean), _violations(clean)
