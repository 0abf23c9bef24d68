"""ONNX family (WW-ONNX-*): external data that leaves the model folder and operators from unknown domains.

ONNX runtimes open every external-data path a model names; a path that is absolute or climbs out of the
model folder makes loading read arbitrary local files into tensors. Operators from domains outside the
standard and runtime-shipped ones need a custom-op library, i.e. native code loaded next to the model.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from weightwarden.artifact.model import CodeKind, CodeObject
from weightwarden.core.findings import Finding, Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_INPUT_VALIDATION,
    CWE_PATH_TRAVERSAL,
    CWE_UNTRUSTED_FUNCTIONALITY,
    CheckContext,
    ScanRule,
)

EXTERNAL_ESCAPE = ScanRule(
    "WW-ONNX-001",
    Severity.CRITICAL,
    "ONNX external data path leaves the model folder",
    "A tensor's external data location climbs out of the model folder ('..') or points elsewhere on the "
    "machine. Loading the model reads that file into a tensor (arbitrary file read; CVE-2024-27318 class).",
    "Do not load the model. External data must be a relative path inside the model folder.",
    (CWE_PATH_TRAVERSAL, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("onnx.external_data_escape",),
)
EXTERNAL_ABSOLUTE = ScanRule(
    "WW-ONNX-002",
    Severity.HIGH,
    "ONNX external data path is absolute",
    "A tensor's external data location is an absolute path. Loading the model reads whatever file is at that "
    "path on the loading machine.",
    "Do not load the model; ask the publisher to save external data with relative paths.",
    (CWE_PATH_TRAVERSAL, ATLAS_SUPPLY_CHAIN),
)
UNKNOWN_DOMAIN = ScanRule(
    "WW-ONNX-003",
    Severity.HIGH,
    "ONNX graph uses operators from an unknown custom domain",
    "The graph calls operators of a domain that neither ONNX nor the standard runtimes define, and that the "
    "model does not define as local functions. Running it requires registering a custom-op library: native "
    "code that ships outside the model.",
    "Find out which library implements the domain and review it before running the model.",
    (CWE_UNTRUSTED_FUNCTIONALITY, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION),
)
EXTENSION_DOMAIN = ScanRule(
    "WW-ONNX-004",
    Severity.MEDIUM,
    "ONNX graph uses operators from an extension domain",
    "The graph calls operators of a known extension domain (onnxruntime-extensions, PyTorch ATen fallback). "
    "They need an extra library and some of them (Python custom ops) run Python code.",
    "Make sure the extension library comes from a trusted source; check that no Python op (PyOp) is used.",
    (CWE_UNTRUSTED_FUNCTIONALITY, ATLAS_SUPPLY_CHAIN),
)
BAD_MODEL = ScanRule(
    "WW-ONNX-005",
    Severity.MEDIUM,
    "ONNX model is malformed or could not be fully inspected",
    "The ONNX protobuf could not be decoded completely (or is inconsistent), so part of the graph was not "
    "inspected.",
    "Re-download the model and scan again; validate it with onnx.checker before use.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("onnx.external_data_out_of_bounds",),
)
EXTERNAL_MISSING = ScanRule(
    "WW-ONNX-006",
    Severity.MEDIUM,
    "ONNX external data file is missing",
    "A tensor's external data file does not exist next to the model (or has no location). The model is "
    "incomplete, and whatever file later appears at that path will be loaded as weights.",
    "Obtain the complete model from its publisher and scan it again.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("onnx.external_data_missing",),
)

RULES: tuple[ScanRule, ...] = (
    EXTERNAL_ESCAPE, EXTERNAL_ABSOLUTE, UNKNOWN_DOMAIN, EXTENSION_DOMAIN, BAD_MODEL, EXTERNAL_MISSING,
)

# Domains of the ONNX standard and of operators that ship with ONNX Runtime itself.
KNOWN_DOMAIN_PREFIXES = ("ai.onnx", "com.microsoft", "com.ms.internal", "ai.onnx.ml", "ai.onnx.training")
EXTENSION_DOMAINS = ("ai.onnx.contrib", "com.microsoft.extensions", "org.pytorch.aten", "org.pytorch")


def _domain_known(domain: str) -> bool:
    if domain in ("", "onnx"):
        return True
    return any(domain == p or domain.startswith(p + ".") for p in KNOWN_DOMAIN_PREFIXES)


def _is_extension(domain: str) -> bool:
    return any(domain == p or domain.startswith(p + ".") for p in EXTENSION_DOMAINS)


def check_onnx_op(code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    domain = str(code.details.get("domain", ""))
    op_type = str(code.details.get("op_type", ""))
    count = code.details.get("count", 1)
    if code.location.startswith("function:") and not op_type:
        return  # a local function definition, not a call
    local = _local_function_domains(ctx)
    evidence = f"{domain}.{op_type} x{count}"
    where = f"{code.location} op:{domain}.{op_type}"
    if _is_extension(domain):
        severity = Severity.HIGH if op_type.lower().startswith("py") else None
        yield EXTENSION_DOMAIN.found_in(ctx.file, where, f"operator {op_type} of extension domain {domain}", evidence,
                                       severity=severity)
    elif code.details.get("local_function") or (domain, op_type) in local or domain in {d for d, _ in local}:
        return  # a call to a function the model defines itself (torch dynamo exports do this)
    elif not _domain_known(domain):
        yield UNKNOWN_DOMAIN.found_in(ctx.file, where, f"operator {op_type} of unknown domain {domain!r}", evidence)


def _local_function_domains(ctx: CheckContext) -> set[tuple[str, str]]:
    """(domain, name) of the functions the model defines itself: calls to them are not custom ops."""
    found: set[tuple[str, str]] = set()
    functions = ctx.entry.metadata.get("onnx_functions", ctx.entry.metadata.get("functions"))
    if isinstance(functions, list | tuple):
        for item in functions:
            if isinstance(item, dict):
                found.add((str(item.get("domain", "")), str(item.get("name", ""))))
            elif isinstance(item, str) and "." in item:
                dom, _, name = item.rpartition(".")
                found.add((dom, name))
    return found


def check_external(code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    path = str(code.details.get("path", ""))
    tensor = str(code.details.get("tensor", ""))
    # The reader already reports escaping paths as anomalies; only judge what it did not report.
    if any(path and path in (a.evidence + a.message) for a in ctx.entry.anomalies):
        return
    where = f"{code.location} tensor:{tensor}" if tensor else code.location
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        yield EXTERNAL_ABSOLUTE.found_in(ctx.file, where, f"external data of {tensor!r} is read from {path}", path)
        return
    normalized = posixpath.normpath(path.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        yield EXTERNAL_ESCAPE.found_in(ctx.file, where, f"external data of {tensor!r} is read from {path}", path)


CHECKS = {CodeKind.ONNX_OP: check_onnx_op, CodeKind.EXTERNAL_REF: check_external}
