"""Does the manifest cover every file a loader can reach from the model folder?

The manifest leaves paths out by convention (model-signing's ``.git``, ``.gitattributes``, ``.github``,
``.gitignore``), by the signer's choice (``ignore_paths``) and for the signature file itself. Leaving a path out
is safe only while no loader *opens* it, and something in the folder can make a loader open it: a shard index
(``model.safetensors.index.json`` whose ``weight_map`` names ``.git/model-00002.safetensors``:
``from_pretrained`` loads that path) or a link. The index is signed, the shard is not, so the shard could be
swapped after signing while ``verify`` still says OK (found while fixing scanner red team round 20).

So sign and verify ask the scanner's discovery (:func:`weightwarden.artifact.walk.loader_references`, the one
reachability closure: links inside the folder, directory links' trees, index entries in all the forms loaders
resolve) which files loaders reach through a name, and require each to be a file the manifest reads (the same
real file, compared by device and inode so that a link or a differently spelled name to a signed file counts as
covered). ``sign`` refuses an uncovered one; ``verify`` reports it as a file not in the signed release.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from weightwarden.core.text import printable

__all__ = ["Uncovered", "uncovered_references"]


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A file loaders reach that the manifest does not read (``path`` relative to the folder, ``via`` who names
    it, ``left_out`` the ignore path it lies in, if any). ``path`` is empty for a reach that could not be followed
    to the end: ``via`` then says where, ``problem`` why."""

    path: str
    via: str
    left_out: str | None = None
    problem: str = ""

    @property
    def detail(self) -> str:
        """Why this file fails verification, for a per-file verdict."""
        where = f"; it lies in {self.left_out!r}, which the manifest leaves out" if self.left_out else ""
        return f"not in the signed release, but {self.via} names it, so a loader reads it{where}"

    def message(self) -> str:
        if not self.path:
            return f"{self.via}: {self.problem}"
        return f"{printable(self.path, 300)}: {self.detail}"


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def _left_out_by(display: str, ignored: Iterable[str]) -> str | None:
    for ig in ignored:
        if display == ig or display.startswith(ig.rstrip("/") + "/"):
            return ig
    return None


def uncovered_references(root: str | os.PathLike[str], listed: Iterable[str],
                         ignored: Iterable[str] = ()) -> list[Uncovered]:
    """The loader-reachable files of the folder ``root`` that are none of ``listed`` (the real paths the
    manifest reads), and every reach that could not be followed to the end (fail closed). ``ignored`` (the
    manifest's ignore paths, relative) only makes the messages say why a file is left out."""
    from weightwarden.artifact.walk import loader_references

    folder = os.fspath(root)
    if not os.path.isdir(folder):
        return []  # a single-file model names nothing else
    reals = set(listed)
    ids = {i for i in map(_identity, reals) if i is not None}
    ignored = tuple(ignored)
    reach = loader_references(folder)
    out: list[Uncovered] = []
    seen: set[str] = set()
    for ref in reach.references:
        if ref.path in reals or ref.display in seen:
            continue
        left_out = _left_out_by(ref.display, ignored)
        if left_out and not ref.index:
            continue  # a link inside a left-out folder: nothing names it, it is only there (no loader lists that folder)
        ident = _identity(ref.path)
        if ident is not None and ident in ids:
            continue  # the same file the manifest reads, under another name (a link, a hard link)
        seen.add(ref.display)
        out.append(Uncovered(ref.display, ref.via, left_out))
    for where, message in reach.problems:
        out.append(Uncovered("", printable(where or ".", 300), problem=(
            f"{printable(message, 300)} — so a loader may read a file the signature does not cover")))
    return out
