"""Symbolic rebuild of the tensors in a PyTorch checkpoint's pickle program, without running any of it.

``torch.load`` runs the checkpoint's pickle program; this module reads the same program as data. It walks the
opcodes (decoded by :func:`pickletools.genops`, which only parses) on a small stack machine that knows
exactly the objects a state dict is made of: literals, tuples, lists, dicts, ``collections.OrderedDict``,
storages named by persistent ids, and the tensor rebuilders ``torch._utils._rebuild_tensor``,
``_rebuild_tensor_v2``, ``_rebuild_tensor_v3``, ``_rebuild_parameter`` (and ``_with_state``) and
``torch._tensor._rebuild_from_type_v2`` over them. Anything else (another global, ``NEWOBJ``, ``INST``,
``EXT``, out-of-band buffers ...) stops the walk with :class:`RebuildRefused`, naming the opcode, the
global and the offset: the program needs more than tensor rebuilding, and nothing is guessed.

Usage (the lineage tensor layer and ``weightwarden convert`` use it)::

    value = rebuild(stream, persistent=storage_from_pid)    # nested dicts/lists with TensorSpec leaves
    tensors, skipped = flatten(value)                      # {"a.b.weight": TensorSpec}, non-tensor leaves

A :class:`TensorSpec` says where a tensor's elements are (storage key, element offset, size, stride); the
caller maps storage keys to file offsets (zip members, or the legacy format's storage section).
"""

from __future__ import annotations

import math
import pickletools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from weightwarden.core.dtypes import QUANTIZED_STORAGES, TORCH_DTYPES, TORCH_STORAGE_TYPES
from weightwarden.core.limits import DEFAULT_LIMITS, Limits

MAX_LITERAL_BYTES = 256 * 1024 * 1024  # one bytes/str literal in a checkpoint's metadata program
MAX_NAME_CHARS = 128 * 1024 * 1024  # all the dotted paths :func:`flatten` builds, together

# The tensor rebuilder reads plain element types only: quantized storages carry scales it does not model.
STORAGE_TYPES: dict[str, tuple[str, int]] = {
    name: spec for name, spec in TORCH_STORAGE_TYPES.items() if name not in QUANTIZED_STORAGES
}
_REBUILDERS = frozenset({
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2", "collections.OrderedDict", "torch.Size",
})
_TENSOR_TYPES = frozenset({"torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.Parameter"})
ALLOWED_GLOBALS = (
    _REBUILDERS | _TENSOR_TYPES | {f"torch.{name}" for name in STORAGE_TYPES} | frozenset(TORCH_DTYPES)
)


class RebuildRefused(Exception):
    """The program needs more than tensor rebuilding (or is malformed); the message says what and where."""


@dataclass(frozen=True)
class StorageRef:
    """A storage named by a persistent id: ``('storage', <class>, key, location, numel)``."""

    key: str
    dtype: str
    itemsize: int
    numel: int | None  # elements (bytes for UntypedStorage), when the id states it
    location: str = ""


@dataclass(frozen=True)
class TensorSpec:
    """Where a rebuilt tensor's elements are: ``storage`` + element ``offset``, ``shape`` and element ``stride``."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    itemsize: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def contiguous(self) -> bool:
        expected, acc = [], 1
        for d in reversed(self.shape):
            expected.append(acc)
            acc *= d
        return all(d <= 1 or s == e for d, s, e in zip(self.shape, self.stride, reversed(expected), strict=True))

    def span(self) -> tuple[int, int]:
        """(first, one past last) element index touched in the storage; (offset, offset) when empty."""
        if self.numel == 0:
            return self.offset, self.offset
        last = self.offset + sum((d - 1) * s for d, s in zip(self.shape, self.stride, strict=True))
        return self.offset, last + 1


@dataclass(frozen=True)
class _Global:
    name: str


@dataclass
class _Call:
    """An allowlisted call whose result is not a tensor or a container (``torch.Size`` stays a tuple)."""

    target: str


_MARK = object()


class _Bounded:
    """A read-only stream for ``pickletools.genops`` that refuses oversized reads instead of allocating."""

    def __init__(self, f: BinaryIO, limit: int) -> None:
        self._f = f
        self._left = limit

    def _take(self, n: int) -> None:
        self._left -= n
        if self._left < 0:
            raise RebuildRefused("pickle program larger than the limit on pickle bytes")

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > MAX_LITERAL_BYTES:
            raise RebuildRefused(f"literal of {n} bytes exceeds the {MAX_LITERAL_BYTES}-byte bound")
        data = self._f.read(n)
        self._take(len(data))
        return data

    def readline(self) -> bytes:
        line = self._f.readline(1 << 20)
        self._take(len(line))
        return line

    def tell(self) -> int:
        return self._f.tell()


def rebuild(
    stream: BinaryIO,
    persistent: Callable[[Any], Any],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Run ONE pickle program symbolically from the stream's position to its STOP; return its value.

    ``persistent`` turns a persistent id (already rebuilt as plain data, globals as ``_Global``) into a
    :class:`StorageRef`. Containers come back as Python dicts/lists/tuples; tensors as :class:`TensorSpec`.
    The stream is left just after STOP. Raises :class:`RebuildRefused`.
    """
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    count = 0
    try:
        for opcode, arg, pos in pickletools.genops(_Bounded(stream, limits.max_pickle_bytes)):
            count += 1
            if count > limits.max_pickle_opcodes or len(stack) > limits.max_pickle_stack or len(memo) > limits.max_pickle_memo:
                raise RebuildRefused(f"pickle program exceeds the machine's bounds at offset {pos}")
            name = opcode.name
            if name == "STOP":
                if len(stack) != 1:
                    raise RebuildRefused(f"malformed pickle: {len(stack)} values on the stack at STOP (offset {pos})")
                return stack[0]
            _step(name, arg, pos, stack, memo, persistent)
    except RebuildRefused:
        raise
    except RecursionError:
        raise RebuildRefused("malformed pickle: values nested too deeply") from None
    except (ValueError, TypeError, IndexError, KeyError, EOFError, OverflowError) as exc:
        raise RebuildRefused(f"malformed pickle: {exc.__class__.__name__}: {exc}") from None
    raise RebuildRefused("pickle program ended without STOP")


_LITERALS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES",
    "BINBYTES8", "BYTEARRAY8",
})


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise RebuildRefused("malformed pickle: no MARK on the stack")


def _pop(stack: list[Any]) -> Any:
    if not stack or stack[-1] is _MARK:
        raise RebuildRefused("malformed pickle: stack underflow")
    return stack.pop()


def _step(name: str, arg: Any, pos: int, stack: list[Any], memo: dict[int, Any], persistent: Callable[[Any], Any]) -> None:  # noqa: C901 - a dispatch
    if name in _LITERALS:
        stack.append(bytes(arg) if name == "BYTEARRAY8" else arg)
    elif name in ("PROTO", "FRAME"):
        pass
    elif name == "NONE":
        stack.append(None)
    elif name in ("NEWTRUE", "NEWFALSE"):
        stack.append(name == "NEWTRUE")
    elif name == "MARK":
        stack.append(_MARK)
    elif name == "POP":
        _pop(stack)
    elif name == "POP_MARK":
        _pop_mark(stack)
    elif name == "DUP":
        stack.append(stack[-1])
    elif name == "EMPTY_TUPLE":
        stack.append(())
    elif name == "TUPLE":
        stack.append(tuple(_pop_mark(stack)))
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        n = int(name[-1])
        items = [_pop(stack) for _ in range(n)][::-1]
        stack.append(tuple(items))
    elif name == "EMPTY_LIST":
        stack.append([])
    elif name == "LIST":
        stack.append(_pop_mark(stack))
    elif name in ("APPEND", "APPENDS"):
        items = [_pop(stack)] if name == "APPEND" else _pop_mark(stack)
        target = stack[-1] if stack else None
        if not isinstance(target, list):
            raise RebuildRefused(f"{name} on a {type(target).__name__} at offset {pos}")
        target.extend(items)
    elif name == "EMPTY_DICT":
        stack.append({})
    elif name == "DICT":
        items = _pop_mark(stack)
        stack.append(_pairs_into({}, items, pos))
    elif name in ("SETITEM", "SETITEMS"):
        if name == "SETITEM":
            value = _pop(stack)
            items = [_pop(stack), value]
        else:
            items = _pop_mark(stack)
        target = stack[-1] if stack else None
        if not isinstance(target, dict):
            raise RebuildRefused(f"{name} on a {type(target).__name__} at offset {pos}")
        _pairs_into(target, items, pos)
    elif name == "EMPTY_SET":
        stack.append(set())
    elif name == "ADDITEMS":
        items = _pop_mark(stack)
        target = stack[-1] if stack else None
        if not isinstance(target, set):
            raise RebuildRefused(f"ADDITEMS on a {type(target).__name__} at offset {pos}")
        target.update(_hashable(i, pos) for i in items)
    elif name == "FROZENSET":
        stack.append(frozenset(_hashable(i, pos) for i in _pop_mark(stack)))
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[int(arg)] = stack[-1]
    elif name == "MEMOIZE":
        memo[len(memo)] = stack[-1]
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        if int(arg) not in memo:
            raise RebuildRefused(f"malformed pickle: memo key {arg} read before it is written (offset {pos})")
        stack.append(memo[int(arg)])
    elif name in ("GLOBAL", "STACK_GLOBAL"):
        if name == "GLOBAL":
            module, _, qual = str(arg).partition(" ")
        else:
            qual, module = _pop(stack), _pop(stack)
            if not isinstance(module, str) or not isinstance(qual, str):
                raise RebuildRefused(f"STACK_GLOBAL over computed names at offset {pos}")
        full = f"{module}.{qual}"
        full = {"torch.nn.parameter.Parameter": "torch.nn.parameter.Parameter"}.get(full, full)
        if full not in ALLOWED_GLOBALS:
            raise RebuildRefused(f"global {full} at offset {pos} is not a tensor rebuilder")
        stack.append(_Global(full))
    elif name in ("PERSID", "BINPERSID"):
        pid = arg if name == "PERSID" else _pop(stack)
        stack.append(persistent(pid))
    elif name == "REDUCE":
        args = _pop(stack)
        func = _pop(stack)
        stack.append(_reduce(func, args, pos))
    elif name == "BUILD":
        _pop(stack)  # the state: a dict's attributes (state_dict()._metadata) or a tensor's; nothing runs
        target = stack[-1] if stack else None
        if not isinstance(target, dict | TensorSpec):
            raise RebuildRefused(f"BUILD on a {type(target).__name__} at offset {pos}")
    else:
        raise RebuildRefused(f"opcode {name} at offset {pos} is not used by tensor checkpoints")


_SCALARS = (str, int, float, bool, bytes, type(None))


def _hashable(value: Any, pos: int) -> Any:
    """Dict keys and set items: scalars or flat tuples of scalars only.

    Hashing a tuple nested a million deep recurses in C without a depth check (it crashes the process), and
    no state dict needs such keys.
    """
    if isinstance(value, _SCALARS) or (isinstance(value, tuple) and all(isinstance(v, _SCALARS) for v in value)):
        return value
    raise RebuildRefused(f"dict key or set item of type {type(value).__name__} at offset {pos}")


def _pairs_into(target: dict[Any, Any], items: list[Any], pos: int) -> dict[Any, Any]:
    if len(items) % 2:
        raise RebuildRefused(f"malformed pickle: odd number of dict items at offset {pos}")
    for i in range(0, len(items), 2):
        target[_hashable(items[i], pos)] = items[i + 1]
    return target


def _ints(value: Any, what: str, pos: int) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise RebuildRefused(f"tensor {what} is not a tuple of integers at offset {pos}")
    return tuple(value)


def _reduce(func: Any, args: Any, pos: int) -> Any:
    if not isinstance(func, _Global):
        raise RebuildRefused(f"call of a computed object at offset {pos}")
    if not isinstance(args, tuple):
        raise RebuildRefused(f"call of {func.name} with non-tuple arguments at offset {pos}")
    target = func.name
    if target == "collections.OrderedDict":
        if args:
            raise RebuildRefused(f"OrderedDict built from arguments at offset {pos}")
        return {}
    if target == "torch.Size":
        return _ints(args[0] if args else (), "size", pos)
    if target in ("torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"):
        if not args or not isinstance(args[0], TensorSpec):
            raise RebuildRefused(f"{target} of something that is not a tensor at offset {pos}")
        return args[0]
    if target == "torch._tensor._rebuild_from_type_v2":
        if len(args) < 3 or not isinstance(args[1], _Global) or args[1].name not in _TENSOR_TYPES:
            raise RebuildRefused(f"{target} of a tensor subclass at offset {pos}")
        return _reduce(args[0], args[2], pos)
    if target in ("torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3"):
        if len(args) < 4 or not isinstance(args[0], StorageRef):
            raise RebuildRefused(f"{target} without a storage at offset {pos}")
        storage: StorageRef = args[0]
        offset = args[1]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise RebuildRefused(f"bad storage offset {offset!r} at offset {pos}")
        shape = _ints(args[2], "size", pos)
        stride = _ints(args[3], "stride", pos)
        if len(shape) != len(stride) or any(d < 0 for d in shape) or any(s < 0 for s in stride):
            raise RebuildRefused(f"size {shape} and stride {stride} do not describe a tensor (offset {pos})")
        dtype, itemsize = storage.dtype, storage.itemsize
        if target == "torch._utils._rebuild_tensor_v3":
            if len(args) < 7 or not isinstance(args[6], _Global) or args[6].name not in TORCH_DTYPES:
                raise RebuildRefused(f"{target} without a known dtype at offset {pos}")
            dtype, itemsize = TORCH_DTYPES[args[6].name]
        if storage.itemsize != itemsize and storage.itemsize != 1:
            raise RebuildRefused(f"tensor of {dtype} over a {storage.dtype} storage at offset {pos}")
        if storage.itemsize == 1 and itemsize != 1:
            # An untyped (byte) storage viewed as wider elements: offsets and sizes count elements.
            storage = StorageRef(storage.key, dtype, itemsize, None if storage.numel is None else storage.numel // itemsize,
                                 storage.location)
        return TensorSpec(storage, offset, shape, stride, dtype, itemsize)
    raise RebuildRefused(f"call of {target} at offset {pos} is not a tensor rebuild")


def storage_from_pid(pid: Any) -> StorageRef:
    """The :class:`StorageRef` of a torch persistent id ``('storage', <class>, key, location, numel[, view])``."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        raise RebuildRefused(f"persistent id of type {type(pid).__name__} is not a torch storage")
    cls = pid[1].name.rsplit(".", 1)[-1] if isinstance(pid[1], _Global) else None
    if cls not in STORAGE_TYPES:
        raise RebuildRefused(f"storage class {_short(pid[1])} is not a plain tensor storage")
    key = pid[2]
    if not isinstance(key, str | int) or isinstance(key, bool):
        raise RebuildRefused(f"storage key {_short(key)} is not a name")
    numel = pid[4] if isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0 else None
    if len(pid) > 5 and pid[5] is not None:
        raise RebuildRefused(f"storage {key} is a legacy storage view; not supported")
    dtype, itemsize = STORAGE_TYPES[cls]
    return StorageRef(str(key), dtype, itemsize, numel, str(pid[3]))


def _short(value: Any) -> str:
    """A bounded description of a value from the file (no deep repr of hostile nesting)."""
    if isinstance(value, _Global):
        return value.name
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)[:80]
    return f"<{type(value).__name__}>"


def flatten(
    value: Any, prefix: str = "", max_items: int = 10_000_000, max_name_chars: int = MAX_NAME_CHARS
) -> tuple[dict[str, TensorSpec], list[str]]:
    """Tensors of a nested value by dotted path (dict keys and list indexes joined with ``.``).

    Returns ``(tensors, skipped)``: ``skipped`` names the non-tensor leaves (numbers, strings, None ...),
    which safetensors cannot hold. Two paths that spell the same name raise :class:`RebuildRefused`.
    The memo lets a small program share one container (and one long key) many times over, so the entries
    walked (``max_items``) and the characters of all the paths built (``max_name_chars``) are bounded.
    """
    tensors: dict[str, TensorSpec] = {}
    skipped: list[str] = []
    todo: list[tuple[str, Any, int]] = [(prefix, value, 0)]
    seen, chars = 1, len(prefix)

    def push(path: str, item: Any, depth: int) -> None:
        nonlocal seen, chars
        seen += 1
        chars += len(path)
        if seen > max_items or chars > max_name_chars:
            raise RebuildRefused("checkpoint names too many or too long to flatten (a shared container?)")
        todo.append((path, item, depth))

    while todo:
        path, v, depth = todo.pop()
        if depth > 64:
            raise RebuildRefused("checkpoint nested too deeply or too large to flatten")
        if isinstance(v, TensorSpec):
            if path in tensors:
                raise RebuildRefused(f"two entries flatten to the same name {path!r}")
            tensors[path] = v
        elif isinstance(v, dict):
            for k, item in reversed(list(v.items())):
                if not isinstance(k, str | int | float | bool) and k is not None:
                    raise RebuildRefused(f"dict key of type {type(k).__name__} under {path or '<root>'!r}")
                push(f"{path}.{k}" if path else str(k), item, depth + 1)
        elif isinstance(v, list | tuple) and any(isinstance(x, TensorSpec | dict | list | tuple) for x in v):
            for i in range(len(v) - 1, -1, -1):
                push(f"{path}.{i}" if path else str(i), v[i], depth + 1)
        else:
            skipped.append(path or "<root>")
    return dict(sorted(tensors.items())), skipped
