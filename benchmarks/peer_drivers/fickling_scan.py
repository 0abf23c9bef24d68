"""Run fickling over files and folders the way fickling itself sorts files (run with fickling's venv).

fickling's command line (``fickling --check-safety FILE``) reads one raw pickle and cannot take a folder or
a PyTorch zip. Its Hugging Face mode (``fickling --huggingface``) does handle repositories: it classifies
every file with ``fickling.polyglot.find_file_properties`` and scans zip files with
``fickling.loader.scan_zip_archive``, pickles with ``fickling.loader.scan_file``, and skips 7z/tar/NumPy
pickles as unsupported. This driver applies that same dispatch, unchanged, to local paths, so fickling is
measured at its best without the network. Used by ``benchmarks/scan_peers.py``:

    benchmarks/.peers/fickling/bin/python benchmarks/peer_drivers/fickling_scan.py PATH... > results.jsonl

One JSON line per file: path, verdict (``unsafe``/``safe``/``skipped``), fickling's severity and errors.
Exit status like fickling's: 0 all safe, 1 something unsafe, 2 an error while scanning.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import PurePosixPath

from fickling.loader import scan_file, scan_zip_archive
from fickling.polyglot import find_file_properties

# The same extension sets fickling's Hugging Face mode uses (fickling/cli.py).
RAW_PICKLE_EXTENSIONS = frozenset({".bin", ".pkl", ".pickle"})
ZIP_PICKLE_EXTENSIONS = frozenset({".pt", ".pth"})


def iter_files(path: str):
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                if not os.path.islink(full):
                    yield full
    elif os.path.isfile(path) and not os.path.islink(path):
        yield path


def scan_one(path: str, json_out: str) -> dict:
    ext = PurePosixPath(path).suffix.lower()
    try:
        props = find_file_properties(path)
    except Exception as exc:  # noqa: BLE001 - a crash of the peer is recorded, not raised
        return {"path": path, "verdict": "error", "errors": [f"find_file_properties: {exc!r}"]}
    try:
        if props["is_torch_zip"] or props["is_standard_zip"] or ext in ZIP_PICKLE_EXTENSIONS:
            results = list(scan_zip_archive(path, graceful=True, json_output_path=json_out).values())
        elif props["is_valid_pickle"] or ext in RAW_PICKLE_EXTENSIONS:
            results = [scan_file(path, graceful=True, json_output_path=json_out)]
        elif props.get("is_7z") or props["is_tar"] or props["is_numpy_pickle"]:
            return {"path": path, "verdict": "skipped", "reason": "7z/tar/numpy pickle not supported"}
        else:
            return {"path": path, "verdict": "skipped", "reason": "not a pickle or zip"}
    except Exception as exc:  # noqa: BLE001
        return {"path": path, "verdict": "error", "errors": [repr(exc)]}
    unsafe = any(not r.is_safe for r in results)
    errors = [e for r in results for e in r.errors]
    severity = max((r.severity for r in results), default=None)
    return {
        "path": path,
        "verdict": "unsafe" if unsafe else "safe",
        "severity": severity.name if severity is not None else None,
        "errors": errors,
    }


def main(argv: list[str]) -> int:
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        json_out = os.path.join(tmp, "safety_results.json")  # fickling insists on writing one
        for target in argv:
            for path in iter_files(target):
                row = scan_one(path, json_out)
                print(json.dumps(row), flush=True)
                if row["verdict"] == "unsafe":
                    status = max(status, 1)
                elif row["verdict"] == "error":
                    status = 2
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
