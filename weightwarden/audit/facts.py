"""What an audit states about the model itself: its files and their SHA-256 digests, its weights root,
parameter count, architecture and declared base model.

File digests come from the integrity hashing engine (all cores, bounded memory, the same digests a signed
release carries), so the attestation's subjects and the ML-BOM's hashes are the digests ``verify`` checks.
Tensor facts come from lineage's header readers (no tensor bytes are decoded for the count; the weights root
hashes each tensor once). A format lineage cannot read leaves those facts empty, with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.core.text import printable


@dataclass(frozen=True)
class FileFact:
    path: str  # relative to the model folder (the file name for a single-file model)
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class ModelFacts:
    path: str
    name: str
    files: tuple[FileFact, ...]
    weights_root: str | None = None  # RFC 6962 root over canonical tensor digests (lineage)
    parameters: int | None = None
    tensors: int | None = None
    container: str | None = None
    architecture: str | None = None
    declared_base: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)  # why a fact is missing
    weight_files: tuple[str, ...] = ()  # the files that hold the tensors (paths as in ``files``)

    def weight_digests(self) -> list[str]:
        """SHA-256 of the files that hold the weights: what eval evidence must name to count for this model
        (a shared config or tokenizer file says nothing about which weights were evaluated)."""
        chosen = set(self.weight_files)
        return [f.sha256 for f in self.files if f.path in chosen]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "files": [f.to_dict() for f in self.files],
            "weights_root": self.weights_root,
            "parameters": self.parameters,
            "tensors": self.tensors,
            "container": self.container,
            "architecture": self.architecture,
            "declared_base": self.declared_base,
            "weight_files": list(self.weight_files),
            "notes": list(self.notes),
        }


def describe_model(path: str | os.PathLike[str], *, ignore: tuple[str, ...] = ()) -> ModelFacts:
    """Hash every file of ``path`` and read its tensor facts. ``ignore`` names files left out (for example a
    signature bundle inside the folder)."""
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    files = describe_files(root, ignore=ignore)
    name = printable(root.resolve().name if root.is_dir() else root.name)
    notes: list[str] = []
    from weightwarden.lineage.model import LineageError

    try:
        tensor_facts = _tensor_facts(root)
    except (LineageError, OSError, ValueError) as exc:  # a format lineage cannot read: facts stay empty
        notes.append(f"tensor facts not available: {_describe(exc)}")
        tensor_facts = {}
    if "weight_files" in tensor_facts:
        base = root.resolve() if root.is_dir() else root.resolve().parent
        relative = set()
        for file in tensor_facts.pop("weight_files"):
            try:
                relative.add(Path(file).resolve().relative_to(base).as_posix())
            except ValueError:
                continue
        if not root.is_dir():
            relative = {root.name}
        tensor_facts["weight_files"] = tuple(sorted(relative & {f.path for f in files}))
    return ModelFacts(path=str(root), name=name, files=files, notes=tuple(notes), **tensor_facts)


def describe_files(root: Path, *, ignore: tuple[str, ...] = ()) -> tuple[FileFact, ...]:
    """Every file of the model with its size and SHA-256, sorted by path."""
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import ManifestError

    try:
        # The path policy: links inside the folder (and hub-cache snapshots) are read through; a link that
        # leaves the folder is refused, so nothing outside the audited folder is vouched for.
        manifest = digest_model(root, tensors=False, ignore_paths=ignore)
    except (ManifestError, OSError) as exc:
        raise InputError(f"{root}: cannot hash the model's files: {getattr(exc, 'reason', exc)}") from None
    base = root if root.is_dir() else root.parent
    out = []
    for name, resources in sorted(manifest.files().items()):
        [resource] = resources
        if root.is_dir():
            out.append(FileFact(name, (base / name).stat().st_size, resource.hex))
        else:  # a single-file model is its own only resource
            out.append(FileFact(root.name, root.stat().st_size, resource.hex))
    return tuple(out)


def _tensor_facts(root: Path) -> dict[str, Any]:
    from weightwarden.lineage.digests import digest_tensor_set
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(root) as tensors:
        info = tensors.info
        digests = digest_tensor_set(tensors)
        return {
            "weights_root": digests.root,
            "weight_files": sorted({ref.file for ref in tensors.refs}),
            "parameters": sum(ref.numel for ref in tensors.refs),
            "tensors": len(tensors.refs),
            # Declared facts come from the model's own files: kept printable (no controls, no lone surrogates).
            "container": info.container,
            "architecture": printable(info.architecture, 200) if info.architecture else None,
            "declared_base": printable(info.declared_base_model, 500) if info.declared_base_model else None,
        }


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."
