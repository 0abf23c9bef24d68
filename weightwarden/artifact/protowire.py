"""A minimal protobuf wire-format walker, for sniffing and for reading TF SavedModel graphs.

It understands only the wire format (varints, fixed 32/64-bit, length-delimited fields); the meaning of each
field number is the caller's business. It never allocates a length-delimited field it is only skipping, so a
hostile "10 GB" length costs nothing but a bounds check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not valid protobuf wire format."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def iter_fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes | memoryview]]:
    """Yield ``(field_number, wire_type, value)`` for a message held in memory.

    ``value`` is an int for VARINT/I64/I32 and a memoryview for LEN fields.
    """
    view = memoryview(buf)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == VARINT:
            value, pos = read_varint(view, pos)
            yield number, wire, value
        elif wire == I64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            yield number, wire, int.from_bytes(view[pos : pos + 8], "little")
            pos += 8
        elif wire == I32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            yield number, wire, int.from_bytes(view[pos : pos + 4], "little")
            pos += 4
        elif wire == LEN:
            length, pos = read_varint(view, pos)
            if pos + length > end:
                raise WireError(f"length-delimited field {number} runs past the end ({length} bytes)")
            yield number, wire, view[pos : pos + length]
            pos += length
        else:
            raise WireError(f"unsupported wire type {wire}")


def top_level_fields(f: BinaryIO, size: int, max_fields: int = 4096) -> list[tuple[int, int, int, int]]:
    """``(number, wire_type, value_offset, value_length)`` of a message's top-level fields, from a stream.

    Length-delimited values are skipped with ``seek``: cost grows with the number of fields, not bytes.
    """
    f.seek(0)
    out: list[tuple[int, int, int, int]] = []
    pos = 0
    while pos < size:
        if len(out) >= max_fields:
            break
        f.seek(pos)
        head = f.read(20)
        key, used = read_varint(head, 0)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 536_870_911:
            raise WireError("bad field number")
        if wire == VARINT:
            _value, used2 = read_varint(head, used)
            out.append((number, wire, pos + used, used2 - used))
            pos += used2
        elif wire == I64:
            out.append((number, wire, pos + used, 8))
            pos += used + 8
        elif wire == I32:
            out.append((number, wire, pos + used, 4))
            pos += used + 4
        elif wire == LEN:
            length, used2 = read_varint(head, used)
            if pos + used2 + length > size:
                raise WireError("length-delimited field runs past the end")
            out.append((number, wire, pos + used2, length))
            pos += used2 + length
        else:
            raise WireError(f"unsupported wire type {wire}")
    if pos > size:
        raise WireError("message runs past the end")
    return out
