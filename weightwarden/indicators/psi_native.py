"""The native ``openmined-psi`` calls on a peer's messages, run in a child process (red team rounds 1 and 2).

A malicious peer's setup message made the C++ library abort (``Check failed``), crash (SIGSEGV) or loop for
ever; :mod:`.psi` validates every message first, and on top of that runs the calls that read a peer's bytes
in a child process (:mod:`._psi_child`) with a memory limit (``RLIMIT_AS``), no core file and a wall-clock
limit, so that whatever slips through the checks ends as a clear :class:`PsiError`, not a dead or hung command.

Round 2 (R2, untrusted search path): the child used to be ``python -m weightwarden.indicators.psi_native``,
which puts the **current folder** first on ``sys.path`` — a ``private_set_intersection/`` or ``resource.py``
planted where the victim ran ``psi finish`` decided the count. Now the child is ``python -I <script path>``
(isolated: no current folder, no ``PYTHON*`` variables, no user site) started in ``/``, and the parent checks
the number and sizes of the frames it answers with.
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
CHILD_SCRIPT = Path(__file__).resolve().with_name("_psi_child.py")
# What each operation answers: the number of frames, and the exact size of each when fixed (None: any).
_ANSWERS: dict[str, tuple[int | None, ...]] = {"count": (8,), "answer": (None, None)}


def _frames(data: bytes, op: str) -> list[bytes]:
    """Split the child's output; :class:`PsiError` unless it is exactly the frames ``op`` answers with."""
    shape = _ANSWERS[op]
    out, pos = [], 0
    while pos < len(data):
        if pos + 4 > len(data):
            break
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        if pos + 4 + size > len(data):
            break
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if pos != len(data) or len(out) != len(shape) \
            or any(s is not None and len(f) != s for f, s in zip(out, shape, strict=True)):
        raise PsiError(f"the PSI child process answered {op!r} with {len(data)} malformed byte(s) "
                       f"({len(out)} frame(s), {len(shape)} expected): not the PSI library's answer")
    return out


def _join(*frames: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in frames)


def _library_folder() -> str:
    """The folder this process imports ``private_set_intersection`` from (the child appends it to its path)."""
    import importlib.util

    spec = importlib.util.find_spec("private_set_intersection")
    if spec is None or not spec.submodule_search_locations:
        raise PsiError("the PSI library (openmined-psi) is not installed: pip install 'weightwarden[psi]'")
    return str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)


def run_native(op: str, *frames: bytes, timeout: float, memory: int = DEFAULT_MEMORY_BYTES) -> list[bytes]:
    """Run ``op`` in an isolated child process; its output frames, or :class:`PsiError` saying what went wrong."""
    if op not in _ANSWERS:
        raise ValueError(f"unknown native PSI operation {op!r}")

    def limits() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    try:
        done = subprocess.run([sys.executable, "-I", str(CHILD_SCRIPT), _library_folder()],
                              input=_join(op.encode(), *frames), capture_output=True, timeout=timeout,
                              preexec_fn=limits, cwd=os.sep, check=False)
    except subprocess.TimeoutExpired:
        raise PsiError(f"the PSI library did not finish {op!r} within {timeout:g} s on the peer's message "
                       "(stopped): a malicious or broken peer, or the session's time ran out") from None
    if done.returncode == EXIT_LIBRARY_ERROR:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown"]
        raise PsiError(f"invalid PSI message from the peer: {reason[0][:300]}")
    if done.returncode != 0:
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit status {done.returncode}"
        raise PsiError(f"the PSI library failed on the peer's message ({how}; memory limit {memory >> 20} MiB): "
                       "a malicious or broken peer")
    return _frames(done.stdout, op)
