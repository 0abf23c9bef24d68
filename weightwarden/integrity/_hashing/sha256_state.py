"""SHA-256 whose running state can be saved at any byte and resumed later: tensor evidence at no extra cost.

Signing hashes every file with SHA-256 (what model-signing verifiers check). To say later *which* tensor of
a changed file differs, the signature also needs evidence per tensor. Hashing each tensor a second time
(BLAKE3) costs about a third more CPU than the file hash alone. Instead, the file hash's own running state
is saved at every tensor boundary while the file is hashed once. SHA-256 (FIPS 180-4) consumes its input
in 64-byte blocks; after ``offset`` bytes its state is the intermediate hash value H after
``offset // 64`` blocks plus the ``offset % 64`` bytes not yet compressed. :meth:`Sha256State.save`
writes that as 32 bytes of H (big-endian words, as FIPS 180-4 writes them) followed by the pending bytes.

A tensor covering bytes ``[start, end)`` is then checked on its own: resume from the state saved at
``start``, feed the tensor's bytes from disk, and compare the state reached with the one saved at
``end``. Equal states mean equal bytes (anything else is a SHA-256 collision from a fixed starting state),
independent of every other tensor, so all changed tensors of a file are named, not only the first.

``hashlib`` cannot export or import its state, so this module drives OpenSSL's documented low-level
``SHA256_Init`` / ``SHA256_Update`` / ``SHA256_Final`` and its public ``SHA256_CTX`` layout through
:mod:`ctypes`, in the same ``libcrypto`` that ``hashlib`` uses (same code, same speed; ``ctypes`` releases
the GIL during the calls, so worker threads run in parallel). :func:`available` says whether that works
here; it runs a self-test against ``hashlib`` first, and callers fall back to BLAKE3 tensor digests when
it does not.

Private to :mod:`weightwarden.integrity`.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from typing import Any

try:
    import ctypes
except ImportError:  # a Python built without libffi: no saved states; callers fall back to BLAKE3 digests
    ctypes = None  # type: ignore[assignment]

BLOCK = 64
WORDS = 8
STATE_KIND = "sha256-state"


def state_size(offset: int) -> int:
    """Length of a saved state after ``offset`` bytes: 32 bytes of H plus the uncompressed tail."""
    return 32 + offset % BLOCK


if ctypes is not None:
    class _Context(ctypes.Structure):
        # OpenSSL's public ``SHA256_CTX`` (openssl/sha.h): SHA_LONG h[8]; SHA_LONG Nl, Nh;
        # SHA_LONG data[16]; unsigned int num, md_len. Slack at the end guards against a larger build;
        # the self-test in :func:`available` rejects any layout that does not behave as described.
        _fields_ = [("h", ctypes.c_uint32 * WORDS), ("nl", ctypes.c_uint32), ("nh", ctypes.c_uint32),
                    ("data", ctypes.c_ubyte * BLOCK), ("num", ctypes.c_uint32), ("md_len", ctypes.c_uint32),
                    ("slack", ctypes.c_ubyte * 128)]

    class _PyBuffer(ctypes.Structure):
        # CPython's ``Py_buffer`` (part of the stable ABI since 3.11).
        _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
                    ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                    ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                    ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]

    _get_buffer = ctypes.pythonapi.PyObject_GetBuffer
    _get_buffer.argtypes = [ctypes.py_object, ctypes.c_void_p, ctypes.c_int]
    _get_buffer.restype = ctypes.c_int
    _release_buffer = ctypes.pythonapi.PyBuffer_Release
    _release_buffer.argtypes = [ctypes.c_void_p]
    _release_buffer.restype = None

_lib: Any = None
_checked: bool | None = None


def available() -> bool:
    """True when OpenSSL's low-level SHA-256 is reachable and passes the self-test (checked once)."""
    global _lib, _checked
    if _checked is None and ctypes is None:
        _checked = False
    if _checked is None:
        try:
            _lib = _load_libcrypto()
            _checked = _lib is not None and _self_test()
        except (ImportError, OSError, AttributeError, ValueError):  # ImportError: a Python without _hashlib
            _checked = False
        if not _checked:
            _lib = None
    return _checked


class Sha256State:
    """SHA-256 of bytes fed with :meth:`update`, starting fresh or from a state saved at ``offset``.

    ``offset`` is how many bytes the saved state had consumed (it sets the message length that SHA-256's
    padding encodes). Raises ValueError for a saved state of the wrong length for its offset.
    """

    __slots__ = ("_ctx", "offset")

    def __init__(self, saved: bytes | None = None, offset: int = 0) -> None:
        if not available():
            raise RuntimeError("OpenSSL's low-level SHA-256 is not available")
        self._setup(saved, offset)

    def _setup(self, saved: bytes | None, offset: int) -> None:
        self._ctx = _Context()
        _lib.SHA256_Init(ctypes.byref(self._ctx))
        self.offset = 0
        if saved is not None:
            self._restore(saved, offset)

    def update(self, data: Any) -> None:
        """Feed ``data`` (bytes, bytearray, memoryview or mmap slice; read-only buffers are fine)."""
        n = len(data)
        if not n:
            return
        if isinstance(data, bytes):
            _lib.SHA256_Update(ctypes.byref(self._ctx), data, n)
        else:
            # The address of any contiguous buffer, read-only ones (mmap slices) included, without a copy;
            # released at once, as the caller may close the mmap next.
            view = _PyBuffer()
            _get_buffer(data, ctypes.byref(view), 0)  # PyBUF_SIMPLE: contiguous bytes, or an exception
            try:
                _lib.SHA256_Update(ctypes.byref(self._ctx), view.buf, view.len)
                n = view.len
            finally:
                _release_buffer(ctypes.byref(view))
        self.offset += n

    def save(self) -> bytes:
        """The state now: H (32 bytes, big-endian words) followed by the ``offset % 64`` pending bytes."""
        ctx = self._ctx
        return struct.pack(">8I", *ctx.h) + bytes(ctx.data[: ctx.num])

    def digest(self) -> bytes:
        """The SHA-256 digest of everything fed so far (the state itself is left as it is)."""
        copy = _Context()
        ctypes.pointer(copy)[0] = self._ctx
        out = ctypes.create_string_buffer(32)
        _lib.SHA256_Final(out, ctypes.byref(copy))
        return out.raw

    def _restore(self, saved: bytes, offset: int) -> None:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"bad offset {offset!r}")
        if len(saved) != state_size(offset):
            raise ValueError(f"a SHA-256 state after {offset} bytes has {state_size(offset)} bytes, "
                             f"not {len(saved)}")
        ctx = self._ctx
        ctx.h[:] = struct.unpack(">8I", saved[:32])
        pending = saved[32:]
        ctypes.memmove(ctx.data, pending, len(pending))
        ctx.num = len(pending)
        bits = offset * 8
        ctx.nl, ctx.nh = bits & 0xFFFFFFFF, (bits >> 32) & 0xFFFFFFFF
        self.offset = offset


def _load_libcrypto() -> Any:
    """The ``libcrypto`` that ``hashlib`` is linked with (found in this process's maps on Linux)."""
    import _hashlib  # noqa: F401 - loads libcrypto into the process

    candidates: list[str] = []
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    path = line.rsplit(" ", 1)[-1].strip()
                    if "/libcrypto" in path and path not in candidates:
                        candidates.append(path)
        except OSError:
            pass
    candidates += ["libcrypto.so.3", "libcrypto.3.dylib", "libcrypto.so"]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            init, update, final = lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final
        except (OSError, AttributeError):
            continue
        init.argtypes = [ctypes.c_void_p]
        update.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        init.restype = update.restype = final.restype = ctypes.c_int
        return lib
    return None


def _self_test() -> bool:
    """Digests, and a state saved mid-block then resumed, must agree with ``hashlib``."""
    message = bytes(range(256)) * 5 + b"weightwarden"
    if _digest_of(message) != hashlib.sha256(message).digest():
        return False
    for cut in (0, 64, 100, 700, len(message)):
        first = _new()
        first.update(message[:cut])
        saved = first.save()
        if len(saved) != state_size(cut):
            return False
        resumed = _new(saved, cut)
        resumed.update(message[cut:])
        if resumed.digest() != hashlib.sha256(message).digest() or first.digest() != hashlib.sha256(
                message[:cut]).digest():
            return False
    view = memoryview(bytearray(message)).toreadonly()
    h = _new()
    h.update(view[:333])
    h.update(view[333:])
    return h.digest() == hashlib.sha256(message).digest()


def _new(saved: bytes | None = None, offset: int = 0) -> Sha256State:
    # Sha256State without the availability check (used while that check runs).
    state = object.__new__(Sha256State)
    state._setup(saved, offset)
    return state


def _digest_of(message: bytes) -> bytes:
    h = _new()
    h.update(message)
    return h.digest()
