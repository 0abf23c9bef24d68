"""uvicorn's httptools protocol with one socket write per response instead of two (issue 13's load goals).

uvicorn writes a response's status line and headers when the app sends ``http.response.start`` and the body
when it sends ``http.response.body``: two ``transport.write`` calls, so two ``send`` system calls and two
loopback segments for every small JSON answer. Under the single-append load they were the largest single
item of the API workers' CPU (docs/benchmarks.md §21, §30). :class:`CoalescingHttpToolsProtocol` gives
uvicorn a transport that holds the writes made during one turn of the event loop and passes them on as one
write at the end of that turn (or at once when they exceed :data:`FLUSH_BYTES`, or before the connection is
closed). The bytes on the wire, their order, HTTP handling, timeouts and flow control are uvicorn's; a
response reaches the socket no later than the end of the loop turn in which the app sent it (an append is
acknowledged only after its commit, as before).

Select it with ``uvicorn.run(..., http=HTTP_PROTOCOL)``; without ``httptools`` uvicorn's default is used.
"""

from __future__ import annotations

import asyncio
from typing import Any

FLUSH_BYTES = 64 * 1024  # held writes beyond this go out at once (a large streamed answer is not held)
HTTP_PROTOCOL = "weightwarden.registry.http:CoalescingHttpToolsProtocol"


class CoalescingTransport:
    """Wraps an asyncio transport: ``write`` calls of one loop turn reach it as one ``write``."""

    __slots__ = ("_transport", "_loop", "_held", "_held_bytes", "_scheduled")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return  # asyncio's write ignores empty data too
        self._held.append(bytes(data))
        self._held_bytes += len(data)
        if self._held_bytes >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Hand the held bytes to the real transport now (one ``write``)."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        self._held_bytes = 0
        self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._held_bytes

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        # what was written before close() is sent before the connection closes, as with the plain transport
        if not self._transport.is_closing():
            self.flush()
        self._held.clear()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, set_protocol, ...
        return getattr(self._transport, name)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - no httptools: uvicorn's own choice (see HTTP_PROTOCOL's users)
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def protocol_name() -> str:
    """What to pass as uvicorn's ``http``: this module's protocol when httptools is installed, else "auto"."""
    return HTTP_PROTOCOL if HttpToolsProtocol is not None else "auto"


if HttpToolsProtocol is not None:

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol over a :class:`CoalescingTransport`."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
