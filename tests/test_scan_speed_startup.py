"""Start-up and per-process speed-ups of the scan change nothing it reports (issue 11, "Speed", fourth pass).

Equivalence tests, not timing tests, in the pattern of ``test_scan_speed.py``:

- 7z archives: py7zr imported with pycryptodome on its ctypes back end (cffi held back during the import)
  reads the same archives to the same findings and errors as py7zr imported plainly (cffi back end), cffi is
  never left blocked, and a failure of the ctypes route falls back to the plain import.
- ``weightwarden.artifact`` and ``weightwarden.core`` resolve every re-exported name lazily to the very object
  of its defining module, and the HDF5 helper's import no longer loads the loader.
- The command's garbage-collector setting only ever raises the young-generation threshold, and a scan run
  with it reports exactly what a scan at CPython's default reports.
- GGUF string arrays: the loop that steps over length-prefixed strings (count kept by ``range``) stops at the
  same offset and count as the loop it replaces, at every cut, for both byte orders and length widths.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Scans the paths in a fresh interpreter and prints what the report holds (not its timing) plus which
# back end pycryptodome loaded and whether cffi was left blocked in sys.modules.
_SCAN_SCRIPT = r"""
import json, sys
mode, paths = sys.argv[1], sys.argv[2:]
if mode == "plain":
    import py7zr  # the reader then finds py7zr imported, with Cryptodome on cffi
elif mode == "ctypes-fails":
    class _NoCtypesBackEnd:
        # Simulates a pycryptodome whose ctypes route cannot load: only while cffi is held back.
        def find_spec(self, name, path=None, target=None):
            if name == "Cryptodome.Util._raw_api" and "cffi" in sys.modules and sys.modules["cffi"] is None:
                raise ImportError("simulated: no ctypes back end")
            return None
    sys.meta_path.insert(0, _NoCtypesBackEnd())
from weightwarden.scan import scan_paths
report = scan_paths(paths, workers=1)
import Cryptodome.Util._raw_api as raw
print(json.dumps({
    "findings": [[f.rule_id, f.file, f.location.path, f.message, f.evidence_text, f.severity.value]
                 for f in report.findings],
    "errors": [[e.file, e.reason] for e in report.errors],
    "formats": report.formats,
    "backend": raw.backend,
    "cffi_blocked": "cffi" in sys.modules and sys.modules["cffi"] is None,
}))
"""


def _scan_in_fresh_process(mode: str, *paths: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _SCAN_SCRIPT, mode, *map(str, paths)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def sevenzip_archives(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    py7zr = pytest.importorskip("py7zr")
    folder = tmp_path_factory.mktemp("sevenzip")
    members = {
        "model/evil.pkl": pickle.dumps(_Evil(), protocol=2),
        "model/config.json": b'{"model_type": "bert"}',
        "readme.txt": b"hello",
    }
    plain = folder / "plain.7z"
    with py7zr.SevenZipFile(plain, "w") as z:
        for name, data in members.items():
            z.writef(io.BytesIO(data), name)
    encrypted = folder / "encrypted.7z"
    with py7zr.SevenZipFile(encrypted, "w", password="secret", header_encryption=True) as z:
        z.writef(io.BytesIO(members["model/evil.pkl"]), "evil.pkl")
    truncated = folder / "truncated.7z"
    truncated.write_bytes(plain.read_bytes()[:40])
    return [plain, encrypted, truncated]


def test_py7zr_on_ctypes_reads_as_py7zr_on_cffi(sevenzip_archives: list[Path]) -> None:
    plain = _scan_in_fresh_process("plain", *sevenzip_archives)
    fast = _scan_in_fresh_process("fast", *sevenzip_archives)
    assert plain["backend"] == "cffi"  # the reference really is the other back end
    assert fast["backend"] == "ctypes"
    assert not fast["cffi_blocked"]
    for key in ("findings", "errors", "formats"):
        assert fast[key] == plain[key], key
    # The archives were really read: the pickle member's import is found, the others are named.
    assert any("evil.pkl" in f[1] for f in fast["findings"])  # type: ignore[union-attr]
    assert {e[0].rsplit("/", 1)[-1] for e in fast["errors"]} >= {"encrypted.7z", "truncated.7z"}  # type: ignore[union-attr]


def test_py7zr_import_falls_back_when_the_ctypes_route_fails(sevenzip_archives: list[Path]) -> None:
    plain = _scan_in_fresh_process("plain", *sevenzip_archives)
    fallback = _scan_in_fresh_process("ctypes-fails", *sevenzip_archives)
    assert fallback["backend"] == "cffi"
    assert not fallback["cffi_blocked"]
    for key in ("findings", "errors", "formats"):
        assert fallback[key] == plain[key], key


def test_import_py7zr_leaves_an_imported_cffi_alone() -> None:
    code = (
        "import sys; import cffi; "
        "from weightwarden.artifact.readers.sevenzip_reader import _import_py7zr; "
        "module = _import_py7zr(); import Cryptodome.Util._raw_api as raw; "
        "print(sys.modules['cffi'] is cffi, module is sys.modules['py7zr'], raw.backend)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=120)
    assert out.stdout.split() == ["True", "True", "cffi"]


@pytest.mark.parametrize("package", ["weightwarden.artifact", "weightwarden.core"])
def test_lazy_package_names_are_the_defining_modules_objects(package: str) -> None:
    pkg = importlib.import_module(package)
    assert sorted(pkg.__all__) == sorted(pkg._EXPORTS)
    for name in pkg.__all__:
        defining = importlib.import_module(pkg._EXPORTS[name])
        assert getattr(pkg, name) is getattr(defining, name), name
        assert name in dir(pkg)
    with pytest.raises(AttributeError):
        _ = pkg.no_such_name


def test_hdf5_helper_import_does_not_load_the_loader() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from weightwarden.artifact.readers.keras_h5 import _worker_loop; "
        "print(sorted(m for m in sys.modules if m.startswith('weightwarden')))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT)], capture_output=True, text=True,
                         check=True, timeout=120)
    loaded = set(eval(out.stdout))  # noqa: S307 - our own child's repr of a list of module names
    assert "weightwarden.artifact.readers.keras_h5" in loaded
    assert not loaded & {"weightwarden.artifact.loader", "weightwarden.artifact.sniff", "weightwarden.core.findings"}


def test_gc_setting_only_raises_the_young_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from weightwarden.cli import main

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        main._fewer_gc_passes()
        assert gc.get_threshold() == (main.GC_YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(main.GC_YOUNG_THRESHOLD * 2, 5, 5)
        main._fewer_gc_passes()
        assert gc.get_threshold() == (main.GC_YOUNG_THRESHOLD * 2, 5, 5)
    finally:
        gc.set_threshold(*before)


def test_scan_report_is_the_same_at_the_default_gc_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from weightwarden.cli import main

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "evil.pkl").write_bytes(pickle.dumps(_Evil(), protocol=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}))
    (folder / "config.json").write_text('{"model_type": "llama"}')

    def scan() -> dict[str, object]:
        result = CliRunner().invoke(main.main, ["scan", str(folder), "--format", "json"])
        report = json.loads(result.output)
        report.pop("duration_s", None)
        report.get("summary", {}).pop("duration_s", None)
        return {"exit": result.exit_code, "report": report}

    before = gc.get_threshold()
    try:
        raised = scan()
        gc.set_threshold(700, 10, 10)
        monkeypatch.setattr(main, "_fewer_gc_passes", lambda: None)
        default = scan()
    finally:
        gc.set_threshold(*before)
    assert raised == default
    assert raised["exit"] == 1


def _skip_reference(buf: bytes, pos: int, count: int, little: bool, code: str) -> tuple[int, int]:
    """The loop ``_Cursor.skip_buffered_strings`` had before (count and bound checked in bytecode)."""
    fmt = struct.Struct(("<" if little else ">") + code)
    end, done = len(buf), 0
    while done < count and pos + fmt.size <= end:
        (k,) = fmt.unpack_from(buf, pos)
        if k > end - pos - fmt.size:
            break
        pos += fmt.size + k
        done += 1
    return pos, done


@pytest.mark.parametrize(("little", "code"), [(True, "Q"), (True, "I"), (False, "Q"), (False, "I")])
def test_gguf_string_skip_loop_equals_reference(little: bool, code: str) -> None:
    from weightwarden.artifact.readers.gguf_file import _Cursor

    rng = random.Random(11)
    fmt = struct.Struct(("<" if little else ">") + code)
    items = [bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 3, 9, 40]))) for _ in range(300)]
    blob = b"".join(fmt.pack(len(s)) + s for s in items)
    # A huge declared length, as a hostile file may hold, must stop the loop where the reference stops.
    blob += fmt.pack(2 ** (8 * fmt.size) - 1) + b"tail"
    for cut in sorted({0, 1, fmt.size, *range(0, len(blob) + 1, 13), len(blob)}):
        buf = blob[:cut]
        for start in (0, fmt.size + len(items[0])):
            for count in (0, 1, 2, 7, 150, 300, 301, 10**6):
                cursor = object.__new__(_Cursor)
                cursor.little, cursor.buf, cursor.pos = little, buf, start
                done = cursor.skip_buffered_strings(count, code)
                assert (cursor.pos, done) == _skip_reference(buf, start, count, little, code), (cut, start, count)
