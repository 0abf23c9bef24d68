"""Tests of the symbolic pickle machine and its policy.

Hostile programs are written opcode by opcode (nothing here ever unpickles anything); benign ones are made
with ``pickle.dumps`` / ``torch.save`` of real objects. Every malicious payload would create a canary file if
it ran; the autouse fixture checks the canary never appears.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import io
import pathlib
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.core.limits import Limits
from weightwarden.picklevm import Verdict, analyze, analyze_streams, classify, machine
from weightwarden.picklevm.model import PickleAnalysis

# --------------------------------------------------------------------------------------------------------
# Opcode helpers (protocol 2-5 binary forms).


def su(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b


def sb(b: bytes) -> bytes:
    return b"C" + bytes([len(b)]) + b if len(b) < 256 else b"B" + struct.pack("<I", len(b)) + b


def glob0(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sglob(module: str, name: str) -> bytes:
    return su(module) + su(name) + b"\x93"


P2 = b"\x80\x02"
P4 = b"\x80\x04"


@pytest.fixture(autouse=True)
def canary(tmp_path: pathlib.Path):
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload was executed"


def cmd(canary: pathlib.Path) -> str:
    return f"touch {canary}"


def sites(a: PickleAnalysis) -> dict[str, list]:
    out: dict[str, list] = collections.defaultdict(list)
    for s in a.all_sites():
        out[s.target].append(s)
    return out


def dangerous_calls(a: PickleAnalysis) -> set[str]:
    return {
        s.target
        for s in a.all_sites()
        if s.kind == "call" and classify(s.target).verdict is Verdict.DANGEROUS
    }


def run(data: bytes, **kw) -> PickleAnalysis:
    return analyze(io.BytesIO(data), **kw)


# --------------------------------------------------------------------------------------------------------
# Techniques: every one must resolve to the dangerous target.


def technique_programs(c: str) -> dict[str, tuple[bytes, str]]:
    inner = glob0("os", "system") + b"(" + su(c) + b"tR."
    return {
        "global-reduce-p0": (glob0("os", "system") + b"(S'" + c.encode() + b"'\ntR.", "os.system"),
        "posix-global": (P2 + glob0("posix", "system") + su(c) + b"\x85R.", "posix.system"),
        "stack-global": (
            P4 + sglob("subprocess", "check_output") + su("id") + b"\x85R.",
            "subprocess.check_output",
        ),
        "inst": (b"(S'" + c.encode() + b"'\nios\nsystem\n.", "os.system"),
        "obj": (b"(" + glob0("os", "system") + su(c) + b"o.", "os.system"),
        "newobj": (P2 + glob0("subprocess", "Popen") + su(c) + b"\x85\x81.", "subprocess.Popen"),
        "newobj-ex": (P4 + sglob("subprocess", "Popen") + su(c) + b"\x85}\x92.", "subprocess.Popen"),
        "memo-strings": (
            P4 + su("os") + b"\x94" + su("system") + b"\x94" + b"h\x00h\x01\x93" + su(c) + b"\x85R.",
            "os.system",
        ),
        "memo-long": (
            P2 + glob0("os", "system") + b"r\x00\x00\x01\x000j\x00\x00\x01\x00" + su(c) + b"\x85R.",
            "os.system",
        ),
        "memo-text": (glob0("os", "system") + b"p7\n0g7\n(S'x'\ntR.", "os.system"),
        "getattr-global": (
            P2
            + glob0("builtins", "getattr")
            + glob0("pathlib", "os")
            + su("system")
            + b"\x86R"
            + su(c)
            + b"\x85R.",
            "os.system",
        ),
        "getattr-import": (
            P4
            + sglob("builtins", "getattr")
            + sglob("builtins", "__import__")
            + su("os")
            + b"\x85R"
            + su("system")
            + b"\x86R"
            + su(c)
            + b"\x85R.",
            "os.system",
        ),
        "import-module": (
            P4
            + sglob("builtins", "getattr")
            + sglob("importlib", "import_module")
            + su("subprocess")
            + b"\x85R"
            + su("call")
            + b"\x86R"
            + su(c)
            + b"\x85R.",
            "subprocess.call",
        ),
        "pathlib-reexport": (P4 + sglob("pathlib", "os.system") + su(c) + b"\x85R.", "os.system"),
        "pydoc-locate": (
            P2 + glob0("pydoc", "locate") + su("os.system") + b"\x85R" + su(c) + b"\x85R.",
            "os.system",
        ),
        "pip-main": (P2 + glob0("pip", "main") + b"(" + su("install") + su("evil") + b"l\x85R.", "pip.main"),
        "runpy": (P2 + glob0("runpy", "_run_code") + su("import os") + b"}\x86R.", "runpy._run_code"),
        "exec": (
            P2 + glob0("builtins", "exec") + su(f"import os; os.system('{c}')") + b"\x85R.",
            "builtins.exec",
        ),
        "eval-py2": (glob0("__builtin__", "eval") + b"(S'1'\ntR.", "builtins.eval"),
        "marshal": (P2 + glob0("marshal", "loads") + sb(b"\xe3\x00") + b"\x85R.", "marshal.loads"),
        "function-type": (P2 + glob0("types", "FunctionType") + b"NN\x86R.", "types.FunctionType"),
        "timeit": (
            P2 + glob0("timeit", "timeit") + su(f"__import__('os').system('{c}')") + b"\x85R.",
            "timeit.timeit",
        ),
        "cprofile": (P2 + glob0("cProfile", "run") + su("1") + b"\x85R.", "cProfile.run"),
        "code-interact": (
            P2 + glob0("code", "InteractiveInterpreter") + b")R.",
            "code.InteractiveInterpreter",
        ),
        "multiprocessing": (
            P2 + glob0("multiprocessing.util", "spawnv_passfds") + b")R.",
            "multiprocessing.util.spawnv_passfds",
        ),
        "webbrowser": (P2 + glob0("webbrowser", "open") + su("http://x") + b"\x85R.", "webbrowser.open"),
        "file-io": (P2 + glob0("io", "FileIO") + su("/etc/passwd") + b"\x85R.", "io.FileIO"),
        "open": (P2 + glob0("builtins", "open") + su("/tmp/x") + su("w") + b"\x86R.", "builtins.open"),
        "socket": (
            P2 + glob0("socket", "create_connection") + b"\x8c\x01x\x85R.",
            "socket.create_connection",
        ),
        "shutil": (P2 + glob0("shutil", "rmtree") + su("/") + b"\x85R.", "shutil.rmtree"),
        "torch-load": (P2 + glob0("torch", "load") + su("x.pt") + b"\x85R.", "torch.load"),
        "numpy-runstring": (
            P2 + glob0("numpy.testing._private.utils", "runstring") + su("1") + b"}\x86R.",
            "numpy.testing._private.utils.runstring",
        ),
        "partial": (
            P2 + glob0("functools", "partial") + glob0("os", "system") + su(c) + b"\x86R)R.",
            "os.system",
        ),
        "sys-modules": (
            P2
            + glob0("builtins", "getattr")
            + glob0("operator", "getitem")
            + glob0("sys", "modules")
            + su("os")
            + b"\x86R"
            + su("system")
            + b"\x86R"
            + su(c)
            + b"\x85R.",
            "os.system",
        ),
        "nested-loads": (P2 + glob0("pickle", "loads") + sb(inner) + b"\x85R.", "os.system"),
        "nested-codecs": (
            P2
            + glob0("_pickle", "loads")
            + glob0("_codecs", "encode")
            + su(inner.decode("latin-1"))
            + su("latin1")
            + b"\x86R\x85R.",
            "os.system",
        ),
        "dill": (P2 + glob0("dill", "loads") + sb(inner) + b"\x85R.", "os.system"),
        "asyncio": (
            P2 + glob0("asyncio", "create_subprocess_shell") + su(c) + b"\x85R.",
            "asyncio.create_subprocess_shell",
        ),
        "pty": (P2 + glob0("pty", "spawn") + su("/bin/sh") + b"\x85R.", "pty.spawn"),
        "ctypes": (P2 + glob0("ctypes", "CDLL") + su("libc.so.6") + b"\x85R.", "ctypes.CDLL"),
        "setattr": (
            P2 + glob0("builtins", "setattr") + glob0("os", "sep") + su("x") + su("y") + b"\x87R.",
            "builtins.setattr",
        ),
        "attrgetter": (
            P2 + glob0("operator", "attrgetter") + su("system") + b"\x85R.",
            "operator.attrgetter",
        ),
        "copyreg-add-ext": (
            P2 + glob0("copyreg", "add_extension") + su("os") + su("system") + b"K\x05\x87R.",
            "copyreg.add_extension",
        ),
        "anything-os-system": (P4 + sglob("numpy", "testing.os.system") + su(c) + b"\x85R.", "os.system"),
    }


@pytest.mark.parametrize("name", sorted(technique_programs("x")))
def test_technique_detected(name: str, canary: pathlib.Path) -> None:
    data, target = technique_programs(cmd(canary))[name]
    a = run(data)
    found = sites(a)
    assert a.error is None, a.error
    assert target in found, sorted(found)
    assert classify(target).verdict is Verdict.DANGEROUS
    assert dangerous_calls(a), name


def test_getattr_resolves_global() -> None:
    data = P4 + sglob("builtins", "getattr") + sglob("os", "path") + su("join") + b"\x86R)R."
    a = run(data)
    assert "os.path.join" in sites(a)
    s = [s for s in a.all_sites() if s.target == "os.path.join" and s.kind == "import"][0]
    assert s.computed


def test_getattr_on_import_result_is_computed(canary: pathlib.Path) -> None:
    data, _ = technique_programs(cmd(canary))["getattr-import"]
    a = run(data)
    calls = [s for s in a.calls if s.target == "os.system"]
    assert calls and calls[0].computed and cmd(canary) in calls[0].args


def test_pathlib_reexport_and_suffix_rule() -> None:
    a = run(P4 + sglob("pathlib", "os.system") + su("id") + b"\x85R.")
    site = a.globals[0]
    assert site.target == "os.system" and site.computed and "pathlib.os.system" in site.args
    assert classify("some.vendor.module.os.system").verdict is Verdict.DANGEROUS
    assert classify("mypkg.utils.subprocess.Popen").verdict is Verdict.DANGEROUS
    assert classify("scipy.signal.windows.hann").verdict is not Verdict.DANGEROUS


def test_ext_opcodes() -> None:
    for op in (b"\x82\x05", b"\x83\x05\x01", b"\x84\x05\x00\x01\x00"):
        a = run(P2 + op + b")R.")
        target = a.globals[0].target
        assert target.startswith("<copyreg extension") and a.globals[0].computed
        assert a.calls[0].target == target
        assert classify(target).verdict is Verdict.UNKNOWN


def test_stack_global_over_computed_strings() -> None:
    # module name produced by a call: cannot be known statically
    data = P4 + sglob("builtins", "str") + su("os") + b"\x85R" + su("system") + b"\x93" + su("id") + b"\x85R."
    a = run(data)
    assert "<computed>" in sites(a)
    assert classify("<computed>").verdict is Verdict.UNKNOWN


def test_nested_pickle_depth_limit() -> None:
    payload = glob0("os", "system") + b"(S'id'\ntR."
    for _ in range(6):
        payload = P2 + glob0("pickle", "loads") + sb(payload) + b"\x85R."
    a = run(payload, limits=Limits(max_nested_pickle_depth=3))
    assert a.limit_hit == "max_nested_pickle_depth" or any(
        n.limit_hit == "max_nested_pickle_depth" for n in _walk(a)
    )
    deep = run(payload)  # default depth 4 < 6 levels: the innermost is not reached
    assert "os.system" not in sites(deep)
    shallow = run(payload, limits=Limits(max_nested_pickle_depth=10))
    assert "os.system" in sites(shallow)


def _walk(a: PickleAnalysis):
    yield a
    for n in a.nested:
        yield from _walk(n)


def test_nested_torch_zip_bytes(canary: pathlib.Path) -> None:
    inner = glob0("os", "system") + b"(S'" + cmd(canary).encode() + b"'\ntR."
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("archive/data.pkl", inner)
    data = (
        P2
        + glob0("torch.storage", "_load_from_bytes")
        + b"B"
        + struct.pack("<I", len(zbuf.getvalue()))
        + zbuf.getvalue()
        + b"\x85R."
    )
    a = run(data)
    assert "os.system" in sites(a)


def test_build_sites() -> None:
    # evil.Payload() then BUILD with a state dict: __setstate__ of an unknown class runs code
    data = P2 + glob0("evil", "Payload") + b")\x81}" + su("cmd") + su("x") + b"sb."
    a = run(data)
    builds = [s for s in a.calls if s.kind == "build"]
    assert builds and builds[0].target == "evil.Payload"
    # numpy object reconstructed then BUILD: build site names numpy.ndarray (allowlisted class)
    arr = run(pickle.dumps(np.arange(3), protocol=2))
    assert any(s.kind == "build" and s.target == "numpy.ndarray" for s in arr.calls)
    # BUILD on a module-level object (patches a module attribute)
    patch = run(P2 + glob0("os", "environ") + b"}" + su("LD_PRELOAD") + su("/tmp/x.so") + b"sb.")
    assert any(s.kind == "build" and s.target == "os.environ" for s in patch.calls)


def test_copyreg_reconstructor_reports_class() -> None:
    data = (
        P2
        + glob0("copy_reg", "_reconstructor")
        + glob0("evil", "Thing")
        + glob0("__builtin__", "object")
        + b"N\x87R."
    )
    a = run(data)
    calls = {s.target for s in a.calls}
    assert "evil.Thing" in calls and "copyreg._reconstructor" in calls


# --------------------------------------------------------------------------------------------------------
# Malformed input and bounds


def test_parse_error_after_dangerous_call_keeps_it(canary: pathlib.Path) -> None:
    good = glob0("os", "system") + b"(S'" + cmd(canary).encode() + b"'\ntR"
    for tail in (b"\xff", b"J\x01", b"h\x09.", b"0000.", b""):
        a = run(good + tail)
        assert a.error is not None and a.end is None
        assert "os.system" in dangerous_calls(a)


def test_error_kinds() -> None:
    assert "invalid opcode" in run(b"\xff").error
    assert "underflow" in run(b"R.").error
    assert "memo key 5" in run(b"h\x05.").error
    assert "truncated" in run(b"X\xff\x00\x00\x00ab").error
    assert "truncated" in run(b"cos\nsys").error
    assert run(b"\x80\x09.").error  # unsupported protocol
    assert run(b"(t.").error is None


def test_deep_pickles_stop_cleanly() -> None:
    a = run(b"(" * 1_000_100 + b".")
    assert a.limit_hit == "max_pickle_stack" and a.error is None
    b = run(b"]" * 1_000_500 + b".")
    assert b.limit_hit == "max_pickle_stack"
    c = run(b"(]" * 600_000 + b".")
    assert c.limit_hit == "max_pickle_stack"
    small = run(b"]" * 100 + b"e" * 50 + b".", limits=Limits(max_pickle_stack=10))
    assert small.limit_hit == "max_pickle_stack"


def test_deep_nested_list_without_marks_is_fine() -> None:
    # 10^5 nested lists built with APPEND: walks without recursion
    data = P2 + b"]" * 100_000 + b"a" * 99_999 + b"."
    a = run(data)
    assert a.error is None and a.limit_hit is None


def test_memo_and_opcode_limits() -> None:
    data = P2 + b"N" + b"".join(b"r" + struct.pack("<I", i) for i in range(3000)) + b"."
    assert run(data, limits=Limits(max_pickle_memo=1000)).limit_hit == "max_pickle_memo"
    assert run(data).error is None
    assert (
        run(b"N" + b"2" * 5000 + b".", limits=Limits(max_pickle_opcodes=1000)).limit_hit
        == "max_pickle_opcodes"
    )
    assert run(b"\x94" * 3000, limits=Limits(max_pickle_memo=10)).error  # MEMOIZE on an empty stack


def test_max_pickle_bytes() -> None:
    data = P2 + b"N" + b"0N" * (3 * 1024 * 1024) + b"."
    a = run(data, limits=Limits(max_pickle_bytes=1024 * 1024))
    assert a.limit_hit == "max_pickle_bytes"


def test_large_literals_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "KEEP_WHOLE", 64)
    monkeypatch.setattr(machine, "NESTED_KEEP_MAX", 4096)
    blob = b"\x00" * 10_000
    data = (
        P2 + b"B" + struct.pack("<I", len(blob)) + blob + b"0" + glob0("os", "system") + su("id") + b"\x85R."
    )
    a = run(data)
    assert a.error is None and "os.system" in sites(a)
    assert any("not kept" in n for n in a.notes)
    # a large bytes literal that is a pickle is still analysed when handed to pickle.loads
    inner = P2 + glob0("os", "system") + su("id") + b"\x85R." + b"N" * 2000 + b"."
    data = P2 + glob0("pickle", "loads") + b"B" + struct.pack("<I", len(inner)) + inner + b"\x85R."
    assert "os.system" in sites(run(data))
    # too large for nested analysis: noted, not kept
    big = P2 + b"N" * 8000 + b"."
    data = P2 + glob0("pickle", "loads") + b"\x8e" + struct.pack("<Q", len(big)) + big + b"\x85R."
    a = run(data)
    assert a.error is None and any("too large" in n for n in a.notes)


def test_offsets_are_absolute_and_stream_left_after_stop() -> None:
    prog = P2 + glob0("os", "system") + su("id") + b"\x85R."
    f = io.BytesIO(b"JUNK" + prog + b"AFTER")
    f.seek(4)
    a = analyze(f, base_offset=1000)
    assert a.start == 1004 and a.end == 1004 + len(prog)
    assert a.globals[0].offset == 1006
    assert f.read() == b"AFTER"


def test_analyze_streams_multiple_and_trailing() -> None:
    data = (
        pickle.dumps(1)
        + pickle.dumps({"a": [1, 2]})
        + pickle.dumps("x", protocol=0)
        + b"\x00\x01trailing garbage"
    )
    r = analyze_streams(io.BytesIO(data))
    assert len(r.programs) == 3 and all(p.error is None for p in r.programs)
    assert r.trailing_offset == len(data) - 18 and r.trailing_bytes == 18
    clean = analyze_streams(io.BytesIO(pickle.dumps(1) + pickle.dumps(2)))
    assert clean.trailing_offset is None and len(clean.programs) == 2
    # a later program that names a global before failing is kept, not called trailing data
    bad = pickle.dumps(1) + glob0("os", "system") + b"(S'id'\ntR"
    r = analyze_streams(io.BytesIO(bad))
    assert len(r.programs) == 2 and r.programs[1].error and "os.system" in sites(r.programs[1])


# --------------------------------------------------------------------------------------------------------
# Benign objects from real libraries


class _Plain:
    def __init__(self) -> None:
        self.a = 1


BENIGN_VALUES = [
    {"a": [1, 2.5, "x", b"y", None, True], "b": (1, (2, 3)), "s": {1, 2}, "f": frozenset({3})},
    collections.OrderedDict(a=1),
    collections.defaultdict(list, a=[1]),
    collections.Counter("abc"),
    datetime.datetime(2020, 1, 2, 3, 4, 5),
    np.arange(10, dtype=np.float32).reshape(2, 5),
    np.array(["a", "b"], dtype=object),
    np.float64(1.5),
    bytearray(b"xyz"),
    list(range(3000)),
    "é" * 70_000,
    2**100,
]


@pytest.mark.parametrize("proto", range(6))
def test_protocols_roundtrip_clean(proto: int) -> None:
    for value in BENIGN_VALUES:
        data = pickle.dumps(value, protocol=proto)
        a = run(data)
        assert a.error is None and a.limit_hit is None, (value, a.error)
        assert a.end == len(data)
        assert a.opcodes == sum(1 for _ in pickletools.genops(data))
        bad = {s.target for s in a.all_sites() if classify(s.target).verdict is not Verdict.SAFE}
        assert not bad, (proto, bad)


def _torch_data_pkl(obj) -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(buf) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        return zf.read(name)


def test_torch_state_dict_is_safe_and_fast() -> None:
    torch = pytest.importorskip("torch")
    sd = collections.OrderedDict((f"layer{i}.weight", torch.zeros(2, 2)) for i in range(3000))
    sd["p"] = torch.nn.Parameter(torch.ones(2))
    sd["bf16"] = torch.ones(2, dtype=torch.bfloat16)
    data = _torch_data_pkl(sd)
    a = run(data)
    assert a.error is None and a.persistent_ids == 3002
    for strict in (False, True):
        bad = {
            s.target for s in a.all_sites() if classify(s.target, strict=strict).verdict is not Verdict.SAFE
        }
        assert not bad, bad
    pids: list = []
    analyze(io.BytesIO(data), persistent_ids=pids)
    assert pids[0][0] == "storage" and pids[0][1] == "torch.FloatStorage"


def test_whole_module_and_lightning_checkpoint() -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    hparams = argparse.Namespace(lr=0.1, layers=3, data_dir=pathlib.Path("/data"))
    ckpt = {
        "epoch": 3,
        "global_step": 10,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": model.state_dict(),
        "optimizer_states": [torch.optim.Adam(model.parameters()).state_dict()],
        "lr_schedulers": [],
        "hyper_parameters": {"args": hparams, "started": datetime.datetime(2024, 1, 1)},
        "hparams_name": "args",
    }
    for obj in (model, ckpt):
        a = run(_torch_data_pkl(obj))
        bad = {s.target for s in a.all_sites() if classify(s.target).verdict is not Verdict.SAFE}
        assert a.error is None and not bad, bad
    strict = run(_torch_data_pkl(ckpt))
    assert classify("argparse.Namespace", strict=True).verdict is Verdict.UNKNOWN
    assert any(s.target == "argparse.Namespace" for s in strict.all_sites())


def test_sklearn_pipeline_is_safe() -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_selection import SelectKBest
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).random((40, 4))
    y = np.array(["a", "b"] * 20)
    for est in (
        Pipeline(
            [
                ("log", FunctionTransformer(np.log1p)),
                ("k", SelectKBest(k=2)),
                ("s", StandardScaler()),
                ("lr", LogisticRegression()),
            ]
        ),
        RandomForestClassifier(n_estimators=3),
        GradientBoostingClassifier(n_estimators=3),
        DecisionTreeClassifier(),
    ):
        est.fit(X, y)
        for proto in (2, 4, 5):
            a = run(pickle.dumps(est, protocol=proto))
            bad = {s.target for s in a.all_sites() if classify(s.target).verdict is not Verdict.SAFE}
            assert a.error is None and not bad, (est, bad)


# --------------------------------------------------------------------------------------------------------
# Policy


@pytest.mark.parametrize(
    ("target", "verdict"),
    [
        ("torch._utils._rebuild_tensor_v2", Verdict.SAFE),
        ("torch.FloatStorage", Verdict.SAFE),
        ("torch.bfloat16", Verdict.SAFE),
        ("numpy.core.multiarray._reconstruct", Verdict.SAFE),
        ("numpy._core.multiarray._reconstruct", Verdict.SAFE),
        ("collections.OrderedDict", Verdict.SAFE),
        ("_codecs.encode", Verdict.SAFE),
        ("sklearn.tree._tree.Tree", Verdict.SAFE),
        ("sklearn.preprocessing._data.StandardScaler", Verdict.SAFE),
        ("sklearn.pipeline.Pipeline", Verdict.SAFE),
        ("argparse.Namespace", Verdict.SAFE),
        ("pathlib.PosixPath", Verdict.SAFE),
        ("joblib.numpy_pickle.NumpyArrayWrapper", Verdict.SAFE),
        ("numpy.random._pickle.__randomstate_ctor", Verdict.SAFE),
        ("sklearn.datasets.fetch_openml", Verdict.UNKNOWN),
        ("sklearn.utils._testing.TempMemmap", Verdict.UNKNOWN),
        ("pandas.io.pytables.HDFStore", Verdict.DANGEROUS),  # reached through a module named io: opens files
        ("collections.namedtuple", Verdict.UNKNOWN),
        ("mymodule.MyClass", Verdict.UNKNOWN),
        ("pathlib.Path.write_text", Verdict.DANGEROUS),
        ("pathlib.PosixPath.unlink", Verdict.DANGEROUS),
        ("os.system", Verdict.DANGEROUS),
        ("nt.system", Verdict.DANGEROUS),
        ("__builtin__.eval", Verdict.DANGEROUS),
        ("__builtins__.exec", Verdict.DANGEROUS),
        ("builtins.getattr", Verdict.DANGEROUS),
        ("pip._internal.cli.main.main", Verdict.DANGEROUS),
        ("pydoc.pipepager", Verdict.DANGEROUS),
        ("importlib.import_module", Verdict.DANGEROUS),
        ("torch.hub.load", Verdict.DANGEROUS),
        ("torch.utils.cpp_extension.load_inline", Verdict.DANGEROUS),
        ("numpy.f2py.compile", Verdict.DANGEROUS),
        ("copy_reg.add_extension", Verdict.DANGEROUS),
        ("functools.reduce", Verdict.DANGEROUS),
        ("requests.get", Verdict.DANGEROUS),
        ("urllib.request.urlopen", Verdict.DANGEROUS),
        ("tempfile.mkstemp", Verdict.DANGEROUS),
        ("sys.modules", Verdict.DANGEROUS),
        ("<computed>", Verdict.UNKNOWN),
    ],
)
def test_classify(target: str, verdict: Verdict) -> None:
    result = classify(target)
    assert result.verdict is verdict, (target, result)
    assert result.reason


def test_strict_allowlist() -> None:
    assert classify("torch._utils._rebuild_tensor_v2", strict=True).verdict is Verdict.SAFE
    assert classify("torch.HalfStorage", strict=True).verdict is Verdict.SAFE
    assert classify("collections.OrderedDict", strict=True).verdict is Verdict.SAFE
    assert classify("sklearn.pipeline.Pipeline", strict=True).verdict is Verdict.UNKNOWN
    assert classify("os.system", strict=True).verdict is Verdict.DANGEROUS


# --------------------------------------------------------------------------------------------------------
# Fuzz: any bytes give an analysis, never an exception; real pickles parse exactly like pickletools.


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    a = run(data)
    assert a.error is not None or a.end is not None or a.limit_hit is not None


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=5), inner, max_size=5)
        | st.tuples(inner, inner)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_json, st.integers(0, 5))
def test_fuzz_real_pickles(value, proto: int) -> None:
    data = pickle.dumps(value, protocol=proto)
    a = run(data)
    assert a.error is None and a.end == len(data)
    assert a.opcodes == sum(1 for _ in pickletools.genops(data))


@settings(max_examples=200, deadline=None)
@given(_json, st.integers(0, 5), st.data())
def test_fuzz_mutated_pickles(value, proto: int, data) -> None:
    raw = bytearray(pickle.dumps(value, protocol=proto))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    a = run(bytes(raw[:cut]))
    assert isinstance(a, PickleAnalysis)


def test_more_resolution_paths(canary: pathlib.Path) -> None:
    # getattr on an instance of an allowlisted class reaches its I/O method
    data = (
        P4
        + sglob("builtins", "getattr")
        + sglob("pathlib", "Path")
        + su(str(canary))
        + b"\x85R"
        + su("touch")
        + b"\x86R)R."
    )
    a = run(data)
    assert "pathlib.Path.touch" in {s.target for s in a.calls}
    assert classify("pathlib.Path.touch").verdict is Verdict.DANGEROUS
    # builtins.__dict__['eval'] through operator.getitem
    data = (
        P2
        + glob0("operator", "getitem")
        + glob0("builtins", "__dict__")
        + su("eval")
        + b"\x86R"
        + su("1")
        + b"\x85R."
    )
    assert "builtins.eval" in {s.target for s in run(data).calls}
    # NumPy 1.x ufunc pickles name their ufunc literally: not a computed name
    a = run(P2 + glob0("numpy.core", "_ufunc_reconstruct") + su("numpy") + su("log1p") + b"\x86R.")
    site = next(s for s in a.globals if s.target == "numpy.log1p")
    assert not site.computed and classify("numpy.log1p").verdict is Verdict.SAFE
    # dotted qualnames that walk into interpreter internals
    assert classify("torch._utils._rebuild_tensor_v2.__globals__").verdict is Verdict.DANGEROUS
    assert classify("builtins.object.__subclasses__").verdict is Verdict.DANGEROUS


def test_unseekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            chunk = self._b.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    data = pickle.dumps({"a": np.arange(10), "b": b"x" * 200_000, "s": "y" * 300_000}) + b"tail"
    a = analyze(Pipe(data))
    assert a.error is None and a.end == len(data) - 4
    evil = (
        P2
        + b"B"
        + struct.pack("<I", 100_000)
        + b"\x01" * 100_000
        + b"0"
        + glob0("os", "system")
        + su("id")
        + b"\x85R."
    )
    assert "os.system" in sites(analyze(Pipe(evil)))


def test_self_referencing_values_stay_bounded() -> None:
    from weightwarden.picklevm import analyze_value

    data = P2 + b"]q\x00(" + b"h\x00" * 200_000 + b"e."
    a, value = analyze_value(io.BytesIO(data))
    assert a.error is None and isinstance(value, list)
    pids: list = []
    persid = P2 + b"]q\x00(" + b"h\x00" * 50_000 + b"eQ."
    analyze(io.BytesIO(persid), persistent_ids=pids)
    assert len(pids) == 1
    keys = analyze_value(io.BytesIO(pickle.dumps(["k1", "k2"], protocol=2)))[1]
    assert keys == ["k1", "k2"]
