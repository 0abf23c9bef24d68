"""The one error hierarchy of weightwarden: every failure a user can cause or meet is a
:class:`WeightwardenError` carrying a reason written for that user.

The CLI maps any ``WeightwardenError`` to exit code 2 and prints its ``reason``; anything else that escapes
is a bug. One base per concern (after python-tuf's ``exceptions`` module): input the tool could not read,
configuration it could not accept, an optional dependency that is not installed, a check that failed.
Packages derive their own errors from these so that a caller can catch one concern across packages.
"""

from __future__ import annotations


class WeightwardenError(Exception):
    """Base of every error weightwarden raises on purpose. ``reason`` is shown to the user as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InputError(WeightwardenError):
    """A file, folder or record could not be read or is malformed; the reason names it."""


class ConfigError(WeightwardenError):
    """A policy, configuration or option value that cannot be used."""


class MissingExtraError(WeightwardenError):
    """A feature needs an optional dependency that is not installed.

    The reason names the feature, the missing module and the exact install command, never a traceback.
    """

    def __init__(self, feature: str, extra: str, module: str = "") -> None:
        missing = f" ({module} is not installed)" if module else ""
        super().__init__(
            f"{feature} needs the optional dependencies of weightwarden[{extra}]{missing}: "
            f"pip install 'weightwarden[{extra}]'"
        )
        self.feature = feature
        self.extra = extra
        self.module = module


def require_extra(module: str, *, extra: str, feature: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra`` and ``feature``."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(feature, extra, module)
