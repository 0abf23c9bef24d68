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


def run_loaders(jobs: list[tuple[str, Path]]) -> None:
    """Load each file with the named real loader in one subprocess, errors ignored (the payload runs before them):
    ``pickle`` (``pickle.load`` of an open file: the C unpickler reading a file, frames through ``read``), ``torch``
    (``torch.load(weights_only=False)``), ``joblib``, ``numpy`` (``np.load(allow_pickle=True)``)."""
    script = "\n".join([
        "import pickle, warnings", "warnings.simplefilter('ignore')",
        f"for how, path in {[(how, str(path)) for how, path in jobs]!r}:",
        "    try:",
        "        if how == 'torch':",
        "            import torch; torch.load(path, weights_only=False)",
        "        elif how == 'pickle':",
        "            with open(path, 'rb') as f: pickle.load(f)",
        "        elif how == 'joblib':",
        "            import joblib; joblib.load(path)",
        "        elif how == 'numpy':",
        "            import numpy; numpy.load(path, allow_pickle=True)",
        "    except Exception:",
        "        pass",
    ])
    subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, timeout=300)
