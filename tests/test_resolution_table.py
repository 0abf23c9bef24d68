"""Issue 11, class 1: the resolution table (picklevm/data/resolution.json) is what the installed libraries
really do. The product never imports these libraries at scan time; this test does, to check the data:

* its provenance names the installed versions (regenerate with scripts/build_resolution_table.py if not);
* every listed class is *defined* in the module it is listed under (so the allowlist names real classes,
  never a re-export);
* every re-export resolves, attribute by attribute, to the object it is recorded as;
* and the names an attacker spells through an allowlisted module resolve to what the policy denies.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

import pytest

from weightwarden.picklevm.policy import Verdict, classify
from weightwarden.picklevm.resolution import STDLIB_REEXPORTS, resolve, table


def _import(name: str):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def test_provenance_matches_installed_libraries() -> None:
    provenance = table()["provenance"]
    assert {"torch", "sklearn", "numpy", "scipy", "joblib"} <= set(provenance)
    for lib, version in provenance.items():
        if lib == "python":
            continue
        assert _import(lib).__version__ == version, f"{lib}: regenerate the table (scripts/build_resolution_table.py)"


def test_listed_classes_are_defined_where_listed() -> None:
    wrong = []
    for name in sorted(table()["classes"]):
        module_name, _, attr = name.rpartition(".")
        obj = getattr(_import(module_name), attr, None)
        if not (inspect.isclass(obj) and obj.__module__ == module_name and obj.__qualname__ == attr):
            wrong.append(name)
    assert not wrong, wrong[:20]
    assert len(table()["classes"]) > 500


def test_reexports_resolve_to_what_they_name() -> None:
    generated = {k: v for k, v in table()["reexports"].items() if k not in STDLIB_REEXPORTS}
    wrong = []
    for here, canonical in sorted(generated.items()):
        module_name, _, attr = here.rpartition(".")
        try:
            value = getattr(_import(module_name), attr)
        except Exception:  # noqa: BLE001 - a module that no longer imports cleanly is a stale table
            wrong.append(here)
            continue
        if inspect.ismodule(value):
            ok = value.__name__ == canonical
        else:
            ok = f"{value.__module__}.{value.__qualname__}" == canonical
        if not ok:
            wrong.append(here)
    assert not wrong, wrong[:20]


@pytest.mark.parametrize(
    "spelled",
    [
        "numpy._core.fromnumeric.types.CodeType",
        "numpy._core.fromnumeric.types.FunctionType",
        "numpy.lib._format_impl.io.FileIO",
        "sklearn.base.inspect.os.system",
        "numpy._core._methods.os.system",
        "numpy.lib._npyio_impl.pickle.loads",
        "logging.handlers.logging.FileHandler",
    ],
)
def test_paths_through_allowlisted_modules_reach_dangerous_objects(spelled: str) -> None:
    """The path really reaches that object in the installed libraries, and the policy calls it dangerous."""
    module_name, _, rest = spelled.partition(".")
    parts = spelled.split(".")
    for i in range(len(parts) - 1, 0, -1):  # longest importable module prefix, then attribute hops
        try:
            obj = _import(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        break
    real = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    assert classify(spelled).verdict is Verdict.DANGEROUS, (spelled, real)
    assert classify(real).verdict is Verdict.DANGEROUS or resolve(spelled) != spelled
