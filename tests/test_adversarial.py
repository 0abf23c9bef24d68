"""Issue 11: the scanner's own red-team corpus (tests/adversarial/generate.py).

* every malicious file really runs its payload under the real loader (pickle.load, pickle._Unpickler,
  torch.load(weights_only=False), joblib.load, np.load(allow_pickle=True); for chat templates, a render of our
  own canary template in a plain jinja2.Environment, read the way transformers / gguf.GGUFReader read it) in a
  subprocess whose working
  directory is a per-case folder under this test's tmp path: the canary file appears;
* the scanner detects 100% of them with the specific rule id each case names, and never runs them (no canary
  appears in the scanning process's working directory);
* none of the unusual-but-legal benign checkpoints written by torch / sklearn / numpy / joblib gets a finding at
  LOW or above, or a scan error.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import pytest

from tests.adversarial.generate import Case, malicious_cases, write_benign
from weightwarden.core.findings import Severity
from weightwarden.scan import scan_paths

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[Case, Path]]]:
    root = tmp_path_factory.mktemp("adversarial")
    written = []
    for case in malicious_cases():
        path = root / "files" / case.name / case.filename
        path.parent.mkdir(parents=True)
        path.write_bytes(case.data)
        for name, data in case.extra:
            (path.parent / name).write_bytes(data)
        written.append((case, path))
    return root, written


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return write_benign(tmp_path_factory.mktemp("adversarial-benign"))


def test_composition(corpus, benign) -> None:
    _, written = corpus
    cases = [case for case, _ in written]
    assert len(cases) >= 150
    assert len(benign) >= 40
    assert len({c.name for c in cases}) == len(cases)
    by_class = Counter(c.cls for c in cases)
    assert {"1", "2", "3", "4"} <= set(by_class), by_class
    assert {c.loader for c in cases} == {"pickle", "pickle_py", "torch", "joblib", "numpy", "jinja", "gguf_template", "7z_pickle", "npz",
                                           "torch_package", "torch_hub", "shelve"}
    assert sum(c.cls == "5" for c in cases) >= 15  # chat templates (red team round 3)
    assert all(c.technique and c.expected_rule.startswith("WW-") for c in cases)


def test_every_malicious_file_fires_under_its_real_loader(corpus) -> None:
    root, written = corpus
    manifest = [
        {"name": c.name, "loader": c.loader, "path": str(p), "dir": str(root / "canary" / c.name),
         **({"chat": c.chat} if c.chat else {})} for c, p in written
    ]
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "tests.adversarial.fire", str(root / "manifest.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    silent = sorted(name for name, ok in fired.items() if not ok)
    assert not silent, f"payloads that do not run under the real loader: {silent}\n{run.stderr[-2000:]}"
    assert len(fired) == len(written)


def test_scanner_detects_every_malicious_file_with_its_rule(corpus, tmp_path, monkeypatch) -> None:
    _, written = corpus
    monkeypatch.chdir(tmp_path)  # a payload that ran would leave ./canary here
    missed = []
    for case, path in written:
        report = scan_paths([str(path)], workers=1)
        rules = {f.rule_id for f in report.findings if f.severity.at_least(Severity.MEDIUM)}
        if case.expected_rule not in rules:
            missed.append((case.name, case.expected_rule, sorted(rules)))
    assert not missed, missed
    assert not list(tmp_path.iterdir()), "a canary fired while scanning"


def test_benign_checkpoints_are_clean(benign) -> None:
    noisy = []
    for label, path in benign:
        report = scan_paths([str(path)], workers=1)
        bad = [f"{f.rule_id} {f.message[:100]}" for f in report.findings if f.severity.at_least(Severity.LOW)]
        if bad or report.errors:
            noisy.append((label, bad, [e.reason for e in report.errors]))
    assert not noisy, noisy
