"""Plumbing shared by the suite loaders: bounded file reads, digests, stable item ids, rejected rows.

Every loader reads its dataset file through :func:`read_source` (size-capped, one read, sha256 of the exact
bytes for ``Suite.source_digest``), builds items through a :class:`RowCollector` (which refuses duplicate
ids and records skipped rows with their reason instead of crashing), and raises :class:`SuiteLoadError`, a
``ValueError`` naming the file and the reason, when the file as a whole cannot be used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.evals.model import Item, Suite

# The public files are well under 1 MB; a dataset file beyond this is refused rather than read into memory.
MAX_DATASET_BYTES = 64 * 1024 * 1024
# Item ids of datasets without ids of their own: this many hex digits of the prompt's sha256 (48 bits; a
# collision is negligible for any realistic suite, and the collector would refuse it anyway).
TEXT_ID_HEX = 12


class SuiteLoadError(ValueError):
    """A suite cannot be loaded: unknown name, missing or unreadable file, wrong overall shape."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    data: bytes
    digest: str  # sha256 of ``data``

    def text(self) -> str:
        """The file as UTF-8 text (a BOM is dropped); undecodable bytes are an error naming the offset."""
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SuiteLoadError(f"{self.path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def read_source(path: Path, *, max_bytes: int = MAX_DATASET_BYTES) -> SourceFile:
    """Read one dataset file whole (after checking its size), with its sha256."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SuiteLoadError(f"{path}: dataset file not found") from None
    except OSError as exc:
        raise SuiteLoadError(f"{path}: cannot read dataset file ({exc.strerror or exc})") from None
    if not path.is_file():
        raise SuiteLoadError(f"{path}: not a regular file")
    if size > max_bytes:
        raise SuiteLoadError(f"{path}: {size} bytes is over the {max_bytes}-byte limit for a dataset file")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SuiteLoadError(f"{path}: cannot read dataset file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew between stat and read
        raise SuiteLoadError(f"{path}: over the {max_bytes}-byte limit for a dataset file")
    return SourceFile(path=path, data=data, digest=hashlib.sha256(data).hexdigest())


def parse_json(source: SourceFile) -> Any:
    """The file parsed as JSON; broken or too deeply nested JSON is a :class:`SuiteLoadError`."""
    try:
        return json.loads(source.text())
    except json.JSONDecodeError as exc:
        raise SuiteLoadError(
            f"{source.path}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise SuiteLoadError(f"{source.path}: JSON nested too deeply to be a suite") from None


def default_datasets_dir() -> Path:
    """Where the standard dataset files are looked for: ``$WW_DATASETS``, else ``$WW_SHARED/datasets``, else
    the user data folder when ``weightwarden eval datasets install`` put data there, else ``shared/datasets``
    next to the repository checkout (the layout the tests use)."""
    if os.environ.get("WW_DATASETS"):
        return Path(os.environ["WW_DATASETS"])
    if os.environ.get("WW_SHARED"):
        return Path(os.environ["WW_SHARED"]) / "datasets"
    user = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "weightwarden" / "datasets"
    if (user / "MANIFEST.json").is_file():
        return user
    return Path(__file__).resolve().parents[4] / "shared" / "datasets"


_SPACES = re.compile(r"\s+")


def text_id(text: str) -> str:
    """A stable id for a prompt that has none: a hash of the text with whitespace runs collapsed, so that
    re-wrapping or trailing spaces in a copy of the dataset keep the id."""
    normalised = _SPACES.sub(" ", text).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:TEXT_ID_HEX]


def slug(text: str) -> str:
    """A suite id made from free text (a file stem, a dataset name): lowercase, ``-`` separated."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned or "suite"


@dataclass
class RowCollector:
    """Collects a loader's items in source order; a row that cannot become an item is recorded, not raised."""

    suite_id: str
    items: list[Item] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _seen: dict[str, str] = field(default_factory=dict)

    def item_id(self, key: str) -> str:
        return f"{self.suite_id}/{key}"

    def add(self, row: str, item: Item) -> None:
        """Keep ``item`` unless its id repeats an earlier row's (a duplicated prompt or dataset id)."""
        if item.id in self._seen:
            self.reject(row, f"duplicate id {item.id} (same as {self._seen[item.id]})")
            return
        self._seen[item.id] = row
        self.items.append(item)

    def reject(self, row: str, reason: str) -> None:
        self.rejected.append(f"{row}: {reason}")

    def mappings(self, records: Iterable[object], label: str, noun: str) -> Iterator[tuple[str, dict]]:
        """The rows of ``records`` that are dicts, each with its name (``"{label} {index}"``); any other row is
        rejected as ``"a {type}, not {noun}"``."""
        for index, record in enumerate(records):
            row = f"{label} {index}"
            if not isinstance(record, dict):
                self.reject(row, f"a {type(record).__name__}, not {noun}")
                continue
            yield row, record

    def csv_records(
        self, path: Path, text: str, columns: tuple[str, ...], what: str
    ) -> Iterator[tuple[str, dict[str, str]]]:
        """The records of a CSV dataset, each with its name (``"line N"``). A file without all of ``columns`` is
        ``"not {what}"`` and a broken CSV ends the load (both :class:`SuiteLoadError`); a record with the wrong
        number of fields is rejected."""
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [col for col in columns if col not in (reader.fieldnames or [])]
        if missing:
            raise SuiteLoadError(f"{path}: not {what} (missing column(s) {', '.join(missing)})")
        try:
            for record in reader:
                row = f"line {reader.line_num}"
                if None in record or any(value is None for value in record.values()):
                    self.reject(row, "wrong number of fields")
                    continue
                yield row, record
        except csv.Error as exc:
            raise SuiteLoadError(f"{path}: broken CSV at line {reader.line_num}: {exc}") from None

    def suite(
        self,
        path: Path,
        source: SourceFile,
        *,
        empty: str,
        version: str,
        family: str,
        description: str,
        detectors: tuple[str, ...],
        license: str | None,
        label: str | None = None,
        rejected: str = "rejected",
    ) -> Suite:
        """The loaded suite (id ``suite_id``, the collected items and rejections, ``source``'s digest); a file
        none of whose rows became an item is a :class:`SuiteLoadError`: ``"{path}: {empty} (N {rejected})"``.
        ``label`` names the source in the suite (default: ``path``)."""
        if not self.items:
            raise SuiteLoadError(f"{path}: {empty} ({len(self.rejected)} {rejected})")
        return Suite(
            id=self.suite_id,
            version=version,
            family=family,
            description=description,
            items=tuple(self.items),
            detectors=detectors,
            source=label or str(path),
            source_digest=source.digest,
            license=license,
            rejected_rows=tuple(self.rejected),
        )
