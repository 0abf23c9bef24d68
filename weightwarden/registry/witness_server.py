"""The HTTP face of a :class:`~weightwarden.registry.witness.Witness` (c2sp.org/tlog-witness).

A witness is run by another party than the log (another lab, a safety institute), so it is a small
stand-alone server on the standard library's threading HTTP server rather than part of the registry's
FastAPI app: ``POST /add-checkpoint`` and the monitoring endpoint ``GET /<sha256(origin) hex>/checkpoint``.
Request bodies are bounded; every refusal uses the status code tlog-witness assigns to it.
"""

from __future__ import annotations

import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry.wire import strict_decimal
from weightwarden.registry.witness import MAX_REQUEST_BYTES, Witness, WitnessConflict, WitnessError


def origin_hash(origin: str) -> str:
    """The monitoring path element of a log: lowercase hex SHA-256 of its origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def make_witness_server(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server (not yet serving: call ``serve_forever``) answering the tlog-witness API for ``witness``."""
    by_hash = {origin_hash(origin): origin for origin in witness.logs}

    class Handler(BaseHTTPRequestHandler):
        server_version = "weightwarden-witness"
        sys_version = ""
        timeout = 30  # a client that stops sending does not hold a thread forever

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # no request logging to stderr; the caller decides what to record

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            if self.path != "/add-checkpoint":
                self._reply(404, b"not found\n")
                return
            length = strict_decimal(self.headers.get("Content-Length"))  # ASCII digits only (round 14, G1)
            if length is None:
                self._reply(411, b"Content-Length required\n")
                return
            if not 0 <= length <= MAX_REQUEST_BYTES:
                self._reply(413, b"request too large\n")
                return
            body = self.rfile.read(length)
            try:
                lines = witness.add_checkpoint(body)
            except WitnessConflict as conflict:
                self._reply(409, f"{conflict.latest_size}\n".encode(), "text/x.tlog.size")
                return
            except WitnessError as refused:
                self._reply(refused.http_status, (refused.reason + "\n").encode("utf-8", "replace"))
                return
            except WeightwardenError as broken:  # e.g. corrupt state: refuse, never cosign
                self._reply(500, (broken.reason + "\n").encode("utf-8", "replace"))
                return
            self._reply(200, lines)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            parts = self.path.strip("/").split("/")
            origin = by_hash.get(parts[0]) if len(parts) == 2 and parts[1] == "checkpoint" else None
            note = witness.latest(origin) if origin is not None else None
            if note is None:
                self._reply(404, b"not found\n")
                return
            self._reply(200, note)

    return ThreadingHTTPServer((host, port), Handler)
