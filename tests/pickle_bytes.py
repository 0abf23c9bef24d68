"""Hand-assembled pickle pieces and a minimal torch zip, shared by the red-team round tests of the scanner.

A PoC in those tests is written opcode by opcode (protocol 0/2 GLOBAL, BINUNICODE) so that it is exactly the
program the red team built, and wrapped in a torch-layout zip to prove the same program is found inside
``archive/data.pkl``.
"""

from __future__ import annotations

import io
import zipfile


def g(module: str, name: str) -> bytes:
    """GLOBAL ``module name``."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def s(text: str) -> bytes:
    """BINUNICODE ``text``."""
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def torch_zip(program: bytes, comment: bytes = b"", extra: dict[str, str] | None = None) -> bytes:
    """``program`` as ``archive/data.pkl`` of a stored zip laid out as ``torch.save`` writes it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", program)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/byteorder", "little")
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
        archive.comment = comment
    return out.getvalue()
