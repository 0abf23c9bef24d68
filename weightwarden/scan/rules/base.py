"""The rule record every family module declares, and the context a code check runs in.

A :class:`Rule` is catalogue data (id, severity, title, description, remediation, references) plus the
anomaly codes it covers. Family modules (``weightwarden.scan.rules.<family>``) declare ``RULES`` and, when
they judge code objects, ``CHECKS``: a map of :class:`~weightwarden.artifact.model.CodeKind` to a function
``check(code, ctx) -> Iterable[Finding]``. Rules build their findings with :meth:`Rule.finding` so that
every finding carries the rule's remediation and references.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from weightwarden.artifact.model import CodeObject, FileEntry
from weightwarden.scan.findings import Finding, Severity

# Short names of the references used across the catalogue, so the ids stay consistent.
CWE_DESERIALIZATION = "CWE-502"
CWE_CODE_INJECTION = "CWE-94"
CWE_TEMPLATE_INJECTION = "CWE-1336"
CWE_PATH_TRAVERSAL = "CWE-22"
CWE_LINK_FOLLOWING = "CWE-59"
CWE_COMPRESSION_BOMB = "CWE-409"
CWE_INTEGRITY_CHECK = "CWE-354"
CWE_INPUT_VALIDATION = "CWE-20"
CWE_RESOURCE = "CWE-400"
CWE_UNTRUSTED_FUNCTIONALITY = "CWE-829"
CWE_INTERPRETATION_CONFLICT = "CWE-436"
ATLAS_SUPPLY_CHAIN = "AML.T0010"  # ML Supply Chain Compromise
ATLAS_USER_EXECUTION = "AML.T0011"  # User Execution (unsafe ML artifacts)
ATLAS_BACKDOOR = "AML.T0018"  # Manipulate / backdoor an ML model

LOAD_TIME_CODE = (CWE_DESERIALIZATION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a code check needs besides the code object: the file it came from and the scan mode."""

    file: str
    entry: FileEntry
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of the rule catalogue. ``id`` is stable: ``WW-<FAMILY>-<NNN>``."""

    id: str
    severity: Severity
    title: str
    description: str
    remediation: str
    references: tuple[str, ...] = ()
    anomaly_codes: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return self.id.split("-")[1]

    def finding(
        self,
        file: str,
        location: str,
        message: str | None = None,
        evidence: str = "",
        *,
        severity: Severity | None = None,
        offset: int | None = None,
    ) -> Finding:
        """A finding of this rule; ``severity`` overrides the default for a specific instance."""
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            file=file,
            location=location,
            message=message or self.title,
            evidence=_printable(evidence),
            remediation=self.remediation,
            references=self.references,
            title=self.title,
            offset=offset,
        )


Check = Callable[[CodeObject, CheckContext], Iterable[Finding]]

MAX_EVIDENCE = 400


def _printable(text: str) -> str:
    """Evidence is shown in terminals and CI logs: keep it short and free of control characters."""
    cleaned = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else "?" for ch in text)
    return cleaned if len(cleaned) <= MAX_EVIDENCE else cleaned[: MAX_EVIDENCE - 3] + "..."
