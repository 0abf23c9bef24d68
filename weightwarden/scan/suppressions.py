"""Suppressions with a reason: ``weightwarden.toml`` (or ``--config FILE``) lets a user accept findings.

::

    # weightwarden.toml
    allow = ["mypkg.layers.CustomNorm"]          # callables a pickle may use (unknown-callable findings)
    [[ignore]]
    rule = "WW-PKL-010"                          # a rule id (fnmatch pattern: "WW-PKL-*")
    path = "checkpoints/*.pt"                    # the finding's file (fnmatch pattern)
    reason = "legacy trainer writes two programs; reviewed 2026-11"

Suppressed findings never vanish: they stay in every report, marked with a
:class:`~weightwarden.core.findings.Suppression` (reason and source; SARIF ``suppressions``), and do not
count for the exit code. ``allow`` only accepts *unknown* callables (WW-PKL-002): a callable the policy
knows to be dangerous is never silenced by name. A configuration file that may have come with the scanned
content is never read automatically — a model would ship its own — so auto-discovery reads the working
directory's file only when that directory and every scanned target lie apart (neither inside the other).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from weightwarden.core.errors import ConfigError
from weightwarden.core.findings import Finding, Suppression

CONFIG_NAME = "weightwarden.toml"
_UNKNOWN_CALLABLE = "WW-PKL-002"
_TARGET = re.compile(r"^pickle (?:calls|imports|builds an object of) ([^\s,]+)")


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    rule: str
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SuppressionConfig:
    """What the user accepted, and the file it came from."""

    allow: tuple[str, ...] = ()
    ignore: tuple[IgnoreEntry, ...] = ()
    source: str = ""

    def suppression_for(self, finding: Finding) -> Suppression | None:
        if finding.rule_id == _UNKNOWN_CALLABLE and self.allow:
            match = _TARGET.match(finding.message)
            if match and match.group(1) in self.allow:
                return Suppression(f"callable {match.group(1)} is allowed by the configuration", self.source)
        for entry in self.ignore:
            if fnmatch.fnmatchcase(finding.rule_id, entry.rule) and _path_matches(finding.file, entry.path):
                return Suppression(entry.reason, self.source)
        return None

    def apply(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings, each suppressed one marked (none removed)."""
        out = []
        for finding in findings:
            suppression = None if finding.suppression is not None else self.suppression_for(finding)
            out.append(dataclasses.replace(finding, suppression=suppression) if suppression else finding)
        return out


def _path_matches(file: str, pattern: str) -> bool:
    file = file.replace(os.sep, "/")
    return fnmatch.fnmatchcase(file, pattern) or fnmatch.fnmatchcase(file, "*/" + pattern.lstrip("/"))


def load_config(path: str | os.PathLike[str]) -> SuppressionConfig:
    """Read a configuration file; any problem is a :class:`ConfigError` naming the file and why."""
    import tomllib  # here: most scans have no configuration file, and the parser costs ~3 ms to import

    shown = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {shown}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration {shown} is not valid TOML: {exc}") from None
    unknown = set(data) - {"allow", "ignore"}
    if unknown:
        raise ConfigError(f"configuration {shown}: unknown key(s) {', '.join(sorted(unknown))} (allowed: allow, ignore)")
    allow = data.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a.strip() for a in allow):
        raise ConfigError(f"configuration {shown}: 'allow' must be a list of dotted names")
    ignore = data.get("ignore", [])
    if not isinstance(ignore, list):
        raise ConfigError(f"configuration {shown}: 'ignore' must be a list of {{rule, path, reason}} tables")
    entries = []
    for i, item in enumerate(ignore):
        if not isinstance(item, dict) or set(item) - {"rule", "path", "reason"}:
            raise ConfigError(f"configuration {shown}: ignore[{i}] must have only rule, path and reason")
        rule, where, reason = item.get("rule"), item.get("path", "*"), item.get("reason")
        if not isinstance(rule, str) or not rule.startswith("WW-"):
            raise ConfigError(f"configuration {shown}: ignore[{i}].rule must be a rule id such as WW-PKL-010")
        if not isinstance(where, str) or not where:
            raise ConfigError(f"configuration {shown}: ignore[{i}].path must be a file pattern")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"configuration {shown}: ignore[{i}] needs a reason (why is this accepted?)")
        entries.append(IgnoreEntry(rule, where, reason.strip()))
    return SuppressionConfig(tuple(a.strip() for a in allow), tuple(entries), shown)


def discover_config(targets: Sequence[str], cwd: str | None = None) -> SuppressionConfig | None:
    """``weightwarden.toml`` of the working directory, or None: see :func:`discover`."""
    return discover(targets, cwd)[0]


def discover(targets: Sequence[str], cwd: str | None = None) -> tuple[SuppressionConfig | None, str | None]:
    """``weightwarden.toml`` of the working directory, and a note for the user when one is there but not read.

    The file is read only when the working directory and every scanned target lie apart: not when the directory
    is inside a target (a model folder ships its own config), and — red team round 36 on the readers — not when a
    target is inside the directory either: ``cd repo && weightwarden scan unet`` is how a multi-part repository
    is scanned, and a config at the repository's root came with the content just as well. Both the resolved and
    the written paths are compared (a link must not separate what the user sees as nested). Such a config is
    used only when named with ``--config``; the note says so."""
    here_abs = os.path.abspath(cwd or os.getcwd())
    here = os.path.realpath(here_abs)
    candidate = os.path.join(here, CONFIG_NAME)
    if not os.path.isfile(candidate):
        return None, None
    for target in targets:
        for base, resolve in ((here, os.path.realpath), (here_abs, os.path.abspath)):
            root = resolve(os.path.join(base, target))
            if not os.path.isdir(root):
                root = os.path.dirname(root)  # a file: the folder it was downloaded with may ship the config
            if os.path.commonpath([root, base]) in (root, base):
                return None, (f"{candidate} not read: the scanned path {target!r} and the working directory nest, "
                              f"so the file may have come with the model; pass --config to use it")
    return load_config(candidate), None


__all__ = ["CONFIG_NAME", "IgnoreEntry", "SuppressionConfig", "discover", "discover_config", "load_config"]
