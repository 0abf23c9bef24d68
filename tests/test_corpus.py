"""Issue 2, "What it must show" 1: 100% detection and 0 false positives on the generated corpus.

The corpus (tests/corpus) is written once per session and every entry folder is scanned on its own with
:func:`weightwarden.scan.scan_paths`. Each malicious entry must yield a finding at MEDIUM or above whose
rule id starts with the entry's expected family prefix, and every one of the specific rule ids listed for it
in ``tests/corpus/expected_rules.json`` (regenerate that file only when a rule is deliberately renamed or
split, and review the diff: a shrinking entry is a lost detection); each benign entry must yield no finding at LOW or
above and no scan error. Payloads are canaries: the canary folder must still be empty after every scan,
proving nothing was executed. A failure here is a scanner bug to fix, not a test to relax.
"""

from __future__ import annotations

import io
import json
import pickletools
import tarfile
import zipfile
from pathlib import Path

import pytest

import tests.corpus  # noqa: F401  (registers the entries)
from tests.corpus.registry import SPECS

MALICIOUS = [spec.name for spec in SPECS if spec.malicious]
BENIGN = [spec.name for spec in SPECS if not spec.malicious]
# The SPECIFIC rules each malicious entry must trigger (at MEDIUM or above). A family prefix alone let entries
# stay "detected" after the check written for them was removed, as long as any sibling rule fired.
EXPECTED_RULES: dict[str, list[str]] = json.loads((Path(__file__).parent / "corpus" / "expected_rules.json").read_text())


def test_corpus_composition(corpus) -> None:
    malicious = [e for e in corpus if e.malicious]
    benign = [e for e in corpus if not e.malicious]
    assert len(malicious) >= 70
    assert len(benign) >= 25
    families = {e.family for e in malicious}
    assert families >= {
        "pickle",
        "pytorch",
        "joblib",
        "numpy",
        "archive",
        "keras",
        "tf",
        "onnx",
        "gguf",
        "hf",
        "safetensors",
        "fs",
    }
    assert {e.family for e in benign} >= {
        "pytorch",
        "sklearn",
        "numpy",
        "safetensors",
        "gguf",
        "hf",
        "onnx",
        "keras",
        "tf",
    }
    assert all(e.expected_rule_prefix.startswith("WW-") for e in malicious)
    assert {"real_smollm2_gguf", "real_minilm_hf_folder"} <= {e.name for e in benign}
    for entry in corpus:
        assert entry.path.exists() or entry.path.is_symlink(), entry.name


def test_corpus_files_are_well_formed(corpus, corpus_canary_dir: Path) -> None:
    """The generated files are what they claim to be (read with format libraries; no pickle is loaded)."""
    for entry in corpus:
        for path in entry.pickles:
            pickletools.dis(path.read_bytes(), out=io.StringIO())  # disassembles without executing
        if entry.path.is_dir():
            for path in entry.path.rglob("*"):
                if path.is_symlink() or not path.is_file():
                    continue
                if path.suffix in {".zip", ".pt", ".bin", ".keras", ".mar", ".npz"} and zipfile.is_zipfile(
                    path
                ):
                    if "local_name_mismatch" not in entry.name and "bad_crc" not in entry.name:
                        with zipfile.ZipFile(path) as zf:
                            assert zf.namelist(), path
                elif (
                    path.suffix in {".tar", ".nemo", ".gz"} and ".tar" in path.name or path.suffix == ".nemo"
                ):
                    with tarfile.open(path) as tf:
                        assert tf.getnames(), path
                elif path.name == "tokenizer_config.json":
                    json.loads(path.read_text())
    assert not any(corpus_canary_dir.iterdir())


class _Scans:
    """Scan entries on demand, each once per session: name -> ScanReport (or the exception raised).

    Lazy so that under pytest-xdist each worker scans only the entries its tests ask for.
    """

    def __init__(self, entries: dict) -> None:
        self.entries = entries
        self.done: dict = {}

    def __getitem__(self, name: str):
        if name not in self.done:
            from weightwarden.scan import scan_paths

            try:
                self.done[name] = scan_paths([self.entries[name].path])
            except Exception as exc:  # a crash is reported per entry, not for the whole session
                self.done[name] = exc
        return self.done[name]


@pytest.fixture(scope="session")
def scan_results(corpus_by_name) -> _Scans:
    return _Scans(corpus_by_name)


def _describe(report) -> str:
    lines = [
        f"  {f.severity.value:8} {f.rule_id:12} {f.file} @ {f.location.path}: {f.message}" for f in report.findings
    ]
    lines += [f"  ERROR {e.file}: {e.reason}" for e in report.errors]
    return "\n".join(lines) or "  (no findings, no errors)"


@pytest.mark.parametrize("name", MALICIOUS)
def test_malicious_entry_detected(name: str, corpus_by_name, scan_results, corpus_canary_dir: Path) -> None:
    from weightwarden.core.findings import Severity

    entry = corpus_by_name[name]
    report = scan_results[name]
    assert not (corpus_canary_dir / name).exists(), f"scanning {name} EXECUTED its payload"
    if isinstance(report, Exception):
        pytest.fail(f"scan_paths raised on {name}: {type(report).__name__}: {report}")
    hits = [
        f
        for f in report.findings
        if f.severity.at_least(Severity.MEDIUM) and f.rule_id.startswith(entry.accepted_prefixes)
    ]
    assert hits, (
        f"{name} ({entry.technique}) not detected: expected a finding >= medium with rule prefix "
        f"{' or '.join(entry.accepted_prefixes)}; got:\n{_describe(report)}"
    )
    expected = EXPECTED_RULES.get(name)
    assert expected, f"{name}: add the rule id(s) it must trigger to tests/corpus/expected_rules.json"
    fired = {f.rule_id for f in report.findings if f.severity.at_least(Severity.MEDIUM)}
    missing = sorted(set(expected) - fired)
    assert not missing, (
        f"{name} ({entry.technique}): its specific rule(s) {', '.join(missing)} did not fire; got:\n"
        f"{_describe(report)}"
    )


def test_every_malicious_entry_names_its_rules() -> None:
    assert sorted(EXPECTED_RULES) == sorted(MALICIOUS)
    assert all(rules and all(r.startswith("WW-") for r in rules) for rules in EXPECTED_RULES.values())


@pytest.mark.parametrize("name", BENIGN)
def test_benign_entry_clean(name: str, corpus_by_name, scan_results) -> None:
    from weightwarden.core.findings import Severity

    entry = corpus_by_name[name]
    report = scan_results[name]
    if isinstance(report, Exception):
        pytest.fail(f"scan_paths raised on {name}: {type(report).__name__}: {report}")
    noisy = [f for f in report.findings if f.severity.at_least(Severity.LOW)]
    assert not noisy and not report.errors, (
        f"false alarm on benign {name} ({entry.technique}):\n{_describe(report)}"
    )


def test_canary_untouched(corpus, scan_results, corpus_canary_dir: Path) -> None:
    """Scanning the whole corpus executed nothing: no payload created its canary file."""
    for entry in corpus:
        scan_results[entry.name]  # cached when the per-entry tests already scanned it
    assert sorted(p.name for p in corpus_canary_dir.iterdir()) == []
