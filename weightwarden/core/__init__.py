"""The bottom layer of weightwarden: records and rules every analysis shares. Imports nothing of ours.

- :mod:`~weightwarden.core.findings`: ``Finding``, ``Subject``, ``Location``, ``Evidence``, ``Severity``,
  ``Rule`` and the ``RuleCatalogue`` protocol.
- :mod:`~weightwarden.core.records`: ``Analysis`` (a package's result record plus its findings).
- :mod:`~weightwarden.core.errors`: ``WeightwardenError`` and one base per concern.
- :mod:`~weightwarden.core.limits`: bounds on hostile input; :mod:`~weightwarden.core.dtypes`: dtype tables.
- :mod:`~weightwarden.core.merkle`: RFC 6962 hashing; :mod:`~weightwarden.core.text`: the sanitiser.
"""

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
