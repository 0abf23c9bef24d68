"""Walk protobuf messages inside a seekable stream without reading the bytes of fields we skip.

The ONNX and SavedModel readers use this to step over tensor data (``raw_data``, ``Const`` values) that can be
gigabytes long: a field is listed as ``(number, wire_type, value_offset, value_length)`` and only the fields
the reader asks for are read into memory. Cost grows with the number of fields, not their size. Fields are
decoded with :mod:`weightwarden.artifact.protowire`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from weightwarden.artifact import protowire
from weightwarden.artifact.protowire import I32, I64, LEN, VARINT, WireError

# A message this small is read whole and walked in memory (fewer seeks).
INLINE_BYTES = 1024 * 1024


class Field:
    """One field of a message in a stream: ``value`` is the varint/fixed value, or None for LEN fields."""

    __slots__ = ("number", "wire", "offset", "length", "value")

    def __init__(self, number: int, wire: int, offset: int, length: int, value: int | None) -> None:
        self.number = number
        self.wire = wire
        self.offset = offset
        self.length = length
        self.value = value


def iter_stream_fields(f: BinaryIO, start: int, end: int, max_fields: int, clip: bool = False) -> Iterator[Field]:
    """Fields of the message occupying ``[start, end)`` of ``f``; raises WireError on bad wire data.

    With ``clip``, a length-delimited field that runs past ``end`` (a truncated file) is still yielded, cut at
    ``end``, and the WireError comes on the next step: callers can report what the readable part holds.
    """
    pos = start
    count = 0
    while pos < end:
        count += 1
        if count > max_fields:
            raise WireError(f"more than {max_fields} fields in one message")
        f.seek(pos)
        head = f.read(min(20, end - pos))
        key, used = protowire.read_varint(head, 0)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at offset {pos}")
        if wire == VARINT:
            value, used2 = protowire.read_varint(head, used)
            yield Field(number, wire, pos + used, used2 - used, value)
            pos += used2
        elif wire == I64:
            if pos + used + 8 > end:
                raise WireError(f"truncated fixed64 at offset {pos}")
            yield Field(number, wire, pos + used, 8, int.from_bytes(head[used : used + 8], "little"))
            pos += used + 8
        elif wire == I32:
            if pos + used + 4 > end:
                raise WireError(f"truncated fixed32 at offset {pos}")
            yield Field(number, wire, pos + used, 4, int.from_bytes(head[used : used + 4], "little"))
            pos += used + 4
        elif wire == LEN:
            length, used2 = protowire.read_varint(head, used)
            if pos + used2 + length > end:
                problem = f"field {number} at offset {pos} runs past the end of its message ({length} bytes)"
                if clip and pos + used2 < end:
                    yield Field(number, wire, pos + used2, end - pos - used2, None)
                raise WireError(problem)
            yield Field(number, wire, pos + used2, length, None)
            pos += used2 + length
        else:
            raise WireError(f"unsupported wire type {wire} at offset {pos}")


def read_field(f: BinaryIO, field: Field) -> bytes:
    f.seek(field.offset)
    data = f.read(field.length)
    if len(data) != field.length:
        raise WireError(f"field {field.number} at offset {field.offset} is truncated")
    return data


def read_string(f: BinaryIO, field: Field, max_len: int = 64 * 1024) -> str:
    """A string field, decoded leniently and cut at ``max_len`` bytes (names are short; hostile ones are not)."""
    f.seek(field.offset)
    return f.read(min(field.length, max_len)).decode("utf-8", errors="replace")


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_len_field(number: int, payload: bytes) -> bytes:
    return encode_varint((number << 3) | LEN) + encode_varint(len(payload)) + payload


def packed_varints(data: bytes | memoryview) -> list[int]:
    out = []
    pos = 0
    while pos < len(data):
        value, pos = protowire.read_varint(data, pos)
        out.append(value)
    return out


__all__ = ["Field", "iter_stream_fields", "read_field", "read_string", "encode_varint", "encode_len_field",
           "packed_varints", "INLINE_BYTES", "WireError"]
