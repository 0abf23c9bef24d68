"""The symbolic pickle machine: what a pickle would import and call, found without running it.

Public API (used by the artifact readers and the scan rules)::

    from weightwarden.picklevm import analyze, analyze_streams, classify, Verdict

* :func:`analyze` walks one pickle program from a binary stream into a :class:`PickleAnalysis`;
* :func:`analyze_streams` walks consecutive programs and reports trailing non-pickle data;
* :func:`classify` judges any dotted Python name: SAFE (allowlisted), UNKNOWN or DANGEROUS.
"""

from weightwarden.picklevm.machine import (
    StreamsResult,
    analyze,
    analyze_bytes,
    analyze_streams,
    analyze_value,
    resolve_name,
)
from weightwarden.picklevm.model import CallSite, PickleAnalysis
from weightwarden.picklevm.policy import Classification, Verdict, classify

__all__ = [
    "analyze",
    "analyze_bytes",
    "analyze_streams",
    "analyze_value",
    "resolve_name",
    "StreamsResult",
    "classify",
    "Classification",
    "Verdict",
    "CallSite",
    "PickleAnalysis",
]
