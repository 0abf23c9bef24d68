"""TensorFlow family (WW-TF-*): operations of SavedModel graphs judged against an op allowlist.

The SavedModel reader emits one ``TF_OP`` code object per graph or function with ``details["ops"]`` = op
name → count. Ops in ``TF_DANGEROUS_OPS`` (file I/O, Python callbacks, process and network access, library
loading) are critical or high; any op outside ``TF_ALLOWED_OPS`` is medium: a denylist of ReadFile and
WriteFile alone misses the long tail, so unknown ops are surfaced for review. The op tables live in
:mod:`weightwarden.scan.rules.tf_ops`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from weightwarden.artifact.model import CodeKind, CodeObject
from weightwarden.core.findings import Finding, Severity
from weightwarden.scan.rules.base import (
    ATLAS_BACKDOOR,
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_CODE_INJECTION,
    CWE_PATH_TRAVERSAL,
    CWE_UNTRUSTED_FUNCTIONALITY,
    CheckContext,
    ScanRule,
)

DANGEROUS_OP = ScanRule(
    "WW-TF-001",
    Severity.CRITICAL,
    "TensorFlow graph uses a dangerous operation",
    "The graph contains an op that reads or writes files, runs Python callbacks, starts processes, opens "
    "network connections or loads native libraries (WriteFile, PyFunc, ...). Serving or calling the model "
    "runs it with the privileges of the loader.",
    "Do not serve the model. Ask the publisher for a graph without I/O ops, or rebuild it from source.",
    (CWE_CODE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION, ATLAS_BACKDOOR),
)
RISKY_OP = ScanRule(
    "WW-TF-002",
    Severity.HIGH,
    "TensorFlow graph uses an operation with side effects",
    "The graph contains an op that can read local data, touch the file system or otherwise act outside the "
    "tensors it computes (ReadFile, MatchingFiles, debug or summary writers, ...).",
    "Review why the graph needs the op; remove it or ask the publisher for a graph without it.",
    (CWE_UNTRUSTED_FUNCTIONALITY, ATLAS_SUPPLY_CHAIN, ATLAS_BACKDOOR),
)
UNKNOWN_OP = ScanRule(
    "WW-TF-003",
    Severity.MEDIUM,
    "TensorFlow graph uses an operation outside the allowlist",
    "The op is not one of the computational ops ordinary models use. It may be a custom op (which needs a "
    "native library), a new op, or one with side effects the allowlist does not know.",
    "Review the op; if it is legitimate, scan with the op documented as accepted in your policy.",
    (CWE_UNTRUSTED_FUNCTIONALITY, ATLAS_SUPPLY_CHAIN),
)
ASSET_ESCAPE = ScanRule(
    "WW-TF-004",
    Severity.HIGH,
    "TensorFlow SavedModel asset path leaves the model folder",
    "An asset filename is absolute or contains '..'. Loading the SavedModel reads that file into the graph "
    "(for example as a vocabulary), i.e. reads arbitrary local files.",
    "Do not load the model; assets must be relative paths inside the assets/ folder.",
    (CWE_PATH_TRAVERSAL, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("tf.asset_path_escape",),
)

RULES: tuple[ScanRule, ...] = (DANGEROUS_OP, RISKY_OP, UNKNOWN_OP, ASSET_ESCAPE)


# Reasons of TF_DANGEROUS_OPS that mean writing, executing or talking to the outside: critical. Reading
# local files or listing them (information disclosure) is high.
_CRITICAL_WORDS = ("writ", "network", "python", "rpc", "remote", "database", "prints to", "caches", "debugger",
                   "changes file-system", "appends")


def _danger(op: str) -> tuple[Severity, str] | None:
    """Severity and reason for an op of TF_DANGEROUS_OPS (a map of op name to the reason it is dangerous)."""
    from weightwarden.scan.rules.tf_ops import TF_DANGEROUS_OPS

    if op not in TF_DANGEROUS_OPS:
        return None
    reason = str(TF_DANGEROUS_OPS[op]) if isinstance(TF_DANGEROUS_OPS, Mapping) else ""
    critical = not reason or any(word in reason.lower() for word in _CRITICAL_WORDS)
    return (Severity.CRITICAL if critical else Severity.HIGH), reason


def check_tf(code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    from weightwarden.scan.rules.tf_ops import TF_ALLOWED_OPS

    ops = code.details.get("ops") or {}
    if not isinstance(ops, Mapping):
        return
    for op in sorted(ops, key=str):
        count = ops[op]
        where = f"{code.location} op:{op}"
        evidence = f"{op} x{count}"
        danger = _danger(op)
        if danger is not None:
            severity, why = danger
            rule = DANGEROUS_OP if severity == Severity.CRITICAL else RISKY_OP
            message = f"graph uses op {op}" + (f": {why}" if why else "")
            yield rule.found_in(ctx.file, where, message, evidence, severity=severity)
        elif op not in TF_ALLOWED_OPS:
            yield UNKNOWN_OP.found_in(ctx.file, where, f"graph uses op {op}, which is not on the allowlist", evidence)


CHECKS = {CodeKind.TF_OP: check_tf}
