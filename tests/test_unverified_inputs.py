"""Issue 11, classes 2 and 6: nothing passes as "scanned" that was not verified.

Empty inputs exit 2 with the reason; a model-named file whose content no reader accepts, or an unreadable
file next to model files, is WW-FS-005 (medium); a .safetensors whose header is not JSON is malformed; data a
model names (ONNX external data) and tokenizer vocabularies (sentencepiece) are not flagged.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from weightwarden.artifact.model import Format
from weightwarden.artifact.sniff import sniff
from weightwarden.artifact.source import Source
from weightwarden.scan import scan_paths

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "weightwarden.cli.main", "scan", *args, "-q"], env=env,
                          capture_output=True, text=True, check=False)


def _safetensors(path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_empty_inputs_exit_2_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    for target, words in (("empty", "empty folder"), ("model.pt", "0 bytes"), ("notes.txt", "0 bytes")):
        result = _cli(str(tmp_path / target))
        assert result.returncode == 2, (target, result.stdout, result.stderr)
        assert words in result.stdout + result.stderr


def test_model_named_file_of_no_format_is_medium(tmp_path: Path) -> None:
    for name in ("weights.gguf", "model.pkl", "est.joblib", "ckpt.pt"):
        path = tmp_path / name
        path.write_bytes(b"\x00\x01\x02 not a model \xff" * 10)
        findings = scan_paths([str(path)], workers=1).findings
        assert any(f.rule_id == "WW-FS-005" and f.severity.value == "medium" for f in findings), name


def test_safetensors_whose_header_is_not_json_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 16) + b"\x01\x02garbage-header" + b"\0" * 8)
    findings = scan_paths([str(path)], workers=1).findings
    assert any(f.rule_id.startswith("WW-ST") and f.severity.at_least(f.severity.MEDIUM) for f in findings)


def test_unreadable_file_next_to_model_files_is_medium(tmp_path: Path) -> None:
    _safetensors(tmp_path / "model.safetensors")
    (tmp_path / "blob.dat2").write_bytes(bytes(range(256)) * 4)
    vocab = b"".join(_field(1, _field(1, f"piece{i}".encode())) for i in range(50))
    (tmp_path / "tokenizer.model").write_bytes(vocab + _field(2, b"\x08\x01") + _field(3, b"\x08\x01"))
    assert sniff(Source.from_path(str(tmp_path / "tokenizer.model"), "tokenizer.model")) is Format.SENTENCEPIECE
    findings = scan_paths([str(tmp_path)], workers=1).findings
    flagged = {Path(f.file).name for f in findings if f.rule_id == "WW-FS-005"}
    assert flagged == {"blob.dat2"}
