"""Issue 11: a detection of a payload that cannot run is not a detection. Every malicious pickle-family entry
of the corpus (tests/corpus) that is not labelled inert (registry.INERT, with the reason) really creates its
canary when its real loader reads it in a subprocess. The corpus is built afresh here with its own canary
folder (the session corpus's canary folder must stay empty: other tests prove scanning never fires)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOADERS = {"pytorch": "torch", "joblib": "joblib", "numpy": "numpy", "pickle": "pickle"}


def test_labelled_payloads_fire_under_the_real_loader(tmp_path: Path) -> None:
    from tests.corpus import build_corpus
    from tests.corpus.registry import INERT

    canary_dir = tmp_path / "canary"
    canary_dir.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = build_corpus(tmp_path / "corpus", canary_dir)
    entries = [e for e in corpus if e.malicious and e.family in LOADERS]
    manifest = []
    for entry in entries:
        files = [p for p in (entry.path.rglob("*") if entry.path.is_dir() else [entry.path]) if p.is_file()]
        for path in files:
            manifest.append({"name": f"{entry.name}|{path.name}", "loader": LOADERS[entry.family],
                             "path": str(path), "dir": str(tmp_path / "cwd" / entry.name)})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                   cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    made = [p.name for p in canary_dir.iterdir()]
    fired = {e.name for e in entries if any(m.startswith(e.name) for m in made)}
    silent = sorted(e.name for e in entries if e.name not in fired and e.name not in INERT)
    assert not silent, f"payloads that do not run under the real loader and are not labelled inert: {silent}"
    wrongly_inert = sorted(n for n in INERT if n in fired)
    assert not wrongly_inert, f"labelled inert but they fire: {wrongly_inert}"
    assert len(fired) >= 80
