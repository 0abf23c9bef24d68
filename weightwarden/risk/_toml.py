"""Reading the risk package's data files (crosswalk, policies): bounded TOML reads and strict fields.

A policy decides whether a model may be released, so a typo must not pass silently: unknown keys, wrong
types and missing fields are :class:`ConfigError` naming the file and the place (``domains.cyber.offense:
thresholds[2]: missing 'provenance'``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from weightwarden.core.errors import ConfigError

MAX_DATA_BYTES = 1024 * 1024  # a policy or crosswalk is a few KiB; anything near this is not one


@dataclass(frozen=True, slots=True)
class DataFile:
    label: str  # what error messages call the file: its path, or "built-in:<name>"
    data: dict[str, Any]
    digest: str  # sha256 of the exact bytes


def read_toml(path: Path, *, label: str | None = None) -> DataFile:
    """Parse a TOML file (at most :data:`MAX_DATA_BYTES`), keeping the sha256 of its bytes."""
    name = label or str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_DATA_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read ({exc.strerror or exc})") from None
    return parse_toml(raw, name)


def read_package_toml(*parts: str) -> DataFile:
    """A TOML file shipped in ``weightwarden/risk/data/``."""
    resource = resources.files("weightwarden.risk").joinpath("data", *parts)
    try:
        raw = resource.read_bytes()
    except OSError as exc:
        raise ConfigError(f"built-in:{'/'.join(parts)}: cannot read ({exc})") from None
    return parse_toml(raw, f"built-in:{'/'.join(parts)}")


def parse_toml(raw: bytes, label: str) -> DataFile:
    if len(raw) > MAX_DATA_BYTES:
        raise ConfigError(f"{label}: over the {MAX_DATA_BYTES}-byte limit for a policy or crosswalk file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{label}: TOML nested too deeply to be a policy or crosswalk") from None
    return DataFile(label, data, hashlib.sha256(raw).hexdigest())


class Fields:
    """Strict access to one TOML table: every key must be read or allowed, types are checked."""

    def __init__(self, table: object, where: str, *, allowed: tuple[str, ...] = ()) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table, got {_type(table)}")
        self.values = table
        self.where = where
        self.allowed = set(allowed)

    def _get(self, key: str, types: type | tuple[type, ...], default: Any, required: bool) -> Any:
        self.allowed.add(key)
        if key not in self.values:
            if required:
                raise ConfigError(f"{self.where}: missing '{key}'")
            return default
        value = self.values[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            raise ConfigError(f"{self.where}: '{key}' must be {_names(types)}, got {_type(value)}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key, str, default, default is None)
        return value

    def number(self, key: str, default: float | None = None) -> float:
        return float(self._get(key, (int, float), default, default is None))

    def integer(self, key: str, default: int | None = None) -> int:
        return int(self._get(key, int, default, default is None))

    def flag(self, key: str, default: bool | None = None) -> bool:
        return bool(self._get(key, bool, default, default is None))

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._get(key, list, None if default is None else list(default), default is None)
        if not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where}: '{key}' must be a list of strings")
        return tuple(value)

    def tables(self, key: str, *, required: bool = True) -> list[Any]:
        return list(self._get(key, list, [], required))

    def table(self, key: str, *, required: bool = True) -> Mapping[str, Any]:
        return self._get(key, dict, {}, required)

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not be ignored."""
        unknown = sorted(set(self.values) - self.allowed)
        if unknown:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(map(repr, unknown))}")


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _names(types: type | tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    return " or ".join(words.get(t, t.__name__) for t in _tuple(types))


def _type(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)
