"""Code shipped with a model: Python files, bytecode and native modules a loader may import (red team round 21).

Readers only describe. This module names, from paths alone (nothing is imported or executed), what in a model
folder or archive is code a Python loader can import, and in which *loader context* it sits:

* a torch.package archive (or folder): ``PackageImporter`` needs a ``.data/extern_modules`` record; every
  ``*.py`` record becomes a module of the archive's own import system (``PackageImporter._add_file``), and every
  pickle ``load_pickle`` reads resolves its globals against those modules *first* (``_load_module``). The
  layout is recognised by that structure, whatever the file is called;
* a torch.hub repository: ``hubconf.py`` is executed by ``torch.hub.load(dir, source='local')`` with the folder
  inserted at the front of ``sys.path`` (``torch.hub._load_local``), so every code file under that folder is
  importable during the load;
* a TorchServe model archive (``MAR-INF/MANIFEST.json``): its handler and extra files run when the model is
  served;
* a sentence-transformers folder (``modules.json``): module types outside ``sentence_transformers.`` are imported
  from the folder's Python files (``SentenceTransformer._load_module_class_from_ref``: local paths need no
  ``trust_remote_code`` in 3.4-5.x);
* a diffusers pipeline folder (``model_index.json``): a component whose library is a file of the folder
  (``<component>/<library>.py``) and a custom pipeline are imported by ``get_class_obj_and_candidates`` /
  ``_get_custom_pipeline_class``; the ``trust_remote_code`` check sits in ``DiffusionPipeline.download`` (the hub
  path), which a local folder never goes through;
* anything else: code only a ``trust_remote_code`` loader (transformers ``auto_map``, ``custom_generate/``) or
  other shipped code imports.

The scan rules (:mod:`weightwarden.scan.rules.shipped`) turn the contexts into severities.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

# What the import system loads from a folder on sys.path or by file name (importlib.machinery's
# SOURCE_SUFFIXES, BYTECODE_SUFFIXES, EXTENSION_SUFFIXES on every platform; .pyw is a source suffix on
# Windows). Compared case-folded: on case-insensitive file systems X.PY imports.
_SOURCE = (".py", ".pyw")
_BYTECODE = (".pyc", ".pyo")
_NATIVE = (".so", ".pyd")

TORCH_PACKAGE_MARKER = ".data/extern_modules"  # PackageImporter._read_extern: the one record it requires


def code_file_kind(name: str) -> str | None:
    """``"Python source"``, ``"Python bytecode"``, ``"native extension module"`` or None, by the file name."""
    low = posixpath.basename(name).casefold()
    if low.endswith(_SOURCE):
        return "Python source"
    if low.endswith(_BYTECODE):
        return "Python bytecode"
    # Extension modules: name.so, name.cpython-313-x86_64-linux-gnu.so, name.abi3.so, name.pyd (not libfoo.so.1).
    if low.endswith(_NATIVE):
        return "native extension module"
    return None


def torch_package_module(rel: str) -> str | None:
    """The module name ``PackageImporter._add_file`` gives the record ``rel`` (relative to the archive's
    prefix), or None when it makes no module of it. ``.data/<dir>/...`` records are skipped; a record directly
    in ``.data/`` is not (that is torch's rule)."""
    *parents, last = rel.split("/")
    if len(parents) > 1 and parents[0].casefold() == ".data":  # miniz looks records up case-insensitively
        return None
    low = last.casefold()
    if low == "__init__.py":
        return ".".join(parents) or None
    if low.endswith(".py"):
        return ".".join([*parents, last[: -len(".py")]])
    return None


@dataclass(frozen=True, slots=True)
class CodeFile:
    """One code file of a tree: its path (relative to the tree), kind, and the loader contexts it sits in."""

    path: str
    kind: str
    contexts: tuple[str, ...]  # "torch-package", "torch-hub", "torchserve", "sentence-transformers", "diffusers"
    module: str | None = None  # its torch.package module name, when in a torch.package
    package_root: str | None = None  # the torch.package's root folder ("" for the tree's root)


def torch_package_roots(paths: list[str]) -> list[str]:
    """Folders of the tree that are torch.package roots (hold ``.data/extern_modules``); ``""`` is the root.

    Matched case-insensitively (red team round 22): ``PackageImporter`` finds records through miniz's
    ``mz_zip_reader_locate_file`` without ``MZ_ZIP_FLAG_CASE_SENSITIVE``, so ``.data/EXTERN_MODULES`` is the
    marker too (the zip reader models miniz's name lookups the same way)."""
    roots = []
    marker = TORCH_PACKAGE_MARKER.casefold()
    for p in paths:
        low = p.casefold()
        if low == marker:
            roots.append("")
        elif low.endswith("/" + marker):
            roots.append(p[: -len(TORCH_PACKAGE_MARKER) - 1])
    return roots


def code_files(paths: list[str]) -> list[CodeFile]:
    """Every code file among ``paths`` (POSIX paths relative to one folder or archive), with its contexts."""
    hub = [posixpath.dirname(p) for p in paths if posixpath.basename(p) == "hubconf.py"]
    mar = [p[: -len("MAR-INF/MANIFEST.json")].rstrip("/") for p in paths
           if p.casefold() == "mar-inf/manifest.json" or p.casefold().endswith("/mar-inf/manifest.json")]
    st = [posixpath.dirname(p) for p in paths if posixpath.basename(p) == "modules.json"]
    diffusers = [posixpath.dirname(p) for p in paths if posixpath.basename(p) == "model_index.json"]
    pkgs = torch_package_roots(paths)
    out = []
    for p in paths:
        kind = code_file_kind(p)
        if kind is None:
            continue
        contexts = []
        module = root = None
        for r in pkgs:
            rel = _under(p, r, fold=True)  # miniz: the package's records are found whatever their case
            if rel is not None:
                mod = torch_package_module(rel)
                if mod is not None:
                    contexts.append("torch-package")
                    module, root = mod, r
                    break
        if any(_under(p, d) is not None for d in hub):
            contexts.append("torch-hub")
        if any(_under(p, d) is not None for d in mar):
            contexts.append("torchserve")
        if any(_under(p, d) is not None for d in st) and kind == "Python source":
            contexts.append("sentence-transformers")
        if any(_under(p, d) is not None for d in diffusers) and kind == "Python source":
            contexts.append("diffusers")
        out.append(CodeFile(p, kind, tuple(contexts), module, root))
    return out


def _under(path: str, folder: str, fold: bool = False) -> str | None:
    """``path`` relative to ``folder`` when it lies under it (``""`` is the tree's root), else None;
    ``fold`` compares the folder case-insensitively (a lookup through miniz)."""
    if not folder:
        return path
    if fold:
        return path[len(folder) + 1 :] if path.casefold().startswith(folder.casefold() + "/") else None
    return path[len(folder) + 1 :] if path.startswith(folder + "/") else None
