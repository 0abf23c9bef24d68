"""The registry's uvicorn protocol (weightwarden.registry.http): one socket write per response, same bytes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

pytest.importorskip("httptools")
uvicorn = pytest.importorskip("uvicorn")

from weightwarden.registry.http import FLUSH_BYTES, HTTP_PROTOCOL, CoalescingTransport  # noqa: E402


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def test_writes_of_one_loop_turn_reach_the_socket_as_one_write() -> None:
    async def run() -> tuple[list[bytes], list[bytes]]:
        real = _Recorder()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"")
        t.write(b"{}")
        before = list(real.writes)
        await asyncio.sleep(0)  # end of the turn
        return before, real.writes

    before, after = asyncio.run(run())
    assert before == []
    assert after == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


def test_close_and_large_writes_are_not_held() -> None:
    async def run() -> _Recorder:
        real = _Recorder()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"a" * (FLUSH_BYTES + 1))
        assert real.writes == [b"a" * (FLUSH_BYTES + 1)]  # at once
        t.write(b"tail")
        t.close()  # written before close: sent before the connection closes
        assert real.writes[-1] == b"tail" and real.closed
        t.write(b"late")
        await asyncio.sleep(0)
        return real

    real = asyncio.run(run())
    assert real.writes[-1] == b"late"  # handed to the (closing) transport, which decides, as without the wrapper
    assert CoalescingTransport(real, asyncio.new_event_loop()).get_extra_info("peername") == ("127.0.0.1", 1)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/big":  # a streamed answer larger than FLUSH_BYTES, in many chunks
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(100):
            await send({"type": "http.response.body", "body": bytes([65 + i % 26]) * 2000, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    body = path.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_response(sock: socket.socket, buf: bytearray) -> bytes:
    """One response (content-length or chunked) from ``buf`` + the socket; returns its body."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    del buf[:len(head) + 4]
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK", lines[0]
    fields = {k.strip().lower(): v.strip() for k, v in (ln.split(b":", 1) for ln in lines[1:])}
    if b"content-length" in fields:
        n = int(fields[b"content-length"])
        while len(buf) < n:
            buf += sock.recv(65536)
        body = bytes(buf[:n])
        del buf[:n]
        return body
    assert fields.get(b"transfer-encoding") == b"chunked"
    out = bytearray()
    while True:
        while b"\r\n" not in buf:
            buf += sock.recv(65536)
        size_line, _, _ = bytes(buf).partition(b"\r\n")
        size = int(size_line, 16)
        while len(buf) < len(size_line) + 2 + size + 2:
            buf += sock.recv(65536)
        out += buf[len(size_line) + 2:len(size_line) + 2 + size]
        del buf[:len(size_line) + 2 + size + 2]
        if size == 0:
            return bytes(out)


def test_real_uvicorn_keep_alive_pipelined_and_streamed_answers() -> None:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, log_level="error",
                                           http=HTTP_PROTOCOL, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < end and thread.is_alive()
        time.sleep(0.02)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            buf = bytearray()
            # several requests on one keep-alive connection, the first three pipelined
            sock.sendall(b"".join(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(3)))
            assert [_read_response(sock, buf) for _ in range(3)] == [b"/r0", b"/r1", b"/r2"]
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_response(sock, buf) == b"".join(bytes([65 + i % 26]) * 2000 for i in range(100))
            sock.sendall(b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert _read_response(sock, buf) == b"/last"
            assert sock.recv(10) == b""  # closed after the answer, which arrived whole
    finally:
        server.should_exit = True
        thread.join(timeout=20)
