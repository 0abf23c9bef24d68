"""Reading numbers and answers off the network, one way everywhere in the registry (red team round 14, G1).

- :func:`strict_decimal`: a number another party sent (a witness's 409 size, a Content-Length) is ASCII
  ``0`` or ``[1-9][0-9]{0,18}`` below 2^63, else ``None``. ``str.isdigit`` is true for superscripts and other
  Unicode digits that ``int`` refuses, and ``int`` refuses more than 4,300 digits with a ValueError: either
  was an internal error in ``registry witness-push``. ``int`` also takes ``1_000``, ``+7`` and surrounding
  Unicode spaces, which no peer of ours may send.
- :func:`read_capped`: an httpx streamed response read up to ``cap`` bytes, never more (``response.content``
  and ``response.text`` read the whole answer first, then the caller cut it: a 64 MiB answer cost ~130 MB).
"""

from __future__ import annotations

import re
from typing import Any

from weightwarden.core.errors import WeightwardenError

DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_DECIMAL = (1 << 63) - 1


class AnswerTooLarge(WeightwardenError):
    """A peer's answer is longer than the reader's cap."""


def strict_decimal(text: str | bytes | None, maximum: int = MAX_DECIMAL) -> int | None:
    """The value of ``text`` when it is a canonical ASCII decimal of at most 19 digits and ``<= maximum``
    (surrounding ASCII spaces, tabs, CR and LF allowed); ``None`` for anything else, never an exception."""
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str) or len(text) > 64:
        return None
    text = text.strip(" \t\r\n")
    if not DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None


def read_capped(response: Any, cap: int, what: str) -> bytes:
    """The body of the streamed httpx ``response`` (``client.stream(...)``), read chunk by chunk and refused
    with :class:`AnswerTooLarge` once it is over ``cap`` bytes (nothing past the cap is held)."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > cap:
            raise AnswerTooLarge(f"{what}: answer over {cap} bytes")
    return bytes(body)
