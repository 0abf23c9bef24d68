"""The rule record every family module declares, and the context a code check runs in.

A :class:`ScanRule` is a core :class:`~weightwarden.core.findings.Rule` (id, severity, title, description,
remediation, references) of the ``scan`` catalogue plus the anomaly codes it covers. Family modules (``weightwarden.scan.rules.<family>``) declare ``RULES`` and, when
they judge code objects, ``CHECKS``: a map of :class:`~weightwarden.artifact.model.CodeKind` to a function
``check(code, ctx) -> Iterable[Finding]``. Rules build their findings with :meth:`ScanRule.found_in` so that
every finding carries the rule's remediation and references.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from weightwarden.artifact.model import CodeObject, FileEntry
from weightwarden.core.findings import Finding, Location, Rule, Severity, Subject, SubjectKind, text_evidence

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
class ScanRule(Rule):
    """One entry of the scan catalogue. ``id`` is stable: ``WW-<FAMILY>-<NNN>``."""

    anomaly_codes: tuple[str, ...] = ()

    def found_in(
        self,
        file: str,
        location: str,
        message: str | None = None,
        evidence: str = "",
        *,
        severity: Severity | None = None,
        offset: int | None = None,
        line: int | None = None,
    ) -> Finding:
        """A finding of this rule in ``file`` at ``location`` (a member, opcode or key path inside it);
        ``severity`` overrides the default for a specific instance."""
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            subject=Subject(SubjectKind.FILE, file),
            message=message or self.title,
            location=Location(location, offset, line),
            evidence=text_evidence(evidence),
            remediation=self.remediation,
            references=self.references,
            title=self.title,
            component=self.component,
        )


Check = Callable[[CodeObject, CheckContext], Iterable[Finding]]
EntryCheck = Callable[[FileEntry, CheckContext], Iterable[Finding]]
