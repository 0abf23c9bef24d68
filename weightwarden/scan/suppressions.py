"""Suppressions with a reason: ``--config FILE`` (conventionally ``weightwarden.toml``) lets a user accept findings.

::

    # weightwarden.toml
    allow = ["mypkg.layers.CustomNorm"]          # callables a pickle may use (unknown-callable findings)
    [[ignore]]
    rule = "WW-PKL-010"                          # a rule id (fnmatch pattern: "WW-PKL-*")
    path = "checkpoints/*.pt"                    # the finding's file, relative to this file's folder
    reason = "legacy trainer writes two programs; reviewed 2026-11"

Suppressed findings never vanish: they stay in every report, marked with a
:class:`~weightwarden.core.findings.Suppression` (reason and source; SARIF ``suppressions``), and do not
count for the exit code. ``allow`` only accepts *unknown* callables (WW-PKL-002), by their exact dotted name: a
callable the policy knows to be dangerous is never silenced by name.

Two rules keep a model from muting its own findings (red team rounds 36 and 37 on the readers):

* **No configuration is read unless named.** A ``weightwarden.toml`` lying in the working directory is not read:
  wherever it lies, it may have come with what is scanned (a repository root above ``unet/``, a sibling
  ``scripts/`` folder, a code repository whose weights sit in the hub cache). :func:`unread_local_config` gives the
  note the CLI prints instead.
* **A path pattern is anchored.** ``path`` is matched against the finding's file relative to the folder holding the
  configuration (a pattern starting with ``/`` against the absolute path), segment by segment: ``*`` and ``?``
  never cross ``/``; a ``**`` segment matches any number of folders. A file outside that folder is matched only by
  an absolute pattern, so ``checkpoints/*.pt`` written for one's own project does not mute
  ``<a download>/checkpoints/epoch_3/model.pt``.
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
_UNKNOWN_VERBS = ("calls", "imports", "builds an object of")
_NOT_ALLOWED = ", which is not on the allowlist:"
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


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
    folder: str = ""  # absolute folder relative paths are matched from (the configuration file's folder)

    def suppression_for(self, finding: Finding) -> Suppression | None:
        if finding.rule_id == _UNKNOWN_CALLABLE and self.allow:
            name = _unknown_callable(finding.message)
            if name is not None and name in self.allow:
                return Suppression(f"callable {name} is allowed by the configuration", self.source)
        for entry in self.ignore:
            if fnmatch.fnmatchcase(finding.rule_id, entry.rule) and _path_matches(finding.file, entry.path,
                                                                                   self.folder):
                return Suppression(entry.reason, self.source)
        return None

    def apply(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings, each suppressed one marked (none removed)."""
        out = []
        for finding in findings:
            suppression = None if finding.suppression is not None else self.suppression_for(finding)
            out.append(dataclasses.replace(finding, suppression=suppression) if suppression else finding)
        return out


def _unknown_callable(message: str) -> str | None:
    """The callable a WW-PKL-002 "not on the allowlist" message names, exactly, or None. A name with anything but
    identifier characters and dots ("CustomNorm x", "CustomNorm,y") is never an allowed name: pickle would import
    something else, so a prefix of it must not be taken for it."""
    if message.count(_NOT_ALLOWED) != 1:
        return None
    head = message.split(_NOT_ALLOWED, 1)[0]
    for verb in _UNKNOWN_VERBS:
        prefix = f"pickle {verb} "
        if head.startswith(prefix) and _DOTTED_NAME.fullmatch(head[len(prefix):]):
            return head[len(prefix):]
    return None


def _split_member(file: str) -> tuple[str, str]:
    """(the file on disk, "!member/path" or "") of a finding's file; members are not paths of this machine."""
    outer, bang, member = file.partition("!")
    return outer, bang + member


def _segments_match(parts: list[str], pattern: list[str]) -> bool:
    """Glob over path segments: ``**`` matches any number of segments, other pattern segments one segment each
    (fnmatch). A table over (pattern prefix, path prefix): time linear in their product, whatever the ``**``s."""
    reach = [True] + [False] * len(parts)  # reach[i]: the pattern so far matches parts[:i]
    for piece in pattern:
        if piece == "**":
            for i in range(1, len(reach)):
                reach[i] = reach[i] or reach[i - 1]
        else:
            reach = [False] + [reach[i] and fnmatch.fnmatchcase(parts[i], piece) for i in range(len(parts))]
    return reach[-1]


def _path_matches(file: str, pattern: str, folder: str) -> bool:
    """Whether the finding's ``file`` (as the scan names it, relative to the working directory) matches the anchored
    ``pattern`` (module docstring)."""
    outer, member = _split_member(file.replace(os.sep, "/"))
    absolute = os.path.abspath(outer).replace(os.sep, "/") + member
    if pattern.startswith("/"):
        target = absolute
    else:
        base = (folder or os.getcwd()).replace(os.sep, "/").rstrip("/") + "/"
        if not absolute.startswith(base):
            return False  # outside the configuration's folder: only an absolute pattern reaches it
        target = absolute[len(base):]
    parts = [p for p in target.replace("!", "/").split("/") if p]
    wanted = [p for p in pattern.replace("!", "/").split("/") if p]
    if len(wanted) > 64 or len(parts) > 4096:
        return False  # a pattern or path past any real depth: no suppression (never a slow match)
    return _segments_match(parts, wanted)


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
    if not isinstance(allow, list) or not all(isinstance(a, str) and _DOTTED_NAME.fullmatch(a.strip())
                                              for a in allow):
        raise ConfigError(f"configuration {shown}: 'allow' must be a list of dotted names (module.Name)")
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
    folder = os.path.dirname(os.path.abspath(path))
    return SuppressionConfig(tuple(a.strip() for a in allow), tuple(entries), shown, folder)


def unread_local_config(cwd: str | None = None) -> str | None:
    """The note for a ``weightwarden.toml`` in the working directory, which is never read unless named (module
    docstring), or None when there is none."""
    candidate = os.path.join(os.path.abspath(cwd or os.getcwd()), CONFIG_NAME)
    if not os.path.isfile(candidate):
        return None
    return (f"{candidate} was not read: a configuration is read only when named with --config, since a file "
            f"beside downloaded models may have come with them; if you wrote it, pass --config {CONFIG_NAME}")


__all__ = ["CONFIG_NAME", "IgnoreEntry", "SuppressionConfig", "load_config", "unread_local_config"]
