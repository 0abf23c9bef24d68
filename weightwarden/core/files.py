"""Reading a small file someone handed us (a key, a bundle, an indicator set, a checkpoint) without ever
reading more than a bound: a hostile multi-GB "key" is refused after ``limit + 1`` bytes."""

from __future__ import annotations

import sys

from weightwarden.core.errors import InputError


def read_bounded(path: str, what: str, limit: int) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit``; :class:`InputError` naming the file
    and ``what`` it should have been when it cannot be read or is larger."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: the {what} is larger than {limit} bytes")
    return data
