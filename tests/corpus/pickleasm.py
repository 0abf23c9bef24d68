"""A tiny pickle *assembler*: write pickle programs opcode by opcode, for the test corpus.

``pickle.dumps`` can only express what a Python object graph reduces to; attacks use opcode sequences no
object produces (a dotted ``STACK_GLOBAL``, names fetched from the memo, ``EXT1`` after a runtime
``copyreg.add_extension``, several streams, a truncated tail). This module builds such programs as bytes.
Nothing here ever *loads* a pickle: the corpus only writes them, and checks them with ``pickletools.dis``.

Usage::

    p = Asm(protocol=4)
    p.call(Glob("os", "system"), "touch /tmp/canary")
    data = p.finish()

Values given to :meth:`Asm.emit` may be ``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``, tuples,
lists, dicts, or any callable taking the assembler (a sub-expression such as :class:`Glob` or :class:`Call`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Expr = Callable[["Asm"], None]


class Asm:
    """Accumulates the opcodes of one pickle program written for ``protocol`` (0 to 5)."""

    def __init__(self, protocol: int = 4, *, frame: bool = True) -> None:
        if not 0 <= protocol <= 5:
            raise ValueError(f"protocol {protocol}")
        self.protocol = protocol
        self.frame = frame and protocol >= 4
        self.body = bytearray()
        self._next_memo = 0

    # -- raw opcodes -------------------------------------------------------------------------------------
    def raw(self, data: bytes) -> Asm:
        self.body += data
        return self

    def mark(self) -> Asm:
        return self.raw(b"(")

    def pop(self) -> Asm:
        return self.raw(b"0")

    def stop(self) -> Asm:
        return self.raw(b".")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def newobj_ex(self) -> Asm:
        return self.raw(b"\x92")

    def obj(self) -> Asm:
        return self.raw(b"o")

    def inst(self, module: str, name: str) -> Asm:
        return self.raw(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def ext(self, code: int) -> Asm:
        if code < 0x100:
            return self.raw(b"\x82" + bytes([code]))
        if code < 0x10000:
            return self.raw(b"\x83" + struct.pack("<H", code))
        return self.raw(b"\x84" + struct.pack("<i", code))

    def stack_global(self) -> Asm:
        return self.raw(b"\x93")

    # -- memo --------------------------------------------------------------------------------------------
    def put(self) -> int:
        """Store the top of the stack at the next memo index (MEMOIZE from protocol 4); returns the index."""
        index = self._next_memo
        self._next_memo += 1
        if self.protocol >= 4:
            self.raw(b"\x94")
        elif self.protocol == 0:
            self.raw(b"p%d\n" % index)
        elif index < 256:
            self.raw(b"q" + bytes([index]))
        else:
            self.raw(b"r" + struct.pack("<I", index))
        return index

    def get(self, index: int) -> Asm:
        if self.protocol == 0:
            return self.raw(b"g%d\n" % index)
        if index < 256:
            return self.raw(b"h" + bytes([index]))
        return self.raw(b"j" + struct.pack("<I", index))

    # -- values ------------------------------------------------------------------------------------------
    def none(self) -> Asm:
        return self.raw(b"N")

    def boolean(self, value: bool) -> Asm:
        if self.protocol >= 2:
            return self.raw(b"\x88" if value else b"\x89")
        return self.raw(b"I01\n" if value else b"I00\n")

    def integer(self, value: int) -> Asm:
        if self.protocol >= 1 and 0 <= value < 256:
            return self.raw(b"K" + bytes([value]))
        if self.protocol >= 1 and -(2**31) <= value < 2**31:
            return self.raw(b"J" + struct.pack("<i", value))
        return self.raw(b"I%d\n" % value)

    def floating(self, value: float) -> Asm:
        if self.protocol >= 1:
            return self.raw(b"G" + struct.pack(">d", value))
        return self.raw(b"F" + repr(value).encode() + b"\n")

    def string(self, value: str) -> Asm:
        data = value.encode("utf-8")
        if self.protocol == 0:
            escaped = value.replace("\\", "\\u005c").replace("\n", "\\u000a").encode("raw-unicode-escape")
            return self.raw(b"V" + escaped + b"\n")
        if self.protocol >= 4 and len(data) < 256:
            return self.raw(b"\x8c" + bytes([len(data)]) + data)
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def binbytes(self, value: bytes) -> Asm:
        if self.protocol < 3:
            raise ValueError("bytes need protocol 3 or later")
        if len(value) < 256:
            return self.raw(b"C" + bytes([len(value)]) + value)
        return self.raw(b"B" + struct.pack("<I", len(value)) + value)

    def glob(self, module: str, name: str) -> Asm:
        """Push ``module.name``: GLOBAL below protocol 4, STACK_GLOBAL (name strings on the stack) from 4."""
        if self.protocol >= 4:
            self.string(module)
            self.string(name)
            return self.stack_global()
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def tuple_of(self, items: tuple[Any, ...] | list[Any]) -> Asm:
        items = tuple(items)
        if not items and self.protocol >= 1:
            return self.raw(b")")
        if self.protocol >= 2 and 1 <= len(items) <= 3:
            for item in items:
                self.emit(item)
            return self.raw({1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)])
        self.mark()
        for item in items:
            self.emit(item)
        return self.raw(b"t")

    def list_of(self, items: list[Any]) -> Asm:
        if self.protocol == 0:
            self.mark()
            for item in items:
                self.emit(item)
            return self.raw(b"l")
        self.raw(b"]")
        if items:
            self.mark()
            for item in items:
                self.emit(item)
            self.raw(b"e")
        return self

    def dict_of(self, items: dict[Any, Any]) -> Asm:
        if self.protocol == 0:
            self.mark()
            for key, value in items.items():
                self.emit(key)
                self.emit(value)
            return self.raw(b"d")
        self.raw(b"}")
        if items:
            self.mark()
            for key, value in items.items():
                self.emit(key)
                self.emit(value)
            self.raw(b"u")
        return self

    def emit(self, value: Any) -> Asm:
        if callable(value):
            value(self)
        elif value is None:
            self.none()
        elif isinstance(value, bool):
            self.boolean(value)
        elif isinstance(value, int):
            self.integer(value)
        elif isinstance(value, float):
            self.floating(value)
        elif isinstance(value, str):
            self.string(value)
        elif isinstance(value, bytes | bytearray):
            self.binbytes(bytes(value))
        elif isinstance(value, tuple):
            self.tuple_of(value)
        elif isinstance(value, list):
            self.list_of(value)
        elif isinstance(value, dict):
            self.dict_of(value)
        else:
            raise TypeError(f"cannot emit {type(value).__name__}")
        return self

    # -- composites --------------------------------------------------------------------------------------
    def call(self, func: Any, *args: Any) -> Asm:
        """Push ``func(*args)`` with REDUCE; ``func`` is an expression (e.g. :class:`Glob`)."""
        self.emit(func)
        self.tuple_of(args)
        return self.reduce()

    def finish(self, *, stop: bool = True) -> bytes:
        """The program's bytes: PROTO (protocol >= 2), an optional FRAME, the body, STOP."""
        body = bytes(self.body) + (b"." if stop else b"")
        head = b"\x80" + bytes([self.protocol]) if self.protocol >= 2 else b""
        if self.frame:
            head += b"\x95" + struct.pack("<Q", len(body))
        return head + body


@dataclass(frozen=True)
class Glob:
    """Expression: the global ``module.name`` (a dotted ``name`` walks attributes at load time)."""

    module: str
    name: str

    def __call__(self, asm: Asm) -> None:
        asm.glob(self.module, self.name)


@dataclass(frozen=True)
class Call:
    """Expression: ``func(*args)`` with REDUCE."""

    func: Any
    args: tuple[Any, ...] = field(default_factory=tuple)

    def __call__(self, asm: Asm) -> None:
        asm.call(self.func, *self.args)


@dataclass(frozen=True)
class Raw:
    """Expression: literal opcode bytes."""

    data: bytes

    def __call__(self, asm: Asm) -> None:
        asm.raw(self.data)


def call_program(protocol: int, func: Any, *args: Any) -> bytes:
    """A whole program whose result is ``func(*args)``."""
    asm = Asm(protocol)
    asm.call(func, *args)
    return asm.finish()
