"""Code family (WW-CODE-*): Python files, bytecode and native modules shipped with a model (red team round 21).

Every code file in a model folder or archive is a finding; its severity says who runs it without an opt-in
(the table and its citations are in docs/decisions.md, "Red team round 21 ... classes A and B"):

* a torch.package module (``PackageImporter`` executes it when a pickle of the archive or another module
  imports it): high; critical when its name shadows a standard-library module or a library the pickle
  allowlist trusts (``collections``, ``torch``, ``numpy`` ...), because a pickle that names an allowlisted class
  then runs the archive's code instead;
* ``hubconf.py`` and every code file under its folder (``torch.hub.load(dir, source='local')`` executes
  hubconf.py with the folder first on ``sys.path``, no trust prompt), a TorchServe archive's files, and the
  Python files of a sentence-transformers folder (custom module types load from a local folder without
  ``trust_remote_code`` in sentence-transformers 3.4-5.x) and of a diffusers pipeline folder (custom components
  of a local folder are imported without the hub path's ``trust_remote_code`` check): high;
* any other code file: medium, like ``WW-GEN-002`` (transformers ``auto_map`` and ``custom_generate/`` run it only
  with ``trust_remote_code=True``; other shipped code may import it).

Folders are judged by :func:`tree_findings` (called by the engine over the discovered files); archives by
:func:`check_archive` over the members a reader lists (``metadata["code_files"]``) or reads as children.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from functools import lru_cache

from weightwarden.artifact.model import FileEntry
from weightwarden.artifact.shipped import CodeFile, code_files
from weightwarden.core.findings import Finding, Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_CODE_INJECTION,
    CWE_UNTRUSTED_FUNCTIONALITY,
    CheckContext,
    ScanRule,
)

_CODE_REFS = (CWE_UNTRUSTED_FUNCTIONALITY, CWE_CODE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION)

SHADOWING_MODULE = ScanRule(
    "WW-CODE-001",
    Severity.CRITICAL,
    "torch.package archive ships a module that shadows a trusted module",
    "The archive is a torch.package (it has a .data/extern_modules record). PackageImporter resolves every "
    "module a pickle names against the archive's own Python files first and executes them; this archive ships "
    "a module under the name of a standard-library module or of a library the pickle allowlist trusts. A pickle "
    "that looks harmless (collections.OrderedDict, torch._utils._rebuild_tensor_v2) then runs the shipped code.",
    "Treat the archive as malicious; do not open it with torch.package.PackageImporter. Ask for a safetensors "
    "release.",
    _CODE_REFS,
)
PACKAGE_MODULE = ScanRule(
    "WW-CODE-002",
    Severity.HIGH,
    "torch.package archive ships Python modules",
    "The archive is a torch.package: PackageImporter.load_pickle / import_module execute the Python modules "
    "it ships, without any opt-in, whenever a pickle of the archive or another shipped module imports them.",
    "Review every shipped module before loading, or ask for a release without code (safetensors).",
    _CODE_REFS,
)
NO_PROMPT_CODE = ScanRule(
    "WW-CODE-003",
    Severity.HIGH,
    "Python code that a loader runs without opt-in",
    "A code file that a standard loader imports by its file name with no trust prompt: torch.hub's hubconf.py "
    "(and anything under its folder, which torch.hub puts first on sys.path), a TorchServe model archive's "
    "handler and extra files, a sentence-transformers folder's custom module (loaded from a local folder "
    "without trust_remote_code in sentence-transformers 3.4-5.x), a diffusers pipeline folder's custom "
    "components (a local folder skips the hub path's trust_remote_code check).",
    "Review the code before loading the model with that loader, or ask for a release without code.",
    _CODE_REFS,
)
SHIPPED_CODE = ScanRule(
    "WW-CODE-004",
    Severity.MEDIUM,
    "Python code shipped with the model",
    "A Python source, bytecode or native extension module in the model folder or archive. Loaders run such "
    "files only with trust_remote_code=True (transformers auto_map, custom_generate/, diffusers custom "
    "components from the hub), or when other shipped code imports them; the scanner does not judge their content.",
    "Review the file before enabling trust_remote_code; remove it if the model does not need it.",
    _CODE_REFS,
)

RULES: tuple[ScanRule, ...] = (SHADOWING_MODULE, PACKAGE_MODULE, NO_PROMPT_CODE, SHIPPED_CODE)

_LOADERS = {
    "torch-hub": "torch.hub.load(dir, source='local') runs hubconf.py with this folder first on sys.path, no trust prompt",
    "torchserve": "TorchServe imports a model archive's handler and extra files when it serves the model",
    "sentence-transformers": "sentence-transformers (3.4-5.x) imports custom module types from a local folder "
    "without trust_remote_code",
    "diffusers": "diffusers imports a local pipeline folder's custom components and pipeline module without "
    "trust_remote_code (the check is on the hub download path only)",
}


@lru_cache(maxsize=1)
def trusted_top_modules() -> frozenset[str]:
    """Top-level module names a shipped torch.package module must not take: the standard library, the
    libraries whose names the pickle allowlist trusts, and those the resolution table covers. From tables only
    (never ``find_spec`` of the environment): the result does not depend on what is installed here."""
    from weightwarden.picklevm import policy
    from weightwarden.picklevm.resolution import covered_libraries

    names: set[str] = set(sys.stdlib_module_names) | set(sys.builtin_module_names) | set(covered_libraries())
    for table in ("_ALLOW_EXACT", "_LIBRARY_EXACT", "_CLASS_PREFIXES", "VALUE_ONLY", "REBUILD_ONLY", "POSITIONAL_ONLY"):
        names.update(k.split(".", 1)[0] for k in getattr(policy, table, {}))
    return frozenset(names)


def shadows(module: str) -> bool:
    """Whether a shipped module name takes a standard-library or trusted library name."""
    return module.split(".", 1)[0] in trusted_top_modules()


def _judge(cf: CodeFile, file_of: Callable[[str], str], location_of: Callable[[str], str]) -> Finding:
    file, where = file_of(cf.path), location_of(cf.path)
    if "torch-package" in cf.contexts and cf.module:
        if shadows(cf.module):
            return SHADOWING_MODULE.found_in(
                file, where,
                f"torch.package ships module {cf.module!r}, a standard-library or trusted name: PackageImporter "
                "runs this file for any pickle global under that name",
                f"{cf.kind}; package root {cf.package_root or '.'!r}; module {cf.module}",
            )
        return PACKAGE_MODULE.found_in(
            file, where, f"torch.package ships module {cf.module!r} ({cf.kind}), executed when imported",
            f"package root {cf.package_root or '.'!r}; module {cf.module}",
        )
    loaders = [c for c in cf.contexts if c in _LOADERS]
    if loaders:
        return NO_PROMPT_CODE.found_in(
            file, where, f"{cf.kind} a loader runs without opt-in: " + "; ".join(_LOADERS[c] for c in loaders),
            f"{cf.kind}; contexts: {', '.join(cf.contexts)}",
        )
    return SHIPPED_CODE.found_in(
        file, where, f"{cf.kind} shipped with the model (run with trust_remote_code or by other shipped code)",
        cf.kind,
    )


def tree_findings(paths: list[str], file_of: Callable[[str], str]) -> list[Finding]:
    """Findings for the code files of one folder (``paths`` relative to it); ``file_of`` names each file."""
    return [_judge(cf, file_of, lambda p: p) for cf in code_files(paths)]


def check_archive(entry: FileEntry, ctx: CheckContext) -> Iterator[Finding]:
    """Code files of an archive: the reader's listing when it made one (zip: every member list any loader
    reads), else the members read as files (tar, 7z)."""
    listed = entry.metadata.get("code_files")
    if isinstance(listed, list):
        found = [
            CodeFile(str(c["path"]), str(c["kind"]), tuple(c.get("contexts") or ()), c.get("module"), c.get("root"))
            for c in listed if isinstance(c, dict)
        ]
    elif entry.children:
        lead = entry.path + "!"
        names = [c.path[len(lead):] for c in entry.children if c.path.startswith(lead)]
        found = code_files(names)
    else:
        return
    for cf in found:
        yield _judge(cf, lambda _p: ctx.file, lambda p: p)
    total = entry.metadata.get("code_files_count")
    if isinstance(total, int) and total > len(found):
        yield SHIPPED_CODE.found_in(
            ctx.file, ctx.file, f"{total - len(found)} further code files in the archive are not listed", str(total)
        )


ENTRY_CHECKS = (check_archive,)
