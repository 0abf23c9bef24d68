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
* ``provenance``: Python and library versions the table was read from;
* ``excluded_classes``: candidate classes the class audit left out, with the reason.

It also writes ``data/class_audit.json`` (not read at scan time): for every allowed class, where its
``__setstate__``/``__setattr__``/``__reduce__``/``__reduce_ex__``/``__init__``/``__post_init__``/``__new__``/
``__set_name__`` and property setters come from when not from the builtins, with the same provenance and the
hand-reviewed hook list (red team round 6: every allowed class is SAFE to rebuild with *any* BUILD state, so an
unreviewed ``__setstate__`` keeps a class out; see :func:`audit_class`).

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
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "weightwarden" / "picklevm" / "data" / "resolution.json"
AUDIT_OUT = OUT.parent / "class_audit.json"

# Packages walked recursively (their classes become allowlisted if under CLASS_ROOTS).
# scipy.stats is walked for modules/re-exports only: its distributions' __setstate__ exec()s a code template taken
# from the pickle state (red team round 6), so no scipy.stats class is a class root.
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
CLASS_ROOTS = ("sklearn.", "scipy.sparse.", "scipy.interpolate.", "scipy.spatial.",
               "torch.nn.modules.", "torch.nn.utils.", "torch.optim.", "numpy.dtypes")
CLASS_EXCLUDED = ("sklearn.datasets", "sklearn.externals", "sklearn.utils._testing", "sklearn.utils.estimator_checks",
                  "sklearn.utils.parallel", "sklearn.utils.fixes", "sklearn.experimental", "sklearn.utils._show_versions",
                  "sklearn._build_utils", "sklearn.conftest", "sklearn.utils._mocking", "scipy.sparse.linalg._dsolve",
                  # callback monitors open a multiprocessing Listener (socket + thread) in __setstate__
                  "sklearn.callback")
SKIP_PARTS = {"tests", "test", "testing", "conftest", "_testing", "benchmarks", "f2py", "distutils", "setup"}


# --- Class audit (red team round 6) -------------------------------------------------------------------------
# Every allowed class is SAFE to rebuild with *any* BUILD state, so what its state hooks do is part of the
# allowlist. For each candidate class the generator records, as data, which hook implementations it inherits from
# outside the builtins; a class whose BUILD-time hook (``__setstate__``, ``__setattr__`` for slot state) is not in
# :data:`REVIEWED_STATE_HOOKS` is left out of ``classes`` (listed in ``excluded`` with the reason), and so is a class
# whose hooks (constructors included: a table class may be called) reach exec/eval/compile/import/open/load/shell
# code within two ``self.`` calls (:data:`_DANGEROUS_CALL`).
STATE_HOOKS = ("__setstate__", "__setattr__")
OTHER_HOOKS = ("__reduce__", "__reduce_ex__", "__init__", "__post_init__", "__new__", "__set_name__")
# Hand-reviewed BUILD-time hook implementations ("module.Class.hook" where the function is defined), with why they
# are safe with an attacker's state. Keep it short: a new implementation fails the build until someone reads it.
REVIEWED_STATE_HOOKS: dict[str, str] = {
    "sklearn.base.BaseEstimator.__setstate__": "version warning, then __dict__.update(state)",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor.__setstate__":
        "BaseEstimator's, then casts the nodes array's dtype",
    "sklearn.isotonic.IsotonicRegression.__setstate__": "BaseEstimator's, then builds an interp1d from two arrays",
    "sklearn.utils._bunch.Bunch.__setstate__": "does nothing",
    "sklearn.utils._bunch.Bunch.__setattr__": "item assignment into the dict",
    "scipy.interpolate._rbfinterp.RBFInterpolator.__setstate__": "unpacks tuples into attributes, array namespace",
    "scipy.sparse._coo.coo_matrix.__setstate__": "renames row/col, then __dict__.update(state)",
    "scipy.spatial.transform._rotation.Rotation.__setstate__": "copies a quaternion array, picks a backend",
    "torch.nn.modules.module.Module.__setstate__": "__dict__.update(state), then fills missing hook dicts",
    "torch.nn.modules.module.Module.__setattr__": "registers Parameters/Modules/buffers by type, else object.__setattr__",
    "torch.nn.modules.module._WrappedHook.__setstate__": "stores the hook, a weakref to the module",
    "torch.nn.modules.activation.LogSoftmax.__setstate__": "Module's, then defaults dim",
    "torch.nn.modules.activation.Softmax.__setstate__": "Module's, then defaults dim",
    "torch.nn.modules.activation.Softmin.__setstate__": "Module's, then defaults dim",
    "torch.nn.modules.activation.MultiheadAttention.__setstate__": "Module's, then defaults a flag",
    "torch.nn.modules.conv._ConvNd.__setstate__": "Module's, then defaults padding_mode",
    "torch.nn.modules.pooling.AvgPool3d.__setstate__": "Module's, then defaults two flags",
    "torch.nn.modules.rnn.RNNBase.__setstate__": "Module's, then rebuilds the flat weight name lists (no calls out)",
    "torch.nn.modules.rnn.RNNBase.__setattr__": "Module's, then refreshes flat weights when a weight name is set",
    "torch.nn.modules.transformer.TransformerEncoderLayer.__setstate__": "Module's, then defaults activation (F.relu)",
    "torch.nn.modules.transformer.TransformerDecoderLayer.__setstate__": "Module's, then defaults activation (F.relu)",
    "torch.nn.modules.upsampling.Upsample.__setstate__": "Module's, then defaults a flag",
    "torch.optim.optimizer.Optimizer.__setstate__": "__dict__.update(state), then fills missing hook dicts",
    **{
        f"torch.optim.{m}.{c}.__setstate__": "Optimizer's, then setdefault() on each param group's options"
        for m, c in (("adadelta", "Adadelta"), ("adagrad", "Adagrad"), ("adam", "Adam"), ("adamax", "Adamax"),
                     ("adamw", "AdamW"), ("asgd", "ASGD"), ("nadam", "NAdam"), ("radam", "RAdam"),
                     ("rmsprop", "RMSprop"), ("rprop", "Rprop"), ("sgd", "SGD"))
    },
}
# Compiled hooks are reviewed by the module that defines them (no Python source to read; the review read the .pyx).
REVIEWED_COMPILED_MODULES: dict[str, str] = {
    "numpy": "numpy.dtype.__setstate__: validates and stores the dtype description",
    "sklearn": "scikit-learn Cython structures (trees, metrics, neighbors, losses, datasets): the .pyx __setstate__ "
               "copies arrays into typed C fields and checks their dtypes/shapes; no Python callable is looked up",
    "scipy.spatial": "cKDTree: rebuilds the C tree from arrays",
}
# Cython's generated pickling support assigns typed cdef fields from the state tuple and nothing else.
_CYTHON_GENERATED = ("__setstate_cython__", "__reduce_cython__")
_DANGEROUS_CALL = re.compile(
    r"(?<![\w.])(exec|eval|compile|__import__|open|breakpoint)\(|\b(os\.system|os\.popen|subprocess\.\w+|"
    r"import_module|importlib\.\w+|pickle\.loads?|torch\.load|joblib\.load|np\.load|numpy\.load|marshal\.loads|"
    r"ctypes\.\w+|Listener|Thread)\("
)


# Calls a hook makes on values it got from the state or its arguments (red team round 7): Python looks a plain
# method such as ``setdefault`` up in an instance's ``__dict__`` first, and ``copy.deepcopy`` calls an instance's
# ``__deepcopy__``, so these are calls into whatever the pickle put there. Recorded per hook (``value_calls``), not
# judged here: the scanner accepts a planted value only when it is SAFE to call with any arguments, and a
# REBUILD_ONLY class stored as a value is a finding (weightwarden.scan.rules.pickle).
_VALUE_CALL = re.compile(
    r"(?:(?<![\w.])(?!self\.)(?:\w+\.)*\w+|self\.\w+(?:\.\w+)*|[\])])\."
    r"(setdefault|pop|popitem|get|items|keys|values|update|copy|clone|__deepcopy__|__copy__)\("
    r"|(?<![\w.])((?:copy\.)?deepcopy|copy\.copy)\("
)
_ITERATION = re.compile(r"\bfor\s+[\w, ()]+\s+in\s+(?!range\()")


def value_calls(code: str) -> list[str]:
    """The calls ``code`` makes on values that are not ``self`` itself: ``x.setdefault``, ``deepcopy``, ``for .. in x``."""
    found = set()
    for m in _VALUE_CALL.finditer(code):
        found.add(m.group(1) or ("deepcopy" if "deep" in m.group(2) else "copy"))
    if _ITERATION.search(code):
        found.add("iteration")
    return sorted(found)


def _impl(cls: type, hook: str) -> str | None:
    """Where ``cls`` gets ``hook`` from ("module.Class.hook"), or None when it is object's/a builtin's."""
    for klass in cls.__mro__:
        if hook in vars(klass):
            if klass.__module__ == "builtins":
                return None
            return f"{klass.__module__}.{klass.__qualname__}.{hook}"
    return None


def _source(func: object) -> str:
    try:
        return inspect.getsource(func)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


def _reached_code(cls: type, func: object) -> str:
    """The source of ``func`` and of the ``self.x(...)`` methods it calls, two levels deep."""
    body = _source(func)
    frontier, seen = [body], set()
    for _ in range(2):
        nxt = []
        for text in frontier:
            for callee in set(re.findall(r"self\.(\w+)\(", text)) - seen:
                seen.add(callee)
                sub = _source(getattr(cls, callee, None))
                body += sub
                nxt.append(sub)
        frontier = nxt
    return body


def audit_class(cls: type) -> tuple[dict[str, object], str | None]:
    """The class's hook record and, when it must not be allowed, why."""
    record: dict[str, object] = {}
    why: str | None = None
    for hook in STATE_HOOKS + OTHER_HOOKS:
        impl = _impl(cls, hook)
        if impl is None:
            continue
        record[hook] = impl
        func = getattr(cls, hook)
        if hook in STATE_HOOKS and why is None:
            compiled = not inspect.isfunction(inspect.unwrap(func)) if callable(func) else True
            reviewed = impl in REVIEWED_STATE_HOOKS or (
                compiled
                and (
                    getattr(func, "__name__", "") in _CYTHON_GENERATED
                    or any(impl.startswith(m + ".") for m in REVIEWED_COMPILED_MODULES)
                )
            )
            if not reviewed:
                why = f"unreviewed {hook} ({impl})"
        reached = _reached_code(cls, func)
        hit = _DANGEROUS_CALL.search(reached)
        if hit and why is None:
            why = f"{hook} ({impl}) reaches {hit.group(0)}"
        calls = value_calls(reached)
        if calls:
            value_record = record.setdefault("value_calls", {})
            assert isinstance(value_record, dict)
            value_record[hook] = calls
    setters = []
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            continue
        for attr, value in vars(klass).items():
            fset = getattr(value, "fset", None)
            if isinstance(value, property) and fset is not None:
                setters.append(f"{klass.__module__}.{klass.__qualname__}.{attr}")
                hit = _DANGEROUS_CALL.search(_reached_code(cls, fset))
                if hit and why is None:
                    why = f"property setter {attr} reaches {hit.group(0)}"
    if setters:
        record["setters"] = sorted(setters)
    return record, why


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
    audit: dict[str, dict[str, object]] = {}
    excluded: dict[str, str] = {}
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
                record, why = audit_class(value)
                if why is not None:
                    excluded[here] = why
                    continue
                classes.add(here)
                if record:
                    audit[here] = record
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
        # The classes the audit left out, and why (the audit itself is in AUDIT_OUT, not read at scan time).
        "excluded_classes": dict(sorted(excluded.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    # What each allowed class's state/constructor hooks are, with the provenance they were read from.
    record = {
        "schema": "weightwarden.class-audit/v1",
        "provenance": versions,
        "reviewed_state_hooks": REVIEWED_STATE_HOOKS,
        "reviewed_compiled_modules": REVIEWED_COMPILED_MODULES,
        "classes": dict(sorted(audit.items())),
    }
    AUDIT_OUT.write_text(json.dumps(record, indent=0, sort_keys=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(modules)} modules, {len(reexports)} re-exports, {len(classes)} classes "
          f"({len(excluded)} left out by the class audit); {versions}")


if __name__ == "__main__":
    main()
