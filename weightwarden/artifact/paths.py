"""The one symbolic-link policy of every command that reads a model from disk.

Models live where their users put them, and the most common place is the Hugging Face hub cache:
``…/models--org--name/blobs/<hash>`` holds each file once and every revision is laid out as
``snapshots/<rev>/<file>`` links into it (``../../blobs/<hash>``). Those links are how the cache is meant
to be read, so the policy is:

* the **boundary** of a model path is the hub-cache repository (``models--org--name``, ``datasets--…``,
  ``spaces--…``) when the path lies inside one, and otherwise the model folder itself;
* a link whose final target stays inside the boundary is read as the file it stands for (its size, its
  bytes), with the link's own name;
* a link that leaves the boundary is refused with :class:`LinkRefused`, whose reason names the flag that
  allows it (``--allow-symlinks``; ``allow_symlinks=True`` in Python). With the flag, it is followed;
* a link to a folder, a broken link and a link to a device, pipe or socket are refused whatever the flag.

The path a user names on the command line is what they asked for: when it is itself a link it is
followed, and the boundary is computed from the path as given (so a snapshot file named directly still
belongs to its cache repository). ``scan`` applies the same boundary but, being a detector, reports an
escaping link as a finding instead of failing (see :mod:`weightwarden.artifact.loader`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from weightwarden.core.errors import InputError

ALLOW_FLAG = "--allow-symlinks"
HUB_CACHE_PREFIXES = ("models--", "datasets--", "spaces--")

__all__ = ["ALLOW_FLAG", "LinkRefused", "ResolvedFile", "hub_cache_repo", "link_boundary", "resolve_entry"]


class LinkRefused(InputError):
    """A symbolic link the policy does not follow; ``reason`` names the link, where it goes and the flag."""


@dataclass(frozen=True, slots=True)
class ResolvedFile:
    """What a directory entry stands for under the policy: the path to read, its stat, and whether a link
    was followed to get there (``followed_link``)."""

    path: str
    st: os.stat_result
    followed_link: bool

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)

    @property
    def size(self) -> int:
        return self.st.st_size


def hub_cache_repo(path: str | os.PathLike[str]) -> str | None:
    """``…/models--org--name`` when ``path`` (as given, made absolute) lies inside a hub-cache repository.

    The repository is recognised by its layout: a ``models--…`` (or ``datasets--``/``spaces--``) folder
    holding the ``snapshots`` folder the path is under.
    """
    parts = os.path.abspath(os.fspath(path)).split(os.sep)
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith(HUB_CACHE_PREFIXES) and i + 1 < len(parts):
            return os.sep.join(parts[:i])
    return None


def link_boundary(root: str | os.PathLike[str]) -> str:
    """The real folder that links under ``root`` may resolve into (see the module doc)."""
    repo = hub_cache_repo(root)
    if repo is not None:
        real_repo = os.path.realpath(repo)
        # The repository folder itself must be one: a "models--x" that is a link to "/" (or to any folder
        # not named like a cache repository) would otherwise widen the boundary to wherever it points.
        if os.path.basename(real_repo).startswith(HUB_CACHE_PREFIXES) and os.path.isdir(
                os.path.join(real_repo, "snapshots")):
            return real_repo
    real = os.path.realpath(root)
    return real if os.path.isdir(real) else os.path.dirname(real)


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def resolve_entry(path: str | os.PathLike[str], display: str, boundary: str, *,
                  allow_symlinks: bool = False) -> ResolvedFile:
    """Apply the policy to one directory entry ``path`` (shown to users as ``display``).

    Returns the entry itself when it is not a link; for a link, its real target when the policy follows
    it. Raises :class:`LinkRefused` for a link the policy refuses and :class:`InputError` for an entry that
    cannot be read (the reason names ``display``).
    """
    p = os.fspath(path)
    try:
        st = os.lstat(p)
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISLNK(st.st_mode):
        return ResolvedFile(p, st, False)
    target = os.path.realpath(p)
    try:
        link_text = os.readlink(p)
    except OSError:
        link_text = target
    try:
        tst = os.stat(target)
    except OSError:
        raise LinkRefused(f"{display}: broken symbolic link (to {link_text})") from None
    if stat.S_ISDIR(tst.st_mode):
        raise LinkRefused(f"{display}: symbolic link to a folder ({link_text}); not followed")
    if not stat.S_ISREG(tst.st_mode):
        raise LinkRefused(f"{display}: symbolic link to a device, pipe or socket ({link_text}); not read")
    if not _inside(target, boundary) and not allow_symlinks:
        where = "hub-cache repository" if os.path.basename(boundary).startswith(HUB_CACHE_PREFIXES) else "model folder"
        raise LinkRefused(f"{display}: symbolic link leaves the {where} (to {link_text}); refused — pass "
                          f"{ALLOW_FLAG} (allow_symlinks=True in Python) to follow it")
    return ResolvedFile(target, tst, True)
