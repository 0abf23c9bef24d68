"""Bounded reader of GGUF files (llama.cpp's format, versions 1 to 3): metadata, chat templates, tensor table.

Layout: ``GGUF`` magic, a version, the tensor and key/value counts, the key/value pairs, the tensor infos
(name, dimensions, ggml type, offset into the data section), padding to ``general.alignment`` and the data
section. Only the header is read; tensor bytes never are.

Why not ``gguf.GGUFReader``: it memory-maps the file and builds a numpy view per field, walking whatever
counts the file declares; a hostile count or string length makes it loop for a very long time or fail with
an unhelpful error, and it cannot say *which* bound was broken. This reader walks the header with explicit
bounds (every length is checked against the bytes left in the file and against ``limits.max_header_bytes``
before anything is allocated) and takes the format's tables (value types, ggml block sizes) from the
``gguf`` package so they stay current.

``FileEntry.metadata``: ``version``, ``byte_order``, ``tensor_count``, ``kv_count``, ``alignment``,
``data_offset`` and ``kv`` — every key/value pair, with arrays longer than 64 items summarised as
``{"array": <item type>, "length": n}`` and strings longer than 64 KiB shortened. ``tokenizer.chat_template``
and ``tokenizer.chat_template.<name>`` become CHAT_TEMPLATE code objects with the whole template. Keys are judged in
their C form (up to the first NUL, as ggml and llama.cpp read them): ``kv`` is keyed so, first key first.
TensorInfo ``shape`` is in GGUF order (innermost dimension first, as ggml's ``ne``), ``dtype`` the ggml type
name (``F32``, ``Q4_1``, ...), ``start``/``end`` absolute offsets computed from the type's block size.

Anomaly codes:
    gguf.bad_version: unknown GGUF version.
    gguf.truncated: the file ends inside the header (the entry also gets an error).
    gguf.header_too_large: a count or length makes the header exceed the file or limits.max_header_bytes.
    gguf.bad_value_type: unknown metadata value type (parsing cannot go on).
    gguf.nesting_too_deep: arrays nested deeper than the reader follows.
    gguf.bad_utf8: a key, string value or tensor name is not valid UTF-8.
    gguf.duplicate_key: a metadata key appears twice, compared in its C form (up to its first NUL, as ggml's
        gguf_find_key and llama.cpp compare keys; round 22).
    gguf.key_nul: a metadata key or tensor name holds a NUL byte (C readers see a shorter name).
    gguf.key_control: a metadata key or tensor name holds other control characters.
    gguf.value_nul: a string value holds a NUL byte (C readers read the text before it, Python readers the whole
        value; round 24). For a chat template both texts are analysed.
    gguf.bad_alignment: general.alignment is not a non-zero power of two uint32.
    gguf.bad_chat_template: a chat template key whose value is not a string.
    limits.text_too_large: a chat template longer than limits.max_text_bytes (only its start is analysed).
    gguf.duplicate_tensor: two tensor infos share a name.
    gguf.bad_dims: more than 4 dimensions, or an element count that overflows.
    gguf.bad_type: unknown ggml tensor type.
    gguf.size_mismatch: element count not a multiple of the type's block size.
    gguf.misaligned: a tensor offset is not a multiple of the alignment.
    gguf.out_of_bounds: a tensor's bytes lie (partly) past the end of the file.
    gguf.offset_overlap: two tensors share bytes.
    gguf.trailing_data: more than one alignment unit of bytes after the last tensor.
"""

from __future__ import annotations

import functools
import re
import struct
from typing import Any, BinaryIO

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import CodeKind, CodeObject, FileEntry, Format, TensorInfo
from weightwarden.artifact.readers._template_bound import check_template_length
from weightwarden.artifact.source import Source

CHUNK = 1024 * 1024
MAX_ARRAY_KEPT = 64  # arrays up to this length are kept in metadata; longer ones are summarised
MAX_STRING_KEPT = 64 * 1024
MAX_NESTING = 8
GGML_MAX_DIMS = 4
TEMPLATE_KEY = "tokenizer.chat_template"

# Value type number -> (name, struct code) for fixed-size scalars; STRING=8 and ARRAY=9 are handled apart.
SCALARS: dict[int, tuple[str, str]] = {
    0: ("UINT8", "B"),
    1: ("INT8", "b"),
    2: ("UINT16", "H"),
    3: ("INT16", "h"),
    4: ("UINT32", "I"),
    5: ("INT32", "i"),
    6: ("FLOAT32", "f"),
    7: ("BOOL", "?"),
    10: ("UINT64", "Q"),
    11: ("INT64", "q"),
    12: ("FLOAT64", "d"),
}
STRING, ARRAY = 8, 9


class _Stop(Exception):
    """Parsing cannot go on; ``code`` is the anomaly to record."""

    def __init__(self, code: str, message: str, evidence: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.evidence = evidence


class _Cursor:
    """Sequential reads of the header, refilled in chunks, never past the file or the header bound."""

    def __init__(self, f: BinaryIO, size: int, limit: int) -> None:
        self.f = f
        self.size = size
        self.limit = min(size, limit)
        self.buf = b""
        self.pos = 0  # within buf
        self.base = 0  # absolute offset of buf[0]
        self.little = True

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def need(self, n: int, what: str) -> None:
        if self.offset + n > self.limit:
            if self.offset + n > self.size:
                raise _Stop("gguf.truncated", f"file ends inside {what}", f"needs {n} bytes at {self.offset}")
            raise _Stop(
                "gguf.header_too_large",
                f"header exceeds limits.max_header_bytes while reading {what}",
                f"needs {n} bytes at {self.offset}",
            )
        if self.pos + n > len(self.buf):
            rest = self.buf[self.pos :]
            want = max(n - len(rest), CHUNK)
            more = self.f.read(min(want, self.limit - self.offset - len(rest)))
            self.base += self.pos
            self.buf = rest + more
            self.pos = 0
            if len(self.buf) < n:
                raise _Stop("gguf.truncated", f"file ends inside {what}", f"needs {n} bytes at {self.offset}")

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, code: str, what: str) -> Any:
        fmt = ("<" if self.little else ">") + code
        size = struct.calcsize(fmt)
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def unpack_many(self, code: str, count: int, what: str) -> tuple[Any, ...]:
        fmt = ("<" if self.little else ">") + code * count
        size = struct.calcsize(fmt)
        self.need(size, what)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def skip_buffered_strings(self, count: int, length_code: str) -> int:
        """Step over up to ``count`` length-prefixed strings lying wholly in the buffer; returns how many.

        The buffer never extends past the file or the header bound, so every string stepped over here is
        one that :meth:`unpack` and :meth:`skip` would have accepted.
        """
        fmt = struct.Struct(("<" if self.little else ">") + length_code)
        unpack, size = fmt.unpack_from, fmt.size
        buf, pos, end = self.buf, self.pos, len(self.buf)
        last = end - size  # the last offset a length prefix can start at
        # The count is kept by the C-level range iterator and each step does one comparison of offsets: 2-3x
        # faster than counting and bounding in bytecode (a vocabulary of 10^5 strings: ~50 ms -> ~20 ms).
        done = 0
        for done in range(count):  # noqa: B007 - ``done`` is read after the loop
            if pos > last:
                break
            following = pos + size + unpack(buf, pos)[0]
            if following > end:
                break
            pos = following
        else:
            done = count
        self.pos = pos
        return done

    def skip(self, n: int, what: str) -> None:
        if self.offset + n > self.limit:
            self.need(n, what)  # raises with the right reason
        if self.pos + n <= len(self.buf):
            self.pos += n
            return
        target = self.offset + n
        self.f.seek(target)
        self.buf, self.pos, self.base = b"", 0, target


class _Reader:
    def __init__(self, source: Source, ctx: ReadContext, entry: FileEntry, cur: _Cursor) -> None:
        self.source = source
        self.ctx = ctx
        self.entry = entry
        self.cur = cur
        self.version = 0
        self.bad_utf8 = False
        self.last_string_size = 0  # declared length of the last string read (it may have been cut at ``keep``)

    def anomaly(self, code: str, location: str, message: str, evidence: str = "") -> None:
        self.entry.add_anomaly(code, location, message, evidence)

    # --- primitives -------------------------------------------------------------------------------------
    def count(self, what: str) -> int:
        return self.cur.unpack("I" if self.version == 1 else "Q", what)

    def string(self, what: str, keep: int | None = None) -> str:
        start = self.cur.offset
        n = self.count(f"length of {what}")
        self.last_string_size = n
        if n > self.cur.limit - self.cur.offset:
            self.cur.need(n, what)  # raises truncated / too large, naming the bound
        if keep is not None and n > keep:
            raw = self.cur.take(keep, what)
            self.cur.skip(n - keep, what)
        else:
            raw = self.cur.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if keep is None or n <= keep:  # a cut multi-byte character is not the file's fault
                self.anomaly("gguf.bad_utf8", f"{self.source.display}@{start}", f"{what} is not valid UTF-8", repr(raw[:60]))
            return raw.decode("utf-8", errors="replace")

    def value(self, vtype: int, where: str, depth: int, keep_strings: int | None) -> Any:
        if vtype in SCALARS:
            return self.cur.unpack(SCALARS[vtype][1], where)
        if vtype == STRING:
            return self.string(f"value of {where}", keep_strings)
        if vtype == ARRAY:
            return self.array(where, depth + 1)
        raise _Stop("gguf.bad_value_type", f"unknown value type {vtype} in {where}", str(vtype))

    def array(self, where: str, depth: int) -> Any:
        if depth > MAX_NESTING:
            raise _Stop("gguf.nesting_too_deep", f"arrays nested more than {MAX_NESTING} deep in {where}")
        itype = self.cur.unpack("I", f"array type of {where}")
        n = self.count(f"array length of {where}")
        # Every item takes at least its minimal encoded size: a length that cannot fit in the remaining
        # header is a lie, caught before any work proportional to it.
        length_size = 4 if self.version == 1 else 8
        if itype in SCALARS:
            min_item = struct.calcsize(SCALARS[itype][1])
        else:
            min_item = length_size if itype == STRING else 4 + length_size
        if n * min_item > self.cur.limit - self.cur.offset:
            self.cur.need(n * min_item, f"array {where} ({n} items)")
        if itype in SCALARS:
            code = SCALARS[itype][1]
            size = struct.calcsize(code)
            if n <= MAX_ARRAY_KEPT:
                return list(self.cur.unpack_many(code, n, where))
            self.cur.skip(n * size, where)
            return {"array": SCALARS[itype][0], "length": n}
        if itype == STRING:
            if n <= MAX_ARRAY_KEPT:
                return [self.string(f"item of {where}", MAX_STRING_KEPT) for _ in range(n)]
            # Strings must be walked to find the end; their text is not kept. Items lying wholly in the
            # buffer are stepped over in one tight loop (a vocabulary holds ~10^5 of them); the next item that
            # does not goes through count/skip, which refill the buffer or raise exactly as before.
            left = n
            while left:
                left -= self.cur.skip_buffered_strings(left, "I" if self.version == 1 else "Q")
                if left:
                    k = self.count(f"item length of {where}")
                    self.cur.skip(k, f"item of {where}")
                    left -= 1
            return {"array": "STRING", "length": n}
        if itype == ARRAY:
            items = [self.array(where, depth + 1) for _ in range(n)]
            return items if n <= MAX_ARRAY_KEPT else {"array": "ARRAY", "length": n}
        raise _Stop("gguf.bad_value_type", f"unknown array item type {itype} in {where}", str(itype))

    def check_name(self, name: str, where: str, what: str) -> None:
        """A NUL in a key or tensor name makes C readers see a shorter name than Python readers (a parser
        differential, round 22); other control characters only hide what a name says. Both are findings."""
        if "\0" in name:
            self.anomaly("gguf.key_nul", where, f"{what} holds a NUL byte: C readers (ggml, llama.cpp) read it as "
                         f"{shown_name(c_string(name))!r}", shown_name(name)[:200])
        elif _CONTROL.search(name):
            self.anomaly("gguf.key_control", where, f"{what} holds control characters", shown_name(name)[:200])

    # --- the header --------------------------------------------------------------------------------------
    def run(self) -> None:
        gc = _gguf_constants()

        cur, entry, where = self.cur, self.entry, self.source.display
        cur.take(4, "magic")
        version = cur.unpack("I", "version")
        if version not in (1, 2, 3):
            swapped = struct.unpack(">I", struct.pack("<I", version))[0]
            if swapped in (1, 2, 3):  # a big-endian GGUF (s390x builds write these)
                cur.little = False
                version = swapped
                entry.metadata["byte_order"] = "big"
            else:
                self.anomaly("gguf.bad_version", where, f"unknown GGUF version {version}", str(version))
                entry.error = f"unknown GGUF version {version}"
                return
        entry.metadata.setdefault("byte_order", "little")
        self.version = version
        entry.metadata["version"] = version
        n_tensors = self.count("tensor count")
        n_kv = self.count("key/value count")
        entry.metadata["tensor_count"] = n_tensors
        entry.metadata["kv_count"] = n_kv
        # Smallest possible key/value: key length + type + 1 byte; tensor info: name length + dims + type + offset.
        min_kv, min_ti = (4 + 4 + 1, 4 + 4 + 4 + 8) if version == 1 else (8 + 4 + 1, 8 + 4 + 4 + 8)
        left = cur.limit - cur.offset
        need = n_kv * min_kv + n_tensors * min_ti
        if need > left:
            small = need <= self.ctx.limits.max_header_bytes
            raise _Stop(
                "gguf.truncated" if small else "gguf.header_too_large",
                "declared tensor and key/value counts cannot fit in the file / header limit",
                f"{n_tensors} tensors, {n_kv} key/value pairs, {left} bytes available",
            )

        kv: dict[str, Any] = {}  # by the keys' C form; the first of colliding keys, as ggml finds it
        raw_keys: set[str] = set()
        entry.metadata["kv"] = kv
        alignment = gc.GGUF_DEFAULT_ALIGNMENT
        for _ in range(n_kv):
            key_offset = cur.offset
            key = self.string("metadata key")
            # Round 22: ggml keeps keys as std::string but finds them with strcmp on c_str() (gguf_find_key), and
            # llama.cpp's metadata map is built from the same C strings: a key is what precedes its first NUL.
            # Every decision below (template, duplicate, alignment, the kv the rules read) takes that C form.
            c_key = c_string(key)
            vtype = cur.unpack("I", f"type of {key!r}")
            is_template = c_key == TEMPLATE_KEY or c_key.startswith(TEMPLATE_KEY + ".")
            keep = self.ctx.limits.max_text_bytes if is_template else MAX_STRING_KEPT
            value = self.value(vtype, key, 0, keep)
            loc = f"metadata:{shown_name(key)}"
            self.check_name(key, f"{where}:{loc}", "metadata key")
            if c_key in kv:
                why = "metadata key appears twice" if c_key == key and c_key in raw_keys else (
                    f"metadata key appears twice as C readers read it (up to its first NUL): {shown_name(c_key)!r}")
                self.anomaly("gguf.duplicate_key", f"{where}:{loc}", why, f"offset {key_offset}")
            raw_keys.add(key)
            if is_template:
                # Every template key is analysed, the ones a collision hides included: which of two colliding keys
                # a host takes depends on the host (ggml's gguf_find_key: the first; a Python dict: the last).
                if isinstance(value, str):
                    # gguf.GGUFReader and llama.cpp read the whole string: a cut template is a finding.
                    check_template_length(entry, f"{where}:{loc}", self.last_string_size, keep)
                    name = "default" if c_key == TEMPLATE_KEY else c_key[len(TEMPLATE_KEY) + 1 :]
                    c_value = c_string(value)
                    if c_value != value:
                        # Round 24 (round 22's key rule for values): llama.cpp hands the template on as a C string
                        # (llama_model_chat_template, llama_model_meta_val_str; llama-cpp-python's ctypes .value)
                        # and renders the text up to the first NUL; Python readers (gguf-py, transformers'
                        # GGUF loading) keep the whole string. Both are analysed, each under its own location.
                        self.anomaly("gguf.value_nul", f"{where}:{loc}",
                                     f"chat template value holds a NUL byte at character {len(c_value)}: llama.cpp and "
                                     f"llama-cpp-python render the text before it, gguf-py and transformers the whole "
                                     f"value", shown_name(value[max(len(c_value) - 40, 0) : len(c_value) + 40])[:200])
                        entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, f"{loc} (up to its first NUL, as C readers)",
                                                     text=c_value, details={"name": name, "c_string": True}))
                    entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, loc, text=value, details={"name": name}))
                else:
                    self.anomaly("gguf.bad_chat_template", f"{where}:{loc}", "chat template value is not a string", repr(value)[:100])
            elif isinstance(value, str) and "\0" in value:
                # Round 24, the same class for every string value: ggml hands values on as C strings
                # (gguf_get_val_str's c_str(), llama_model_meta_val_str), so llama.cpp sees a shorter value than
                # Python readers (general.architecture "llama\0..." is "llama" to one and not to the other).
                self.anomaly("gguf.value_nul", f"{where}:{loc}",
                             f"metadata value holds a NUL byte: C readers (ggml, llama.cpp) read it as "
                             f"{shown_name(c_string(value))[:80]!r}, Python readers as the whole value",
                             shown_name(value)[:200])
            if c_key == "general.alignment":
                if vtype != 4 or not isinstance(value, int) or value <= 0 or value & (value - 1):
                    self.anomaly("gguf.bad_alignment", f"{where}:{loc}", "alignment must be a power-of-two uint32", repr(value)[:50])
                elif c_key not in kv:  # the first, as gguf_find_key finds it
                    alignment = value
            if isinstance(value, str) and len(value) > MAX_STRING_KEPT:
                value = value[:MAX_STRING_KEPT] + "…"
            kv.setdefault(c_key, value)
        entry.metadata["alignment"] = alignment

        infos: list[tuple[str, tuple[int, ...], int, int]] = []
        seen: set[str] = set()
        for _ in range(n_tensors):
            name = self.string("tensor name", MAX_STRING_KEPT)
            n_dims = cur.unpack("I", f"dimension count of {name!r}")
            if n_dims > GGML_MAX_DIMS:
                self.anomaly("gguf.bad_dims", f"{where}:{name}", f"{n_dims} dimensions (ggml allows {GGML_MAX_DIMS})")
                if n_dims * 8 > cur.limit - cur.offset:
                    cur.need(n_dims * 8, f"dimensions of {name!r}")
            dims = cur.unpack_many("I" if version == 1 else "Q", n_dims, f"dimensions of {name!r}")
            ttype = cur.unpack("I", f"type of {name!r}")
            offset = cur.unpack("Q", f"offset of {name!r}")
            self.check_name(name, f"{where}:{shown_name(name)}", "tensor name")
            # ggml names the tensor with the C string (ggml_set_name) and rejects a repeated one by strcmp.
            if c_string(name) in seen:
                self.anomaly("gguf.duplicate_tensor", f"{where}:{shown_name(name)}", "tensor name appears twice")
            seen.add(c_string(name))
            infos.append((name, tuple(dims), ttype, offset))

        data_start = -(-cur.offset // alignment) * alignment
        entry.metadata["data_offset"] = data_start
        self.tensors(infos, data_start, alignment, gc)

    def tensors(self, infos: list[tuple[str, tuple[int, ...], int, int]], data_start: int, alignment: int, gc: Any) -> None:
        where, size = self.source.display, self.source.size
        spans: list[tuple[int, int, str]] = []
        for name, dims, ttype, offset in infos:
            loc = f"{where}:{name}"
            try:
                qtype = gc.GGMLQuantizationType(ttype)
                block, type_size = gc.GGML_QUANT_SIZES[qtype]
                type_name = qtype.name
            except (ValueError, KeyError):
                self.anomaly("gguf.bad_type", loc, f"unknown ggml type {ttype}", str(ttype))
                qtype, block, type_size, type_name = None, 0, 0, f"ggml_type_{ttype}"
            elements = 1
            for d in dims:
                elements *= d
            if elements >= 2**63:
                self.anomaly("gguf.bad_dims", loc, "element count overflows int64", repr(dims))
            nbytes: int | None = None
            if qtype is not None:
                if dims and dims[0] % block:
                    self.anomaly(
                        "gguf.size_mismatch",
                        loc,
                        f"first dimension is not a multiple of the {type_name} block size {block}",
                        repr(dims),
                    )
                nbytes = elements // block * type_size
            if offset % alignment:
                self.anomaly("gguf.misaligned", loc, f"offset {offset} is not a multiple of the alignment {alignment}")
            start = data_start + offset
            end = start + nbytes if nbytes is not None else None
            if start > size or (end is not None and end > size):
                self.anomaly(
                    "gguf.out_of_bounds",
                    loc,
                    "tensor bytes extend past the end of the file",
                    f"[{start}, {end}) in a file of {size} bytes",
                )
            if end is not None:
                spans.append((start, end, name))
            self.entry.tensors.append(TensorInfo(name=name, dtype=type_name, shape=dims, start=start, end=end))
        spans.sort()
        cursor, prev = data_start, ""
        for start, end, name in spans:
            if start < cursor and end > start:
                self.anomaly("gguf.offset_overlap", f"{where}:{name}", f"tensor overlaps {prev!r}", f"starts at {start}, previous ends at {cursor}")
            if end > cursor:
                cursor, prev = end, name
        # Round 28: with no tensor the data section is empty, and anything past the (aligned) header is trailing too
        # (a GGUF header followed by a chat template a host reads with open(p) had no finding here).
        if size - cursor > alignment:
            self.anomaly("gguf.trailing_data", where, f"{size - cursor} bytes after the last tensor", f"tensors end at {cursor}")


# C0 and C1 control characters and DEL: never part of a key a GGUF writer produces.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def c_string(name: str) -> str:
    """A GGUF key or tensor name as C readers see it: up to its first NUL."""
    return name.split("\0", 1)[0]


def shown_name(name: str) -> str:
    """``name`` with control characters written as ``\\xNN`` (for locations and messages)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


def read(source: Source, ctx: ReadContext) -> FileEntry:
    entry = FileEntry(source.display, Format.GGUF, source.size)
    with source.open() as f:
        reader = _Reader(source, ctx, entry, _Cursor(f, source.size, ctx.limits.max_header_bytes))
        try:
            reader.run()
        except _Stop as stop:
            reader.anomaly(stop.code, f"{source.display}@{reader.cur.offset}", str(stop), stop.evidence)
            entry.error = f"GGUF header not fully read: {stop}"
    return entry


@functools.cache
def _gguf_constants() -> Any:
    """``gguf/constants.py`` (the format's type and block-size tables) loaded on its own: ``import gguf``
    runs the package ``__init__``, which imports numpy and the whole reader (~0.25 s cold); the constants
    module needs only ``enum`` and ``typing``."""
    from weightwarden.artifact._submodule import load_submodule

    return load_submodule("gguf", "constants.py", "_weightwarden_gguf_constants",
                          install_hint="reading GGUF files needs the gguf package")
