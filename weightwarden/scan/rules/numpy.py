"""NumPy family (WW-NPY-*): ``.npy`` / ``.npz`` structure and object arrays.

An object-dtype array is a pickle: ``np.load(allow_pickle=True)`` unpickles it (the pickle itself is judged
by the pickle family). Header defects and trailing bytes are reported as malformed input.
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_USER_EXECUTION,
    CWE_DESERIALIZATION,
    CWE_INPUT_VALIDATION,
    CWE_INTERPRETATION_CONFLICT,
    ScanRule,
)

OBJECT_ARRAY = ScanRule(
    "WW-NPY-001",
    Severity.MEDIUM,
    "NumPy array holds Python objects (loading requires allow_pickle=True)",
    "The array's dtype is object: its data is a pickle, and loading it needs np.load(allow_pickle=True), "
    "which runs whatever that pickle calls. Its pickle is scanned separately (WW-PKL-*).",
    "Store numeric arrays only, or convert the data to a non-pickle format (safetensors, plain npy).",
    (CWE_DESERIALIZATION, ATLAS_USER_EXECUTION),
    anomaly_codes=("numpy.object_dtype",),
)
MALFORMED = ScanRule(
    "WW-NPY-002",
    Severity.HIGH,
    "NumPy file is malformed",
    "The .npy header is truncated, too long, of an unknown version, not the dict numpy writes, or names a "
    "dtype numpy rejects. Part of the file could not be inspected, and np.load's own parser may still accept "
    "it (whatever follows the header is walked as a pickle in case it does).",
    "Re-export the array with numpy.save from a trusted source.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("numpy.truncated", "numpy.bad_version", "numpy.header_too_large", "numpy.bad_header",
                   "numpy.bad_dtype"),
)
TRAILING = ScanRule(
    "WW-NPY-003",
    Severity.MEDIUM,
    "NumPy file carries bytes after the array",
    "Data follows the array (or the object array's pickle). np.load ignores it; it can hide a second payload.",
    "Re-export the array with numpy.save.",
    (CWE_INTERPRETATION_CONFLICT,),
    anomaly_codes=("numpy.trailing_data",),
)

RULES: tuple[ScanRule, ...] = (OBJECT_ARRAY, MALFORMED, TRAILING)
