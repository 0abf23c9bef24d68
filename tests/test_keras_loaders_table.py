"""Red team round 24: every Keras deserialiser that decodes a config value (or opens a path, imports, unpickles)
must be in :data:`weightwarden.artifact.readers.keras_loaders.KERAS_DECODERS`, judged and tied to a rule.

The test reads the installed Keras *source* with ``ast`` (Keras is never imported): ``from_config`` and
``__init__`` of every class, and the methods of the same class they call (``self.x(...)`` / ``cls.x(...)``,
one level: ``IndexLookup.__init__`` reads its vocabulary file in ``set_vocabulary``). A call to a decoder,
unpickler, importer or file opener there that the table does not list fails the test, so a new Keras release
that adds one is noticed. Keras is looked for in the test interpreter and in ``WW_TEST_KERAS_PATH`` (the
round-20 ``pip --target`` folder); without either the test is skipped with that reason.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from pathlib import Path

import pytest

from weightwarden.artifact.readers.keras_loaders import KERAS_DECODERS, decoder_keys
from weightwarden.scan.rules import keras as keras_rules

# Calls that turn bytes or a path into objects, code or imports. Matched against the called expression's text.
DECODING_CALL = re.compile(
    r"b64decode|decodebytes|(^|\.)torch\.load$|pickle|marshal|(^|\.)dill\b|cloudpickle|(^|\.)(np|numpy)\.load$"
    r"|func_load|import_module|__import__|importlib|saved_model\.load|gfile|jax2tf|load_model"
    r"|^(open|eval|exec|compile)$"
)
ENTRY_METHODS = ("from_config", "__init__")


def _keras_src_dirs() -> list[Path]:
    dirs: list[Path] = []
    for extra in filter(None, os.environ.get("WW_TEST_KERAS_PATH", "").split(os.pathsep)):
        if (Path(extra) / "keras" / "src").is_dir():
            dirs.append(Path(extra) / "keras" / "src")
    spec = importlib.util.find_spec("keras")  # finds the package without importing it (no backend needed)
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if (Path(loc) / "src").is_dir():
                dirs.append(Path(loc) / "src")
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _calls(fn: ast.FunctionDef) -> list[str]:
    return [ast.unparse(c.func) for c in ast.walk(fn) if isinstance(c, ast.Call)]


def _decoding_methods(src: Path) -> dict[tuple[str, str], list[str]]:
    """``(class, method) -> [decoding calls]`` over keras/src (tests left out)."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if path.name.endswith("_test.py") or "tests" in rel.parts or "testing" in rel.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            methods = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
            reached: set[str] = set()
            for name in ENTRY_METHODS:
                if name in methods:
                    reached.add(name)
                    for call in _calls(methods[name]):
                        head, _, attr = call.partition(".")
                        if head in ("self", "cls") and attr in methods:
                            reached.add(attr)
            for name in sorted(reached):
                hits = [c for c in _calls(methods[name]) if DECODING_CALL.search(c)]
                if hits:
                    found[(cls.name, name)] = hits
    return found


@pytest.fixture(scope="module")
def keras_sources() -> list[Path]:
    dirs = _keras_src_dirs()
    if not dirs:
        pytest.skip("no Keras source found (install the dev extra or set WW_TEST_KERAS_PATH to a folder holding keras)")
    return dirs


def test_every_decoding_deserialiser_is_in_the_table(keras_sources: list[Path]) -> None:
    known = decoder_keys()
    for src in keras_sources:
        found = _decoding_methods(src)
        missing = {k: v for k, v in found.items() if k not in known}
        assert not missing, (
            f"{src}: Keras deserialisers that decode/open/import and are not judged in keras_loaders.KERAS_DECODERS "
            f"(add each with what the loader does and the rule that reports it): {missing}"
        )
        # The survey must see the known decoders at all, or it has gone blind (a renamed helper, a moved file).
        assert ("TorchModuleWrapper", "from_config") in found, sorted(found)
        assert ("Lambda", "from_config") in found, sorted(found)


def test_every_table_entry_is_judged() -> None:
    rule_ids = {r.id for r in keras_rules.RULES}
    for d in KERAS_DECODERS:
        assert d.handled_by and d.does and d.versions, d
        named = set(re.findall(r"WW-KERAS-\d{3}", d.handled_by))
        assert named <= rule_ids, (d, named - rule_ids)
        assert named or d.handled_by.startswith(("none needed", "generic walk")), d


# Red team round 25: Keras 3.15's load_model opens Orbax checkpoint folders, a branch no reader covered. Every
# branch of the loading entry points (the suffix literals and is_* predicates that select one, and the loader
# functions each reaches) must be in keras_loaders.KERAS_LOAD_PATHS with the reader that answers it.
LOAD_ENTRY_POINTS = {
    "saving_api.py": ("load_model", "load_weights", "_load_model_from_orbax_checkpoint"),
    "saving_lib.py": ("load_model", "load_weights_only"),
}
# Matched against the last dotted segment of the called expression.
LOADER_CALL = re.compile(
    r"(^|\.)(\w*load\w*|\w*_from_\w+|is_\w+|snapshot_download|Checkpointer|\w*IOStore|ZipFile|copy)$"
)
# Calls that match LOADER_CALL by name but load nothing (state of the model being built, memory checks).
NOT_LOADERS = frozenset({"model.get_state_tree", "model.set_state_tree", "is_memory_sufficient", "_raise_loading_failure"})


def _load_branches(fn: ast.FunctionDef) -> tuple[set[str], set[str]]:
    """``(branch literals, loader calls)`` of one entry point: the arguments of its endswith/startswith calls as
    written, and the calls LOADER_CALL names."""
    calls = [c for c in ast.walk(fn) if isinstance(c, ast.Call)]
    names = {ast.unparse(c.func) for c in calls}
    literals = {ast.unparse(a) for c in calls if ast.unparse(c.func).endswith((".endswith", ".startswith"))
                for a in c.args}
    return literals, {n for n in names if LOADER_CALL.search(n) and n not in NOT_LOADERS}


def test_every_load_model_branch_is_in_the_table(keras_sources: list[Path]) -> None:
    from weightwarden.artifact.readers.keras_loaders import (
        KERAS_LOAD_PATHS,
        load_path_branches,
        load_path_calls,
    )

    for src in keras_sources:
        for fname, functions in LOAD_ENTRY_POINTS.items():
            tree = ast.parse((src / "saving" / fname).read_text(encoding="utf-8"))
            defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
            for name in functions:
                assert name in defs, f"{src}/saving/{fname}: {name} is gone; re-read Keras' loading entry points"
                key = f"{fname[:-3]}.{name}"
                literals, loaders = _load_branches(defs[name])
                missing = literals - load_path_branches(key)
                assert not missing, f"{key}: branches on {missing} not in keras_loaders.KERAS_LOAD_PATHS"
                unlisted = loaders - load_path_calls(key)
                assert not unlisted, f"{key}: loader calls {unlisted} not in keras_loaders.KERAS_LOAD_PATHS"
        # The survey must see the Orbax branch (round 25) and the zip branch, or it has gone blind.
        _, api_calls = _load_branches(next(n for n in ast.parse((src / "saving" / "saving_api.py").read_text(
            encoding="utf-8")).body if isinstance(n, ast.FunctionDef) and n.name == "load_model"))
        assert {"is_orbax_checkpoint", "saving_lib.load_model"} <= api_calls, api_calls
    for path in KERAS_LOAD_PATHS:
        assert path.handled_by and path.config_from and path.calls, path
        named = set(re.findall(r"WW-KERAS-\d{3}", path.handled_by))
        assert named <= {r.id for r in keras_rules.RULES}, (path, named)
