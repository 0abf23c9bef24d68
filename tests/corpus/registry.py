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
    def inert(self) -> str | None:
        """Why this malicious entry's payload does NOT run under the real loader (None: it fires).

        Such entries stay in the corpus because the scanner must still flag what they name (policy), but
        they are labelled: detecting them proves nothing about execution. The firing ones are checked by
        tests/test_corpus_fires.py; tests/adversarial holds the payloads that all fire.
        """
        return INERT.get(self.name)

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
            "inert": self.inert,
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


# Malicious entries whose payload cannot run under the real loader here (checked once by loading every
# pickle-family entry in a subprocess with its canary: 21 of 101 stayed silent). Relabelled, not removed.
INERT: dict[str, str] = {
    "npz_compressed_object_array": "np.load of an .npz is lazy: the member is only unpickled when accessed",
    "npz_object_array": "np.load of an .npz is lazy: the member is only unpickled when accessed",
    "pkl_multiprocessing_spawnv_passfds": "the call fails on its arguments before spawning",
    "pkl_newobj_ex_popen": "NEWOBJ_EX calls Popen.__new__ only; __init__ (which spawns) never runs",
    "pkl_newobj_popen": "NEWOBJ calls Popen.__new__ only; __init__ (which spawns) never runs",
    "pkl_nt_system": "the 'nt' module exists only on Windows",
    "pkl_numpy_load_allow_pickle": "the file it loads does not exist",
    "pkl_pip_main": "pip's entry point refuses the arguments offline",
    "pkl_py2_urllib2_urlopen": "needs the network",
    "pkl_runpy_run_path": "the script it runs does not exist",
    "pkl_second_stream": "pickle.load reads only the first program; the payload is in the second",
    "pkl_shutil_rmtree": "deletes a path that does not exist; creates nothing",
    "pkl_socket_create_connection": "needs the network",
    "pkl_stack_global_tempfile_os_system": "the dotted name is written below protocol 4, where it does not resolve",
    "pkl_third_stream_proto4": "pickle.load reads only the first program; the payload is in the third",
    "pkl_torch_hub_load": "needs the network",
    "pkl_trailing_garbage": "the payload sits after STOP, where no loader reads",
    "pkl_webbrowser_open": "no browser on the test machine",
    "torch_legacy_tar_format": "torch.load rejects the tar layout before unpickling the payload",
    "torch_zip_duplicate_data_pkl": "torch's zip reader takes the benign duplicate",
    "torchscript_like_constants": "the constants archive is not unpickled by torch.load",
}

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
