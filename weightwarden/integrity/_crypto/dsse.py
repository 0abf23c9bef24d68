"""DSSE pre-authentication encoding (PAE), the exact bytes a DSSE signature covers.

Per the DSSE v1 protocol: ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` where SP is one ASCII
space and LEN is the byte length written as ASCII decimal without leading zeros. Signing the PAE rather
than the bare payload binds the payload type, so a signature can't be replayed under another type.
"""

from __future__ import annotations


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload`` with ``payload_type``."""
    type_bytes = payload_type.encode("utf-8")
    return b"".join(
        (b"DSSEv1 ", str(len(type_bytes)).encode("ascii"), b" ", type_bytes, b" ",
         str(len(payload)).encode("ascii"), b" ", payload)
    )
