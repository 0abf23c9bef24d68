"""Red team round 7 on the scanner's readers (report: issues/rt-scanreaders-round7.md), each PoC as a test.

Class: library code inside an allowlisted class calls a method that Python finds in a pickled object's instance
``__dict__``. ``Optimizer.__setstate__`` ends with ``self.defaults.setdefault("differentiable", False)``,
``AveragedModel.__init__`` deep-copies its model (``copy.deepcopy`` calls ``x.__deepcopy__``), ``add_param_group``
calls ``defaults.items()``: an ``argparse.Namespace`` carrying ``setdefault``/``__deepcopy__``/``items`` as
attributes makes these calls run a REBUILD_ONLY class (TrainingArguments, PartialState) that the scanner saw only
imported. The machine now records every imported object stored as a value (container, BUILD state, argument);
the rebuild-only exemption holds only for a class used solely as the class operand of NEWOBJ.

Grading: a zip whose comment ends in ``PK\\x05\\x06`` is unreadable to Python's zipfile but read by torch.load
(miniz); the reader now reads it the way miniz does, so the pickle inside is analysed.

The files are built here byte by byte (like the red team's mk_*.py); nothing is ever loaded.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.pickle_bytes import g, s
from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.picklevm import analyze_bytes
from weightwarden.scan import scan_paths

TA = ("transformers.training_args", "TrainingArguments")
PS = ("accelerate.state", "PartialState")




def obj(module: str, cls: str, state: bytes) -> bytes:
    """NEWOBJ ``cls`` with no arguments, then BUILD ``state``."""
    return g(module, cls) + b")\x81" + state + b"b"



def _findings(path: Path, minimum: Severity = Severity.HIGH) -> list[tuple[str, str, Severity]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message, f.severity) for f in report.findings if f.severity.at_least(minimum)]


def _adam(hook: bytes | None) -> bytes:
    """mk_optss.py: NEWOBJ Adam + BUILD {'defaults': Namespace{setdefault: hook}, 'param_groups': [], 'state': {}}."""
    ns_state = b"}" + (s("setdefault") + hook + b"s" if hook is not None else b"")
    state = b"}(" + s("defaults") + obj("argparse", "Namespace", ns_state) + s("param_groups") + b"]" + s("state") + b"}u"
    return b"\x80\x02" + obj("torch.optim.adam", "Adam", state) + b"."


def _averaged(hook: bytes) -> bytes:
    """mk_av.py: AveragedModel(Namespace{__deepcopy__: hook}) -> deepcopy(model) calls the instance attribute."""
    model = obj("argparse", "Namespace", b"}" + s("__deepcopy__") + hook + b"s")
    return b"\x80\x02" + g("torch.optim.swa_utils", "AveragedModel") + model + b"\x85R."


def _optimizer_items(hook: bytes) -> bytes:
    """mk_opt.py: Optimizer([{'params': []}], Namespace{items: hook}) -> add_param_group calls defaults.items()."""
    ns = obj("argparse", "Namespace", b"}" + s("items") + hook + b"s")
    params = b"]}" + s("params") + b"]" + b"sa"
    return b"\x80\x02" + g("torch.optim.optimizer", "Optimizer") + b"(" + params + ns + b"tR."


POCS = {
    "s1_adam_setdefault_ta": _adam(g(*TA)),
    "s1_adam_setdefault_ps": _adam(g(*PS)),
    "a1_averaged": _averaged(g(*PS)),
    "o1_optimizer_items": _optimizer_items(g(*PS)),
}


@pytest.mark.parametrize("name", sorted(POCS))
def test_rebuild_only_class_stored_as_a_value_is_a_finding(tmp_path: Path, name: str) -> None:
    program = POCS[name]
    (tmp_path / f"{name}.pkl").write_bytes(program)
    (tmp_path / f"{name}.pt").write_bytes(_torch_zip(program))
    hf = tmp_path / "hfdir"
    hf.mkdir()
    (hf / "training_args.bin").write_bytes(_torch_zip(program))
    for path in (tmp_path / f"{name}.pkl", tmp_path / f"{name}.pt", hf):
        found = _findings(path)
        assert any("TrainingArguments" in msg or "PartialState" in msg for _rule, msg, _sev in found), (path, found)


def test_stored_values_are_recorded_with_where() -> None:
    analysis = analyze_bytes(POCS["s1_adam_setdefault_ta"])
    stored = dict(analysis.stored)
    assert "transformers.training_args.TrainingArguments" in stored
    assert stored["transformers.training_args.TrainingArguments"].startswith("SETITEM")
    # The class operands of NEWOBJ are not values.
    assert "torch.optim.adam.Adam" not in stored and "argparse.Namespace" not in stored


def test_controls_stay_clean(tmp_path: Path) -> None:
    # s0_adam_control.pkl: the same Adam with a plain Namespace; o0_control.pkl: items = builtins.dict (on the
    # allowlist, so callable with any arguments).
    for name, program in (
        ("s0_adam_control.pkl", _adam(None)),
        ("o0_control.pkl", _optimizer_items(g("builtins", "dict"))),
    ):
        (tmp_path / name).write_bytes(program)
        assert _findings(tmp_path / name, Severity.LOW) == [], name


def test_rebuilt_training_arguments_stays_clean(tmp_path: Path) -> None:
    # What torch.save of a TrainingArguments writes: the class only as NEWOBJ's operand.
    program = b"\x80\x02" + obj(*TA, b"}(" + s("output_dir") + s("out") + s("seed") + b"K*u") + b"."
    (tmp_path / "training_args.bin").write_bytes(_torch_zip(program))
    assert _findings(tmp_path / "training_args.bin", Severity.LOW) == []


@pytest.mark.parametrize(
    "program",
    [
        b"\x80\x02]" + g(*TA) + b"a.",  # in a list
        b"\x80\x02" + g(*TA) + b"\x85.",  # in a tuple
        b"\x80\x02" + g("collections", "OrderedDict") + b"]" + g(*TA) + b"a\x85R.",  # inside a call argument
        b"\x80\x02" + obj("argparse", "Namespace", g(*TA)) + b".",  # as a BUILD state
        b"\x80\x02" + g(*TA) + b"q\x00" + b")\x81" + b"0h\x00\x85.",  # rebuilt once, then stored via the memo
        b"\x80\x02" + g(*TA) + b".",  # returned as the result
    ],
    ids=["list", "tuple", "call-arg", "build-state", "memo", "result"],
)
def test_rebuild_only_class_used_otherwise_than_newobj_is_high(tmp_path: Path, program: bytes) -> None:
    (tmp_path / "p.pkl").write_bytes(program)
    found = _findings(tmp_path / "p.pkl")
    assert any("TrainingArguments" in msg and sev.at_least(Severity.HIGH) for _r, msg, sev in found), found


LINEAR = ("torch.nn.modules.linear", "Linear")  # a class of the generated table (SAFE to rebuild)


def test_table_class_stored_as_a_value_is_high(tmp_path: Path) -> None:
    # The same door with a table class planted: library code would call Linear("differentiable", False).
    (tmp_path / "p.pkl").write_bytes(_adam(g(*LINEAR)))
    found = _findings(tmp_path / "p.pkl")
    assert any("Linear" in msg and "as a value" in msg for _r, msg, _s in found), found


def test_table_class_as_reconstructor_operand_is_not_a_value(tmp_path: Path) -> None:
    # Protocol 0/1 writes copyreg._reconstructor(cls, object, None): the class is the operand there.
    program = b"\x80\x02" + g("copyreg", "_reconstructor") + g(*LINEAR) + g("builtins", "object") + b"N\x87R."
    analysis = analyze_bytes(program)
    assert "torch.nn.modules.linear.Linear" not in dict(analysis.stored)
    (tmp_path / "p.pkl").write_bytes(program)
    assert _findings(tmp_path / "p.pkl", Severity.LOW) == []


def test_benign_whole_object_saves_stay_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.LayerNorm(4))
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    torch.save(opt, tmp_path / "adam_whole.pt")
    torch.save(opt.state_dict(), tmp_path / "adam_sd.pt")
    torch.save(model, tmp_path / "seq.pt")
    torch.save(torch.optim.swa_utils.AveragedModel(model), tmp_path / "avg.pt")
    torch.save(torch.optim.lr_scheduler.StepLR(opt, 3), tmp_path / "sched.pt")
    x = np.random.default_rng(0).random((30, 4))
    y = (x[:, 0] > 0.5).astype(int)
    joblib.dump(make_pipeline(SelectKBest(f_classif, k=2), LogisticRegression()).fit(x, y), tmp_path / "skb.joblib")
    joblib.dump(FunctionTransformer(np.log1p).fit(x), tmp_path / "ft.joblib")
    joblib.dump(make_pipeline(StandardScaler(), KNeighborsClassifier(3)).fit(x, y), tmp_path / "knn.joblib")
    joblib.dump(OneHotEncoder(dtype=np.float64).fit(np.array([["a"], ["b"]])), tmp_path / "ohe.joblib")
    for path in sorted(tmp_path.iterdir()):
        assert _findings(path, Severity.LOW) == [], path.name


# -- grading: the zip comment that ends in an end-record signature -------------------------------------------

_OS_SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR."


def test_zip_comment_ending_in_end_signature_is_read_like_torch(tmp_path: Path) -> None:
    path = tmp_path / "z1_commentsig.pt"
    path.write_bytes(_torch_zip(_OS_SYSTEM, comment=b"hello PK\x05\x06xx"))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path)  # the premise: Python's reader refuses it
    report = scan_paths([str(path)], workers=1)
    rules = {(f.rule_id, f.severity) for f in report.findings}
    assert ("WW-PKL-001", Severity.CRITICAL) in rules, rules
    # The disagreement between readers stays a finding of its own.
    assert any(f.rule_id == "WW-ARC-002" and "miniz" in f.message for f in report.findings), report.findings
    assert not report.errors


def test_plain_zip_has_no_reader_disagreement(tmp_path: Path) -> None:
    path = tmp_path / "z0_plain.pt"
    path.write_bytes(_torch_zip(_OS_SYSTEM))
    report = scan_paths([str(path)], workers=1)
    assert {f.rule_id for f in report.findings} == {"WW-PKL-001"}


def test_zip_without_any_end_record_still_cannot_be_scanned(tmp_path: Path) -> None:
    data = _torch_zip(_OS_SYSTEM)
    at = data.rfind(b"PK\x05\x06")
    path = tmp_path / "broken.pt"
    path.write_bytes(data[:at] + b"PK\x05\x07" + data[at + 4:])
    report = scan_paths([str(path)], workers=1)
    assert any(f.rule_id == "WW-ARC-002" for f in report.findings)


# -- the generator's class audit records calls on state/argument values ---------------------------------------


def test_class_audit_records_calls_on_state_and_argument_values() -> None:
    import json

    from weightwarden.picklevm.resolution import TABLE_PATH

    audit = json.loads((TABLE_PATH.parent / "class_audit.json").read_text(encoding="utf-8"))["classes"]
    # The two calls the round-7 PoCs went through, found by the generator (not typed in by hand).
    assert "setdefault" in audit["torch.optim.adam.Adam"]["value_calls"]["__setstate__"]
    assert "setdefault" in audit["torch.optim.optimizer.Optimizer"]["value_calls"]["__setstate__"]
    assert "items" in audit["torch.optim.optimizer.Optimizer"]["value_calls"]["__init__"]
    assert "deepcopy" in audit["torch.optim.swa_utils.AveragedModel"]["value_calls"]["__init__"]
    assert "pop" in audit["sklearn.base.BaseEstimator"]["value_calls"]["__setstate__"]


def test_value_call_pattern() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_resolution_table", Path(__file__).resolve().parent.parent / "scripts" / "build_resolution_table.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    code = "self.defaults.setdefault('a', 1)\nself.helper(1)\nfor g in self.groups:\n    g.pop('x')\nm = deepcopy(model)\n"
    assert gen.value_calls(code) == ["deepcopy", "iteration", "pop", "setdefault"]
    assert gen.value_calls("self.helper(1)\nfor i in range(3):\n    pass\n") == []
