"""Issue 11, "What it must show" 2: no canary ever fires under hypothesis fuzzing of every reader.

One property per unit that reads untrusted bytes, so that a count of examples is a count *per reader*:

* every reader module named in :data:`READER_MODULES` (``test_fuzz_reader[<module>]``): mutations of the
  seeds that sniff to that reader, and random bytes behind every magic; the module's ``read()`` is called
  directly (it may raise only what it documents) and the file is also read through ``read_source``;
* the sniff/dispatch path (``test_fuzz_dispatch``): mutations of any seed, splices of two seeds (polyglots),
  random bytes, under model-file names;
* the Keras config analysis (``test_fuzz_keras_config``, reached from ``.keras``/``.h5``/SavedModel), fed
  generated JSON values shaped like Keras configs;
* the chat-template scan (``test_fuzz_templates``, :func:`weightwarden.scan.templates.analyze_template`), fed
  generated Jinja-like sources built from the tokens real templates and SSTI payloads use;
* the symbolic pickle machine (``test_fuzz_picklevm``): generated opcode programs, mutated pickles and
  random bytes, through ``analyze`` and ``analyze_streams``.

Canaries: several seeds are pickles (bare, in a torch zip, a tar, a gzip and a joblib container, behind a
legacy torch magic) and a template whose payload would create :data:`CANARY` if it were ever executed or
rendered; mutations keep most of them intact. After every example the canary must be absent.

Audit hook: with ``WW_FUZZ_AUDIT=1`` the module arms :mod:`tests.fuzz_guard` after a warm-up (a process of
its own: audit hooks cannot be removed); every example then also asserts that no process was started, no
code executed or compiled, no unexpected module imported and nothing written outside the temp folder.
``test_fuzz_under_audit_hook`` runs this module that way in a child at a small count, as part of the normal
suite; ``benchmarks/fuzz_readers.py`` (``make fuzz``) runs each property at 10^4 examples.

``WW_FUZZ_EXAMPLES`` sets examples per property (default 60); ``WW_FUZZ_STATS`` names a JSON file to which
the number of examples each property ran is written at the end (the benchmark reads it).
"""

from __future__ import annotations

import atexit
import bz2
import importlib
import io
import json
import lzma
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzz_guard
from tests.corpus.pickleasm import Asm, Glob, call_program
from tests.test_fuzz_readers import (
    DOCUMENTED_RAISES,
    MAGICS,
    SEEDS,
    _check_entry,
    ctx,
    mutated,
    seed,
    seed_format,
    source,
)
from weightwarden.artifact.loader import MODEL_EXTENSIONS, read_source
from weightwarden.artifact.model import Format
from weightwarden.artifact.readers import READER_MODULES
from weightwarden.artifact.sniff import TORCH_LEGACY_MAGIC, sniff

EXAMPLES = int(os.environ.get("WW_FUZZ_EXAMPLES", "60"))
AUDIT = os.environ.get("WW_FUZZ_AUDIT") == "1"
if os.environ.get("WW_FUZZ_CANARY_DIR"):
    CANARY_DIR = Path(os.environ["WW_FUZZ_CANARY_DIR"])
else:
    CANARY_DIR = Path(tempfile.mkdtemp(prefix="ww-fuzz-canary-"))
    atexit.register(shutil.rmtree, CANARY_DIR, True)
CANARY = CANARY_DIR / "fired"
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),  # generous on a loaded 2-core machine: catches hangs, not slowness
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
RAN: Counter[str] = Counter()  # examples run per property (written to WW_FUZZ_STATS)


# -- canary seeds: payloads that would create CANARY if anything executed them ---------------------------


def _canary_system() -> bytes:
    return call_program(2, Glob("os", "system"), f"touch {CANARY}")


def _canary_open() -> bytes:
    return call_program(4, Glob("builtins", "open"), str(CANARY), "w")


def _canary_exec() -> bytes:
    return call_program(3, Glob("builtins", "exec"), f"open({str(CANARY)!r}, 'w').close()")


def _canary_torch_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", _canary_system())
        zf.writestr("archive/version", b"3\n")
        zf.writestr("archive/byteorder", b"little")
    return buf.getvalue()


def _canary_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("m/config.json", b'{"a": 1}'), ("m/data.pkl", _canary_open())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _canary_joblib() -> bytes:
    payload = _canary_exec()
    return b"ZF" + hex(len(payload)).encode().ljust(19) + zlib.compress(payload)


def _canary_legacy() -> bytes:
    return TORCH_LEGACY_MAGIC + _canary_system()


def _canary_npy_object() -> bytes:
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + _canary_open()


def _npz() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, a=np.arange(4, dtype=np.int16), b=np.ones((2, 2)))
    return buf.getvalue()


def _keras_zip() -> bytes:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2, "activation": "relu"}},
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}},
                },
            ],
        },
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        zf.writestr("model.weights.h5", seed("h5"))
    return buf.getvalue()


SSTI = "{{ cycler.__init__.__globals__.os.system('touch %s') }}"


def _template() -> bytes:
    return (
        "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>' + message['content'] }}"
        "{% elif message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}{% endgeneration %}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}\n" + SSTI % CANARY
    ).encode()


def _hf_config() -> bytes:
    return json.dumps(
        {"architectures": ["X"], "auto_map": {"AutoModel": "modeling_x.XModel"}, "hidden_size": 8}
    ).encode()


def _bz2_pickle() -> bytes:
    return bz2.compress(_canary_system())


def _xz_pickle() -> bytes:
    return lzma.compress(_canary_open())


def _zlib_pickle() -> bytes:
    return zlib.compress(pickle.dumps([1, 2, {"a": 3}], protocol=2))


def _lz4_pickle() -> bytes:
    lz4_frame = pytest.importorskip("lz4.frame")
    return lz4_frame.compress(_canary_exec())


# name -> (display name, builder); the seeds of tests/test_fuzz_readers.py are used as well.
EXTRA_SEEDS: dict[str, tuple[str, object]] = {
    "canary-system": ("evil.pkl", _canary_system),
    "canary-open": ("evil.pickle", _canary_open),
    "canary-exec": ("evil.bin", _canary_exec),
    "canary-torch-zip": ("evil.pt", _canary_torch_zip),
    "canary-tar": ("evil.tar", _canary_tar),
    "canary-joblib": ("evil.joblib", _canary_joblib),
    "canary-legacy": ("evil.pth", _canary_legacy),
    "canary-npy": ("evil.npy", _canary_npy_object),
    "npz": ("arrays.npz", _npz),
    "keras-zip": ("model.keras", _keras_zip),
    "template": ("chat_template.jinja", _template),
    "hf-config": ("config.json", _hf_config),
    "bz2-pickle": ("model.pkl.bz2", _bz2_pickle),
    "xz-pickle": ("model.pkl.xz", _xz_pickle),
    "zlib-pickle": ("model.joblib", _zlib_pickle),
    "lz4-pickle": ("model.joblib", _lz4_pickle),
}


def all_seed_names() -> list[str]:
    return sorted(SEEDS) + sorted(EXTRA_SEEDS)


def display(name: str) -> str:
    return SEEDS[name][0] if name in SEEDS else EXTRA_SEEDS[name][0]


@cache
def seed_bytes(name: str) -> bytes:
    if name in SEEDS:
        return seed(name)
    return EXTRA_SEEDS[name][1]()  # type: ignore[operator]


@cache
def format_of(name: str) -> Format:
    if name in SEEDS:
        return seed_format(name)
    return sniff(source(seed_bytes(name), display(name)))


READERS = sorted(set(READER_MODULES.values()))


@cache
def seeds_of(module_name: str) -> tuple[str, ...]:
    """The seeds dispatch hands to ``module_name``."""
    return tuple(n for n in all_seed_names() if READER_MODULES.get(format_of(n)) == module_name)


@st.composite
def mutated_seed(draw: st.DrawFn, names: tuple[str, ...]) -> tuple[bytes, str]:
    name = draw(st.sampled_from(names))
    data = seed_bytes(name)
    if name in SEEDS:
        return draw(mutated(name)), display(name)
    # The same mutations as tests/test_fuzz_readers.py's, applied to the extra seeds (never mutate in place).
    blob = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "huge", "dup", "zero", "append"]))
        if not blob:
            blob += draw(st.binary(max_size=64))
            continue
        pos = draw(st.integers(0, len(blob) - 1))
        if op == "flip":
            blob[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del blob[pos:]
        elif op == "splice":
            blob[pos : pos + draw(st.integers(0, 32))] = draw(st.binary(min_size=1, max_size=32))
        elif op == "huge":
            fmt = draw(st.sampled_from(["<I", "<Q", ">I", ">Q"]))
            value = draw(st.sampled_from([2**31 - 1, 2**32 - 1, 2**63 - 1, 10 * 2**30]))
            packed = struct.pack(fmt, value & (0xFFFFFFFF if fmt.endswith("I") else 2**64 - 1))
            blob[pos : pos + len(packed)] = packed
        elif op == "dup":
            blob[pos:pos] = blob[pos : min(len(blob), pos + draw(st.integers(1, 256)))]
        elif op == "zero":
            end = min(len(blob), pos + draw(st.integers(1, 64)))
            blob[pos:end] = bytes(end - pos)
        else:
            blob += draw(st.binary(min_size=1, max_size=64))
    return bytes(blob), display(name)


def random_behind_magic() -> st.SearchStrategy[tuple[bytes, str]]:
    names = st.sampled_from(sorted(MODEL_EXTENSIONS)).map(lambda ext: "random" + ext)
    return st.tuples(
        st.tuples(st.sampled_from(MAGICS), st.binary(max_size=2048)).map(lambda mt: mt[0] + mt[1]), names
    )


# -- the per-example checks: canary, audit log --------------------------------------------------------------


def _after_example(prop: str) -> None:
    RAN[prop] += 1
    assert not CANARY.exists(), f"CANARY FIRED during {prop}: {CANARY}"
    assert not fuzz_guard.VIOLATIONS, f"audit hook: {fuzz_guard.VIOLATIONS[:5]}"


@pytest.fixture(scope="module", autouse=True)
def _guarded() -> object:
    """Warm up, arm the audit hook when asked, and write the per-property counts at the end."""
    if AUDIT:
        _warm_up()
        fuzz_guard.arm([tempfile.gettempdir(), CANARY_DIR], os.environ["WW_FUZZ_AUDIT_LOG"])
    yield
    if AUDIT:
        assert fuzz_guard.is_armed()
        fuzz_guard.disarm()
    stats = os.environ.get("WW_FUZZ_STATS")
    if stats:
        Path(stats).write_text(json.dumps(dict(RAN, _audit_events_judged=fuzz_guard.EVENTS_JUDGED)))
    assert not CANARY.exists(), f"CANARY FIRED: {CANARY}"


def _warm_up() -> None:
    """Everything a read may import or build lazily, done once before the hook is armed."""
    from weightwarden.artifact.readers import keras_config
    from weightwarden.picklevm import analyze_streams
    from weightwarden.scan.templates import analyze_template

    for module in READERS:
        importlib.import_module(f"weightwarden.artifact.readers.{module}")
    for name in all_seed_names():
        read_source(source(seed_bytes(name), display(name)), ctx())
    analyze_template(_template().decode())
    keras_config.analyze_config({"class_name": "Lambda", "config": {}})
    analyze_streams(io.BytesIO(_canary_system()))


# -- 1. every reader -----------------------------------------------------------------------------------------


def test_every_reader_has_seeds() -> None:
    """Each reader module is reached by at least one seed (so its property mutates real files)."""
    missing = [m for m in READERS if not seeds_of(m)]
    assert not missing, f"readers without a seed: {missing}"


@pytest.mark.parametrize("module_name", READERS)
@FUZZ
@given(data=st.data())
def test_fuzz_reader(module_name: str, data: st.DataObject) -> None:
    blob, name = data.draw(mutated_seed(seeds_of(module_name)) | random_behind_magic())
    module = importlib.import_module(f"weightwarden.artifact.readers.{module_name}")
    with fuzz_guard.reading():
        try:
            _check_entry(module.read(source(blob, name), ctx()))
        except DOCUMENTED_RAISES[module_name]:
            pass
        _check_entry(read_source(source(blob, name), ctx()))
    _after_example(f"reader:{module_name}")


# -- 2. sniff and dispatch -----------------------------------------------------------------------------------


@st.composite
def polyglot(draw: st.DrawFn) -> tuple[bytes, str]:
    """The head of one seed spliced onto (or into) another: files two readers might claim."""
    a, b = draw(st.sampled_from(all_seed_names())), draw(st.sampled_from(all_seed_names()))
    head = seed_bytes(a)[: draw(st.integers(0, 4096))]
    tail = seed_bytes(b)
    at = draw(st.integers(0, len(tail)))
    return tail[:at] + head + tail[at:] if draw(st.booleans()) else head + tail, draw(
        st.sampled_from([display(a), display(b), "file.bin"])
    )


@FUZZ
@given(data=st.data())
def test_fuzz_dispatch(data: st.DataObject) -> None:
    blob, name = data.draw(mutated_seed(tuple(all_seed_names())) | random_behind_magic() | polyglot())
    src = source(blob, name)
    with fuzz_guard.reading():
        fmt = sniff(src)
        entry = _check_entry(read_source(src, ctx()))
    assert isinstance(fmt, Format)
    assert entry.format is not None
    _after_example("dispatch")


# -- 3. Keras configs ----------------------------------------------------------------------------------------

_KERAS_WORDS = ["class_name", "config", "module", "registered_name", "layers", "function", "Lambda", "Dense",
                "TFOpLambda", "keras.layers", "keras.utils", "builtins", "os", "__lambda__", "code", "name",
                "function_type", "lambda", "inbound_nodes", "__tuple__", "value", "shared_object_id"]
_json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.sampled_from(_KERAS_WORDS) | st.text(max_size=24)
)
keras_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=6)
    | st.dictionaries(st.sampled_from(_KERAS_WORDS) | st.text(max_size=10), inner, max_size=6),
    max_leaves=60,
)


@FUZZ
@given(config=keras_values, prefix=st.sampled_from(["", "config.json", "model_config."]))
def test_fuzz_keras_config(config: object, prefix: str) -> None:
    from weightwarden.artifact.readers.keras_config import analyze_config

    with fuzz_guard.reading():
        code, anomalies = analyze_config(config, prefix)
    assert isinstance(code, list) and isinstance(anomalies, list)
    for item in anomalies:
        assert item.code and "." in item.code
    _after_example("keras_config")


# -- 4. chat templates ---------------------------------------------------------------------------------------

_NAMES = ["messages", "message", "m", "loop", "x", "y", "ns", "tools", "lipsum", "cycler", "joiner", "namespace",
          "range", "dict", "self", "config", "request", "os", "raise_exception", "add_generation_prompt"]
_ATTRS = ["__class__", "__mro__", "__subclasses__", "__globals__", "__init__", "__builtins__", "__import__",
          "role", "content", "items", "keys", "append", "index", "first", "last", "f_globals", "gi_frame", "mro",
          "_private", "format", "join", "lower", "replace", "strip", "split", "__dict__", "__getitem__"]
_FILTERS = ["attr", "map", "join", "lower", "upper", "replace", "reverse", "format", "first", "last", "list",
            "selectattr", "rejectattr", "tojson", "trim", "string", "length", "default", "safe", "sort", "batch",
            "slice", "int", "sum", "unique"]
_OPS = [" ~ ", " + ", " * ", " % ", " | ", ".", "[", "]", "(", ")", ", ", " == ", " and ", " if ", " else ",
        " not ", " in ", ":", "-", "=", " is "]


def _str_const(text: str) -> str:
    return repr(text)


_expr_atom = st.one_of(
    st.sampled_from(_NAMES),
    st.sampled_from(_ATTRS).map(_str_const),
    st.text(alphabet="_abcdeglmorstx%{}0123456789.", max_size=12).map(_str_const),
    st.integers(-300, 300).map(str),
)


@st.composite
def jinja_expr(draw: st.DrawFn, depth: int = 0) -> str:
    out = draw(_expr_atom)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["attr", "item", "filter", "call", "op", "slice"]))
        if kind == "attr":
            out += "." + draw(st.sampled_from(_ATTRS))
        elif kind == "item":
            inner = draw(jinja_expr(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(_expr_atom)
            out += f"[{inner}]"
        elif kind == "filter":
            f = draw(st.sampled_from(_FILTERS))
            args = draw(st.lists(_expr_atom, max_size=2))
            out += f"|{f}" + (f"({', '.join(args)})" if args or draw(st.booleans()) else "")
        elif kind == "call":
            args = draw(st.lists(_expr_atom, max_size=3))
            out += f"({', '.join(args)})"
        elif kind == "slice":
            out += "[::-1]" if draw(st.booleans()) else f"[{draw(st.integers(-5, 5))}:]"
        else:
            out += draw(st.sampled_from(_OPS)) + draw(_expr_atom)
    return out


@st.composite
def jinja_source(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["text", "expr", "set", "for", "if", "endfor", "endif", "macro", "raw", "junk",
                                     "call", "generation", "comment"]))
        e = draw(jinja_expr())
        if kind == "text":
            parts.append(draw(st.text(max_size=20)))
        elif kind == "expr":
            parts.append("{{ " + e + " }}")
        elif kind == "set":
            parts.append(f"{{% set {draw(st.sampled_from(_NAMES))} = {e} %}}")
        elif kind == "for":
            parts.append(f"{{% for {draw(st.sampled_from(_NAMES))} in {e} %}}")
        elif kind == "if":
            parts.append(f"{{%- if {e} -%}}")
        elif kind == "endfor":
            parts.append("{% endfor %}")
        elif kind == "endif":
            parts.append("{% endif %}")
        elif kind == "macro":
            parts.append(f"{{% macro f(a, b={e}) %}}{{{{ a.{draw(st.sampled_from(_ATTRS))} }}}}{{% endmacro %}}")
        elif kind == "raw":
            parts.append("{% raw %}" + e + "{% endraw %}")
        elif kind == "call":
            parts.append("{% call f(" + e + ") %}x{% endcall %}")
        elif kind == "generation":
            parts.append("{% generation %}{{ " + e + " }}{% endgeneration %}")
        elif kind == "comment":
            parts.append("{# " + e + " #}")
        else:
            parts.append(draw(st.sampled_from(["{{", "}}", "{%", "%}", "{#", "{{ (", "{% if", "'", "\\"])))
    return "".join(parts)


@FUZZ
@given(src=jinja_source() | st.text(max_size=400))
def test_fuzz_templates(src: str) -> None:
    from weightwarden.scan.templates import TemplateIssue, analyze_template

    with fuzz_guard.reading():
        issues = analyze_template(src)
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, TemplateIssue) and isinstance(issue.line, int) and issue.message
    _after_example("templates")


# -- 5. the pickle machine -----------------------------------------------------------------------------------

_OPCODE_BYTES = [bytes([b]) for b in range(0x100)]
_GLOBALS = [("os", "system"), ("builtins", "eval"), ("builtins", "getattr"), ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"), ("numpy.core.multiarray", "_reconstruct"), ("copyreg", "_reconstructor"),
            ("sklearn.linear_model", "LinearRegression"), ("builtins", "set"), ("_codecs", "encode")]


@st.composite
def pickle_program(draw: st.DrawFn) -> bytes:
    """An opcode soup with valid-looking arguments: globals, calls, memo, marks, frames, extension codes."""
    proto = draw(st.integers(0, 5))
    asm = Asm(proto, frame=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["glob", "call", "str", "int", "mark", "put", "get", "raw", "op", "build",
                                     "tuple", "dict", "frame", "ext", "stack_global"]))
        if kind == "glob":
            asm.glob(*draw(st.sampled_from(_GLOBALS)))
        elif kind == "call":
            asm.call(Glob(*draw(st.sampled_from(_GLOBALS))), draw(st.text(max_size=8)))
        elif kind == "str":
            asm.string(draw(st.text(max_size=16)))
        elif kind == "int":
            asm.integer(draw(st.integers(-(2**40), 2**40)))
        elif kind == "mark":
            asm.mark()
        elif kind == "put":
            asm.put()
        elif kind == "get":
            asm.get(draw(st.integers(0, 300)))
        elif kind == "raw":
            asm.raw(draw(st.binary(max_size=16)))
        elif kind == "op":
            asm.raw(draw(st.sampled_from(_OPCODE_BYTES)))
        elif kind == "build":
            asm.raw(draw(st.sampled_from([b"b", b"R", b"\x81", b"\x92", b"o", b"s", b"u", b"a", b"e", b"t"])))
        elif kind == "tuple":
            asm.raw(draw(st.sampled_from([b")", b"\x85", b"\x86", b"\x87", b"]", b"}", b"\x8f", b"\x90", b"\x91"])))
        elif kind == "dict":
            asm.raw(b"}")
        elif kind == "frame":
            asm.raw(b"\x95" + struct.pack("<Q", draw(st.integers(0, 2**20))))
        elif kind == "ext":
            asm.ext(draw(st.integers(1, 2**20)))
        else:
            asm.stack_global()
    if draw(st.booleans()):
        asm.stop()
    return bytes(asm.finish() if draw(st.booleans()) else asm.body)


@FUZZ
@given(
    data=pickle_program()
    | mutated_seed(("canary-system", "canary-open", "canary-exec", "pickle", "pickle-p0"))
    .map(lambda t: t[0])
    | st.binary(max_size=1024),
    joblib=st.booleans(),
)
def test_fuzz_picklevm(data: bytes, joblib: bool) -> None:
    from weightwarden.picklevm import PickleAnalysis, analyze, analyze_streams

    with fuzz_guard.reading():
        analysis = analyze(io.BytesIO(data), joblib_arrays=joblib)
        streams = analyze_streams(io.BytesIO(data), joblib_arrays=joblib)
    assert isinstance(analysis, PickleAnalysis)
    assert analysis.error is None or isinstance(analysis.error, str)
    assert all(isinstance(p, PickleAnalysis) for p in streams.programs)
    _after_example("picklevm")


# -- 6. the same suite under the audit hook, in a child process ----------------------------------------------


def run_guarded(tmp: Path, examples: int, select: str | None = None, timeout: float = 900) -> dict[str, object]:
    """Run this module (or the tests matching ``select``) in a child with the audit hook armed."""
    env, canary_dir, log, stats, junit = fuzz_guard.child_env(tmp, examples)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
           f"--junitxml={junit}", __file__, "-k", select or "not guarded and not audit_hook"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                         cwd=str(Path(__file__).resolve().parent.parent))
    return {
        "returncode": res.returncode,
        "output": (res.stdout + res.stderr)[-6000:],
        "violations": log.read_text().splitlines() if log.exists() else [],
        "stats": json.loads(stats.read_text()) if stats.exists() else {},
        "canary_fired": any(canary_dir.iterdir()),
        "junit": str(junit),
    }


def test_fuzz_under_audit_hook(tmp_path: Path) -> None:
    out = run_guarded(tmp_path, examples=15)
    assert out["returncode"] == 0, out["output"]
    assert not out["violations"], out["violations"]
    assert not out["canary_fired"]
    ran = out["stats"]
    assert ran.pop("_audit_events_judged") > 0, "the hook saw no event: it was not listening"
    expected = {f"reader:{m}" for m in READERS} | {"dispatch", "keras_config", "templates", "picklevm"}
    assert expected <= set(ran), sorted(expected - set(ran))


_TRIP = r"""
import io, os, pickle, subprocess, sys
sys.path.insert(0, sys.argv[1])
from tests import fuzz_guard
from tests.corpus.pickleasm import Glob, call_program
canary = sys.argv[2]
fuzz_guard.arm([sys.argv[3]], sys.argv[4])
tripped = []
for what, act in [
    ("pickle", lambda: pickle.loads(call_program(2, Glob("os", "system"), "touch " + canary))),
    ("system", lambda: os.system("touch " + canary)),
    ("popen", lambda: subprocess.Popen(["touch", canary])),
    ("write", lambda: open(canary, "w")),
    ("exec", lambda: exec("x = 1")),
    ("import", lambda: __import__("antigravity")),
]:
    try:
        with fuzz_guard.reading():
            act()
    except fuzz_guard.GuardViolation:
        tripped.append(what)
print(",".join(tripped))
"""


def test_audit_hook_trips_on_execution(tmp_path: Path) -> None:
    """The hook is not decoration: each way a payload could act is stopped before it acts, and logged."""
    root = str(Path(__file__).resolve().parent.parent)
    outside = tmp_path / "not-allowed"
    outside.mkdir()
    canary = outside / "canary"
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    log = allowed / "audit.log"
    res = subprocess.run([sys.executable, "-c", _TRIP, root, str(canary), str(allowed), str(log)],
                         capture_output=True, text=True, timeout=120, check=False,
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "pickle,system,popen,write,exec,import", res.stdout
    assert not canary.exists()
    assert len(log.read_text().splitlines()) == 6


_OWN_WORKER = r"""
import sys, tempfile
sys.path.insert(0, sys.argv[1])
from tests import fuzz_guard
from tests.test_fuzz_readers import ctx, seed, source
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.readers import keras_h5
read_source(source(seed("h5"), "model.h5"), ctx())
fuzz_guard.arm([sys.argv[2], tempfile.gettempdir()], sys.argv[3])  # the reader spools members to temp
with fuzz_guard.reading():
    keras_h5._WORKER.kill()  # what a timeout does: our own child, killed
    entry = read_source(source(seed("h5"), "model.h5"), ctx())  # a fresh worker, started by its exact command
print(entry.error, len(fuzz_guard.VIOLATIONS))
"""


def test_audit_hook_allows_the_hdf5_worker(tmp_path: Path) -> None:
    """The HDF5 reader's own worker (restarted after a timeout) is not mistaken for a payload."""
    root = str(Path(__file__).resolve().parent.parent)
    res = subprocess.run([sys.executable, "-c", _OWN_WORKER, root, str(tmp_path), str(tmp_path / "audit.log")],
                         capture_output=True, text=True, timeout=300, check=False, cwd=root,
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == ["None", "0"], res.stdout
