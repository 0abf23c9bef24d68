"""An audit hook (PEP 578) that proves, without monkeypatching anything, that reading never executes.

Issue 11: "no canary ever fires under fuzzing of every reader". A canary file only shows the payloads we
planted; this hook watches what the interpreter itself reports while the fuzz runs. Once :func:`arm` is
called (after imports and a warm-up read of every seed, so that legitimate lazy imports and the ``exec``
calls ``dataclasses`` makes while modules load are behind us), any of these is a violation (the ones marked
"while reading" only inside a :func:`reading` block, i.e. while the product reads untrusted bytes: outside
it, hypothesis compiles a wrapper for each test):

* starting a process or running a shell: ``os.system``, ``subprocess.Popen``, ``os.exec*``, ``os.spawn*``,
  ``os.posix_spawn``, ``os.fork``, ``pty.spawn`` (except the product's own HDF5 worker, by its exact
  command, see :data:`_OWN_WORKERS`), and signalling any process that is not our own child;
* the real unpickler resolving a global (``pickle.find_class``; the product never unpickles), loading a
  native library (``ctypes``); (``marshal.loads`` is not judged: every import of a cached module uses it,
  and the code it returns can only act through the ``exec`` judged below);
* while reading: building a code object or function from parts, executing code (``exec``/``eval`` of a code object) or compiling Python; ``compile`` called by
  :mod:`ast` (``ast.parse``/``literal_eval``, how the npy reader parses a header) only builds a tree and is
  allowed, and so is a module body run by the import system (the import itself is judged by name);
* while reading: importing a module that was not loaded yet, unless its top-level package is on :data:`IMPORT_ALLOWLIST`;
* opening a file for writing (or creating, deleting, renaming one) outside the allowed folders (the temp
  folder): reading needs no writes at all;
* network access (``socket.connect``/``bind``, ``urllib.Request``) and ``webbrowser.open``.

A violation is recorded (in memory, and appended to a log file through a descriptor opened before arming, so
that no later ``open`` is needed) *and* raised as :class:`GuardViolation`, a ``BaseException`` so that the
loader's ``except Exception`` cannot turn it into a quiet per-file error. Tests assert the log is empty.

Audit hooks cannot be removed: arm only in a process that exists for the fuzz (the tests start one).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ALWAYS_FORBIDDEN = frozenset(
    {
        "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "pty.spawn", "os.startfile", "pickle.find_class", "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "socket.connect",
        "socket.bind", "socket.sendto", "urllib.Request", "webbrowser.open", "os.kill", "os.killpg",
        "sys.remote_exec",
    }
)
# Events judged only inside reading(): hypothesis itself compiles and rebuilds code objects between reads.
WHILE_READING = frozenset({"exec", "compile", "import", "code.__new__", "function.__new__"})
# Events that change the file system: forbidden outside the allowed folders (the first argument is a path).
WRITE_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink", "os.link",
     "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile"}
)
# Packages whose modules may still be imported lazily while reading: ours, the format libraries the readers
# use, and the test machinery. The standard library is allowed too, except what runs programs or loads code.
IMPORT_ALLOWLIST = frozenset(
    {"weightwarden", "numpy", "h5py", "onnx", "google", "py7zr", "jinja2", "markupsafe", "lz4", "zstandard",
     "pyzstd", "pyppmd", "pybcj", "multivolumefile", "inflate64", "brotli", "Cryptodome", "texttable",
     "psutil", "hypothesis", "_hypothesis_ftz_detector", "_pytest", "pytest", "pluggy", "iniconfig",
     "_virtualenv", "tests", "fuzz_guard", "sortedcontainers", "attr", "exceptiongroup", "packaging"}
)
STDLIB_DENY = frozenset({"subprocess", "ctypes", "_ctypes", "pty", "webbrowser", "runpy", "code", "codeop",
                         "multiprocessing", "socket", "_socket", "ssl", "urllib", "http", "ftplib", "smtplib",
                         "telnetlib", "pdb", "bdb", "cProfile", "profile", "timeit"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class GuardViolation(BaseException):  # noqa: N818 - named for what it reports
    """Raised from the audit hook: something executed, spawned, imported or wrote while reading."""


_state = threading.local()
_armed = False
_roots: tuple[str, ...] = ()
_log_fd: int | None = None
VIOLATIONS: list[str] = []
EVENTS_JUDGED = 0  # audit events seen while armed: evidence, in the results, that the hook was listening


def _allowed_path(path: object) -> bool:
    if isinstance(path, int) or path is None:
        return True  # an already-open descriptor: opening it was checked
    try:
        real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return real == os.devnull or any(real == r or real.startswith(r + os.sep) for r in _roots)


def _import_allowed(name: str) -> bool:
    top = name.partition(".")[0]
    if top in STDLIB_DENY:
        return False
    return top in IMPORT_ALLOWLIST or top in sys.stdlib_module_names or top.startswith("_")


def _compile_from_ast() -> bool:
    # The first frame outside this module is the Python caller of the C builtin ``compile``.
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame is not None and os.path.basename(frame.f_code.co_filename) == "ast.py"


def _inside_import() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _caller_file() -> str:
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return frame.f_code.co_filename if frame is not None else ""


def _jinja_traceback_shim(event: str, args: tuple[object, ...]) -> bool:
    """Jinja's ``Environment.parse`` reports a syntax error through ``jinja2.debug.fake_traceback``, which
    compiles and runs the constant ``raise __jinja_exception__`` (preceded by newlines, to place the line
    number). Nothing of the template's text is compiled; allowed, and only that exact shape."""
    if not _caller_file().replace(os.sep, "/").endswith("jinja2/debug.py"):
        return False
    if event == "compile":
        src = args[0]
        return isinstance(src, str | bytes) and _as_text(src).lstrip("\n") == "raise __jinja_exception__"
    code = args[0]
    consts = getattr(code, "co_names", ())
    return event == "code.__new__" or tuple(consts) == ("__jinja_exception__",)


def _as_text(src: str | bytes) -> str:
    return src if isinstance(src, str) else src.decode("utf-8", "replace")


# The product's own helper processes, by their exact command: the HDF5 reader parses in a worker child with
# a time and memory ceiling (keras_h5.py), restarted after a timeout and every few hundred files.
_OWN_WORKERS = ("from weightwarden.artifact.readers.keras_h5 import _worker_loop; _worker_loop()",)


def _own_worker(args: tuple[object, ...]) -> bool:
    executable, argv = args[0], args[1]
    if not isinstance(argv, list | tuple) or len(argv) < 4:
        return False
    same_python = os.path.realpath(os.fsdecode(executable or argv[0])) == os.path.realpath(sys.executable)
    return same_python and list(argv[1:2]) == ["-I"] and argv[2] == "-c" and any(
        str(argv[3]).endswith(w) for w in _OWN_WORKERS
    )


def _own_child(pid: object) -> bool:
    """Killing a process this one started (a timed-out worker) is housekeeping, not a payload's effect."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:  # type: ignore[call-overload]
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]) == os.getpid()
    except (OSError, ValueError, IndexError, TypeError):
        return False


def _check(event: str, args: tuple[object, ...]) -> str | None:
    if event == "subprocess.Popen" and _own_worker(args):
        return None
    if event == "os.kill" and _own_child(args[0]):
        return None
    if event in ALWAYS_FORBIDDEN:
        return f"{event}{args!r:.200}"
    if event in WHILE_READING and not getattr(_state, "reading", False):
        return None  # the test machinery's own code generation (hypothesis builds wrappers per test)
    if event in ("exec", "compile", "code.__new__") and _jinja_traceback_shim(event, args):
        return None
    if event in ("exec", "compile", "code.__new__", "function.__new__") and _inside_import():
        return None  # the body of a module whose import was judged (by name) when it started
    if event in ("code.__new__", "function.__new__"):
        return f"{event}{args!r:.200}"
    if event == "exec":
        return f"exec of {args[0]!r:.200}"
    if event == "compile":
        return None if _compile_from_ast() else f"compile of {args[1]!r:.100}: {args[0]!r:.120}"
    if event == "import":
        name = str(args[0])
        return None if _import_allowed(name) else f"import of {name}"
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing and not _allowed_path(path):
            return f"open for writing: {path!r} mode={mode!r} flags={flags!r}"
        return None
    if event in WRITE_EVENTS:
        paths = [a for a in args[:2] if isinstance(a, str | bytes | os.PathLike)]
        bad = [p for p in paths if not _allowed_path(p)]
        return f"{event} outside the temp folder: {bad!r}" if bad else None
    return None


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _armed or getattr(_state, "busy", False):
        return
    _state.busy = True  # the hook's own calls (sys._getframe raises an event) must not re-enter it
    global EVENTS_JUDGED
    EVENTS_JUDGED += 1
    try:
        problem = _check(event, args)
        if problem is None:
            return
        VIOLATIONS.append(problem)
        if _log_fd is not None:
            os.write(_log_fd, (problem.replace("\n", "\\n") + "\n").encode("utf-8", "replace"))
    finally:
        _state.busy = False
    raise GuardViolation(problem)


_installed = False


def arm(write_roots: Iterable[str | os.PathLike[str]], log_path: str | os.PathLike[str]) -> None:
    """Install (once) and arm the hook; writes are allowed only under ``write_roots``."""
    global _armed, _roots, _log_fd, _installed
    _roots = tuple(os.path.realpath(os.fspath(r)) for r in write_roots)
    _log_fd = os.open(os.fspath(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    _armed = True


@contextmanager
def reading() -> Iterator[None]:
    """Mark a read of untrusted bytes: inside it, executing, compiling and unlisted imports are violations too."""
    _state.reading = True
    try:
        yield
    finally:
        _state.reading = False


def disarm() -> None:
    """Stop judging events (the hook stays installed; it returns at once)."""
    global _armed
    _armed = False


def is_armed() -> bool:
    return _armed


def child_env(work: Path, examples: int) -> tuple[dict[str, str], Path, Path, Path, Path]:
    """The environment of a child that runs the fuzz suite with this hook armed, and where it reports:
    ``(env, canary folder, audit log, hypothesis statistics, junit XML)``, all under ``work``. One place for
    the variables the suite reads, shared by the test that runs it guarded and ``benchmarks/fuzz_readers.py``."""
    canary_dir = work / "canary"
    canary_dir.mkdir(exist_ok=True)
    log, stats, junit = work / "audit.log", work / "stats.json", work / "junit.xml"
    env = dict(
        os.environ,
        WW_FUZZ_AUDIT="1",
        WW_FUZZ_AUDIT_LOG=str(log),
        WW_FUZZ_EXAMPLES=str(examples),
        WW_FUZZ_STATS=str(stats),
        WW_FUZZ_CANARY_DIR=str(canary_dir),
        PYTHONDONTWRITEBYTECODE="1",
        HYPOTHESIS_STORAGE_DIRECTORY=str(work / "hypothesis"),
    )
    return env, canary_dir, log, stats, junit
