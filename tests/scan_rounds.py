"""Helpers the scanner's red-team round tests share: the strict CLI run and the victim run with a canary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def strict_cli_rc(path: Path) -> int:
    """Exit code of ``weightwarden scan --strict --fail-on info PATH`` (which must not report 0 findings)."""
    run = subprocess.run(
        [sys.executable, "-m", "weightwarden", "scan", "--strict", "--fail-on", "info", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert "0 findings" not in run.stdout, run.stdout
    return run.returncode


def victim_leaves_canary(code: str, cwd: Path) -> bool:
    """Run ``code`` in a subprocess in ``cwd``; whether it left ./canary there."""
    subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    return (cwd / "canary").exists()
