"""The bottom layer of weightwarden: records and rules every analysis shares. Imports nothing of ours.

- :mod:`~weightwarden.core.findings`: ``Finding``, ``Subject``, ``Location``, ``Evidence``, ``Severity``,
  ``Rule`` and the ``RuleCatalogue`` protocol.
- :mod:`~weightwarden.core.records`: ``Analysis`` (a package's result record plus its findings).
- :mod:`~weightwarden.core.errors`: ``WeightwardenError`` and one base per concern.
- :mod:`~weightwarden.core.limits`: bounds on hostile input; :mod:`~weightwarden.core.dtypes`: dtype tables.
- :mod:`~weightwarden.core.merkle`: RFC 6962 hashing; :mod:`~weightwarden.core.text`: the sanitiser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightwarden.core.lazy import lazy_exports

if TYPE_CHECKING:
    from weightwarden.core.errors import (
        ConfigError,
        InputError,
        MissingExtraError,
        WeightwardenError,
        require_extra,
    )
    from weightwarden.core.findings import (
        FINDING_SCHEMA,
        Catalogue,
        Evidence,
        Finding,
        Location,
        Rule,
        RuleCatalogue,
        Severity,
        Subject,
        SubjectKind,
        Suppression,
        file_subject,
        max_severity,
        text_evidence,
    )
    from weightwarden.core.records import Analysis, Record
    from weightwarden.core.text import printable

# Loaded on first use (PEP 562): importing one module of the package (``core.limits`` in the HDF5 helper
# process) must not pull in the findings model, records and the text sanitiser with it.
_EXPORTS = {
    "ConfigError": "weightwarden.core.errors",
    "InputError": "weightwarden.core.errors",
    "MissingExtraError": "weightwarden.core.errors",
    "WeightwardenError": "weightwarden.core.errors",
    "require_extra": "weightwarden.core.errors",
    "FINDING_SCHEMA": "weightwarden.core.findings",
    "Catalogue": "weightwarden.core.findings",
    "Evidence": "weightwarden.core.findings",
    "Finding": "weightwarden.core.findings",
    "Location": "weightwarden.core.findings",
    "Rule": "weightwarden.core.findings",
    "RuleCatalogue": "weightwarden.core.findings",
    "Severity": "weightwarden.core.findings",
    "Subject": "weightwarden.core.findings",
    "SubjectKind": "weightwarden.core.findings",
    "Suppression": "weightwarden.core.findings",
    "file_subject": "weightwarden.core.findings",
    "max_severity": "weightwarden.core.findings",
    "text_evidence": "weightwarden.core.findings",
    "Analysis": "weightwarden.core.records",
    "Record": "weightwarden.core.records",
    "printable": "weightwarden.core.text",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "FINDING_SCHEMA",
    "Analysis",
    "Catalogue",
    "ConfigError",
    "Evidence",
    "Finding",
    "InputError",
    "Location",
    "MissingExtraError",
    "Record",
    "Rule",
    "RuleCatalogue",
    "Severity",
    "Subject",
    "SubjectKind",
    "Suppression",
    "WeightwardenError",
    "file_subject",
    "max_severity",
    "printable",
    "require_extra",
    "text_evidence",
]
