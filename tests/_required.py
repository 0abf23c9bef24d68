"""Tests that need something (shared fixtures, a platform feature) FAIL where it is missing, instead of
turning silently into skips: a suite of 32 skips and 0 failures looked green while the SHA-256-state engine
was switched off. ``WW_ALLOW_MISSING=1`` turns the failure back into a skip, for a deliberate partial run.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

import pytest

ALLOW_MISSING = os.environ.get("WW_ALLOW_MISSING") == "1"


def require(present: bool, what: str) -> None:
    """Call at module level: fail the module's collection (or skip it with WW_ALLOW_MISSING=1) unless
    ``present``."""
    if present:
        return
    if ALLOW_MISSING:
        pytest.skip(f"{what} is missing (WW_ALLOW_MISSING=1)", allow_module_level=True)
    pytest.fail(f"{what} is missing; these tests do not skip (set WW_ALLOW_MISSING=1 for a deliberate "
                "partial run)", pytrace=False)


def platform_has_openssl_sha256() -> bool:
    """Whether this platform *can* run the SHA-256-state engine, decided without the engine's own code
    (whose self-test is what a regression would break): a CPython whose hashlib uses OpenSSL and a
    libcrypto exporting the low-level SHA256_* functions."""
    try:
        import _hashlib  # noqa: F401
    except ImportError:
        return False
    names = []
    if sys.platform.startswith("linux"):
        try:
            names = sorted({line.rsplit(" ", 1)[-1].strip() for line in Path("/proc/self/maps").read_text(
                errors="replace").splitlines() if "/libcrypto" in line})
        except OSError:
            names = []
    found = ctypes.util.find_library("crypto")
    names += [found] if found else []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final  # noqa: B018 - lookups raise when absent
            return True
        except (OSError, AttributeError):
            continue
    return False
