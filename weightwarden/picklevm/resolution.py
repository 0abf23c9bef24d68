"""Static name resolution: what a dotted name a pickle spells actually denotes.

``pickle``'s ``find_class(module, name)`` imports ``module`` and then follows ``name`` attribute by
attribute (protocol 4+). Every module also exposes what *it* imported, so ``sklearn.utils.validation.np.load``
is ``numpy.load`` and ``<allowed module>.types.CodeType`` is ``types.CodeType``. Judging a name by its spelling
lets such paths through an allowlist; this module turns a spelled name into the object it reaches, without
importing anything, from two tables:

* the generated table ``data/resolution.json`` (``scripts/build_resolution_table.py`` reads it from the
  installed libraries; its ``provenance`` names their versions, and ``tests/test_resolution_table.py``
  checks it against them): which attributes of the covered libraries' modules are other modules or
  dangerous callables defined elsewhere, which names are modules, and the exact classes those libraries
  define (the class allowlist);
* :data:`STDLIB_REEXPORTS`, hand-written for standard-library modules that import dangerous ones.

The product only *reads* the JSON table; it never imports a model library to resolve a name.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).resolve().parent / "data" / "resolution.json"

STDLIB_REEXPORTS: dict[str, str] = {}
for _mod, _names in {
    "pathlib": "os sys io re fnmatch ntpath posixpath",
    "pathlib._local": "os sys io",
    "shutil": "os sys fnmatch",
    "tempfile": "_os os _shutil shutil",
    "glob": "os sys re fnmatch",
    "subprocess": "os sys builtins signal",
    "os": "sys abc st path",
    "posixpath": "os sys genericpath",
    "ntpath": "os sys genericpath",
    "genericpath": "os",
    "site": "os sys builtins",
    "sysconfig": "os sys",
    "platform": "os sys subprocess",
    "pydoc": "os sys builtins importlib inspect subprocess tempfile",
    "inspect": "os sys importlib builtins types",
    "logging": "os sys threading",
    "logging.config": "os sys",
    "multiprocessing": "os sys",
    "runpy": "os sys importlib",
    "pdb": "os sys bdb code",
    "code": "sys builtins",
    "timeit": "sys gc time",
    "cProfile": "sys",
    "profile": "os sys importlib",
    "trace": "os sys",
    "webbrowser": "os sys shutil subprocess",
    "zipfile": "os sys io shutil importlib",
    "tarfile": "os sys io shutil",
    "importlib": "sys",
    "pickle": "sys io codecs re",
    "_pickle": "sys",
    "copyreg": "sys",
    "functools": "sys",
    "typing": "sys types functools operator",
    "dataclasses": "sys builtins inspect",
    "ctypes": "os sys",
    "numpy": "os sys",
    "numpy.testing": "os sys",
    "numpy.lib.npyio": "os pickle",
    "numpy.lib._npyio_impl": "os pickle",
    "torch": "os sys builtins inspect",
    "torch.serialization": "os sys io pickle shutil tempfile",
    "torch.hub": "os sys",
    "torch._utils": "sys",
    "joblib.numpy_pickle": "os sys io pickle",
    "joblib.numpy_pickle_utils": "os io pickle",
    "sklearn.utils": "os sys",
    "sklearn.utils.fixes": "os sys",
    "sklearn.utils._testing": "os sys",
    "argparse": "os sys re",
    "collections": "sys",
    "uuid": "os sys",
    "socket": "os sys",
    "asyncio": "os sys subprocess",
    "asyncio.subprocess": "subprocess",
    "http.server": "os sys socket",
    "urllib.request": "os sys socket",
    "sqlite3": "os",
    "shelve": "pickle",
    "dill": "os sys pickle",
    "dill._dill": "os sys pickle",
    "cloudpickle": "os sys pickle",
}.items():
    for _n in _names.split():
        STDLIB_REEXPORTS[f"{_mod}.{_n}"] = _n.lstrip("_")
STDLIB_REEXPORTS["os.st"] = "stat"
STDLIB_REEXPORTS["pathlib.ntpath"] = "ntpath"


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The generated table (read once)."""
    try:
        data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a broken install: resolve with the hand-written part only
        data = {"provenance": {}, "modules": [], "reexports": {}, "classes": []}
    return {
        "provenance": data.get("provenance", {}),
        "modules": frozenset(data.get("modules", ())),
        "reexports": {**data.get("reexports", {}), **STDLIB_REEXPORTS},
        "classes": frozenset(data.get("classes", ())),
    }


def covered_libraries() -> frozenset[str]:
    """Top-level libraries whose classes the table lists exactly (their spelling heuristics are off)."""
    return frozenset(k for k in table()["provenance"] if k != "python")


def is_module(name: str) -> bool:
    return name in table()["modules"]


def is_table_class(name: str) -> bool:
    return name in table()["classes"]


@lru_cache(maxsize=65536)
def resolve(target: str) -> str:
    """Follow re-exports hop by hop: ``sklearn.utils.validation.np.load`` → ``numpy.load``.

    ``os.path.*`` keeps its spelling (it is how people write it; the deny table covers it). A name that
    needs no hop comes back unchanged.
    """
    reexports = table()["reexports"]
    for _ in range(16):  # each hop shortens or re-roots the name; bounded against cycles
        parts = target.split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            repl = reexports.get(head)
            if repl is not None and repl != head:
                if head == "os.path":
                    return target
                target = ".".join([repl, *parts[i:]])
                break
        else:
            return target
    return target


__all__ = ["STDLIB_REEXPORTS", "covered_libraries", "is_module", "is_table_class", "resolve", "table"]
