"""What every analysis hands to the layers above it: its own result record and the findings it implies.

Each analysis package exposes one function that returns an :class:`Analysis` (scan: ``scan.analyse``,
integrity: ``integrity.analyse``, lineage: ``lineage.analyse``, evals: ``evals.analyse``). ``record`` is the
package's own result (a scan report, a verification result, a diff, eval results) with a versioned JSON
form; ``findings`` is the same result said in the shared vocabulary of :mod:`weightwarden.core.findings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from weightwarden.core.findings import Finding, RuleCatalogue


@runtime_checkable
class Record(Protocol):
    """A record with a versioned JSON form: ``to_dict()["schema"]`` names its JSON Schema."""

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Record)


@dataclass(frozen=True, slots=True)
class Analysis(Generic[R]):
    component: str  # "scan", "integrity", "lineage", "evals", "risk"
    record: R
    findings: tuple[Finding, ...]
    catalogue: RuleCatalogue | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "record": self.record.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def schema_of(data: Mapping[str, Any]) -> str:
    """The schema id a record's JSON form declares ("" when it declares none)."""
    value = data.get("schema", "")
    return value if isinstance(value, str) else ""
