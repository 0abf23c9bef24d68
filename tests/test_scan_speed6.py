"""The scan's sixth speed pass changes nothing it reports (issue 11, "Speed"). Equivalence tests, not timing tests.

- 7z archives: py7zr imported while ``importlib.metadata`` is a stand-in whose version lookups find nothing (its
  codec packages only set ``__version__`` from it) reads the same archives to the same findings and errors as
  py7zr imported with the real module; the stand-in is never left in place, and a failure of that route falls
  back to the plain import.
- The ``scan`` command's young-generation threshold raised to 100,000 (set before the command's imports): a scan of
  many templates and pickles reports exactly what it reports at CPython's default threshold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_scan_speed_startup import sevenzip_archives  # noqa: F401 - a fixture, used by name

ROOT = Path(__file__).resolve().parent.parent

# Scans the paths in a fresh interpreter and prints what the report holds (not its timing), whether the real
# importlib.metadata is what the name gives afterwards, and the codec packages' version strings.
_SCAN_SCRIPT = r"""
import json, sys
mode, paths = sys.argv[1], sys.argv[2:]
if mode == "plain":
    import importlib.metadata  # the reader then leaves the real module in place
    import py7zr
elif mode == "stub-fails":
    class _NoStubRoute:
        # Simulates a py7zr that needs more of importlib.metadata than the stand-in has: only while it is there.
        def find_spec(self, name, path=None, target=None):
            md = sys.modules.get("importlib.metadata")
            if name == "pyppmd" and getattr(md, "_weightwarden_stub", False):
                raise ImportError("simulated: the stand-in is not enough")
            return None
    sys.meta_path.insert(0, _NoStubRoute())
from weightwarden.scan import scan_paths
report = scan_paths(paths, workers=1)
import importlib.metadata as md
import pyppmd
print(json.dumps({
    "findings": [[f.rule_id, f.file, f.location.path, f.message, f.evidence_text, f.severity.value]
                 for f in report.findings],
    "errors": [[e.file, e.reason] for e in report.errors],
    "formats": report.formats,
    "real_metadata": not getattr(md, "_weightwarden_stub", False) and md.version("py7zr") != "",
    "pyppmd_version": pyppmd.__version__,
}))
"""


def _scan_in_fresh_process(mode: str, *paths: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _SCAN_SCRIPT, mode, *map(str, paths)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_py7zr_without_metadata_reads_as_py7zr_with_it(sevenzip_archives: list[Path]) -> None:  # noqa: F811
    plain = _scan_in_fresh_process("plain", *sevenzip_archives)
    fast = _scan_in_fresh_process("fast", *sevenzip_archives)
    assert plain["pyppmd_version"] != "unknown"  # the reference really looked its version up
    assert fast["pyppmd_version"] == "unknown"  # the stand-in was used
    assert plain["real_metadata"] and fast["real_metadata"]
    for key in ("findings", "errors", "formats"):
        assert fast[key] == plain[key], key
    assert any("evil.pkl" in f[1] for f in fast["findings"])  # type: ignore[union-attr]
    assert {e[0].rsplit("/", 1)[-1] for e in fast["errors"]} >= {"encrypted.7z", "truncated.7z"}  # type: ignore[union-attr]


def test_py7zr_import_falls_back_when_the_stand_in_is_not_enough(sevenzip_archives: list[Path]) -> None:  # noqa: F811
    plain = _scan_in_fresh_process("plain", *sevenzip_archives)
    fallback = _scan_in_fresh_process("stub-fails", *sevenzip_archives)
    assert fallback["pyppmd_version"] != "unknown"  # imported again with the real module
    assert fallback["real_metadata"]
    for key in ("findings", "errors", "formats"):
        assert fallback[key] == plain[key], key


def test_import_py7zr_leaves_an_imported_metadata_alone() -> None:
    code = (
        "import sys; import importlib.metadata as md; "
        "from weightwarden.artifact.readers.sevenzip_reader import _import_py7zr; "
        "module = _import_py7zr(); import pyppmd; "
        "print(sys.modules['importlib.metadata'] is md, module is sys.modules['py7zr'], pyppmd.__version__ != 'unknown')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=120)
    assert out.stdout.split() == ["True", "True", "True"]


@pytest.mark.parametrize("name", ["PackageNotFoundError", "version"])
def test_metadata_stand_in_finds_no_distribution(name: str) -> None:
    from weightwarden.artifact.readers.sevenzip_reader import _metadata_stub

    stub = _metadata_stub()
    assert hasattr(stub, name)
    with pytest.raises(stub.PackageNotFoundError):
        stub.version("py7zr")
    assert issubclass(stub.PackageNotFoundError, ImportError)


def test_scan_report_is_the_same_at_the_default_gc_threshold_on_many_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The young-generation threshold raised to 100,000 (from 10,000): a scan whose template trees and pickle
    machines outlive many collections at the default threshold reports exactly the same."""
    import gc
    import pickle

    from click.testing import CliRunner

    from tests.test_scan_speed import REAL_TEMPLATES
    from tests.test_scan_speed_startup import _Evil
    from weightwarden.cli import main

    assert main.GC_YOUNG_THRESHOLD == 100_000
    for i, path in enumerate(REAL_TEMPLATES[:24]):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        template = path.read_text(encoding="utf-8")
        if i % 3 == 0:  # some with a hostile addition, so the templates' findings are compared too
            template += "{{ messages.__class__.__mro__ }}{% set ns = namespace(a=[]) %}{{ messages.append(1) }}"
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
        (folder / "evil.pkl").write_bytes(pickle.dumps([_Evil(), {"k": list(range(i))}], protocol=2 + i % 4))

    def scan() -> dict[str, object]:
        result = CliRunner().invoke(main.main, ["scan", str(tmp_path), "--format", "json"])
        report = json.loads(result.output)
        report.pop("duration_s", None)
        report.get("summary", {}).pop("duration_s", None)
        return {"exit": result.exit_code, "report": report}

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        raised = scan()
        assert gc.get_threshold()[0] == main.GC_YOUNG_THRESHOLD
        gc.set_threshold(700, 10, 10)
        monkeypatch.setattr(main, "_fewer_gc_passes", lambda: None)
        default = scan()
    finally:
        gc.set_threshold(*before)
    assert raised == default
    assert raised["exit"] == 1
    assert len(raised["report"]["findings"]) > 24  # type: ignore[index, arg-type]
