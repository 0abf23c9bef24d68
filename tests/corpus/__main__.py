"""``python -m tests.corpus DEST [--canary DIR] [--only NAME ...]``: write the corpus and DEST/manifest.json.

The manifest lists every entry (name, path relative to DEST where it lies inside it, malicious, technique,
family, expected rule prefix) so benchmarks can run other scanners over exactly the same files, one entry
folder at a time. The canary folder defaults to DEST/canary; it must stay empty whatever scans the corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.corpus import build_corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--canary", type=Path, default=None, help="canary folder (default DEST/canary)")
    parser.add_argument("--only", nargs="*", default=None, help="build only these entries")
    args = parser.parse_args(argv)
    dest = args.dest.resolve()
    canary = (args.canary or dest / "canary").resolve()
    entries = build_corpus(dest, canary, only=set(args.only) if args.only is not None else None)
    manifest = {
        "schema": "weightwarden.corpus-manifest/v1",
        "root": str(dest),
        "canary_dir": str(canary),
        "counts": {
            "malicious": sum(e.malicious for e in entries),
            "benign": sum(not e.malicious for e in entries),
        },
        "entries": [e.manifest(dest) for e in entries],
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(entries)} entries ({manifest['counts']}) to {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
