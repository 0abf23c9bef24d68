"""The child process of :mod:`weightwarden.indicators.psi_native` (run by path with ``python -I``).

Red team round 2 (R2): this file is started as ``python -I <this file> <site folder>`` from a neutral working
directory, so neither the current folder, nor ``PYTHONPATH``, nor the user's site folder is on ``sys.path``:
only the standard library and the folder the parent found ``private_set_intersection`` in (appended, so it
cannot shadow the standard library). It imports nothing from weightwarden for the same reason.

Protocol on stdin/stdout: length-prefixed frames (4-byte big-endian length). ``count``: key, setup, response
→ the intersection size as 8 bytes. ``answer``: fpr, client item count, request, newline-joined items →
setup, response. A library error ends with exit status 3 and its message on stderr.
"""

import struct
import sys

EXIT_LIBRARY_ERROR = 3


def _frames(data: bytes) -> list:
    out, pos = [], 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out


def _join(*frames: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in frames)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] not in sys.path:
        sys.path.append(sys.argv[1])
    import private_set_intersection.python as psi

    frames = _frames(sys.stdin.buffer.read())
    op = frames[0].decode() if frames else ""
    try:
        if op == "count" and len(frames) == 4:
            key, raw_setup, raw_response = frames[1:4]
            setup, response = psi.ServerSetup(), psi.Response()
            setup.ParseFromString(raw_setup)
            response.ParseFromString(raw_response)
            count = int(psi.client.CreateFromKey(key, False).GetIntersectionSize(setup, response))
            sys.stdout.buffer.write(_join(struct.pack(">Q", count)))
        elif op == "answer" and len(frames) == 5:
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
            print(f"unknown operation {op!r} with {len(frames)} frames", file=sys.stderr)
            return EXIT_LIBRARY_ERROR
    except Exception as exc:  # noqa: BLE001 - the binding raises RuntimeError-like errors on bad input
        print(f"{exc.__class__.__name__}: {exc}", file=sys.stderr)
        return EXIT_LIBRARY_ERROR
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
