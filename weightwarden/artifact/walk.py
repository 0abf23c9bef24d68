"""Folder discovery: every file a loader can reach from the model folder, under the name the loader uses.

The walk skips version-control and cache folders (``.git``, ``__pycache__``, ...) and OS metadata names
(``.DS_Store``, ``.gitattributes``): no loader enumerates them, and a cloned repository's history would only
slow the scan down. But skipping is safe only for what no loader can *name*, and red team round 20 (class A)
showed two ways to name them: a directory link inside the folder (``weights -> .git``: ``pickle.load(
"weights/model.pkl")``) and a shard index (``pytorch_model.bin.index.json`` whose ``weight_map`` names
``.git/shard.bin``, which ``from_pretrained`` loads). So discovery is a reachability closure:

* the ordinary walk enumerates the folder, skipping the ignored folders and names;
* a link inside the folder is followed under its own name: a file link is read, a directory link's tree is
  walked (bounded: a loop, the nesting depth and the number of directory links walked are limits that,
  when hit, are findings, never a silent stop);
* every ``*.index.json`` (or ``*.index.<variant>.json``) that is read names shards (``weight_map`` values); each one is resolved the way
  ``os.path.join(folder, value)`` resolves it (also with ``\\`` as a separator and percent-decoded, the forms
  other loaders and the hub use), and read under that name. Values that leave the folder are findings;
* a reference (link or index) into a skipped folder or name is read *and* is itself a high finding;
* in the skipped folders themselves, files named like model files are read and noticed, and a file under a
  skipped name whose content is not what that name says (a ``.DS_Store`` that is no Finder store) is read.

Anomaly codes:
    fs.symlink: a link inside the folder (its target is read under the link's name)
    fs.symlink_escape: a link resolving outside the folder
    fs.symlink_absolute: a link with an absolute target
    fs.symlink_loop: a directory link back into a folder on its own path (walked once)
    fs.reference_into_skipped: a link or an index naming a file in a skipped folder or under a skipped name
    fs.index_escape: an index naming a file outside the folder (absolute or climbing out)
    fs.index_unresolved: an index entry that names no readable file, or an index that is not one
    fs.skipped_model_file: a file with a model extension in a skipped folder (read)
    fs.skipped_name_content: a file under a skipped name whose content is not what the name says (read)
    fs.skipped_folder_unlisted: skipped folders too large to list for model-named files
    limits.link_walk: directory links nested or numerous past the bound; the rest not walked
    limits.too_many_files: more files than the bound; the rest not read
    limits.text_too_large: an index file past the text bound; its references not followed
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import dataclass
from urllib.parse import unquote

from weightwarden.artifact.json_depth import loads_checked
from weightwarden.artifact.model import Anomaly, Artifact
from weightwarden.artifact.paths import hub_cache_repo, link_boundary, resolve_entry
from weightwarden.artifact.sniff import routing_key
from weightwarden.core.errors import InputError
from weightwarden.core.limits import Limits

# Folders no model loader enumerates; skipping them keeps a cloned repository's history out of the scan.
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints", ".DS_Store"})
IGNORED_FILES = frozenset({".gitattributes", ".DS_Store"})
# Compared case-folded when judging a *reference*: on a case-insensitive file system ".GIT/x" opens ".git/x".
_SKIPPED_DIRS_FOLDED = frozenset(n.casefold() for n in IGNORED_DIRS)
_SKIPPED_FILES_FOLDED = frozenset(n.casefold() for n in IGNORED_FILES)

# Directory links nested on one path, and directory links walked in all. A loop is caught by the realpath
# chain; these bound the rest (n links to the same folder at each of d levels is n**d paths without a loop).
MAX_LINK_DEPTH = 16
MAX_LINK_DIRS = 4096
# Entries listed in the skipped folders when looking for model-named files there (names only, nothing read).
MAX_SKIPPED_LISTING = 200_000
# git-annex keeps each file once under .git/annex/objects and checks it out as a link to it: the file is
# read under the link's name like any link, and the link into .git is the layout, not a disguise.
_ANNEX = (".git", "annex", "objects")
_OBJECT_STORES = frozenset({_ANNEX, (".git", "lfs", "objects")})
# Shard index names: "<weights>.index.json", and with a variant "<weights>.index.<variant>.json" (transformers'
# and diffusers' _add_variant put the variant before the extension: model.safetensors.index.fp16.json).
INDEX_NAME = re.compile(r"\.index(?:\.[^/]*)?\.json$", re.IGNORECASE)
# How a reference made by an index is described (and told from one made by a link).
_BY_INDEX = "shard index "
# The Finder's .DS_Store starts with this (a "Bud1" buddy-allocator file); anything else under that name is not one.
_DS_STORE_MAGIC = b"\x00\x00\x00\x01Bud1"


@dataclass(frozen=True, slots=True)
class DiscoveredFile:
    """A regular file found under the scanned root; ``display`` is relative to it."""

    path: str
    display: str
    root_dir: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A file a loader reaches because something in the folder *names* it: ``display`` is the name the loader
    opens (relative to the root), ``path`` the real file it reads, ``via`` who names it (for messages), ``index``
    whether that is a shard index (else a link: the file link itself, or a directory link above it)."""

    display: str
    path: str
    via: str
    index: bool = False


@dataclass(frozen=True, slots=True)
class _Dir:
    path: str  # where to list it (the real path once a directory link was followed)
    real: str  # its real path (joined, not resolved, below a known real folder: one lstat chain per link only)
    prefix: str  # display prefix ("" or "a/b/")
    chain: frozenset[str]  # real paths of the folders on the display path, for loops
    link_depth: int
    lex_root: str  # what link targets listed here are lexically checked against
    via: str = ""  # the directory link this tree is reached through ("" for the folder's own tree)


class _Full(Exception):
    """The file bound was reached: stop discovering."""


def skipped_parts(rel: str, *, is_file: bool) -> str | None:
    """The skipped folder or name a relative path runs through (case-folded comparison), else None."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    dirs = parts[:-1] if is_file else parts
    for part in dirs:
        if part.casefold() in _SKIPPED_DIRS_FOLDED:
            return part
    if is_file and parts and parts[-1].casefold() in _SKIPPED_FILES_FOLDED:
        return parts[-1]
    return None


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


class Walker:
    """One discovery of a folder (see the module doc); :meth:`run` returns what to read, in order."""

    def __init__(self, artifact: Artifact, root: str, limits: Limits) -> None:
        self.artifact = artifact
        self.root = root
        self.real_root = os.path.realpath(root)
        self.limits = limits
        # The hub cache lays a snapshot out as links into its blobs: those links are the format, read as files.
        self.hf_repo = None if hub_cache_repo(root) is None else link_boundary(root)
        self.boundary = link_boundary(root)
        self.found: list[DiscoveredFile] = []
        self.keys: set[tuple[object, ...]] = set()
        self.real_files: set[str] = set()
        self.link_dirs = 0
        self.skipped_dirs: list[tuple[str, str]] = []  # (real path, display) of skipped folders met by the walk
        # Every file reached through a link or a shard index, kept even when _add reads it once under another name:
        # verify checks each one against the signed manifest (integrity/coverage.py).
        self.references: list[Reference] = []

    # -- results -------------------------------------------------------------------------------------------------------

    def _add(self, path: str, display: str, real: str | None = None, via: str = "") -> None:
        # Same bytes routed the same way are read the same way, so a file reached twice that way (a directory
        # alias of a walked folder) is read once. The routing is the readers' own (sniff.routing_key): it looks
        # at folders too (additional_chat_templates/x.jinja is a chat template, x.jinja is text: round 21, D).
        real = os.path.realpath(path) if real is None else real
        if via:
            self.references.append(Reference(display, real, via, via.startswith(_BY_INDEX)))
        key = (real, *routing_key(display))
        if key in self.keys:
            return
        if len(self.found) >= self.limits.max_files:
            self.artifact.anomalies.append(Anomaly(
                "limits.too_many_files", self.artifact.root, f"more than {self.limits.max_files} files; the rest were not read"))
            raise _Full
        self.keys.add(key)
        self.real_files.add(real)
        self.found.append(DiscoveredFile(path, display, self.root))

    def _note(self, code: str, where: str, message: str, evidence: str = "") -> None:
        self.artifact.anomalies.append(Anomaly(code, where, message, evidence))

    def run(self, *, skipped_folders: bool = True) -> list[DiscoveredFile]:
        """Discover; ``skipped_folders=False`` leaves out the scanner's look for model-named files in the skipped
        folders (files no link or index names: no loader reaches them from the folder)."""
        try:
            self._walk()
            self._follow_indexes()
            if skipped_folders:
                self._skipped_folders()
        except _Full:
            pass
        return self.found

    # -- the walk ------------------------------------------------------------------------------------------------------

    def _walk(self) -> None:
        stack = [_Dir(self.root, self.real_root, "", frozenset({self.real_root}), 0, os.path.abspath(self.root))]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder.path) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                where = folder.prefix.rstrip("/") or "."
                self.artifact.errors.append((where, f"cannot list folder: {exc.strerror or exc}"))
                continue
            subfolders: list[_Dir] = []
            for child in children:
                rel = folder.prefix + child.name
                if child.is_symlink():
                    sub = self._link(child.path, rel, folder)
                    if sub is not None:
                        subfolders.append(sub)
                elif child.is_dir(follow_symlinks=False):
                    real = os.path.join(folder.real, child.name)
                    if child.name in IGNORED_DIRS:
                        self.skipped_dirs.append((real, rel))
                    else:
                        subfolders.append(_Dir(child.path, real, rel + "/", folder.chain | {real}, folder.link_depth,
                                               folder.lex_root, folder.via))
                elif child.is_file(follow_symlinks=False):
                    if child.name not in IGNORED_FILES:
                        self._add(child.path, rel, os.path.join(folder.real, child.name), via=folder.via)
                    elif not self._is_what_its_name_says(child.path, child.name):
                        self._note("fs.skipped_name_content", rel,
                                   f"a file under the skipped name {child.name!r} whose content is not what that name "
                                   "holds: read as a model file", child.name)
                        self._add(os.path.realpath(child.path), rel)
                else:
                    self._note("fs.special_file", rel, "not a regular file (device, socket or pipe); not read")
            stack.extend(reversed(subfolders))

    @staticmethod
    def _is_what_its_name_says(path: str, name: str) -> bool:
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            return False
        if not head:
            return True  # nothing a loader could run
        if name == ".DS_Store":
            return head.startswith(_DS_STORE_MAGIC)
        # .gitattributes: git reads it as text lines; bytes no text holds mean something else was put there, and so
        # does text that is a pickle program importing code (protocol 0 is printable ASCII).
        from weightwarden.artifact.sniff import probe_pickle

        if probe_pickle(head).meaningful:
            return False
        try:  # incremental: a character cut by the 4 KiB head is not an error
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return False
        return all(c.isprintable() or c in "\t\r\n" for c in text)

    def _link(self, path: str, rel: str, folder: _Dir) -> _Dir | None:
        """Record a link; read a file target under ``rel``; return a directory target to walk under ``rel``."""
        if self.hf_repo is not None:
            try:
                resolved = resolve_entry(path, path, self.hf_repo)
            except InputError:  # leaves the repository, broken, or a folder: judged below like any link
                resolved = None
            if resolved is not None and resolved.is_file:
                self._add(resolved.path, rel, via=f"symbolic link {rel!r}")
                return None
        real = self.record_link(path, rel, folder.lex_root, read_escaping=True)
        if real is None:
            return None
        try:
            st = os.stat(real)
        except OSError:
            return None
        into = skipped_parts(_rel(real, self.real_root), is_file=stat.S_ISREG(st.st_mode))
        if stat.S_ISREG(st.st_mode):
            if into is not None and not self._annex(real):
                self._into_skipped(rel, _rel(real, self.real_root), into, "symbolic link")
            self._add(real, rel, via=f"symbolic link {rel!r}")
            return None
        if not stat.S_ISDIR(st.st_mode):
            return None  # a device or pipe behind a link: never opened (the link itself was reported)
        if real in folder.chain or _inside(folder.real, real):
            self._note("fs.symlink_loop", rel, "symbolic link to a folder on its own path (a loop): that folder is "
                       "walked once, under its first name", os.readlink(path))
            return None
        if folder.link_depth + 1 > MAX_LINK_DEPTH or self.link_dirs >= MAX_LINK_DIRS:
            self._note("limits.link_walk", rel,
                       f"links to folders nested more than {MAX_LINK_DEPTH} deep or more than {MAX_LINK_DIRS} of them: "
                       "this one was not walked, and a loader can still read through it", os.readlink(path))
            return None
        self.link_dirs += 1
        if into is not None:
            self._into_skipped(rel, _rel(real, self.real_root), into, "symbolic link to a folder")
        return _Dir(real, real, rel + "/", folder.chain | {real}, folder.link_depth + 1, self.real_root,
                    f"symbolic link to a folder {rel!r}")

    def record_link(self, path: str, rel: str, lex_root: str, read_escaping: bool = False) -> str | None:
        """Report where a link points; escaping the folder is an anomaly. Returns the real target (a file or a
        folder) when it lies inside the folder, else None. ``read_escaping``: a relative link leaving the folder
        whose target a loader reads by the link's name is read too (:meth:`_read_escaping`)."""
        try:
            target = os.readlink(path)
        except OSError as exc:
            self.artifact.errors.append((rel, f"cannot read link: {exc.strerror or exc}"))
            return None
        if os.path.isabs(target):
            self._note("fs.symlink_absolute", rel, "symbolic link with an absolute target", target)
            return None
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
        real = os.path.realpath(path)
        if not _inside(resolved, lex_root) or not _inside(real, self.real_root):
            read = read_escaping and self._read_escaping(rel, real)
            self._note("fs.symlink_escape", rel, "symbolic link resolves outside the model folder" + (
                ": a loader opens it by this name, so its target was read under it" if read else ""), target)
            if read:
                self._add(real, rel)
            return None
        self._note("fs.symlink", rel, "symbolic link inside the model folder (its target, a file or a folder's "
                   "tree, is scanned under this name)", target)
        return real

    @staticmethod
    def _read_escaping(rel: str, real: str) -> bool:
        """Red team round 34: whether a relative link leaving the folder is read (its high finding stays). A link
        named as a file a loader opens (a model extension, a loader's file name: ``keras_metadata.pb ->
        ../shared/km.bin``) makes the loader read its target, and what it reads must be judged, not only where it
        lies. Bounds: a regular file only (one file, read like any other and counted in the file bound; a folder
        link leaving the folder is never walked, so no outside tree and no loop); an absolute link is not read (what
        the loading machine holds there is not the model's, and host files are not pulled into a report); a link
        with another name (``escape -> ../secret.txt``) is not read either: no loader of the folder opens it."""
        from weightwarden.artifact.loader import is_model_name
        from weightwarden.artifact.sniff import sniff_by_loader_name

        if not (is_model_name(rel) or sniff_by_loader_name(rel) is not None):
            return False
        try:
            return stat.S_ISREG(os.stat(real).st_mode)
        except OSError:
            return False

    def _annex(self, real: str) -> bool:
        parts = _rel(real, self.real_root).split("/")
        return tuple(parts[:3]) == _ANNEX and len(parts) >= 5 and parts[-1] == parts[-2]

    def _into_skipped(self, where: str, target: str, part: str, how: str) -> None:
        self._note("fs.reference_into_skipped", where,
                   f"{how} naming {target!r}, in {part!r}, which the scan skips: a loader reaches it through this "
                   "name (it was read)", target)

    # -- shard indexes -------------------------------------------------------------------------------------------------

    def _follow_indexes(self) -> None:
        done: set[str] = set()
        position = 0
        while position < len(self.found):  # grows as indexes name more files (an index may name an index)
            item = self.found[position]
            position += 1
            if not INDEX_NAME.search(item.display) or item.path in done:
                continue
            done.add(item.path)
            self._index(item)

    def _index(self, item: DiscoveredFile) -> None:
        weight_map = self._weight_map(item)
        if weight_map is None:
            return
        base = item.display.rsplit("/", 1)[0] if "/" in item.display else ""
        if any(not isinstance(v, str) for v in weight_map.values()):
            self._note("fs.index_unresolved", item.display, "weight_map values that are not file names")
        for value in sorted({v for v in weight_map.values() if isinstance(v, str)}):
            self._reference(item.display, base, value)

    def _weight_map(self, item: DiscoveredFile) -> dict[object, object] | None:
        try:
            size = os.path.getsize(item.path)
            if size > self.limits.max_text_bytes:
                self._note("limits.text_too_large", item.display,
                           f"shard index of {size} bytes, past the {self.limits.max_text_bytes}-byte bound: the "
                           "files it names were not followed")
                return None
            with open(item.path, "rb") as f:
                data, limit = loads_checked(f.read())
        except (OSError, ValueError) as exc:
            self._note("fs.index_unresolved", item.display, f"a shard index that is not JSON: {exc}"[:300])
            return None
        if limit is not None:
            # Round 29: too deep for the scanner's parser is its limit, not a shard index that is not JSON (low):
            # the loader's json.load may read it and follow names nobody checked. Too deep to analyse (high).
            self._note("limits.text_too_large", item.display, f"shard index: {limit}: the files it names were not "
                       "followed")
            return None
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            self._note("fs.index_unresolved", item.display, "a shard index without a weight_map object")
            return None
        return weight_map

    def _reference(self, index: str, base: str, value: str) -> None:
        """Resolve one weight_map value as loaders do and read what it names."""
        if "\x00" in value:
            self._note("fs.index_unresolved", index, "a shard name with a NUL byte", repr(value)[:200])
            return
        # os.path.join(folder, value) on POSIX (literal), on Windows (backslashes separate), and the name the hub
        # serves for a percent-encoded request: any of them may be the one a loader opens.
        forms = dict.fromkeys([value, value.replace("\\", "/"), unquote(value), unquote(value).replace("\\", "/")])
        found_any = False
        for form in forms:
            lexical = os.path.normpath(os.path.join(self.root, base, form))
            if os.path.isabs(form) or not _inside(lexical, os.path.abspath(self.root)):
                self._note("fs.index_escape", index, f"shard index names {form!r}, outside the model folder: a loader "
                           "reads whatever that path holds on the loading machine", form)
                continue
            if not os.path.lexists(lexical):
                continue
            found_any = True
            real = os.path.realpath(os.path.join(self.root, base, form))
            if not _inside(real, self.boundary):
                self._note("fs.index_escape", index, f"shard index names {form!r}, which resolves outside the model "
                           "folder (through a link)", form)
                continue
            if not os.path.isfile(real):
                self._note("fs.index_unresolved", index, f"shard index names {form!r}, which is not a regular file",
                           form)
                continue
            display = _rel(lexical, os.path.abspath(self.root))
            into = skipped_parts(display, is_file=True) or skipped_parts(_rel(real, self.real_root), is_file=True)
            if into is not None and _inside(real, self.real_root):
                self._into_skipped(index, display, into, "shard index")
            self._add(real, display, via=f"{_BY_INDEX}{index!r}")
        if not found_any:
            self._note("fs.index_unresolved", index, f"shard index names {value!r}, which is not in the folder", value)

    # -- what the skipped folders hold ---------------------------------------------------------------------------------

    def _skipped_folders(self) -> None:
        """Read files named like model files in the skipped folders (a loader given such a name reads it)."""
        from weightwarden.artifact.loader import is_model_name

        listed = 0
        for real_dir, display in self.skipped_dirs:
            for dirpath, dirnames, filenames in os.walk(real_dir):
                # Object stores of git-annex and git-lfs hold every version of every file under hash names (annex
                # keeps the extension): a checkout reaches them through links, read under the links' names.
                if tuple(_rel(dirpath, self.real_root).split("/")[:3]) in _OBJECT_STORES:
                    dirnames[:] = []
                    continue
                listed += len(dirnames) + len(filenames)
                if listed > MAX_SKIPPED_LISTING:
                    self._note("fs.skipped_folder_unlisted", display,
                               f"more than {MAX_SKIPPED_LISTING} entries in the skipped folders: the rest were not "
                               "checked for model-named files")
                    return
                dirnames.sort()
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    real = os.path.realpath(path)
                    if not is_model_name(name) or real in self.real_files or not os.path.isfile(path) \
                            or os.path.islink(path):
                        continue
                    shown = display + "/" + _rel(path, real_dir)
                    self._note("fs.skipped_model_file", shown, f"a file named like a model file in {display!r}, a "
                               "folder the scan skips: read, since a loader given this name reads it", name)
                    self._add(real, shown)


# Anomalies that leave "what can a loader reach from here" open, or answer it with a file outside the folder.
INCOMPLETE_REACH = frozenset({"fs.index_escape", "limits.link_walk", "limits.too_many_files", "limits.text_too_large"})


@dataclass(frozen=True, slots=True)
class Reach:
    """What :func:`loader_references` found: the references, and why the answer is open or points outside
    (``problems``, as ``(where, message)``; empty when every reference was followed inside the folder)."""

    references: tuple[Reference, ...]
    problems: tuple[tuple[str, str], ...]


def loader_references(root: str | os.PathLike[str], limits: Limits | None = None) -> Reach:
    """Every file of the folder ``root`` that a loader reaches through a *name* something in the folder gives
    it (a link, a directory link's tree, a shard index entry): the same closure the scanner reads (see the
    module doc), for the integrity layer, which must cover each of them. Nothing but index JSON is parsed."""
    from weightwarden.core.limits import DEFAULT_LIMITS

    folder = os.path.abspath(os.fspath(root))
    artifact = Artifact(root=folder)
    walker = Walker(artifact, folder, limits or DEFAULT_LIMITS)
    walker.run(skipped_folders=False)
    problems = [(a.location, a.message) for a in artifact.anomalies if a.code in INCOMPLETE_REACH]
    problems += [(where, reason) for where, reason in artifact.errors]
    return Reach(tuple(walker.references), tuple(problems))
