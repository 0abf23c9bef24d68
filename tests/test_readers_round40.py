"""Red team round 40 on the scanner's readers: bytes the C unpickler drops at a frame's end.

When CPython's C unpickler cannot ``peek`` a whole frame (a buffered file and a frame over ~8 KiB, or BytesIO), it
fetches the frame with ``read(n)``; an opcode whose argument runs past the frame's end, or a FRAME inside a frame
longer than what is left of the outer one, then drops the frame's rest and reads on after it — another program than
the contiguous one ``pickle.loads(bytes)`` runs and the walker follows. The walker records that as a divergence (the
pickle reader reports WW-PKL-012, high), but the gate deciding whether a file is a pickle at all counted only
imported names: behind a 70,000-character literal the file was "text" (0 findings, exit 0) while ``pickle.load`` and
``np.load(allow_pickle=True)`` of the file ran the payload. Now a frame divergence makes a program count
(``sniff.has_real_sites``). Victims: the real loaders in a subprocess, a canary per file.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.scan_rounds import run_loaders
from weightwarden.artifact.sniff import probe_pickle
from weightwarden.cli.main import main
from weightwarden.picklevm.machine import analyze


def _command(canary: Path) -> bytes:
    """A 99-byte string that, read as opcodes, is GLOBAL posix.system + REDUCE on the canary command (pads: N0)."""
    cmd = b"posix\nsystem\n(Vtouch " + str(canary).encode() + b"\ntR"
    if len(cmd) % 2 == 0:
        cmd = cmd.replace(b"(Vtouch", b"(Vtouch ")
    padded = cmd + b"N0" * ((99 - len(cmd)) // 2)
    assert len(padded) == 99, "the canary path is too long for the 99-byte slot"
    return padded


def _straddle(canary: Path) -> bytes:
    """A frame whose last opcode (BININT2) has one argument byte inside the frame: contiguous, the string after it is
    data; read mode, the dropped byte shifts the reading onto GLOBAL ... REDUCE."""
    body = b"N0" * 6000 + b"MA"
    return b"\x95" + struct.pack("<Q", len(body)) + body + b"B\x8cc" + _command(canary) + b"0."


def _frame_in_frame(canary: Path) -> bytes:
    """A FRAME inside a frame, longer than what is left of the outer one: read mode drops the outer frame's last byte."""
    after = b"c" + _command(canary) + b"."
    body = b"N0" * 6000 + b"\x95" + struct.pack("<Q", 1 + len(after)) + b"\x8c"
    return b"\x95" + struct.pack("<Q", len(body)) + body + after


LITERAL = b"V" + b"a" * 70000 + b"\n0"  # a printable literal past the 64 KiB head, popped: the head is all text
SHAPES = {"straddle": _straddle, "frame_in_frame": _frame_in_frame}
LOADERS = {"model.pkl": "pickle", "embeddings.npy": "numpy"}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The canary command must fit a 99-byte string slot: a short folder for the canaries."""
    folder = Path(tempfile.mkdtemp(prefix="w40", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("prefix", [b"", LITERAL], ids=["bare", "behind_a_literal"])
def test_frame_divergences_make_a_file_a_pickle(tmp_path: Path, short_dir: Path, prefix: bytes) -> None:
    files = []
    for i, (shape, make) in enumerate(SHAPES.items()):
        for j, (filename, loader) in enumerate(LOADERS.items()):
            folder = tmp_path / shape
            folder.mkdir(exist_ok=True)
            canary = short_dir / f"c{i}{j}"
            (folder / filename).write_bytes(prefix + make(canary) + b"\n")
            files.append((folder / filename, loader, canary))
    run_loaders([(loader, path) for path, loader, _ in files])
    for path, _loader, canary in files:
        assert canary.exists(), f"the loader did not reach the payload of {path}: the test proves nothing"
        result = CliRunner().invoke(main, ["scan", str(path), "--format", "json", "--workers", "1", "-q"])
        findings = json.loads(result.stdout)["findings"]
        assert result.exit_code == 1, (path, findings)
        assert any(f["severity"] in ("high", "critical") for f in findings), findings


def test_contiguous_reading_alone_names_nothing(short_dir: Path) -> None:
    """The shapes are what the round says: the contiguous walk imports nothing, and only the frame divergence makes
    the probe count them (so the test above fails without it)."""
    for make in SHAPES.values():
        probe = probe_pickle(make(short_dir / "c") + b"\n")
        assert probe.meaningful


        analysis = analyze(io.BytesIO(make(short_dir / "c")))
        assert not any(site.target.endswith("system") for site in analysis.all_sites())
        assert analysis.divergences
