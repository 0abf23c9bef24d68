"""Build ``weightwarden/picklevm/data/resolution.json`` by introspecting the installed libraries.

Developer tool, never run by the product (the product must not import model libraries at scan time). It
writes the data the pickle policy resolves names with:

* ``modules``: every module of the covered libraries that imported cleanly (so a dotted name can be split
  into "module" and "attribute hops" the way ``pickle``'s ``find_class`` does);
* ``reexports``: ``"module.attr" -> "canonical"`` for attributes of those modules that are *other* modules
  (``sklearn.utils.validation.np -> numpy``) or callables defined elsewhere whose canonical name the policy
  denies (``sklearn.utils._joblib.load -> joblib.numpy_pickle.load``);
* ``classes``: the exact ``module.qualname`` of every class *defined* in a covered ML module (where pickle
  writes it), the allowlist of library classes;
* ``provenance``: Python and library versions the table was read from.

The libraries whose checkpoints the policy allows by an exact, hand-checked name list (Hugging Face
``transformers`` / ``accelerate`` / ``tokenizers``, PEFT, OmegaConf, pandas and the tree-boosting libraries,
:data:`RESOLVE_ONLY`) are read for ``modules`` and ``reexports`` only, never for ``classes``: their modules
import ``torch.distributed``, ``threading``, ``os``... under other names (``transformers.training_args.dist``),
and a name spelled through such an alias must resolve to its target (red team round 5), while their classes
run side effects when called (``TrainingArguments.__post_init__``, ``PartialState.__init__``), so none of them
is allowed wholesale.

``tests/test_resolution_table.py`` checks the table against the installed libraries again.
Run: ``python scripts/build_resolution_table.py``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import platform
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "weightwarden" / "picklevm" / "data" / "resolution.json"

# Packages walked recursively (their classes become allowlisted if under CLASS_ROOTS).
PACKAGES = ["sklearn", "scipy.sparse", "scipy.interpolate", "scipy.spatial", "scipy.stats", "torch.nn",
            "torch.optim", "joblib", "numpy"]
# Single modules (no walk): the tensor rebuilders and the stdlib modules benign pickles name.
MODULES = [
    "torch", "torch._utils", "torch._tensor", "torch.storage", "torch.serialization", "torch.types",
    "collections", "copyreg", "argparse", "pathlib", "datetime", "decimal", "fractions", "uuid", "re",
    "typing", "_codecs", "codecs", "functools", "operator", "builtins", "os", "posixpath", "io", "types",
    "inspect", "logging", "shutil", "subprocess", "pickle", "importlib", "pydoc", "pkgutil", "runpy",
    "tempfile", "glob", "platform", "sys", "dataclasses", "enum", "abc", "warnings", "contextlib",
    "numbers", "math", "copy", "weakref", "textwrap", "string", "json", "zipfile", "tarfile", "socket",
]
# Resolution only (modules and re-exports, no classes): the libraries the policy's exact allow-list names.
# Packages are walked; a library that is not installed is skipped (and stays out of the provenance).
RESOLVE_ONLY_PACKAGES = ["tokenizers", "peft.tuners", "peft.utils", "omegaconf", "pandas.core", "pandas._libs"]
RESOLVE_ONLY_MODULES = [
    "transformers", "transformers.training_args", "transformers.training_args_seq2seq", "transformers.trainer_utils",
    "transformers.debug_utils", "transformers.utils", "transformers.utils.generic", "transformers.trainer_pt_utils",
    "transformers.integrations", "transformers.integrations.deepspeed", "accelerate", "accelerate.state",
    "accelerate.utils", "accelerate.utils.dataclasses", "peft", "pandas", "xgboost", "xgboost.core",
    "xgboost.sklearn", "lightgbm", "lightgbm.basic", "lightgbm.sklearn", "catboost", "catboost.core",
]
VERSIONED = ("torch", "sklearn", "numpy", "scipy", "joblib", "transformers", "accelerate", "tokenizers", "peft",
             "omegaconf", "pandas", "xgboost", "lightgbm", "catboost")
# Classes defined under these module prefixes are what ML checkpoints legitimately construct.
CLASS_ROOTS = ("sklearn.", "scipy.sparse.", "scipy.interpolate.", "scipy.spatial.", "scipy.stats._distn",
               "torch.nn.modules.", "torch.nn.utils.", "torch.optim.", "numpy.dtypes")
CLASS_EXCLUDED = ("sklearn.datasets", "sklearn.externals", "sklearn.utils._testing", "sklearn.utils.estimator_checks",
                  "sklearn.utils.parallel", "sklearn.utils.fixes", "sklearn.experimental", "sklearn.utils._show_versions",
                  "sklearn._build_utils", "sklearn.conftest", "sklearn.utils._mocking", "scipy.sparse.linalg._dsolve")
SKIP_PARTS = {"tests", "test", "testing", "conftest", "_testing", "benchmarks", "f2py", "distutils", "setup"}


def _walk(package: str) -> list[str]:
    names = [package]
    try:
        mod = importlib.import_module(package)
    except Exception:  # noqa: BLE001 - a library that is not installed is simply not covered
        return []
    path = getattr(mod, "__path__", None)
    if path is None:
        return names
    for info in pkgutil.walk_packages(path, prefix=package + ".", onerror=lambda _n: None):
        if SKIP_PARTS & set(info.name.split(".")):
            continue
        names.append(info.name)
    return names


def main() -> None:
    sys.path.insert(0, str(OUT.parent.parent.parent.parent))
    from weightwarden.picklevm import resolution
    from weightwarden.picklevm.policy import Verdict, classify  # the hand-written deny tables

    # Judge spellings without the table being rebuilt: with it, ``here`` would already resolve to its target,
    # look dangerous itself, and the re-export would be dropped (a second run lost entries).
    resolution.TABLE_PATH = OUT.parent / "does-not-exist.json"
    resolution.table.cache_clear()
    resolution.resolve.cache_clear()
    classify.cache_clear()

    warnings.simplefilter("ignore")
    wanted = [m for p in PACKAGES + RESOLVE_ONLY_PACKAGES for m in _walk(p)] + MODULES + RESOLVE_ONLY_MODULES
    modules: dict[str, object] = {}
    for name in wanted:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - optional sub-modules with missing extras
            continue
    reexports: dict[str, str] = {}
    classes: set[str] = set()
    for name, mod in sorted(modules.items()):
        for attr, value in sorted(vars(mod).items()):
            here = f"{name}.{attr}"
            if inspect.ismodule(value):
                if value.__name__ != here:
                    reexports[here] = value.__name__
                continue
            vmod = getattr(value, "__module__", None)
            qual = getattr(value, "__qualname__", None)
            if not isinstance(vmod, str) or not isinstance(qual, str) or "<" in qual:
                continue
            canonical = f"{vmod}.{qual}"
            # Only where the spelling hides it: os.system stays os.system (not posix.system).
            if (
                canonical != here
                and callable(value)
                and classify(canonical).verdict is Verdict.DANGEROUS
                and classify(here).verdict is not Verdict.DANGEROUS
            ):
                reexports[here] = canonical
            if (
                inspect.isclass(value)
                and vmod == name
                and qual == attr
                and name.startswith(CLASS_ROOTS)
                and not name.startswith(CLASS_EXCLUDED)
                and not SKIP_PARTS & set(name.split("."))
                and not attr.startswith("__")
            ):
                classes.add(here)
    versions = {"python": platform.python_version()}
    for lib in VERSIONED:
        if lib not in modules and not any(m.startswith(lib + ".") for m in modules):
            continue  # not installed (or nothing of it imported): not covered
        try:
            versions[lib] = importlib.import_module(lib).__version__
        except Exception:  # noqa: BLE001
            continue
    table = {
        "schema": "weightwarden.resolution-table/v1",
        "provenance": versions,
        "modules": sorted(modules),
        "reexports": dict(sorted(reexports.items())),
        "classes": sorted(classes),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(modules)} modules, {len(reexports)} re-exports, {len(classes)} classes; {versions}")


if __name__ == "__main__":
    main()
