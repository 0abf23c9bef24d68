"""Red team round 6 on the scanner's readers (report: issues/rt-scanreaders-round6.md), each PoC as a test.

Class 1: a resolution-table class whose ``__setstate__`` runs code from its state. scipy.stats' rv_generic
family (SAFE in the table) exec()s ``_parse_arg_template`` from the BUILD state; the table is now audited class
by class (tests/test_resolution_table_audit.py) and the family is out, so the PoCs are findings.

Class 2: an instance ``__setstate__`` planted through a BUILD state that is not a literal dict (an
``OrderedDict()`` result filled by SETITEMS, a ``(None, OrderedDict)`` slot state): the next BUILD calls the
planted value, here ``TrainingArguments(...)`` (REBUILD_ONLY, "never called"). The machine keeps SETITEM(S) items
on call results and treats any such state as possibly setting hooks; the rebuild-only exemption does not hold in
such a program.

The files are built here byte by byte (like the red team's mk_p1.py / mk_p3.py); nothing is ever loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pickle_bytes import g, s
from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.picklevm import analyze_bytes
from weightwarden.scan import scan_paths

TA = ("transformers.training_args", "TrainingArguments")
_CODE = (
    "open('CANARY_scipy', 'w').close()\n"
    "def _parse_args(self, *a, **k): return a, k\n"
    "def _parse_args_stats(self, *a, **k): return a, k\n"
    "def _parse_args_rvs(self, *a, **k): return a, k\n"
)





def _findings(path: Path, minimum: Severity = Severity.HIGH) -> list[tuple[str, str]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(minimum)]


# -- class 1 ---------------------------------------------------------------------------------------------


def _p3(cls_name: str) -> bytes:
    state = b"}(" + s("_parse_arg_template") + s(_CODE) + s("numargs") + b"K\x00" + s("moment_type") + b"K\x00u"
    return b"\x80\x02" + g("scipy.stats._distn_infrastructure", cls_name) + b")\x81" + state + b"b."


@pytest.mark.parametrize("cls_name", ["rv_continuous", "rv_discrete", "rv_sample", "rv_frozen"])
def test_scipy_distribution_setstate_is_a_finding(tmp_path: Path, cls_name: str) -> None:
    program = _p3(cls_name)
    (tmp_path / "p3.pkl").write_bytes(program)
    (tmp_path / "p3.pt").write_bytes(_torch_zip(program))
    hf = tmp_path / "hfdir"
    hf.mkdir()
    (hf / "training_args.bin").write_bytes(_torch_zip(program))
    for path in (tmp_path / "p3.pkl", tmp_path / "p3.pt", hf):
        found = _findings(path)
        assert any(cls_name in msg for _rule, msg in found), (path, found)
    assert not (tmp_path / "CANARY_scipy").exists()


# -- class 2 ---------------------------------------------------------------------------------------------


def _p1(cls: tuple[str, str], arg: bytes) -> bytes:
    """NEWOBJ cls; OrderedDict() filled by SETITEMS {'__setstate__': TrainingArguments}; BUILD; BUILD arg."""
    p = b"\x80\x02" + g(*cls) + b")\x81"
    p += g("collections", "OrderedDict") + b")R"
    p += b"(" + s("__setstate__") + g(*TA) + b"u"
    return p + b"b" + arg + b"b."


def _p1c_slotstate() -> bytes:
    p = b"\x80\x02" + g("argparse", "Namespace") + b")\x81"
    p += b"N" + g("collections", "OrderedDict") + b")R" + b"(" + s("__setstate__") + g(*TA) + b"u" + b"\x86b"
    return p + s("/tmp/ta_out_c") + b"b."


def _p1_constructor_items() -> bytes:
    """The OrderedDict gets its item from its constructor's argument (a list of pairs), not from SETITEMS."""
    pairs = b"](" + s("__setstate__") + g(*TA) + b"\x86e"
    p = b"\x80\x02" + g("argparse", "Namespace") + b")\x81"
    p += g("collections", "OrderedDict") + pairs + b"\x85R"
    return p + b"b" + s("/tmp/ta_out_d") + b"b."


def _p1_dict_call_extend() -> bytes:
    """builtins.dict() state with 'extend', then APPENDS on the instance."""
    p = b"\x80\x02" + g("argparse", "Namespace") + b")\x81" + g("builtins", "dict") + b")R"
    p += b"(" + s("extend") + g(*TA) + b"u" + b"b"
    return p + b"(" + s("/tmp/ta_out_b") + b"e."


CLASS2 = {
    "p1_ta": _p1(("argparse", "Namespace"), s("/tmp/ta_out")),
    "p1_ta_native": _p1(TA, s("/tmp/ta_out")),
    "p1c_slotstate": _p1c_slotstate(),
    "p1_constructor_items": _p1_constructor_items(),
    "p1b_extend": _p1_dict_call_extend(),
}


@pytest.mark.parametrize("name", sorted(CLASS2))
def test_hook_planted_by_a_non_literal_state_is_a_finding(tmp_path: Path, name: str) -> None:
    program = CLASS2[name]
    (tmp_path / f"{name}.pkl").write_bytes(program)
    (tmp_path / f"{name}.pt").write_bytes(_torch_zip(program))
    for path in (tmp_path / f"{name}.pkl", tmp_path / f"{name}.pt"):
        found = _findings(path)
        assert found, path
        # Either the planted value is known (TrainingArguments called) or it is an unknown value called.
        assert any("TrainingArguments" in msg or "computed" in msg for _rule, msg in found), found


def test_setitems_on_a_call_result_are_kept() -> None:
    analysis = analyze_bytes(CLASS2["p1_ta"])
    calls = [c for c in analysis.calls if c.target == ".".join(TA)]
    assert any("called by" in c.args for c in calls), analysis.calls
    assert analysis.opaque_states == 1


def test_non_literal_state_without_a_later_hook_opcode_is_clean(tmp_path: Path) -> None:
    """A BUILD with an OrderedDict state and nothing after it on the object calls nothing: no finding (the
    machine still counts the state as opaque)."""
    program = (
        b"\x80\x02" + g("argparse", "Namespace") + b")\x81" + g("collections", "OrderedDict") + b")R"
        + b"(" + s("lr") + b"K\x01u" + b"b."
    )
    assert analyze_bytes(program).opaque_states == 1
    (tmp_path / "ok.pkl").write_bytes(program)
    assert _findings(tmp_path / "ok.pkl", Severity.LOW) == []


def test_rebuilt_training_args_lose_the_exemption_next_to_an_opaque_state(tmp_path: Path) -> None:
    """TrainingArguments rebuilt by NEWOBJ is exempt, but not in a program where another BUILD state may have
    planted a hook that calls it."""
    clean = b"\x80\x02" + g(*TA) + b")\x81" + b"}(" + s("output_dir") + s("out") + b"ub."
    (tmp_path / "clean.pkl").write_bytes(clean)
    assert _findings(tmp_path / "clean.pkl", Severity.LOW) == []
    mixed = (
        b"\x80\x02(" + g(*TA) + b")\x81" + b"}(" + s("output_dir") + s("out") + b"ub"
        + g("argparse", "Namespace") + b")\x81" + g("collections", "OrderedDict") + b")R" + b"b" + b"l."
    )
    (tmp_path / "mixed.pkl").write_bytes(mixed)
    assert any("TrainingArguments" in msg for _r, msg in _findings(tmp_path / "mixed.pkl"))


def test_benign_training_args_bin_is_clean(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    import warnings

    from transformers import TrainingArguments

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none"), tmp_path / "training_args.bin")
    assert _findings(tmp_path / "training_args.bin", Severity.LOW) == []
