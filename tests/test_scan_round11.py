"""Red team round 11 on the scanner's readers (report: issues/rt-scanreaders-round11.md), each class as tests.

A. A slot state ``(None, {'__dict__': F})`` makes the checked fields dict F of a structured numpy.dtype an
   instance's own ``__dict__``; a later BUILD on that instance writes into F (a field moved past the item).
A'. sklearn's ``BaseEstimator.__setstate__`` pops ``_sklearn_version`` from the dict it is given: BUILD with a
   dtype's fields dict as the state removes a field numpy still lists in ``names``.
B. ``{'__class__': NumpyArrayWrapper}`` in a slot state swaps the class: joblib reads the next bytes as array
   data, the walk read them as opcodes (canary cases in tests/adversarial/generate.py, round 11 block).
C. Legacy torch tar checkpoints: the ``storages`` member holds several pickles with raw data between them
   (canary cases in the adversarial corpus; layout unit tests here).

A and A' corrupt memory (an out-of-bounds field, a NULL field lookup) rather than run code, so their proof is a
loader run in a subprocess that shows the checked dtype changed (never touching the array data, which would
read out of bounds). The PoC bytes are built here as the red team's mk_od.py / mk_pop.py build them.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.adversarial.generate import joblib_class_swap, legacy_tar_frame, legacy_tar_size_field
from tests.pickle_bytes import g, s
from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.picklevm.machine import analyze_bytes
from weightwarden.scan import scan_paths

ROOT = Path(__file__).resolve().parent.parent


def _findings(path: Path, strict: bool = False) -> list[tuple[str, str]]:
    report = scan_paths([str(path)], workers=1, strict=strict)
    return [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(Severity.HIGH)] + [
        ("error", e.reason) for e in report.errors
    ]


def _array_program() -> bytes:
    """numpy's own pickle of a structured array (fields a@0, _sklearn_version@8) with the fields dict memoised
    as 6, ending before its STOP."""
    a = np.zeros(4, dtype=[("a", "<i8"), ("_sklearn_version", "<i8")])
    b = pickletools.optimize(pickle.dumps(a, protocol=2))
    assert b.count(b"}(") == 1 and b.endswith(b"b.")
    return b.replace(b"}(", b"}q\x06(", 1)[:-1]


def _od_alias(maker: bytes = g("collections", "OrderedDict") + b")R", off: int = 64) -> bytes:
    """A: <array> BINPUT 7 POP; <maker>; BUILD (None, {'__dict__': F}); BUILD {'_sklearn_version': (i8, off)};
    POP; {'w': array}."""
    p = _array_program() + b"q\x070" + maker
    p += b"N}" + s("__dict__") + b"h\x06s\x86b"
    p += b"}" + s("_sklearn_version") + b"h\x05" + b"K" + bytes([off]) + b"\x86sb0"
    return p + b"}" + s("w") + b"h\x07s."


def _sk_pop() -> bytes:
    """A': <array>; LinearRegression NEWOBJ; BINGET 6 (the fields dict); BUILD; TUPLE2; STOP."""
    return _array_program() + g("sklearn.linear_model._base", "LinearRegression") + b")\x81h\x06b\x86."


POCS = {
    "od_alias": _od_alias(),
    "namespace_alias": _od_alias(g("argparse", "Namespace") + b")\x81"),
    "sk_pop": _sk_pop(),
}


def _load_in_subprocess(path: Path, loader: str) -> dict[str, object]:
    """Load with the real loader in a child process; report the loaded dtype (never its data)."""
    code = (
        "import sys, json, pickle, warnings; warnings.simplefilter('ignore'); p, how = sys.argv[1], sys.argv[2]\n"
        "if how == 'pickle':\n    v = pickle.load(open(p, 'rb'))\n"
        "elif how == 'joblib':\n    import joblib; v = joblib.load(p)\n"
        "else:\n    import torch; v = torch.load(p, weights_only=False)\n"
        "arr = v['w'] if isinstance(v, dict) else v[0]\n"
        "dt = arr.dtype\n"
        "print(json.dumps({'itemsize': dt.itemsize, 'names': list(dt.names),"
        " 'fields': {k: f[1] for k, f in dt.fields.items()}}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path), loader], capture_output=True, text=True, timeout=120,
                         check=False, cwd=path.parent)
    assert run.returncode == 0, run.stderr[-1000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("loader", ["pickle", "joblib", "torch"])
def test_alias_pocs_change_the_checked_dtype_under_the_real_loader(tmp_path: Path, loader: str) -> None:
    pytest.importorskip(loader if loader != "pickle" else "pickle")
    for name in ("od_alias", "namespace_alias"):
        path = tmp_path / (f"{name}.pt" if loader == "torch" else f"{name}.pkl")
        path.write_bytes(_torch_zip(POCS[name]) if loader == "torch" else POCS[name])
        got = _load_in_subprocess(path, loader)
        # The dtype numpy built says 16-byte items, and a field now lies at 64: reads past every item.
        assert got["itemsize"] == 16 and got["fields"]["_sklearn_version"] == 64, got


@pytest.mark.parametrize("loader", ["pickle", "joblib", "torch"])
def test_setstate_pop_removes_a_checked_field_under_the_real_loader(tmp_path: Path, loader: str) -> None:
    pytest.importorskip("sklearn")
    path = tmp_path / ("sk_pop.pt" if loader == "torch" else "sk_pop.pkl")
    path.write_bytes(_torch_zip(POCS["sk_pop"]) if loader == "torch" else POCS["sk_pop"])
    got = _load_in_subprocess(path, loader)
    assert "_sklearn_version" in got["names"] and "_sklearn_version" not in got["fields"], got  # type: ignore[operator]


@pytest.mark.parametrize("name", sorted(POCS))
@pytest.mark.parametrize("container", ["pkl", "pt"])
@pytest.mark.parametrize("strict", [False, True])
def test_round11_memory_pocs_are_high(tmp_path: Path, name: str, container: str, strict: bool) -> None:
    path = tmp_path / f"{name}.{container}"
    path.write_bytes(_torch_zip(POCS[name]) if container == "pt" else POCS[name])
    found = _findings(path, strict)
    assert any(rule == "WW-PKL-002" and "reuses a dict" in msg for rule, msg in found), found


def _misuses(program: bytes) -> list[str]:
    return [m.args for m in analyze_bytes(program).misuses]


def test_slot_state_setting_dict_or_class_is_a_finding_on_its_own() -> None:
    # No numpy at all: any slot state that rebinds __dict__ or __class__ is high.
    for key, target in (("__dict__", b"}"), ("__class__", g("argparse", "Namespace"))):
        program = b"\x80\x02" + g("argparse", "Namespace") + b")\x81N}" + s(key) + target + b"s\x86b."
        assert any(f"sets {key}" in m for m in _misuses(program)), key
    # In the dict part as well (a __setstate__ that setattr()s its keys).
    program = b"\x80\x02" + g("argparse", "Namespace") + b")\x81}" + s("__class__") + g("argparse", "Namespace") + b"sb."
    assert any("sets __class__" in m for m in _misuses(program))


def test_checked_container_reused_anywhere_is_a_finding() -> None:
    base = _array_program() + b"0"
    nested = base + g("argparse", "Namespace") + b")\x81}" + s("x") + b"h\x06sb."  # state {'x': F}
    assert any("reuses a dict" in m for m in _misuses(nested))
    called = base + g("builtins", "dict") + b"h\x06\x85R."  # dict(F)
    assert any("an argument holds a container" in m for m in _misuses(called))
    listed = base + g("collections", "OrderedDict") + b"]h\x06a\x85R."  # OrderedDict([F]) (the fast REDUCE path)
    assert any("an argument holds a container" in m for m in _misuses(listed))


def test_ordinary_state_reused_by_another_build_is_a_finding() -> None:
    # The state of one object becomes the state of another (the second __setstate__ may change it in place).
    program = (b"\x80\x02" + g("argparse", "Namespace") + b")\x81}q\x01" + s("a") + b"K\x01sb0"
               + g("sklearn.linear_model._base", "LinearRegression") + b")\x81h\x01b.")
    assert any("reuses a dict" in m for m in _misuses(program))


def test_joblib_walk_fails_closed_on_a_class_swap(tmp_path: Path) -> None:
    path = tmp_path / "swap.joblib"
    path.write_bytes(joblib_class_swap())
    found = _findings(path)
    assert any(rule == "WW-PKL-006" for rule, _ in found), found
    assert any(rule == "WW-PKL-002" and "sets __class__" in msg for rule, msg in found), found
    # The reverse: a real wrapper swapped away (joblib then unpickles what the walk would skip).
    program = joblib_class_swap().replace(b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n", b"cargparse\nNamespace\n")
    program = program.replace(b"cargparse\nNamespace\n)", b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)", 1)
    path.write_bytes(program)
    assert any(rule == "WW-PKL-006" for rule, _ in _findings(path))


def test_opaque_slot_state_in_joblib_mode_fails_closed(tmp_path: Path) -> None:
    # A slot state that is an OrderedDict() call result may hold '__class__': joblib mode stops (high).
    program = (b"\x80\x02" + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b"0" + g("argparse", "Namespace")
               + b")\x81N" + g("collections", "OrderedDict") + b")R\x86b.")
    path = tmp_path / "opaque.joblib"
    path.write_bytes(program)
    assert any(rule == "WW-PKL-006" for rule, _ in _findings(path))


def _storages(path: Path) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile("storages")
        assert member is not None
        return member.read()


@pytest.mark.parametrize("maker", [legacy_tar_frame, legacy_tar_size_field])
def test_legacy_tar_payload_is_critical(tmp_path: Path, maker) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "legacy.pt"
    path.write_bytes(maker())
    report = scan_paths([str(path)], workers=1)
    assert any(f.rule_id == "WW-PKL-001" and f.severity is Severity.CRITICAL for f in report.findings), report.findings


def test_legacy_tar_record_that_cannot_be_placed_is_high(tmp_path: Path) -> None:
    # The first pickle of storages is not a count: torch's reading of the rest cannot be followed.
    body = pickle.dumps("many", protocol=2) + b"\x00" * 32
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("storages", body), ("tensors", pickle.dumps(0, protocol=2)),
                           ("pickle", pickle.dumps({}, protocol=2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "odd.pt"
    path.write_bytes(out.getvalue())
    assert any(rule == "WW-PKL-013" for rule, _ in _findings(path))


def test_benign_legacy_tar_layout_is_clean(tmp_path: Path) -> None:
    # torch.save's own legacy tar layout (as torch <= 0.3 wrote it): one FloatStorage of 3 elements, no views,
    # one tensor record with its raw shape/stride/offset words.
    storages = (pickle.dumps(1, protocol=2)
                + b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nFloatStorage\ntq\x00."
                + (3).to_bytes(8, "little") + b"\x00" * 12 + pickle.dumps([], protocol=2))
    tensors = (pickle.dumps(1, protocol=2)
               + b"\x80\x02(X\x01\x00\x00\x001X\x01\x00\x00\x000ctorch\nFloatTensor\ntq\x00."
               + (1).to_bytes(4, "little") + b"\x00" * 4 + (3).to_bytes(8, "little") + (1).to_bytes(8, "little")
               + (0).to_bytes(8, "little"))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("storages", storages), ("tensors", tensors), ("pickle", pickle.dumps({"w": 1}, protocol=2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "benign.pt"
    path.write_bytes(out.getvalue())
    report = scan_paths([str(path)], workers=1)
    assert not report.errors
    # The layout itself gives nothing (no unplaced record, trailing data, parse error or several programs). The
    # legacy tensor type class torch.FloatTensor is not on the allowlist (a policy question left alone here).
    noisy = [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(Severity.LOW)]
    assert all(rule == "WW-PKL-002" and "FloatTensor" in msg for rule, msg in noisy), noisy


def test_frame_end_resume_in_plain_pickle_files(tmp_path: Path) -> None:
    # Two programs in one .pkl where the first STOP is inside a frame: pickle.load(f) twice runs the second
    # from the frame's end; it is walked from there (and from STOP).
    body = b"K\x00." + b"\x00" * 8
    program = b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body + b"\x80\x02" + g("os", "system") + s("true") + b"\x85R."
    path = tmp_path / "two.pkl"
    path.write_bytes(program)
    report = scan_paths([str(path)], workers=1)
    assert any(f.rule_id == "WW-PKL-001" for f in report.findings), report.findings
