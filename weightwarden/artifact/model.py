"""Records produced by the artifact layer.

A reader turns one file (or archive member) into a :class:`FileEntry`: what format it is, the metadata that
format carries, the tensors it declares (name, dtype, shape and byte range — never the bytes), the *code
objects* that could run when someone loads it, and the structural *anomalies* the reader noticed. An
:class:`Artifact` is the set of entries for a file or folder. Scanning, signing and lineage all start here.

Readers only describe; they never judge. Severity and remediation belong to :mod:`weightwarden.scan`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    """A file's format, decided from its content, never from its name."""

    SAFETENSORS = "safetensors"
    PYTORCH_ZIP = "pytorch-zip"
    PYTORCH_LEGACY = "pytorch-legacy"
    PICKLE = "pickle"
    JOBLIB = "joblib"
    NUMPY = "numpy"
    NUMPY_ARCHIVE = "numpy-npz"
    KERAS_H5 = "keras-h5"
    HDF5 = "hdf5"
    KERAS_ZIP = "keras-zip"
    SAVEDMODEL = "tf-savedmodel"
    ONNX = "onnx"
    GGUF = "gguf"
    ZIP = "zip"
    TAR = "tar"
    SEVEN_ZIP = "7z"
    COMPRESSED = "compressed"  # a single gzip/bz2/xz/lz4/zlib stream whose content is sniffed in turn
    SENTENCEPIECE = "sentencepiece"  # a tokenizer vocabulary (protobuf ModelProto of sentencepiece): data only
    HF_TOKENIZER_CONFIG = "hf-tokenizer-config"
    JINJA_TEMPLATE = "jinja-template"
    JSON = "json"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"


class CodeKind(StrEnum):
    """What kind of loadable code a :class:`CodeObject` is."""

    PICKLE = "pickle"  # a pickle program; ``analysis`` holds its symbolic walk
    KERAS_LAYER = "keras-layer"  # a Lambda layer or a config entry naming a module/function
    CHAT_TEMPLATE = "chat-template"  # a Jinja template shipped with the model
    TF_OP = "tf-op"  # operations of a TensorFlow graph
    ONNX_OP = "onnx-op"  # custom-domain operators / functions of an ONNX graph
    EXTERNAL_REF = "external-ref"  # a path the model asks the loader to open (ONNX external data)


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as declared by its file. ``start``/``end`` are absolute byte offsets in that file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int | None = None
    end: int | None = None

    @property
    def nbytes(self) -> int | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class CodeObject:
    """Something inside a model that a loader could execute or interpret.

    ``location`` says exactly where it sits (an archive member, a metadata key, a layer name, a byte
    offset). ``text`` holds textual code (templates, configs, op names); ``analysis`` holds a structured
    reading (for pickles, a :class:`weightwarden.picklevm.PickleAnalysis`).
    """

    kind: CodeKind
    location: str
    text: str | None = None
    analysis: Any = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A structural fact a reader noticed that a rule may turn into a finding.

    ``code`` is a stable dotted name (``"zip.crc_mismatch"``, ``"safetensors.offset_overlap"``); the scan
    rule catalogue maps each code to a rule. ``evidence`` is what was seen, short and printable.
    """

    code: str
    location: str
    message: str
    evidence: str = ""


MAX_ANOMALIES_PER_CODE = 20  # a header with a million bad entries stays a short report
MAX_EVIDENCE_CHARS = 300


@dataclass(slots=True)
class FileEntry:
    """One file or archive member, as read by its format reader.

    ``path`` is the display path relative to the scanned root; archive members are written
    ``outer.zip!inner/member``. ``error`` is set when the entry could not be read completely: the reader
    says why, and whatever it did read (metadata, code objects) is still kept.
    """

    path: str
    format: Format
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    code: list[CodeObject] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    children: list[FileEntry] = field(default_factory=list)
    error: str | None = None
    anomaly_counts: dict[str, int] = field(default_factory=dict, repr=False)

    def add_anomaly(self, code: str, location: str, message: str, evidence: str = "") -> None:
        """Record an anomaly, keeping at most :data:`MAX_ANOMALIES_PER_CODE` of each code.

        ``anomaly_counts`` keeps the true count; one extra record says that more were left out.
        """
        n = self.anomaly_counts.get(code, 0) + 1
        self.anomaly_counts[code] = n
        if n <= MAX_ANOMALIES_PER_CODE:
            self.anomalies.append(Anomaly(code, location, message, evidence[:MAX_EVIDENCE_CHARS]))
        elif n == MAX_ANOMALIES_PER_CODE + 1:
            self.anomalies.append(Anomaly(code, self.path, f"further '{code}' anomalies not listed"))

    def walk(self) -> Iterator[FileEntry]:
        """This entry and every nested archive member, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True)
class Artifact:
    """A scanned file or folder: its entries, plus anomalies of the tree itself (links, unreadable paths)."""

    root: str
    entries: list[FileEntry] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) for paths not read at all

    def walk(self) -> Iterator[FileEntry]:
        for entry in self.entries:
            yield from entry.walk()
