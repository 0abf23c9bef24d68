"""Errors of the indicators package: one class per thing that can go wrong, all ``WeightwardenError``s."""

from __future__ import annotations

from weightwarden.core.errors import ConfigError, InputError, WeightwardenError


class IndicatorError(WeightwardenError):
    """Base of every error of :mod:`weightwarden.indicators`."""


class GroupKeyError(IndicatorError, ConfigError):
    """A group key file that is missing, unreadable or of the wrong size."""


class IndicatorFormatError(IndicatorError, InputError):
    """An indicator set, STIX bundle, PSI message or evidence file that is malformed; the reason names it."""


class SchemeMismatchError(IndicatorError):
    """Two parties' indicators were made with different keys or parameters and cannot be compared."""


class PsiError(IndicatorError):
    """The private set intersection exchange failed (peer closed, timeout, protocol violation, limit)."""


class SetAuthenticationError(IndicatorError, InputError):
    """An indicator set whose authentication tag does not match its content under the group key held: it was
    altered after it was written, or it was made with another key (red team round 17, class 2)."""
