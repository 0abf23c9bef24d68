"""Files a loader opens *by name* beside the file it was given (red team round 34).

TF-Keras opens ``os.path.join(export_dir, "keras_metadata.pb")``, dbm.dumb ``<name>.dir`` beside ``<name>.dat``,
onnxruntime an external data file relative to the model's path. Each joins a name to the folder of the path the
user handed it, and the OS follows links while opening. Two faults follow when a reader finds such a sibling from
the file it was handed by the scan instead:

* the scan reads a link under its own name but hands the reader the link's *target* (``Source.fs_path``: the hub
  cache's ``blobs/<hash>``, ``store/sm.blob``), so ``dirname(fs_path)`` is the wrong folder: the loader's folder
  is the one the user named, :func:`loader_path`;
* a sibling that is itself a link was skipped ("links are never followed"), while the loader reads through it.
  That rule belongs to the folder walk, which sees and reports every link; a sibling read by a reader was seen
  by nobody, so :func:`read_sibling` reads it through the link (bounded) and reports the link as the walk does.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from weightwarden.artifact.model import Anomaly
from weightwarden.artifact.paths import hub_cache_repo, link_boundary
from weightwarden.artifact.source import Source

__all__ = ["SiblingRead", "found_loader_path", "loader_path", "read_sibling", "sibling_of"]


def loader_path(display: str, fs_path: str | None, fs_dir: str | None) -> str | None:
    """The path a loader opens for a file shown as ``display`` (relative to the scanned folder ``fs_dir``) whose
    bytes are at ``fs_path``: a link's own name joined to the scanned folder, not its target. None for a member of
    an archive (no loader opens a sibling there in place)."""
    if fs_path is None:
        return None
    if fs_dir is not None and "!" not in display and not os.path.isabs(display):
        return os.path.abspath(os.path.join(fs_dir, display))
    return os.path.abspath(fs_path)


def found_loader_path(found: object) -> str:
    """:func:`loader_path` of a discovered file (``path``, ``display``, ``root_dir``): the key under which a scan
    compares the files it reads with the siblings a loader opens (``loader.siblings_in_scan``)."""
    path = getattr(found, "path")  # noqa: B009 - duck-typed: walk.DiscoveredFile, without importing walk here
    return loader_path(getattr(found, "display"), path, getattr(found, "root_dir")) or os.path.abspath(path)  # noqa: B009


def sibling_of(source: Source, name: str) -> str | None:
    """The path a loader opens for the sibling ``name`` of ``source`` (None inside an archive)."""
    own = loader_path(source.display, source.fs_path, source.fs_dir)
    return None if own is None else os.path.join(os.path.dirname(own), name)


@dataclass
class SiblingRead:
    """What a loader reads at a sibling's name: ``data`` (None: over ``max_bytes``, or not a file a read returns
    bytes from), its ``size``, and what the scan reports about the way there (``anomalies``: a link, where it
    points, a target not read)."""

    data: bytes | None
    size: int
    anomalies: list[Anomaly] = field(default_factory=list)


def read_sibling(path: str, where: str, max_bytes: int, root: str | None = None) -> SiblingRead | None:
    """Read the sibling at ``path`` as its loader does (through a link), at most ``max_bytes``; ``where`` names it
    in anomalies; ``root`` is the scanned folder (``Source.fs_dir``; default: the sibling's own folder). None when nothing is there for the loader to read (missing, a broken or looping link: the
    loader's exists-test fails and it reads nothing).

    A link is reported with the walk's codes: inside the folder ``fs.symlink`` (info; nothing in a hub cache,
    where links into ``blobs/`` are the layout), leaving it ``fs.symlink_escape`` (high) and still read when it
    is relative (its target ships with the model; what a loader given this name runs is what must be judged),
    absolute ``fs.symlink_absolute`` (high, not read: what the loading machine holds there is not the model's,
    and the scan does not pull host files into a report). A device, pipe or socket is never opened (reading
    one can block): ``fs.special_file``. A folder is not read (the loader's read fails)."""
    try:
        lst = os.lstat(path)
    except OSError:
        return None
    anomalies: list[Anomaly] = []
    if stat.S_ISLNK(lst.st_mode):
        try:
            target = os.readlink(path)
        except OSError as exc:
            return SiblingRead(None, 0, [Anomaly("fs.symlink_escape", where, f"a link a loader opens by name that "
                                                 f"could not be read: {exc.strerror or exc}")])
        folder = os.path.dirname(os.path.abspath(path))
        repo = hub_cache_repo(folder)
        base = os.path.abspath(root) if root is not None and _inside(folder, os.path.abspath(root)) else folder
        lex_root = os.path.abspath(repo) if repo is not None else base
        boundary = link_boundary(base)
        real = os.path.realpath(path)
        lexical = os.path.normpath(os.path.join(folder, target))
        if os.path.isabs(target):
            anomalies.append(Anomaly("fs.symlink_absolute", where, "symbolic link with an absolute target, opened by "
                                     "name by the loader of the file beside it: what the loading machine holds there "
                                     "was not scanned", target))
            return SiblingRead(None, 0, anomalies)
        if not _inside(lexical, lex_root) or not _inside(real, boundary):
            anomalies.append(Anomaly("fs.symlink_escape", where, "symbolic link resolves outside the model folder; the "
                                     "loader of the file beside it opens it by name: its target was read under this "
                                     "name", target))
        elif repo is None:
            anomalies.append(Anomaly("fs.symlink", where, "symbolic link inside the model folder, opened by name by the "
                                     "loader of the file beside it: its target is read under this name", target))
    try:
        st = os.stat(path)
    except OSError:
        return SiblingRead(None, 0, anomalies) if anomalies else None  # broken or looping: the loader reads nothing
    if stat.S_ISDIR(st.st_mode):
        return SiblingRead(None, 0, anomalies) if anomalies else None
    if not stat.S_ISREG(st.st_mode):
        anomalies.append(Anomaly("fs.special_file", where, "not a regular file (device, socket or pipe) at a name a "
                                 "loader opens; not read"))
        return SiblingRead(None, 0, anomalies)
    if st.st_size > max_bytes:
        return SiblingRead(None, st.st_size, anomalies)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        anomalies.append(Anomaly("fs.unverified_model_file", where, f"a file a loader opens by name could not be "
                                 f"read: {exc.strerror or exc}"))
        return SiblingRead(None, 0, anomalies)
    if len(data) > max_bytes:  # it grew between the stat and the read
        return SiblingRead(None, len(data), anomalies)
    return SiblingRead(data, len(data), anomalies)


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False
