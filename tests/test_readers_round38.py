"""Red team round 38 on the scanner's readers: the pickle programs after program 0.

torch.load's legacy reader (torch 2.13 ``serialization._legacy_load``, any file that is neither zip nor tar) unpickles
program 0, compares its *value* with ``MAGIC_NUMBER`` and then unpickles the following programs of the same file
(protocol version, sys_info, the object, the storage keys), the first of them before any check. The scanner judged
"pickle or not" and "runs code or not" from program 0 alone and knew the legacy format only by the 15 protocol-2
bytes of its magic number: the magic written as a protocol-0 ``I...\\n.`` line followed by an os.system program was
"text" (0 findings, exit 0) under every name. Here every spelling of the magic x payload protocol x file name (and
archive members) is proven against torch.load in a subprocess (a canary per file) and must be critical (exit 1)
through the CLI with ``--workers 1``; text that merely starts like a pickle stays clean.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.artifact.model import Format
from weightwarden.artifact.sniff import TORCH_LEGACY_MAGIC_NUMBER, probe_pickle, sniff
from weightwarden.artifact.source import Source
from weightwarden.cli.main import main

pytest.importorskip("torch")

MAGIC = TORCH_LEGACY_MAGIC_NUMBER
_LE = MAGIC.to_bytes(10, "little")
# Program 0 spellings whose unpickled value is torch.serialization.MAGIC_NUMBER.
SPELLINGS = {
    "int": b"I%d\n." % MAGIC,  # protocol 0 INT (printable: the file was "text")
    "long": b"L%dL\n." % MAGIC,  # protocol 0 LONG
    "long1": b"\x8a\x0a" + _LE + b".",  # LONG1 without PROTO
    "long4": b"\x8b" + (10).to_bytes(4, "little") + _LE + b".",  # LONG4
    "memo": b"I%d\np0\n0g0\n." % MAGIC,  # through the memo: PUT, POP, GET
    "proto4_memoize": b"\x80\x04\x8a\x0a" + _LE + b"\x94.",  # protocol 4, MEMOIZEd
}
NAMES = ("model.pt", "pytorch_model.bin", "model.pth", "last.ckpt", "model.pkl", "blob")


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _payload(canary: Path, protocol: int) -> bytes:
    return pickle.dumps(_System(f"touch {canary}"), protocol=protocol)


def _stealth(canary: Path) -> bytes:
    """All five programs at protocol 0: torch.load returns the dict of program 3 with no error, after running the
    os.system hidden as an extra sys_info value (program 2)."""
    info = {"protocol_version": 1001, "little_endian": True, "x": _System(f"touch {canary}")}
    return (SPELLINGS["int"] + b"I1001\n." + pickle.dumps(info, protocol=0)
            + pickle.dumps({"epoch": 10, "best_acc": 0.91}, protocol=0) + pickle.dumps([], protocol=0))


def _torch_load_all(paths: list[Path]) -> None:
    """The victim: torch.load(path, weights_only=False) of each file, in one subprocess (errors after the payload
    ran are expected: program 1 is no protocol version)."""
    code = ("import sys, torch\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        torch.load(p, weights_only=False)\n"
            "    except Exception:\n"
            "        pass\n")
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, timeout=600, check=False)


def _scan(path: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["scan", "--workers", "1", "--format", "json", str(path)])
    return result.exit_code, json.loads(result.stdout)


def test_every_spelling_payload_and_name_runs_under_torch_load_and_is_critical(tmp_path: Path) -> None:
    cases: list[tuple[Path, Path]] = []
    for spelling, program0 in SPELLINGS.items():
        for protocol in (0, 2):
            for name in NAMES:
                folder = tmp_path / f"{spelling}-p{protocol}-{name.replace('.', '_')}"
                folder.mkdir()
                canary = folder / "canary"
                path = folder / name
                path.write_bytes(program0 + _payload(canary, protocol))
                cases.append((path, canary))
    _torch_load_all([path for path, _c in cases])
    for path, canary in cases:
        assert canary.exists(), f"torch.load did not run {path.parent.name}/{path.name}"
        canary.unlink()
    for path, _c in cases:
        assert probe_pickle(path.read_bytes()).legacy_magic, path
        assert sniff(Source.from_path(str(path), path.name)) == Format.PYTORCH_LEGACY, path
    # Every file through the CLI, one worker, one at a time for the protocol-0 INT (the reported PoC) and as one
    # folder for the rest: each file critical, exit 1.
    for path, _c in cases:
        if path.parent.name.startswith("int-p0"):
            code, report = _scan(path)
            assert code == 1, (path, report["findings"])
            assert any(f["severity"] == "critical" for f in report["findings"]), path
    code, report = _scan(tmp_path)
    assert code == 1
    flagged = {path for path, _c in cases
               if any(f["severity"] == "critical" and path.name in json.dumps(f) and path.parent.name in json.dumps(f)
                      for f in report["findings"])}
    assert flagged == {path for path, _c in cases}, sorted(str(p) for p in {p for p, _c in cases} - flagged)
    assert report["formats"] == {"pytorch-legacy": len(cases)}


def test_the_reported_poc_beside_benign_models_and_the_stealth_variant(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    repo = tmp_path / "repo"
    repo.mkdir()
    torch.save({"w": torch.zeros(4)}, repo / "pytorch_model.bin")
    (repo / "model.pth").write_bytes(SPELLINGS["int"] + _payload(repo / "canary", 0))
    stealth = tmp_path / "clean"
    stealth.mkdir()
    (stealth / "model.pth").write_bytes(_stealth(stealth / "canary"))
    _torch_load_all([repo / "model.pth", stealth / "model.pth"])
    assert (repo / "canary").exists() and (stealth / "canary").exists()
    for folder in (repo, stealth):
        code, report = _scan(folder)
        assert code == 1, report["findings"]
        assert any(f["severity"] == "critical" and "model.pth" in json.dumps(f) for f in report["findings"])
    # The benign legacy-free torch.save file stays clean beside it.
    code, report = _scan(repo / "pytorch_model.bin")
    assert code == 0 and report["findings"] == []


def test_archive_members_are_read_the_same_way(tmp_path: Path) -> None:
    """A member read out of a zip or a tar and handed to torch.load (here from memory) runs program 1 too."""
    canary_zip, canary_tar = tmp_path / "canary-zip", tmp_path / "canary-tar"
    member_zip = SPELLINGS["int"] + _payload(canary_zip, 0)
    member_tar = SPELLINGS["long1"] + _payload(canary_tar, 2)
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as zf:
        zf.writestr("ckpt/model.pth", member_zip)
        zf.writestr("README.txt", "a model")
    with tarfile.open(tmp_path / "bundle.tar", "w") as tf:
        info = tarfile.TarInfo("ckpt/best.th")
        info.size = len(member_tar)
        tf.addfile(info, io.BytesIO(member_tar))
    code = ("import io, sys, tarfile, zipfile, torch\n"
            "z = zipfile.ZipFile(sys.argv[1]).read('ckpt/model.pth')\n"
            "t = tarfile.open(sys.argv[2]).extractfile('ckpt/best.th').read()\n"
            "for data in (z, t):\n"
            "    try:\n"
            "        torch.load(io.BytesIO(data), weights_only=False)\n"
            "    except Exception:\n"
            "        pass\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "bundle.zip"), str(tmp_path / "bundle.tar")],
                   capture_output=True, timeout=600, check=False)
    assert canary_zip.exists() and canary_tar.exists()
    for archive in ("bundle.zip", "bundle.tar"):
        rc, report = _scan(tmp_path / archive)
        assert rc == 1, report["findings"]
        assert any(f["severity"] == "critical" for f in report["findings"]), archive


def test_a_literal_program_0_then_a_payload_is_a_pickle_whatever_the_value(tmp_path: Path) -> None:
    """Not only the magic: program 0 that reaches STOP with a program after it that imports something is a pickle
    (a loader calling pickle.load again runs it), judged by the same rules as program 0."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"I123\n." + _payload(tmp_path / "canary", 0))
    code = ("import pickle, sys\n"
            "f = open(sys.argv[1], 'rb')\n"
            "pickle.load(f); pickle.load(f)\n")
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=60, check=False)
    assert (tmp_path / "canary").exists()
    assert sniff(Source.from_path(str(path), path.name)) == Format.PICKLE
    rc, report = _scan(path)
    assert rc == 1 and any(f["severity"] == "critical" for f in report["findings"])


def test_the_chain_past_the_head_is_walked(tmp_path: Path) -> None:
    """A literal program longer than the sniffed head between program 0 and the payload: the whole chain is walked."""
    filler = pickle.dumps(["x" * 40] * 4000, protocol=0)  # ~200 KB of protocol-0 text, no import
    path = tmp_path / "weights.dat"
    path.write_bytes(b"I7\n." + filler + _payload(tmp_path / "canary", 0))
    rc, report = _scan(path)
    assert rc == 1 and any(f["severity"] == "critical" for f in report["findings"]), report["findings"]


@pytest.mark.parametrize("text", [
    b"I123\n.\nThe number above is the build id. Nothing else here.\n",
    b"I123\n." + b"plain prose, line after line.\n" * 50,
    b"I%d\n. a note that begins with the magic number and says nothing more.\n" % (MAGIC + 1),
    b"I1\n.I2\n.I3\n.",  # literal-only programs: nothing a loader could call
])
def test_text_that_starts_like_a_pickle_stays_clean(text: bytes, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(text)
    assert not probe_pickle(text).meaningful
    rc, report = _scan(path)
    assert rc == 0 and not [f for f in report["findings"] if f["severity"] in ("critical", "high")], report["findings"]


def test_nested_payloads_follow_the_magic_by_value() -> None:
    """A payload handed to a loader inside a pickle: program 0 spelled as a protocol-0 INT still leads the walk on."""
    from weightwarden.core.limits import DEFAULT_LIMITS
    from weightwarden.picklevm.machine import nested_programs

    data = SPELLINGS["int"] + pickle.dumps(_System("true"), protocol=0)
    programs = nested_programs(data, DEFAULT_LIMITS, 0, 1)
    assert any("system" in site.target for p in programs for site in p.all_sites())
