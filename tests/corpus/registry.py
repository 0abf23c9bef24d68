"""The registry of corpus entries: each entry is a small function that writes one folder.

A builder is registered with :func:`malicious` or :func:`benign` and called as ``builder(ctx, folder)``; it
writes its files into ``folder`` (created for it, one folder per entry so each entry can be scanned alone)
and may return a different path to scan (the real sample models are scanned where they lie).
:class:`BuildContext` gives builders the canary helpers: every malicious payload, if it were ever executed,
would create ``canary_dir/<entry name>``, so an empty canary folder after a scan proves nothing ran.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CorpusEntry:
    """One scannable corpus item.

    ``path`` is what to scan (a folder, or a file for the real GGUF sample). ``expected_rule_prefix`` is the
    rule family a malicious entry must trigger (``"WW-PKL"``); ``also_accept`` lists other prefixes that
    equally prove detection where the contract leaves the family open (e.g. a depth limit may be reported as
    an archive or a generic limits finding). Benign entries have an empty prefix.
    """

    name: str
    path: Path
    malicious: bool
    technique: str
    family: str
    expected_rule_prefix: str = ""
    also_accept: tuple[str, ...] = ()
    # Raw pickle files the builder wrote that must disassemble cleanly with pickletools (malformed-on-purpose
    # programs are left out).
    pickles: tuple[Path, ...] = ()

    @property
    def accepted_prefixes(self) -> tuple[str, ...]:
        return (self.expected_rule_prefix, *self.also_accept) if self.expected_rule_prefix else ()

    def manifest(self, root: Path | None = None) -> dict[str, object]:
        path = self.path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        return {
            "name": self.name,
            "path": str(path),
            "malicious": self.malicious,
            "technique": self.technique,
            "family": self.family,
            "expected_rule_prefix": self.expected_rule_prefix,
            "also_accept": list(self.also_accept),
        }


@dataclass
class BuildContext:
    """What a builder needs: the corpus root, the canary folder, and the pickle files it declares."""

    dest: Path
    canary_dir: Path
    name: str = ""
    pickles: list[Path] = field(default_factory=list)

    @property
    def canary(self) -> Path:
        """The file this entry's payload would create if it ran."""
        return self.canary_dir / self.name

    def shell(self) -> str:
        """A shell command that creates the canary."""
        return f"touch {shlex.quote(str(self.canary))}"

    def argv(self) -> list[str]:
        return ["touch", str(self.canary)]

    def python(self) -> str:
        """Python source that creates the canary."""
        return f"open({str(self.canary)!r}, 'w').close()"

    def write_pickle(self, path: Path, data: bytes, *, well_formed: bool = True) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if well_formed:
            self.pickles.append(path)
        return path


Builder = Callable[[BuildContext, Path], "Path | None"]


@dataclass(frozen=True)
class Spec:
    name: str
    malicious: bool
    technique: str
    family: str
    prefix: str
    also_accept: tuple[str, ...]
    build: Builder


SPECS: list[Spec] = []


def malicious(
    name: str, family: str, prefix: str, technique: str, *, also_accept: tuple[str, ...] = ()
) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        SPECS.append(Spec(name, True, technique, family, prefix, also_accept, fn))
        return fn

    return register


def benign(name: str, family: str, technique: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        SPECS.append(Spec(name, False, technique, family, "", (), fn))
        return fn

    return register
