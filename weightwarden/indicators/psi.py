"""Private set intersection **cardinality** over keyed exact digests (``openmined-psi``, ECDH-based PSI-CA).

Two parties learn how many prompt indicators they share and nothing else about each other's sets (beyond
their sizes, which any PSI reveals). The server answers, the client learns the count and — unless told not
to — tells it back to the server. Items are the keyed exact digests, so a party outside the group learns
nothing even from its own view of the exchange; and because only a count comes out, a group member who
does not want to reveal *which* prompts it saw can still say *how many*.

Two ways to run it:

* **over TCP** (:func:`serve` / :func:`connect`), by default on 127.0.0.1; length-prefixed frames:
  client hello (protocol, key id, scheme digest, set size) → server hello → server setup → client request →
  server response → client result (the count, or null);
* **over files / stdin** (:func:`make_request` → :func:`respond` → :func:`finish`), for parties that can only
  exchange files: the client keeps its ECDH key in a state file (mode 0600) between the two steps.

Limits, because the peer is untrusted: every frame ≤ :data:`MAX_FRAME_BYTES`, the client's set ≤ the server's
``max_client_items`` (a client may not probe with a whole dictionary in one go) and ≥ ``min_client_items``
(a one-item set would be a membership test), socket timeouts, and each
message is checked for the sizes the protocol announced before it is used. The server refuses a request that
asks to reveal the intersection itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from weightwarden.core.errors import require_extra
from weightwarden.indicators.errors import IndicatorFormatError, PsiError, SchemeMismatchError
from weightwarden.indicators.records import IndicatorSet

PROTOCOL = "weightwarden.psi-ca/v1"
FPR = 1e-9  # false-positive rate of the server's Golomb-compressed set
MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_JSON_BYTES = 64 * 1024
DEFAULT_MAX_CLIENT_ITEMS = 1_000_000
# A client that sends one item learns whether the server holds it: a membership test, not a count. Sets
# below this size are refused (repeated sessions with shifted sets remain possible: the server operator
# decides how often to answer; `serve` answers one client and exits).
DEFAULT_MIN_CLIENT_ITEMS = 10
DEFAULT_TIMEOUT_S = 120.0
_FILE_MAGIC = b"WWPSI1\n"


def _psi() -> Any:
    require_extra("private_set_intersection", extra="psi", feature="private set intersection")
    import private_set_intersection.python as psi

    return psi


@dataclass(frozen=True)
class PsiResult:
    role: str  # "client" | "server"
    cardinality: int | None  # None on the server when the client chose not to share the count
    mine: int
    theirs: int
    bytes_sent: int
    bytes_received: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"schema": "weightwarden.psi-result/v1", **self.__dict__}


def psi_items(indicators: IndicatorSet) -> list[str]:
    """The PSI items of a set: its keyed exact digests, unique, sorted."""
    return sorted({p.exact for p in indicators.prompts})


def scheme_digest(indicators: IndicatorSet) -> str:
    """Digest of the parameters that make exact digests comparable (the near threshold does not matter)."""
    scheme = {k: v for k, v in indicators.scheme.to_json().items() if k != "near_threshold"}
    return hashlib.sha256(json.dumps(scheme, sort_keys=True).encode()).hexdigest()


def _hello(indicators: IndicatorSet, items: int) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "key_id": indicators.scheme.key_id, "scheme": scheme_digest(indicators),
            "items": items}


def _check_hello(peer: Any, indicators: IndicatorSet, who: str) -> int:
    if not isinstance(peer, dict) or peer.get("protocol") != PROTOCOL:
        found = peer.get("protocol") if isinstance(peer, dict) else type(peer).__name__
        raise PsiError(f"{who} does not speak {PROTOCOL} (got {found!r})")
    if "error" in peer:
        raise PsiError(f"{who} refused: {peer['error']}")
    if peer.get("key_id") != indicators.scheme.key_id:
        raise SchemeMismatchError(
            f"{who} uses another group key (key id {peer.get('key_id')!r}, ours {indicators.scheme.key_id}): "
            "digests of different keys never match, so the count would be meaningless")
    if peer.get("scheme") != scheme_digest(indicators):
        raise SchemeMismatchError(f"{who} uses different indicator parameters (normalisation, digest or sketch "
                                  "settings); re-derive both sets with the same scheme")
    items = peer.get("items")
    if not isinstance(items, int) or isinstance(items, bool) or items < 0:
        raise PsiError(f"{who} sent an invalid set size {items!r}")
    return items


def _check_client_size(items: int, low: int, high: int, who: str) -> None:
    if items > high:
        raise PsiError(f"{who} wants to compare {items} items; this server allows at most {high}")
    if items < low:
        raise PsiError(f"{who} wants to compare {items} items; this server needs at least {low} (a smaller set "
                       "would test membership of single indicators rather than count shared ones)")


class _Channel:
    """Length-prefixed frames over a socket, counting bytes both ways."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock, self.peer = sock, peer
        self.sent = self.received = 0

    def send(self, payload: bytes) -> None:
        frame = struct.pack(">I", len(payload)) + payload
        self.sock.sendall(frame)
        self.sent += len(frame)

    def _read_exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = self.sock.recv(min(n - got, 1 << 20))
            if not chunk:
                raise PsiError(f"{self.peer} closed the connection mid-exchange")
            chunks.append(chunk)
            got += len(chunk)
        self.received += n
        return b"".join(chunks)

    def recv(self, limit: int = MAX_FRAME_BYTES) -> bytes:
        (size,) = struct.unpack(">I", self._read_exact(4))
        if size > limit:
            raise PsiError(f"{self.peer} sent a {size}-byte message; the limit here is {limit}")
        return self._read_exact(size)

    def send_json(self, data: dict[str, Any]) -> None:
        self.send(json.dumps(data, sort_keys=True).encode())

    def recv_json(self) -> Any:
        raw = self.recv(MAX_JSON_BYTES)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise PsiError(f"{self.peer} sent a malformed control message") from None


def _parse(message_type: Any, raw: bytes, what: str) -> Any:
    from google.protobuf.message import DecodeError

    message = message_type()
    try:
        message.ParseFromString(raw)
    except DecodeError:
        raise PsiError(f"malformed PSI {what} message") from None
    return message


def _server_answer(psi: Any, items: list[str], client_items: int, raw_request: bytes) -> tuple[bytes, bytes]:
    request = _parse(psi.Request, raw_request, "request")
    if request.reveal_intersection:
        raise PsiError("the client asked to reveal the intersection itself; only its size is offered")
    if len(request.encrypted_elements) != client_items:
        raise PsiError(f"the client announced {client_items} items but sent {len(request.encrypted_elements)}")
    server = psi.server.CreateWithNewKey(False)
    setup = server.CreateSetupMessage(FPR, max(client_items, 1), items, psi.DataStructure.GCS)
    try:
        response = server.ProcessRequest(request)
    except Exception as exc:  # noqa: BLE001 - the C++ binding raises RuntimeError-like errors on bad points
        raise PsiError(f"invalid PSI request: {exc}") from None
    return setup.SerializeToString(), response.SerializeToString()


def _client_count(psi: Any, client: Any, raw_setup: bytes, raw_response: bytes, expected: int) -> int:
    setup = _parse(psi.ServerSetup, raw_setup, "server setup")
    response = _parse(psi.Response, raw_response, "response")
    if len(response.encrypted_elements) != expected:
        raise PsiError(f"the server answered {len(response.encrypted_elements)} items for our {expected}")
    try:
        return int(client.GetIntersectionSize(setup, response))
    except Exception as exc:  # noqa: BLE001
        raise PsiError(f"invalid PSI response: {exc}") from None


def serve(indicators: IndicatorSet, *, host: str = "127.0.0.1", port: int = 0,
          max_client_items: int = DEFAULT_MAX_CLIENT_ITEMS, min_client_items: int = DEFAULT_MIN_CLIENT_ITEMS,
          timeout: float = DEFAULT_TIMEOUT_S, ready: Callable[[int], None] | None = None) -> PsiResult:
    """Answer one client on ``host:port`` (0: any free port, reported to ``ready``) and return the result."""
    psi = _psi()
    items = psi_items(indicators)
    with socket.create_server((host, port)) as listener:
        listener.settimeout(timeout)
        if ready is not None:
            ready(listener.getsockname()[1])
        try:
            conn, address = listener.accept()
        except TimeoutError:
            raise PsiError(f"no client connected to {host}:{port} within {timeout:g} s") from None
        with conn:
            conn.settimeout(timeout)
            channel = _Channel(conn, f"client {address[0]}:{address[1]}")
            start = time.perf_counter()
            try:
                hello = channel.recv_json()
                try:
                    client_items = _check_hello(hello, indicators, channel.peer)
                    _check_client_size(client_items, min_client_items, max_client_items, channel.peer)
                except (PsiError, SchemeMismatchError) as exc:
                    channel.send_json({"protocol": PROTOCOL, "error": exc.reason})
                    raise
                channel.send_json(_hello(indicators, len(items)))
                raw_request = channel.recv()
                setup, response = _server_answer(psi, items, client_items, raw_request)
                channel.send(setup)
                channel.send(response)
                result = channel.recv_json()
            except TimeoutError:
                raise PsiError(f"{channel.peer} timed out after {timeout:g} s") from None
            except OSError as exc:
                raise PsiError(f"connection to {channel.peer} failed: {exc}") from None
            count = result.get("cardinality") if isinstance(result, dict) else None
            if count is not None and (not isinstance(count, int) or not 0 <= count <= min(len(items), client_items)):
                raise PsiError(f"{channel.peer} reported an impossible count {count!r}")
            return PsiResult("server", count, len(items), client_items, channel.sent, channel.received,
                             time.perf_counter() - start)


def connect(indicators: IndicatorSet, *, host: str = "127.0.0.1", port: int, timeout: float = DEFAULT_TIMEOUT_S,
            share_result: bool = True) -> PsiResult:
    """Run the client side against a server; returns the intersection size (and tells it to the server
    unless ``share_result`` is false)."""
    psi = _psi()
    items = psi_items(indicators)
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            channel = _Channel(sock, f"server {host}:{port}")
            channel.send_json(_hello(indicators, len(items)))
            server_items = _check_hello(channel.recv_json(), indicators, channel.peer)
            client = psi.client.CreateWithNewKey(False)
            request = client.CreateRequest(items)
            channel.send(request.SerializeToString())
            raw_setup = channel.recv()
            raw_response = channel.recv()
            count = _client_count(psi, client, raw_setup, raw_response, len(items))
            channel.send_json({"cardinality": count if share_result else None})
    except TimeoutError:
        raise PsiError(f"server {host}:{port} timed out after {timeout:g} s") from None
    except OSError as exc:
        raise PsiError(f"cannot talk to server {host}:{port}: {exc.strerror or exc}") from None
    return PsiResult("client", count, len(items), server_items, channel.sent, channel.received,
                     time.perf_counter() - start)


# ------------------------------------------------------------------------------------------ file exchange

def _pack(header: dict[str, Any], *frames: bytes) -> bytes:
    head = json.dumps(header, sort_keys=True).encode()
    return _FILE_MAGIC + b"".join(struct.pack(">I", len(x)) + x for x in (head, *frames))


def _unpack(data: bytes, frames: int, what: str) -> tuple[dict[str, Any], list[bytes]]:
    if not data.startswith(_FILE_MAGIC):
        raise IndicatorFormatError(f"{what}: not a weightwarden PSI message")
    pos, parts = len(_FILE_MAGIC), []
    for _ in range(frames + 1):
        if pos + 4 > len(data):
            raise IndicatorFormatError(f"{what}: truncated PSI message")
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        pos += 4
        if pos + size > len(data):
            raise IndicatorFormatError(f"{what}: truncated PSI message")
        parts.append(data[pos : pos + size])
        pos += size
    if pos != len(data):
        raise IndicatorFormatError(f"{what}: trailing bytes after the PSI message")
    try:
        header = json.loads(parts[0].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IndicatorFormatError(f"{what}: malformed PSI message header") from None
    if not isinstance(header, dict):
        raise IndicatorFormatError(f"{what}: malformed PSI message header")
    return header, parts[1:]


def make_request(indicators: IndicatorSet, state_path: str | os.PathLike[str]) -> bytes:
    """Client, step 1: the request message; the ECDH key is kept in ``state_path`` (created 0600)."""
    psi = _psi()
    items = psi_items(indicators)
    client = psi.client.CreateWithNewKey(False)
    request = client.CreateRequest(items).SerializeToString()
    state = {"schema": "weightwarden.psi-client-state/v1", "key": client.GetPrivateKeyBytes().hex(),
             "hello": _hello(indicators, len(items))}
    try:
        fd = os.open(state_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise PsiError(f"cannot create client state {state_path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    return _pack(_hello(indicators, len(items)), request)


def respond(indicators: IndicatorSet, request: bytes, *, max_client_items: int = DEFAULT_MAX_CLIENT_ITEMS,
            min_client_items: int = DEFAULT_MIN_CLIENT_ITEMS, what: str = "PSI request") -> bytes:
    """Server, the only step: setup + response to a client's request message."""
    psi = _psi()
    header, (raw_request,) = _unpack(request, 1, what)
    client_items = _check_hello(header, indicators, "the requester")
    _check_client_size(client_items, min_client_items, max_client_items, "the requester")
    items = psi_items(indicators)
    setup, response = _server_answer(psi, items, client_items, raw_request)
    return _pack(_hello(indicators, len(items)), setup, response)


def finish(state_path: str | os.PathLike[str], response: bytes, *, what: str = "PSI response") -> PsiResult:
    """Client, step 2: the intersection size from the server's response and the saved state."""
    psi = _psi()
    start = time.perf_counter()
    try:
        with open(state_path, "rb") as handle:
            state = json.loads(handle.read(MAX_JSON_BYTES).decode("utf-8"))
        key = bytes.fromhex(state["key"])
        hello = state["hello"]
        int(hello["items"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PsiError(f"cannot read client state {state_path}: {exc}") from None
    header, (raw_setup, raw_response) = _unpack(response, 2, what)
    if header.get("protocol") != PROTOCOL or header.get("key_id") != hello.get("key_id") \
            or header.get("scheme") != hello.get("scheme"):
        raise SchemeMismatchError(f"{what}: made with another group key or scheme than our request")
    server_items = header.get("items")
    if not isinstance(server_items, int) or isinstance(server_items, bool) or server_items < 0:
        raise PsiError(f"{what}: invalid set size {server_items!r}")
    client = psi.client.CreateFromKey(key, False)
    count = _client_count(psi, client, raw_setup, raw_response, int(hello["items"]))
    return PsiResult("client", count, int(hello["items"]), server_items, 0, len(response),
                     time.perf_counter() - start)
