"""The native ``openmined-psi`` calls on a peer's messages, run in a child process (red team round 1, S4).

A malicious peer's setup message made the C++ library abort (``Check failed``), crash (SIGSEGV) or loop for
ever; :mod:`.psi` now validates every message first, and on top of that runs the calls that read a peer's
bytes here, in a child process with a memory limit (``RLIMIT_AS``), no core file and a wall-clock limit, so
that whatever slips through the checks ends as a clear :class:`PsiError`, not a dead or hung command.

Protocol on stdin/stdout: length-prefixed frames (4-byte big-endian length). ``count``: key, setup, response
→ the intersection size as 8 bytes. ``answer``: fpr, client item count, request, newline-joined items →
setup, response. A library error ends with exit status 3 and its message on stderr.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

from weightwarden.indicators.errors import PsiError

EXIT_LIBRARY_ERROR = 3
DEFAULT_MEMORY_BYTES = 4 * 1024**3


def _frames(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def _join(*frames: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in frames)


def run_native(op: str, *frames: bytes, timeout: float, memory: int = DEFAULT_MEMORY_BYTES) -> list[bytes]:
    """Run ``op`` in a child process; its output frames, or :class:`PsiError` saying what went wrong."""

    def limits() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "weightwarden.indicators.psi_native"],
                              input=_join(op.encode(), *frames), capture_output=True, timeout=timeout,
                              preexec_fn=limits, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise PsiError(f"the PSI library did not finish {op!r} within {timeout:g} s on the peer's message "
                       "(stopped): a malicious or broken peer") from None
    if done.returncode == EXIT_LIBRARY_ERROR:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown"]
        raise PsiError(f"invalid PSI message from the peer: {reason[0][:300]}")
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise PsiError(f"the PSI library failed on the peer's message ({how}; memory limit {memory >> 20} MiB): "
                       "a malicious or broken peer")
    return _frames(done.stdout)


def _main() -> int:
    import private_set_intersection.python as psi

    frames = _frames(sys.stdin.buffer.read())
    op = frames[0].decode()
    try:
        if op == "count":
            key, raw_setup, raw_response = frames[1:4]
            setup, response = psi.ServerSetup(), psi.Response()
            setup.ParseFromString(raw_setup)
            response.ParseFromString(raw_response)
            count = int(psi.client.CreateFromKey(key, False).GetIntersectionSize(setup, response))
            sys.stdout.buffer.write(_join(struct.pack(">Q", count)))
        elif op == "answer":
            fpr, client_items, raw_request, items = frames[1:5]
            request = psi.Request()
            request.ParseFromString(raw_request)
            server = psi.server.CreateWithNewKey(False)
            listed = items.decode().split("\n") if items else []
            setup = server.CreateSetupMessage(float(fpr.decode()), max(int(client_items.decode()), 1), listed,
                                              psi.DataStructure.GCS)
            response = server.ProcessRequest(request)
            sys.stdout.buffer.write(_join(setup.SerializeToString(), response.SerializeToString()))
        else:
            print(f"unknown operation {op!r}", file=sys.stderr)
            return EXIT_LIBRARY_ERROR
    except Exception as exc:  # noqa: BLE001 - the binding raises RuntimeError-like errors on bad input
        print(f"{exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_LIBRARY_ERROR
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
