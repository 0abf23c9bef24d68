"""Red team round 5 on the scanner's readers (issue 11): names were allowed by how their path is *spelled*.

``transformers.training_args.dist.FileStore`` is ``torch.distributed.FileStore`` (transformers imports
``torch.distributed`` as ``dist``), which creates the file it is given when a pickle calls it; a rule that
allowed ``<library prefix> + lowercase modules + CamelCase class`` for libraries the resolution table did not
cover called it SAFE while ``torch.distributed.FileStore`` was DANGEROUS. The fix resolves these libraries'
module aliases in the generated table and allows their classes only by an exact, hand-checked name.

* every name the red team enumerated (tests/adversarial has the loader proof: the FileStore case fires
  under pickle.load and torch.load and is detected) is not SAFE, and the ones that create files, threads,
  connections or reach ``os`` are DANGEROUS;
* the PoC pickle and the same pickle as a torch zip are critical findings;
* no name is SAFE by prefix: a made-up path under an allowed module is UNKNOWN;
* the exact list names real classes defined where listed (for the libraries installed here), the table
  records the transformers/accelerate aliases with their versions, and a real ``training_args.bin`` is clean
  while a pickle that *calls* TrainingArguments (its ``__post_init__`` has side effects) is not.
"""

from __future__ import annotations

import importlib
import inspect
import io
import warnings
import zipfile
from pathlib import Path

import pytest

from weightwarden.core.findings import Severity
from weightwarden.picklevm import analyze_bytes
from weightwarden.picklevm.policy import _LIBRARY_EXACT, REBUILD_ONLY, Verdict, classify
from weightwarden.picklevm.resolution import resolve, table
from weightwarden.scan import scan_paths

# enum2.py of the red team: paths through module aliases of transformers that classify() called SAFE.
ENUMERATED = [
    "transformers.training_args.contextlib._collections_abc.GenericAlias",
    "transformers.training_args.dist.BuiltinCommHookType",
    "transformers.training_args.dist.DebugLevel",
    "transformers.training_args.dist.DistBackendError",
    "transformers.training_args.dist.DistError",
    "transformers.training_args.dist.DistNetworkError",
    "transformers.training_args.dist.DistStoreError",
    "transformers.training_args.dist.FileStore",
    "transformers.training_args.dist.GradBucket",
    "transformers.training_args.dist.HashStore",
    "transformers.training_args.dist.Logger",
    "transformers.training_args.dist.PrefixStore",
    "transformers.training_args.dist.ProcessGroup",
    "transformers.training_args.dist.QueueEmptyError",
    "transformers.training_args.dist.Reducer",
    "transformers.training_args.dist.Store",
    "transformers.training_args.dist.TCPStore",
    "transformers.training_args.dist._Backend",
    "transformers.training_args.dist._ControlCollectives",
    "transformers.training_args.dist._StoreCollectives",
    "transformers.training_args.dist._Work",
    "transformers.training_args.dist._mesh_layout._FlatLayout",
    "transformers.training_args.dist._mesh_layout._MeshLayout",
    "transformers.training_args.dist._meta_registrations.FakeWork",
    "transformers.training_args.dist._pycute.layout.Layout",
    "transformers.training_args.dist._pycute.layout.LayoutBase",
    "transformers.training_args.dist._pycute.typing.Integer",
    "transformers.training_args.dist.algorithms.join.Join",
    "transformers.training_args.dist.algorithms.join.JoinHook",
    "transformers.training_args.dist.algorithms.join.Joinable",
    "transformers.training_args.dist.algorithms.join._JoinConfig",
    "transformers.training_args.dist.autograd.DistAutogradContext",
    "transformers.training_args.dist.c10d_logger._WaitCounter",
    "transformers.training_args.dist.device_mesh.DeviceMesh",
    "transformers.training_args.dist.device_mesh._MeshEnv",
    "transformers.training_args.dist.device_mesh.threading.Barrier",
    "transformers.training_args.dist.device_mesh.threading.BoundedSemaphore",
    "transformers.training_args.dist.device_mesh.threading.BrokenBarrierError",
    "transformers.training_args.dist.device_mesh.threading.Condition",
    "transformers.training_args.dist.device_mesh.threading.Event",
    "transformers.training_args.dist.device_mesh.threading.ExceptHookArgs",
    "transformers.training_args.dist.device_mesh.threading.Lock",
    "transformers.training_args.dist.device_mesh.threading.RLock",
    "transformers.training_args.dist.device_mesh.threading.Semaphore",
    "transformers.training_args.dist.device_mesh.threading.Thread",
    "transformers.training_args.dist.device_mesh.threading.Timer",
    "transformers.training_args.dist.device_mesh.threading._CRLock",
    "transformers.training_args.dist.device_mesh.threading._DummyThread",
    "transformers.training_args.dist.device_mesh.threading._MainThread",
    "transformers.training_args.dist.device_mesh.threading._RLock",
    "transformers.training_args.dist.device_mesh.threading._os.DirEntry",
    "transformers.training_args.dist.device_mesh.threading._os.PathLike",
    "transformers.training_args.dist.device_mesh.threading._os.WCOREDUMP",
    "transformers.training_args.dist.device_mesh.threading._os.WEXITSTATUS",
    "transformers.training_args.dist.device_mesh.threading._os.WIFCONTINUED",
    "transformers.training_args.dist.device_mesh.threading._os.WIFEXITED",
    "transformers.training_args.dist.device_mesh.threading._os.WIFSIGNALED",
    "transformers.training_args.dist.device_mesh.threading._os.WIFSTOPPED",
    "transformers.training_args.dist.device_mesh.threading._os.WSTOPSIG",
    "transformers.training_args.dist.device_mesh.threading._os.WTERMSIG",
    "transformers.training_args.dist.device_mesh.threading._os._Environ",
    "transformers.training_args.dist.distributed_c10d.AllToAllOptions",
    "transformers.training_args.dist.distributed_c10d.AllgatherOptions",
    "transformers.training_args.dist.distributed_c10d.AllreduceCoalescedOptions",
    "transformers.training_args.dist.distributed_c10d.AllreduceOptions",
    "transformers.training_args.dist.distributed_c10d.Backend",
    "transformers.training_args.dist.distributed_c10d.BackendConfig",
    "transformers.training_args.dist.distributed_c10d.BarrierOptions",
    "transformers.training_args.dist.distributed_c10d.BroadcastOptions",
    "transformers.training_args.dist.distributed_c10d.GatherOptions",
    "transformers.training_args.dist.distributed_c10d.GroupMember",
    "transformers.training_args.dist.distributed_c10d.GroupName",
    "transformers.training_args.dist.distributed_c10d.P2POp",
    "transformers.training_args.dist.distributed_c10d.ProcessGroupGloo",
    "transformers.training_args.dist.distributed_c10d.ReduceOp",
    "transformers.training_args.dist.distributed_c10d.ReduceOptions",
    "transformers.training_args.dist.distributed_c10d.ReduceScatterOptions",
    "transformers.training_args.dist.distributed_c10d.ScatterOptions",
    "transformers.training_args.dist.distributed_c10d._CoalescingManager",
    "transformers.training_args.dist.distributed_c10d._CollOp",
    "transformers.training_args.dist.distributed_c10d._DistributedBackendOptions",
    "transformers.training_args.dist.distributed_c10d._IllegalWork",
    "transformers.training_args.dist.distributed_c10d._ProcessGroupWrapper",
    "transformers.training_args.dist.distributed_c10d._TimeEstimator",
    "transformers.training_args.dist.distributed_c10d._World",
    "transformers.training_args.dist.distributed_c10d._WorldMeta",
    "transformers.training_args.dist.rpc.PyRRef",
    "transformers.training_args.dist.rpc.RemoteProfilerManager",
    "transformers.training_args.dist.rpc.RpcAgent",
    "transformers.training_args.dist.rpc.RpcBackendOptions",
    "transformers.training_args.dist.rpc.TensorPipeAgent",
    "transformers.training_args.dist.rpc.WorkerInfo",
    "transformers.training_args.dist.rpc._TensorPipeRpcBackendOptionsBase",
    "transformers.training_args.dist.rpc.api.AllGatherStates",
    "transformers.training_args.dist.rpc.api.Future",
    "transformers.training_args.dist.rpc.api.RRef",
    "transformers.training_args.dist.rpc.backend_registry.BackendType",
    "transformers.training_args.dist.rpc.backend_registry.BackendValue",
    "transformers.training_args.dist.rpc.internal.PythonUDF",
    "transformers.training_args.dist.rpc.internal.RPCExecMode",
    "transformers.training_args.dist.rpc.internal.RemoteException",
    "transformers.training_args.dist.rpc.internal._InternalRPCPickler",
    "transformers.training_args.dist.rpc.options.TensorPipeRpcBackendOptions",
    "transformers.training_args.dist.utils.dataclasses._thread.LockType",
    "transformers.training_args.json.scanner.re.enum.DynamicClassAttribute",]
# What must be critical, not merely unknown: file/connection stores, threads, os.environ, RPC.
CRITICAL = [
    "transformers.training_args.dist.FileStore",
    "transformers.training_args.dist.TCPStore",
    "transformers.training_args.dist.HashStore",
    "transformers.training_args.dist.device_mesh.threading.Thread",
    "transformers.training_args.dist.device_mesh.threading.Timer",
    "transformers.training_args.dist.device_mesh.threading._os._Environ",
    "transformers.trainer_utils.threading.Thread",
    "transformers.trainer_utils.threading.Timer",
    "transformers.training_args.dist.rpc.TensorPipeAgent",
    "transformers.training_args.dist.rpc.RpcAgent",
    "transformers.training_args.dist.rpc.PyRRef",
    "transformers.training_args.dist.rpc.internal._InternalRPCPickler",
    "transformers.training_args.dist.ProcessGroupGloo",
]


def _su(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _poc(path: str) -> bytes:
    """The red team's p1_filestore.pkl: STACK_GLOBAL('transformers.training_args', 'dist.FileStore')(path, 1)."""
    return (b"\x80\x04" + _su("transformers.training_args") + _su("dist.FileStore") + b"\x93" + _su(path)
            + b"K\x01\x86R.")


def _torch_zip(program: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", program)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/.data/serialization_id", "0123456789")
    return out.getvalue()


def test_enumerated_list_is_the_red_teams() -> None:
    assert len(set(ENUMERATED)) == len(ENUMERATED) >= 100


@pytest.mark.parametrize("name", ENUMERATED)
def test_no_enumerated_name_is_safe(name: str) -> None:
    assert classify(name).verdict is not Verdict.SAFE, classify(name)


@pytest.mark.parametrize("name", CRITICAL)
def test_stores_threads_environ_rpc_are_dangerous(name: str) -> None:
    assert classify(name).verdict is Verdict.DANGEROUS, classify(name)


@pytest.mark.parametrize("canonical", ["torch.distributed.FileStore", "threading.Thread", "os._Environ"])
def test_canonical_spellings_are_dangerous_too(canonical: str) -> None:
    assert classify(canonical).verdict is Verdict.DANGEROUS


def test_table_resolves_transformers_aliases_with_provenance() -> None:
    provenance = table()["provenance"]
    assert {"transformers", "accelerate"} <= set(provenance)
    assert resolve("transformers.training_args.dist.FileStore") == "torch.distributed.FileStore"
    assert resolve("transformers.trainer_utils.threading.Thread") == "threading.Thread"
    # only resolution: the table allowlists no class of these libraries (the exact list does)
    assert not [c for c in table()["classes"] if c.startswith(("transformers.", "accelerate.", "tokenizers."))]


@pytest.mark.parametrize(
    "name",
    [
        "transformers.training_args.foo.Bar",
        "transformers.training_args.TrainingArguments.Nested",
        "transformers.trainer_utils.enum.Enum",
        "accelerate.utils.dataclasses.os.PathLike",
        "omegaconf.dictconfig.copy.Error",
        "omegaconf.nodes.Anything",
        "pandas.core.frame.np.ndarray",
        "pandas.core.frame.Anything",
        "xgboost.sklearn.json.JSONDecoder",
        "lightgbm.sklearn.Anything",
        "catboost.core.Anything",
        "peft.tuners.lora.Anything",
        "tokenizers.Anything",
    ],
)
def test_no_name_is_safe_by_its_prefix(name: str) -> None:
    assert classify(name).verdict is not Verdict.SAFE, classify(name)


def _import(name: str):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(_LIBRARY_EXACT) + sorted(REBUILD_ONLY))
def test_exact_names_are_classes_defined_where_listed(name: str) -> None:
    """Hand-checked: where the library is installed, the name is a class *defined* in that module (so it
    is the object the loader reaches, never a re-export)."""
    module_name, _, attr = name.rpartition(".")
    try:
        module = _import(module_name)
    except ImportError:
        pytest.skip(f"{module_name.split('.')[0]} is not installed here")
    obj = getattr(module, attr, None)
    if obj is None:
        pytest.skip(f"{name}: not in this version of the library")
    assert inspect.isclass(obj), name
    assert obj.__module__ == module_name and obj.__qualname__ == attr, (obj.__module__, obj.__qualname__)


def _findings(path: Path, minimum: Severity = Severity.MEDIUM) -> list[tuple[str, str]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(minimum)]


def test_poc_pickle_and_torch_zip_are_critical(tmp_path: Path) -> None:
    program = _poc(str(tmp_path / "CANARY_filestore"))
    (tmp_path / "p1_filestore.pkl").write_bytes(program)
    (tmp_path / "p1c_filestore.pt").write_bytes(_torch_zip(program))
    for name in ("p1_filestore.pkl", "p1c_filestore.pt"):
        found = _findings(tmp_path / name, Severity.CRITICAL)
        assert any(rule == "WW-PKL-001" and "torch.distributed.FileStore" in msg for rule, msg in found), found
    assert not (tmp_path / "CANARY_filestore").exists()


def _training_args_bin(path: Path) -> None:
    import torch
    from transformers import TrainingArguments

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(TrainingArguments(output_dir=str(path.parent / "out"), report_to="none"), path)


def test_real_training_args_bin_is_clean_and_names_only_exact_classes(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    path = tmp_path / "training_args.bin"
    _training_args_bin(path)
    assert _findings(path, Severity.LOW) == []
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    analysis = analyze_bytes(data)
    names = {s.target for s in analysis.globals + analysis.calls}
    library = {n for n in names if n.startswith(("transformers.", "accelerate."))}
    assert library and library <= set(_LIBRARY_EXACT) | set(REBUILD_ONLY), library - set(_LIBRARY_EXACT)
    assert {s.opcode for s in analysis.calls if s.target in REBUILD_ONLY and s.kind == "call"} == {"NEWOBJ"}


def test_calling_a_rebuild_only_class_is_a_finding(tmp_path: Path) -> None:
    """REDUCE TrainingArguments(...) runs __post_init__ (attacker-chosen DeepSpeed config path, device setup):
    not the NEWOBJ a real training_args.bin uses, so it is reported."""
    program = (b"\x80\x04" + _su("transformers.training_args") + _su("TrainingArguments") + b"\x93"
               + _su("out") + b"\x85R.")
    path = tmp_path / "calls.pkl"
    path.write_bytes(program)
    found = _findings(path, Severity.HIGH)
    assert any(rule == "WW-PKL-002" and "TrainingArguments" in msg for rule, msg in found), found
    # and in --strict mode the rebuilt form is not accepted either
    assert classify("transformers.training_args.TrainingArguments", strict=True).verdict is Verdict.UNKNOWN
